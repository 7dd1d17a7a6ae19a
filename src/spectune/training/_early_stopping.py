"""Stop when the monitored loss stops improving, and go back to the best weights."""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from spectune.training._callback import Callback, monitored
from spectune.training._errors import StopTraining

if TYPE_CHECKING:
    from spectune.training._trainer import Trainer


class EarlyStopping(Callback):
    """Keras/skorch early stopping on a loss (lower is better).

    Parameters
    ----------
    patience : int
        Epochs without an improvement larger than ``min_delta`` before stopping.
    min_delta : float
        Smallest decrease that counts as an improvement.
    restore_best : bool
        At the end of the run, load the weights of the best epoch (kept as a copy on the device).
    monitor : str
        Key of the epoch logs, "val_loss" by default.

    Attributes
    ----------
    best_ : float
        Best monitored value seen.
    best_epoch_ : int or None
        Epoch (0-based) of ``best_``.
    wait_ : int
        Epochs since the last improvement.

    Examples
    --------
    >>> EarlyStopping(patience=20).monitor
    'val_loss'
    """

    def __init__(
        self,
        patience: int,
        min_delta: float = 0.0,
        restore_best: bool = True,
        monitor: str = "val_loss",
    ) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.monitor = monitor

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.patience < 1 or self.min_delta < 0:
            raise ValueError(
                f"EarlyStopping needs patience >= 1 and min_delta >= 0, got "
                f"patience={self.patience}, min_delta={self.min_delta}."
            )
        self.model_ = trainer.model
        self.best_ = math.inf
        self.best_epoch_: int | None = None
        self.best_state_: dict[str, Any] | None = None
        self.wait_ = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = monitored(logs, self.monitor, "EarlyStopping")
        if value < self.best_ - self.min_delta:
            self.best_, self.best_epoch_, self.wait_ = value, epoch, 0
            if self.restore_best:
                self.best_state_ = copy.deepcopy(self.model_.state_dict())
            return
        self.wait_ += 1
        if self.wait_ >= self.patience:
            raise StopTraining(
                f"early stopping at epoch {epoch}: {self.monitor} has not improved for "
                f"{self.patience} epochs (best epoch {self.best_epoch_})"
            )

    def on_train_end(self) -> None:
        if self.restore_best and self.best_state_ is not None:
            self.model_.load_state_dict(self.best_state_)
