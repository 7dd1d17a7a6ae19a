"""One member of a population: its generators, schedule, stopping, pruning and history.

The end of a member's epoch is the single loop's, with the library's own callbacks:
``ReduceLROnPlateau`` (lowering a learning rate held by a stand-in optimizer), ``EarlyStopping``
(its best weights are kept by the population, stacked, so ``restore_best`` is off here) and
``ReportCallback`` for pruning, called in the order :func:`~spectune.training.train` adds them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from spectune.training._callback import Callback
from spectune.training._config import TrainConfig
from spectune.training._early_stopping import EarlyStopping
from spectune.training._errors import DivergedError, StopTraining, TrainingPruned
from spectune.training._history import History
from spectune.training._plateau import ReduceLROnPlateau
from spectune.training._report import ReportCallback
from spectune.training._result import TrainResult
from spectune.training._trainer import Augment


@dataclass(frozen=True)
class MemberOutcome:
    """How one member ended: a result, or the error the single loop would have raised.

    ``error`` is a :class:`TrainingPruned` (its ``history`` attached) or a
    :class:`DivergedError`; ``result`` is then None.
    """

    member: int
    result: TrainResult | None = None
    error: TrainingPruned | DivergedError | None = None


@dataclass
class Member:
    """The per-run state the single loop keeps in its Trainer and callbacks."""

    id: int
    model: nn.Module
    config: TrainConfig
    augment: Augment | None
    history: History
    generator: torch.Generator  # batch order and augmentation, as Trainer.generator
    dropout_generator: torch.Generator  # the single loop's seeded global RNG
    rates: list[float]  # dropout rate of each dropout site
    holder: torch.optim.Optimizer  # carries the LR that the plateau callback lowers
    callbacks: list[Callback]
    stopper: EarlyStopping | None
    epoch: int = 0

    @property
    def lr(self) -> float:
        return float(self.holder.param_groups[0]["lr"])


def new_member(
    member_id: int, model: nn.Module, config: TrainConfig, *, augment: Augment | None,
    metric: str, monitor: str, rates: list[float], device: torch.device,
    report: Callable[[int, float, int], None] | None,
    should_prune: Callable[[int], bool] | None, report_monitor: str,
) -> Member:
    """A member with the callbacks ``train`` builds from ``config``, begun as ``Trainer.run``."""
    holder = torch.optim.SGD([torch.zeros(1)], lr=config.lr)
    callbacks: list[Callback] = []
    if config.plateau_patience is not None:
        callbacks.append(ReduceLROnPlateau(config.plateau_factor, config.plateau_patience,
                                           config.lr_min, monitor))
    stopper = None
    if config.early_stopping_patience is not None:
        stopper = EarlyStopping(config.early_stopping_patience, config.early_stopping_min_delta,
                                False, monitor)
        callbacks.append(stopper)
    if report is not None:
        callbacks.append(ReportCallback(
            lambda value, epoch: report(member_id, value, epoch),
            None if should_prune is None else lambda: should_prune(member_id),
            report_monitor,
        ))
    stand_in = SimpleNamespace(model=model, optimizer=holder)  # what the callbacks read
    for callback in callbacks:
        callback.on_train_begin(stand_in)  # type: ignore[arg-type]
    return Member(
        member_id, model, config, augment, History(metric),
        torch.Generator(device=device).manual_seed(config.seed),
        torch.Generator(device=device).manual_seed(config.seed),
        rates, holder, callbacks, stopper,
    )


def end_of_epoch(member: Member, logs: dict[str, Any]) -> tuple[str, Any] | None:
    """The single loop after an epoch: divergence check, then the callbacks in order.

    Returns None (go on), ``("diverged", DivergedError)``, ``("pruned", TrainingPruned)`` or
    ``("finished", stop_reason)``.
    """
    epoch, history = member.epoch, member.history
    losses = [logs["train_loss"]] + ([] if logs["val_loss"] is None else [logs["val_loss"]])
    if not all(math.isfinite(v) for v in losses):
        return "diverged", DivergedError(
            f"The loss became non-finite at epoch {epoch} (train_loss={logs['train_loss']}, "
            f"val_loss={logs['val_loss']}) with lr={logs['lr']}; lower lr or set grad_clip.",
            epoch, history)
    try:
        for callback in member.callbacks:
            callback.on_epoch_end(epoch, logs)
    except StopTraining as stop:
        return "finished", str(stop)
    except TrainingPruned as pruned:
        pruned.history = history
        return "pruned", pruned
    if epoch + 1 >= member.config.max_epochs:
        return "finished", "max_epochs reached"
    return None


def finished_result(member: Member, reason: str, task: str, y_mean: Any, y_std: Any
                    ) -> TrainResult:
    """The member's TrainResult (its model must hold the final weights already)."""
    for callback in member.callbacks:
        callback.on_train_end()
    best_epoch = None if member.stopper is None else member.stopper.best_epoch_
    member.model.eval()
    return TrainResult(member.model, member.history, task, y_mean, y_std, best_epoch, reason)
