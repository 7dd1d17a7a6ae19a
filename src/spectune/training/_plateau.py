"""Lower the learning rate on a plateau, through torch's own ReduceLROnPlateau."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch.optim import lr_scheduler

from spectune.training._callback import Callback, monitored

if TYPE_CHECKING:
    from spectune.training._trainer import Trainer


class ReduceLROnPlateau(Callback):
    """Multiply the LR by ``factor`` after ``patience`` epochs without progress, to ``lr_min``.

    A thin callback around ``torch.optim.lr_scheduler.ReduceLROnPlateau(min_lr=lr_min)``;
    Passos & Mishra take ``lr_min`` from the LR range test.

    Parameters
    ----------
    factor : float
        In (0, 1).
    patience : int
        Epochs without improvement tolerated before a reduction.
    lr_min : float
        The floor; the LR never goes below it.
    monitor : str
        Key of the epoch logs, "val_loss" by default.

    Attributes
    ----------
    scheduler_ : torch.optim.lr_scheduler.ReduceLROnPlateau
        The scheduler of the current run.

    Examples
    --------
    >>> ReduceLROnPlateau(factor=0.5, patience=5, lr_min=1e-5).lr_min
    1e-05
    """

    def __init__(
        self,
        factor: float = 0.5,
        patience: int = 10,
        lr_min: float = 0.0,
        monitor: str = "val_loss",
    ) -> None:
        self.factor = factor
        self.patience = patience
        self.lr_min = lr_min
        self.monitor = monitor

    def on_train_begin(self, trainer: Trainer) -> None:
        self.scheduler_ = lr_scheduler.ReduceLROnPlateau(
            trainer.optimizer,
            mode="min",
            factor=self.factor,
            patience=self.patience,
            min_lr=self.lr_min,
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.scheduler_.step(monitored(logs, self.monitor, "ReduceLROnPlateau"))
