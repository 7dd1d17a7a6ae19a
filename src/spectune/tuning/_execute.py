"""Running a study's trials: one path, whichever way the trials are trained.

Two strategies train trials: one at a time (``study.optimize``, one trial per call) and the
population trainer (K trials in lockstep on one device, ``_population_runner``). Both get their
trials through one gate, :class:`TrialSource`, and run under one set of rules, kept here only:

- the study's trial budget, read from the storage before every ask, so that several workers stop
  at the budget together (a worker with nothing to ask waits while others finish the last trials,
  to take over any whose worker dies on a heartbeat storage);
- ``--timeout``: no trial starts that could not finish in the time left, or it runs with the
  epochs that fit (``TimeBudget``); the study stops when less time is left than its quickest
  trial took;
- ``--max-trials`` of one worker, and the ``worker`` tag on each of its trials;
- the heartbeat of running trials on a server storage;
- Ctrl-C: the running trials are recorded as interrupted (not counted) and queued again for
  ``--resume``; the caller then builds the model from the best trials so far.

Why the trials stopped is stored with the study; ``trial_counts`` reads it with the counts.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from spectune.exceptions import SpectuneError
from spectune.training import resolve_device
from spectune.tuning._objectives import metric_names
from spectune.tuning._population_runner import run_population_study
from spectune.tuning._progress import StudyProgress
from spectune.tuning._storage import heartbeat_of
from spectune.tuning._study import (
    OVER_BUDGET,
    STOPPED,
    budget_state,
    record_stop,
    retry,
    trial_counts,
    uncounted,
    within_budget,
)
from spectune.tuning._time_budget import TimeBudget
from spectune.tuning._trial import TrialRunner

if TYPE_CHECKING:
    from spectune.tuning._run import Search
    from spectune.tuning._settings import TuneSettings

__all__ = ["TrialSource", "run_trials", "uses_population", "worker_name"]

log = logging.getLogger("spectune")
#: Draws in a row too large for the data, or too long for the time left, after which the
#: study stops: no draw fits.
MAX_REDRAWS = 100


class TrialSource:
    """The gate every new trial passes: budget, deadline, ``max_trials``, worker tag.

    ``stopped`` says why no more trials will be asked (``STOP_REASONS``), once that is so;
    ``started`` counts the trials this process admitted.
    """

    def __init__(self, study: optuna.Study, n_trials: int | None, *, clock: TimeBudget,
                 max_trials: int | None = None, worker: str | None = None) -> None:
        self.study, self.n_trials, self.clock = study, n_trials, clock
        self.max_trials, self.worker = max_trials, worker
        self.stopped: str | None = None
        self.started = 0
        self.heartbeat = heartbeat_of(study._storage)
        self.poll = min(2.0, float(self.heartbeat or 2))  # seconds between looks while waiting
        self._beaten = 0.0

    def state(self) -> str:
        """"ask" (a new trial may start), "wait" (others run the last ones) or "stop"."""
        if self.stopped is None:
            self.stopped = self._stop_reason()
        if self.stopped is not None:
            return "stop"
        _fail_stale_trials(self.study, self.heartbeat)
        state = budget_state(self.study)
        trials = self.study.get_trials(deepcopy=False)
        redrawn = {uncounted(t) for t in trials[-MAX_REDRAWS:]}
        if len(trials) >= MAX_REDRAWS and redrawn <= {"too large", "not started"}:
            self.stopped = "no draw fits" if redrawn == {"too large"} else "no time"
        elif self._out_of_time(trials):
            self.stopped = "no time"
        elif state.spent(self.n_trials):
            self.stopped = "trials"
        elif not state.may_ask(self.n_trials):
            if self.heartbeat:
                return "wait"
            self.stopped = "trials"  # no one could take over a dead worker's trial: stop
        return "stop" if self.stopped else "ask"

    def _stop_reason(self) -> str | None:
        if self.max_trials is not None and self.started >= self.max_trials:
            return "max trials"
        return "timeout" if self.clock.expired() else None

    def _out_of_time(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Less time left than the quickest trial so far took: none could finish."""
        left = self.clock.left()
        walls = [t.user_attrs["wall_s"] for t in trials if "wall_s" in t.user_attrs
                 and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        return left is not None and bool(walls) and left < min(walls)

    def admit(self, trial: optuna.Trial) -> bool:
        """Tag ``trial`` and check it fits the budget (see ``within_budget``); count it."""
        if self.worker is not None:
            trial.set_user_attr("worker", self.worker)
        if not within_budget(trial.study, trial.number, self.n_trials):
            trial.set_user_attr("fail_reason", OVER_BUDGET)
            return False
        self.started += 1
        return True

    def ask(self) -> optuna.Trial | None:
        """A new admitted trial, or None (stop, or wait: see ``state``)."""
        while self.state() == "ask":
            with warnings.catch_warnings():  # the heartbeat is recorded by ``beat``, not optimize
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                trial = self.study.ask()
            if self.admit(trial):
                return trial
            self.study.tell(trial, state=TrialState.FAIL)  # lost the race for the last place
        return None

    def beat(self, trials: list[optuna.Trial]) -> None:
        """Record the heartbeat of ``trials`` (trials run outside ``study.optimize``)."""
        if not self.heartbeat or time.monotonic() - self._beaten < self.heartbeat / 2:
            return
        self._beaten = time.monotonic()
        for trial in trials:
            self.study._storage.record_heartbeat(trial._trial_id)


def run_trials(found: Search, settings: TuneSettings, out: Path | None, *,
               max_trials: int | None = None, worker: str | None = None) -> int:
    """Run trials until the study's budget or time is spent; returns how many this process ran.

    ``settings.timeout`` counts from this call; ``max_trials`` caps the trials of this process;
    ``worker`` tags each trial (user attribute ``worker``). Failures are recorded; Ctrl-C keeps
    what finished and returns (see the module docstring).

    Two workers may read the last open place at the same moment: the later-numbered of their
    trials then stops at once as ``OVER_BUDGET`` (FAIL, not counted), so the study ends with
    exactly ``n_trials`` counted trials.
    """
    study, runner = found.study, found.runner
    clock = TimeBudget(settings.timeout, min_epochs=settings.min_resource)
    source = TrialSource(study, settings.n_trials, clock=clock, max_trials=max_trials,
                         worker=worker)
    progress = StudyProgress(settings.n_trials, settings.timeout,
                             metric=metric_names(found.objective, settings.cv)[0]) \
        if settings.show_progress else None
    callbacks = [progress] if progress else []
    runner.time_budget, runner.progress = clock, progress
    # Optuna collects garbage after each trial (networks hold reference cycles); the objects
    # alive now and after the first trial (torch and what it imports on first use, the data,
    # the study) need no look: frozen, a collection takes milliseconds, not 0.3-0.5 s.
    gc.freeze()
    try:
        if uses_population(settings):  # K trials in lockstep on one GPU (or CPU when asked)
            run_population_study(study, runner, population=settings.population, source=source,
                                 callbacks=callbacks)
        else:
            _one_at_a_time(study, runner, source, callbacks)
    except KeyboardInterrupt:
        source.stopped = "ctrl-c"
        retry_stopped(study)
    finally:
        gc.unfreeze()
        runner.time_budget = runner.progress = None
        if progress:
            progress.close()
    record_stop(study, source.stopped or "trials", settings.timeout)
    counts = trial_counts(study, settings.n_trials)
    if source.stopped == "ctrl-c":
        then = "" if out is None else "; building the final model from them (Ctrl-C again " \
            "to quit)"
        log.warning("stopped by Ctrl-C: %s%s", counts["summary"], then)
    elif settings.n_trials is not None and counts["finished"] < settings.n_trials \
            and source.stopped in ("timeout", "no time"):
        log.warning("%s", counts["summary"])
    elif progress:
        log.info("%s", counts["summary"])
    return source.started


def _one_at_a_time(study: optuna.Study, runner: TrialRunner, source: TrialSource,
                   callbacks: list) -> None:
    objective = _Admitted(runner, source)
    ran = 0
    while True:
        state = source.state()
        if state == "stop":
            return
        if state == "wait":
            time.sleep(source.poll)
            continue
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks,
                       gc_after_trial=True)
        ran += 1
        if ran == 1:
            gc.collect()
            gc.freeze()


