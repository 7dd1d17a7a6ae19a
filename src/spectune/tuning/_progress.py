"""What a user sees while a study runs: one progress line, and one line per failed trial.

``ProgressLine`` rewrites trial n/N, best so far, pruned and failed, time left. A failed trial
(an architecture too deep for the spectrum, a diverged network) is part of a normal search, so
Optuna's warning for it is kept to its one line; the error is also in the trial's
``fail_reason`` and in trials.csv. Set the ``spectune`` logger to DEBUG to see the tracebacks.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

import optuna
from optuna.trial import TrialState


class OneLineTrialFailures(logging.Filter):
    """Keep Optuna's "Trial N failed" warning to one line (the traceback only at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().endswith("failed with value None."):  # repeats the line before
            return False
        if record.exc_info and not logging.getLogger("spectune").isEnabledFor(logging.DEBUG):
            record.exc_info, record.exc_text = None, None
        return True


def one_line_trial_failures() -> None:
    """Install ``OneLineTrialFailures`` on Optuna's optimize logger (once per process)."""
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, OneLineTrialFailures) for f in logger.filters):
        logger.addFilter(OneLineTrialFailures())


class ProgressLine:
    """Optuna callback that rewrites one status line after each finished trial.

    Time left is the budget's remaining trials times the mean wall time of this run's trials,
    or the timeout's remainder, whichever ends first.
    """

    def __init__(
        self, n_trials: int | None, timeout: float | None, *, stream: TextIO | None = None
    ) -> None:
        self.n_trials = n_trials
        self.timeout = timeout
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._done_here = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._done_here += 1
        self.stream.write("\r" + self.describe(study) + " ")
        self.stream.flush()

    def describe(self, study: optuna.Study) -> str:
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        finished = sum(s.is_finished() for s in states)
        total = f"/{self.n_trials}" if self.n_trials else ""
        parts = [f"trial {finished}{total}"]
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if complete and len(study.directions) == 1:
            parts.append(f"best {study.best_value:.4g} (#{study.best_trial.number})")
        parts.append(f"pruned {states.count(TrialState.PRUNED)}")
        parts.append(f"failed {states.count(TrialState.FAIL)}")
        left = self.seconds_left(finished)
        if left is not None:
            parts.append(f"~{_duration(left)} left")
        return "  ".join(parts)

    def seconds_left(self, finished: int) -> float | None:
        elapsed = time.monotonic() - self._start
        estimates = []
        if self.n_trials and self._done_here:
            estimates.append(max(0, self.n_trials - finished) * elapsed / self._done_here)
        if self.timeout:
            estimates.append(max(0.0, self.timeout - elapsed))
        return min(estimates) if estimates else None

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
