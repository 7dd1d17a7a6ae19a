"""One trial-execution path: counts, the time budget, Ctrl-C, --max-trials, worker tags and the
heartbeat hold whether trials run one at a time or K at once (the population, on CPU)."""

from __future__ import annotations

import logging
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from spectune.data import Spectra
from spectune.tuning import TuneSettings, _execute
from spectune.tuning._execute import run_trials
from spectune.tuning._final import _study_section
from spectune.tuning._materialise import materialise
from spectune.tuning._objectives import Objective
from spectune.tuning._run import prepare
from spectune.tuning._study import (
    NOT_STARTED,
    OVER_BUDGET,
    STOPPED,
    TOO_LARGE,
    record_stop,
    trial_counts,
)
from spectune.tuning._time_budget import NotStarted, TimeBudget

Quick = Callable[..., TuneSettings]


def _study_with_every_kind() -> optuna.Study:
    study = optuna.create_study()
    for value in (0.5, 0.4):
        study.add_trial(create_trial(value=value))
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.9}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "diverged"}))
    for reason in (OVER_BUDGET, STOPPED, f"{NOT_STARTED}no time", f"{TOO_LARGE}1e9 params"):
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": reason}))
    return study


def test_trial_counts_count_what_they_say() -> None:
    study = _study_with_every_kind()
    record_stop(study, "timeout", 360)
    counts = trial_counts(study, 30)
    assert {k: counts[k] for k in ("asked", "finished", "complete", "pruned", "failed",
                                   "interrupted", "not_started", "too_large", "over_budget")} \
        == {"asked": 30, "finished": 4, "complete": 2, "pruned": 1, "failed": 1,
            "interrupted": 1, "not_started": 1, "too_large": 1, "over_budget": 1}
    assert counts["stopped"] == "timeout"
    assert counts["summary"] == (
        "4 of 30 trials ran before the 360 s timeout (2 complete, 1 pruned, 1 failed, "
        "1 interrupted (not counted), 1 too large for the data (not counted))")
    settings = TuneSettings(n_trials=30)  # `spectune finish` counts no placeholder either
    found = SimpleNamespace(study=study, objective=Objective("rmse"))
    section = _study_section(found, study.best_trial, settings)  # type: ignore[arg-type]
    assert (section["n_trials"], section["n_complete"], section["n_failed"]) == (4, 2, 1)
    record_stop(study, "ctrl-c", None)
    assert trial_counts(study, 30)["summary"].startswith(
        "4 of 30 trials ran before Ctrl-C stopped the study (--resume continues it)")


def _plan(epochs: int) -> Any:
    return materialise({"units": 4}, task="regression", n_outputs=1, n_channels=1, length=40,
                       train_defaults={"max_epochs": epochs})


def test_a_trial_runs_with_the_epochs_that_fit_or_does_not_start() -> None:
    study = optuna.create_study()  # one trial: 10 epochs of 1e6 work in 10 s: 1e-6 s per unit
    study.add_trial(create_trial(value=1.0, user_attrs={"work": 1e6, "epochs_trained": 10,
                                                         "wall_s": 10.0}))
    budget = TimeBudget(timeout=100, min_epochs=10)
    trial = study.ask()
    trial.set_user_attr("work", 1e6)  # this one: 1 s an epoch
    budget.deadline -= 100 - 30  # 30 s left: 30 of the 50 epochs
    fitted = budget.fit(trial, _plan(50), n_runs=1)
    assert 28 <= fitted.train.max_epochs <= 30
    assert trial.user_attrs["epochs_cut"].startswith(f"50 -> {fitted.train.max_epochs} epochs")
    assert budget.fit(trial, _plan(20), n_runs=1).train.max_epochs == 20  # fits: unchanged
    with pytest.raises(NotStarted, match=r"^not started: it would need ~200 s for 50 epochs "
                       r"\(10 at least ~40 s\); 30 s of the 100 s timeout were left$"):
        budget.fit(trial, _plan(50), n_runs=4)  # 4 s an epoch: 7 epochs < 10
    assert TimeBudget(timeout=None).fit(trial, _plan(50), n_runs=9).train.max_epochs == 50
    fresh = optuna.create_study().ask()  # nothing ran yet: no estimate, no cut
    fresh.set_user_attr("work", 1e12)
    assert TimeBudget(timeout=1).fit(fresh, _plan(50), n_runs=1).train.max_epochs == 50


def _prepared(tiny: Spectra, settings: TuneSettings, tmp_path: Path) -> Any:
    return prepare(tiny, settings, out=tmp_path)


@pytest.mark.parametrize("population", [None, 2])
def test_a_trial_that_cannot_finish_is_not_started_and_the_log_says_so(
    population: int | None, tiny: Spectra, tmp_path: Path, quick: Quick,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = quick(n_trials=5, timeout=60, population=population)
    found = _prepared(tiny, settings, tmp_path)

    def rate(study: optuna.Study) -> float | None:  # after one trial: a second per unit of work
        return None if not study.get_trials(states=(TrialState.COMPLETE,)) else 1.0

    monkeypatch.setattr("spectune.tuning._time_budget.seconds_per_work", rate)
    monkeypatch.setattr(_execute, "MAX_REDRAWS", 4)  # then: no draw fits in the time left
    with caplog.at_level(logging.WARNING, logger="spectune"):
        run_trials(found, settings, None)
    counts = trial_counts(found.study, 5)
    assert counts["finished"] >= 1 and counts["not_started"] >= 4  # each one drawn again
    assert counts["stopped"] == "no time"
    assert f"{counts['finished']} of 5 trials ran before the 60 s timeout" in caplog.text
    late = [t for t in found.study.trials if t.state == TrialState.FAIL]
    assert late[-1].user_attrs["fail_reason"].startswith(f"{NOT_STARTED}it would need")


def test_the_study_stops_when_less_time_is_left_than_its_quickest_trial_took() -> None:
    study = optuna.create_study()
    study.add_trial(create_trial(value=1.0, user_attrs={"wall_s": 10.0}))
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 2.0},
                                 user_attrs={"wall_s": 4.0}))
    clock = TimeBudget(timeout=100)
    source = _execute.TrialSource(study, 30, clock=clock)
    clock.deadline -= 100 - 5  # 5 s left: the pruned trial's 4 s would fit
    assert source.state() == "ask"
    clock.deadline -= 2  # 3 s left
    assert source.state() == "stop" and source.stopped == "no time"