class _Admitted:
    """The trial runner, run only if the source admits the trial; Ctrl-C and lack of time are
    recorded on the trial."""

    def __init__(self, runner: TrialRunner, source: TrialSource) -> None:
        self.runner, self.source = runner, source

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        try:
            if not self.source.admit(trial):
                raise _OverBudget(OVER_BUDGET)
            return self.runner(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", STOPPED)
            raise


class _OverBudget(SpectuneError):
    """A trial that lost the race for the study's last place (recorded FAIL, not counted)."""


def retry_stopped(study: optuna.Study) -> int:
    """Queue again the parameters of trials stopped by Ctrl-C that no trial retries yet."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    stopped = [t for t in trials if t.state == TrialState.FAIL and uncounted(t) == "interrupted"
               and t.user_attrs.get("fail_reason") == STOPPED and t.number not in retried]
    for trial in stopped:
        retry(study, trial)
    return len(stopped)


def worker_name() -> str:
    """``host:pid``, what tags the trials of one worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _fail_stale_trials(study: optuna.Study, heartbeat: int | None) -> None:
    """Fail (and queue again) trials whose worker stopped beating; Optuna does this before each
    ask too, but a waiting worker asks nothing."""
    if heartbeat:
        with warnings.catch_warnings():  # experimental since Optuna 2.9; we rely on it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def uses_population(settings: TuneSettings) -> bool:
    """The population trainer runs on CUDA by default, and wherever ``--population K`` asks."""
    return settings.population is not None or resolve_device(settings.device).type == "cuda"
