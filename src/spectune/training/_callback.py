"""The callback interface of the training loop (skorch/Keras events, three of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spectune.training._trainer import Trainer


class Callback:
    """Base class of the training loop's hooks; every hook does nothing by default.

    A callback ends a run by raising :class:`StopTraining` from ``on_epoch_end`` (the loop
    catches it and still calls ``on_train_end``); a pruning hook raises
    :class:`TrainingPruned`, which propagates. State that a run changes ends in ``_`` and is
    reset in ``on_train_begin``, so one callback object can serve several runs.
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch; ``trainer`` gives the model and optimizer."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Called after each epoch (0-based) with train_loss, val_loss, lr, val_metric, time."""

    def on_train_end(self) -> None:
        """Called once when the run ends normally (all epochs, or a StopTraining)."""


def monitored(logs: dict[str, Any], monitor: str, owner: str) -> float:
    """The monitored value of an epoch, or a clear error when the run does not log it."""
    value = logs.get(monitor)
    if value is None:
        raise ValueError(
            f"{owner} monitors {monitor!r}, which this run does not log (no validation data?); "
            "give X_val and y_val or monitor='train_loss'."
        )
    return float(value)
