"""What a trial will cost, and whether it fits in what is left of ``--timeout``.

A trial's time is estimated before it starts, from the trials the study has already run: each
trial records its work per epoch (``work_per_epoch``: the multiply-adds of a forward and backward
pass over the calibration spectra, plus a fixed cost per mini-batch for the Python and optimizer
overhead that dominates small networks), and the epochs it trained; seconds per unit of work is
the study's total time over its total work. A trial whose full epoch budget would not finish in
the time left runs with the epochs that do (recorded in ``epochs_cut``), if that is at least
``min_epochs`` (Hyperband's smallest rung); otherwise it is not started (:class:`NotStarted`,
recorded as a trial that does not count) and the next draw is tried; the study stops when less
time is left than its quickest trial took (``_execute``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

import optuna

from spectune.exceptions import SpectuneError
from spectune.models import ArchSummary
from spectune.tuning._study import NOT_STARTED

if TYPE_CHECKING:
    from spectune.tuning._materialise import TrialPlan

__all__ = ["NotStarted", "TimeBudget", "search_work", "work_per_epoch"]

#: Multiply-add equivalents of one mini-batch's fixed cost (Python, optimizer step, kernel
#: launches). Measured on the 2-core CPU with one thread (spectrapepper, 125 spectra): a 16-unit
#: MLP, an 8-filter and a 2 x 32-filter CNN took 0.029, 0.11 and 0.84 s an epoch; a least-squares
#: fit gives ~2e-10 s per multiply-add and 1e7 multiply-adds a batch. Small conv layers run
#: slower per multiply-add than that, so an estimate is good to a factor of ~3, which cutting
#: epochs (rather than refusing trials) tolerates.
BATCH_COST = 1e7
#: Forward + backward: about three forward passes.
TRAIN_PASSES = 3


class NotStarted(SpectuneError):
    """A trial that would not finish in the time left; its message starts with NOT_STARTED."""


def macs(summary: ArchSummary) -> int:
    """Multiply-adds of one forward pass of one spectrum: a conv kernel runs at every output."""
    return sum(layer.n_params * (layer.out_shape[-1] if layer.module.endswith(".conv") else 1)
               for layer in summary.layers)


def work_per_epoch(summary: ArchSummary, n_train: int, batch_size: int) -> float:
    """One epoch's work in multiply-add equivalents (see the module docstring)."""
    return TRAIN_PASSES * macs(summary) * n_train + BATCH_COST * math.ceil(n_train / batch_size)


@dataclasses.dataclass
class TimeBudget:
    """The deadline of ``--timeout`` and the study's speed; fits each trial to the time left.

    Parameters
    ----------
    timeout : float or None
        Seconds from now; None: no deadline (every trial runs in full).
    min_epochs : int
        Fewer epochs than this are not worth a trial: it is not started.
    """

    timeout: float | None
    min_epochs: int = 10
    deadline: float | None = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def left(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def fit(self, trial: optuna.Trial, plan: TrialPlan, n_runs: int) -> TrialPlan:
        """``plan``, with fewer epochs if that is what the time left allows; or NotStarted.

        ``n_runs``: trainings per trial (seeds x folds). The trial's ``work`` user attribute
        (work per epoch and run) must be set.
        """
        left, rate = self.left(), seconds_per_work(trial.study)
        if left is None or rate is None:
            return plan
        per_epoch = rate * float(trial.user_attrs["work"]) * n_runs
        epochs = plan.train.max_epochs
        if per_epoch * epochs <= left:
            return plan
        fits = int(left // per_epoch) if per_epoch > 0 else epochs
        if fits < min(self.min_epochs, epochs):
            raise NotStarted(f"{NOT_STARTED}it would need ~{per_epoch * epochs:.0f} s for "
                             f"{epochs} epochs ({self.min_epochs} at least ~"
                             f"{per_epoch * self.min_epochs:.0f} s); {max(left, 0):.0f} s of "
                             f"the {self.timeout:g} s timeout were left")
        trial.set_user_attr("epochs_cut", f"{epochs} -> {fits} epochs to finish in the "
                                          f"{left:.0f} s left of the {self.timeout:g} s timeout")
        return dataclasses.replace(plan, train=dataclasses.replace(plan.train, max_epochs=fits))


def seconds_per_work(study: optuna.Study) -> float | None:
    """The study's seconds per unit of work, over every trial that trained (None: none yet).

    A trial's seconds are its training time (``train_s``: without the one-off fits of the
    preprocessing and the PLS baseline) where recorded, else its wall time.
    """
    seconds, work = _done(study)
    return seconds / work if work > 0 else None


def search_work(study: optuna.Study) -> float:
    """The work the study's trials trained (the final stage's yardstick)."""
    return _done(study)[1]


def _done(study: optuna.Study) -> tuple[float, float]:
    seconds = work = 0.0
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        if t.state.is_finished() and "work" in attrs and attrs.get("epochs_trained") \
                and "wall_s" in attrs:
            seconds += float(attrs.get("train_s", attrs["wall_s"]))
            work += float(attrs["work"]) * float(attrs["epochs_trained"])
    return seconds, work