@pytest.mark.parametrize("population", [None, 2])
def test_ctrl_c_records_the_trial_as_interrupted_and_queues_it_again(
    population: int | None, tiny: Spectra, tmp_path: Path, quick: Quick,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = quick(n_trials=6, population=population)
    found = _prepared(tiny, settings, tmp_path)
    real = found.runner.evaluate

    def interrupted(trial: optuna.Trial, *args: Any, **kwargs: Any) -> Any:
        if trial.number == 2:
            raise KeyboardInterrupt
        return real(trial, *args, **kwargs)

    if population is None:
        monkeypatch.setattr(found.runner, "evaluate", interrupted)
    else:  # the population trains its members itself: interrupt its third ask instead
        source_ask = _execute.TrialSource.ask

        def ask(self: Any) -> Any:
            if len(self.study.trials) == 2 and self.study.trials[-1].state.is_finished():
                raise KeyboardInterrupt
            return source_ask(self)

        monkeypatch.setattr(_execute.TrialSource, "ask", ask)
    with caplog.at_level(logging.WARNING, logger="spectune"):
        run_trials(found, settings, tmp_path)  # returns: the caller builds the best so far
    study = found.study
    counts = trial_counts(study, 6)
    assert counts["stopped"] == "ctrl-c"
    assert f"stopped by Ctrl-C: {counts['finished']} of 6 trials ran before Ctrl-C" in caplog.text
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    stopped = [t for t in study.trials if t.user_attrs.get("fail_reason") == STOPPED]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert [t.user_attrs["retry_of"] for t in waiting] == [t.number for t in stopped]
    assert all(w.system_attrs["fixed_params"] == s.params for w, s in zip(waiting, stopped))
    assert counts["interrupted"] == len(stopped) and counts["finished"] == 2


@pytest.mark.parametrize("population", [None, 2])
def test_max_trials_and_worker_tags_hold_for_every_strategy(
    population: int | None, tiny: Spectra, tmp_path: Path, quick: Quick,
) -> None:
    settings = quick(n_trials=5, population=population)
    found = _prepared(tiny, settings, tmp_path)
    assert run_trials(found, settings, None, max_trials=2, worker="host:1") == 2
    study = found.study
    assert {t.user_attrs.get("worker") for t in study.trials} == {"host:1"}
    assert trial_counts(study, 5)["stopped"] == "max trials"
    assert run_trials(found, settings, None, worker="host:2") == 3  # the rest of the budget
    assert trial_counts(study, 5)["finished"] == 5
    assert trial_counts(study, 5)["stopped"] == "trials"


def test_the_population_beats_the_heartbeat_of_its_trials(
    tiny: Spectra, tmp_path: Path, quick: Quick,
) -> None:
    db = tmp_path / "beat.db"
    with warnings.catch_warnings():  # heartbeat_interval is experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(f"sqlite:///{db}", heartbeat_interval=60)
    settings = quick(n_trials=2, population=2)
    found = prepare(tiny, settings, storage=storage)
    run_trials(found, settings, None)
    with sqlite3.connect(db) as con:
        beaten = {row[0] for row in con.execute("SELECT trial_id FROM trial_heartbeats")}
    assert len(beaten) == 2


def test_a_new_study_names_its_metric(tiny: Spectra, tmp_path: Path, quick: Quick) -> None:
    assert _prepared(tiny, quick(), tmp_path / "a").study.metric_names == ["tune RMSE"]
    cv = _prepared(tiny, quick(cv=3), tmp_path / "b").study
    assert cv.metric_names == ["CV RMSE"]


@pytest.mark.parametrize("population", [None, 2])
def test_a_draw_too_large_for_the_data_is_pruned_untrained_and_not_counted(
    population: int | None, tiny: Spectra, tmp_path: Path, quick: Quick,
) -> None:
    space = {"parameters": {"units": {"type": "int", "low": 4, "high": 20000},  # > 2500: too large
                            "params_per_spectrum": 100, "lr": 0.01, "batch_size": 16}}
    settings = quick(space=space, n_trials=3, population=population)
    found = _prepared(tiny, settings, tmp_path)
    run_trials(found, settings, None)
    counts = trial_counts(found.study, 3)
    assert counts["finished"] == 3 and counts["too_large"] >= 1
    large = [t for t in found.study.trials
             if str(t.user_attrs.get("fail_reason", "")).startswith(TOO_LARGE)]
    assert len(large) == counts["too_large"]
    assert all(t.state == TrialState.PRUNED and "epochs_trained" not in t.user_attrs
               for t in large)  # PRUNED: the sampler sees them as bad; never trained
    assert all(t.params["units"] > 2000 for t in large)
