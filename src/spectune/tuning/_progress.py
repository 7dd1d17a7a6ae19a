"""What a user sees while a study runs: progress, and one line per failed trial.

``StudyProgress`` shows the study and each trial's epochs on a terminal, one line per finished
trial in a log. A failed trial (an architecture too deep for the spectrum, a diverged network)
is part of a normal search, so Optuna's warning for it is kept to its one line; the error is
also in the trial's ``fail_reason`` and in trials.csv. Set the ``spectune`` logger to DEBUG to
see the tracebacks.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

import optuna
from optuna.trial import TrialState
from tqdm import tqdm

from spectune.tuning._study import trial_counts, uncounted


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


class StudyProgress:
    """Optuna callback and per-trial display: what a user sees while the study runs.

    On a terminal (``live``): a tqdm line for the study (trials done, best so far, pruned and
    failed, time left) and under it, while a trial trains, a tqdm bar of its epochs with the
    tuning error and tqdm's ETA. Elsewhere (a log file, a pipe): one line per finished trial and
    nothing else (a failed trial's line is Optuna's warning). Time left is the budget's remaining
    trials times the mean wall time of this run's trials, or the timeout's remainder, whichever
    ends first. The trial runner reaches the epoch bar through ``start_trial``, ``epoch`` and
    ``end_trial`` (a training callback: the loop knows nothing of Optuna or of this class).
    """

    def __init__(self, n_trials: int | None, timeout: float | None, *, metric: str = "tune RMSE",
                 stream: TextIO | None = None, live: bool | None = None) -> None:
        self.n_trials, self.timeout, self.metric = n_trials, timeout, metric
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        self._start = time.monotonic()
        self._done_here = 0
        self._study_bar: tqdm | None = None
        self._trial_bar: tqdm | None = None

    # ---- the study ---------------------------------------------------------------------
    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if uncounted(trial) is not None:  # a draw redrawn, retried or not started: no trial
            return
        self._done_here += 1
        if not self.live:
            if trial.state != TrialState.FAIL:
                self.stream.write(self.trial_line(study, trial) + "\n")
                self.stream.flush()
            return
        bar = self._bar()
        bar.n = trial_counts(study, self.n_trials)["finished"]
        bar.set_postfix_str(self.describe(study), refresh=True)

    def _bar(self) -> tqdm:
        if self._study_bar is None:
            self._study_bar = tqdm(total=self.n_trials, position=0, file=self.stream,
                                   dynamic_ncols=True, bar_format="trial {n_fmt}/{total_fmt}{postfix}")
        return self._study_bar

    def trial_line(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
        """One finished trial: "trial 3 complete: tune RMSE 0.0512 in 45 epochs, 12.3 s; ..."."""
        attrs = trial.user_attrs
        took = f"{attrs.get('wall_s', 0):.1f} s"
        if trial.state == TrialState.PRUNED:
            head = f"trial {trial.number} pruned after {attrs.get('epochs_trained', '?')} " \
                   f"epochs, {took}"
        elif trial.values is not None:
            head = f"trial {trial.number} complete: {self.metric} {trial.values[0]:.4g} in " \
                   f"{attrs.get('epochs', '?')} epochs, {took}"
        else:
            head = f"trial {trial.number} {trial.state.name.lower()}"
        return f"{head}; {self.describe(study)}"

    def describe(self, study: optuna.Study) -> str:
        counts = trial_counts(study, self.n_trials)  # counted trials only
        finished = counts["finished"]
        parts = []
        if not self.live:
            parts.append(f"{finished}/{self.n_trials or '?'} trials")
        if counts["complete"] and len(study.directions) == 1:
            parts.append(f"best {study.best_value:.4g} (#{study.best_trial.number})")
        parts.append(f"pruned {counts['pruned']}")
        parts.append(f"failed {counts['failed']}")
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

    # ---- one trial's epochs (terminal only) ---------------------------------------------
    def start_trial(self, number: int, epochs: int) -> None:
        if not self.live:
            return
        self._bar()
        self.end_trial()
        self._trial_bar = tqdm(total=epochs, position=1, leave=False, file=self.stream,
                               dynamic_ncols=True, desc=f"trial {number}", unit="epoch",
                               bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} epochs"
                               "{postfix} [{elapsed}<{remaining}]")

    def epoch(self, value: float, epoch: int) -> None:
        if self._trial_bar is not None:
            self._trial_bar.set_postfix_str(f"{self.metric} {value:.4g}", refresh=False)
            self._trial_bar.update(1)

    def end_trial(self) -> None:
        if self._trial_bar is not None:
            self._trial_bar.close()
            self._trial_bar = None

    def close(self) -> None:
        self.end_trial()
        if self._study_bar is not None:
            self._study_bar.close()
            self._study_bar = None


def _is_terminal(stream: TextIO) -> bool:
    """A terminal with columns to draw on (a pseudo-terminal of width 0 gets the log lines)."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (OSError, ValueError, AttributeError):
        return True  # a terminal-like stream without a file descriptor


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
