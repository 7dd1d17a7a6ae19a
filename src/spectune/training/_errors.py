"""How a training run ends early: a callback's stop, a pruning decision, or a diverged loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spectune.exceptions import SpectuneError

if TYPE_CHECKING:
    from spectune.training._history import History


class StopTraining(Exception):
    """Raised by a callback in ``on_epoch_end`` to end the run normally.

    The loop catches it, runs ``on_train_end`` (so ``EarlyStopping`` restores its best weights)
    and returns a ``TrainResult`` whose ``stop_reason`` is the message.
    """


class TrainingPruned(SpectuneError):
    """A pruning hook decided the run is not worth finishing.

    The loop attaches ``history`` before it propagates; the tuning layer translates this to
    ``optuna.TrialPruned`` (the training package never imports Optuna).

    Attributes
    ----------
    epoch : int
        The epoch (0-based) after which the run was pruned.
    history : History or None
        The epochs trained so far.
    """

    def __init__(self, epoch: int, history: History | None = None) -> None:
        super().__init__(f"Training was pruned at epoch {epoch}.")
        self.epoch = epoch
        self.history = history


class DivergedError(SpectuneError, ArithmeticError):
    """The training or validation loss became NaN or infinite.

    Attributes
    ----------
    epoch : int
        The epoch (0-based) whose loss was not finite.
    history : History or None
        Every epoch up to and including the diverged one.
    """

    def __init__(self, message: str, epoch: int, history: History | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history
