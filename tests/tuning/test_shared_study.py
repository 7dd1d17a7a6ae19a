"""A study shared by workers: the budget counted once per trial, a dead worker's trial retried,
the race for the last place, the data check, and the final model rebuilt by whoever finishes."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from spectune.data import Spectra, split_indices
from spectune.exceptions import SpectuneError
from spectune.training._files import load_model
from spectune.tuning import TuneSettings
from spectune.tuning._run import finish_run, prepare, run_trials, search
from spectune.tuning._study import (
    INTERRUPTED,
    OVER_BUDGET,
    BudgetState,
    budget_state,
    n_budget_trials,
    within_budget,
)

Quick = Callable[..., TuneSettings]


def _finish(study: optuna.Study, state: TrialState, **user_attrs: str) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    for key, value in user_attrs.items():
        trial.set_user_attr(key, value)
    return study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_budget_counts_each_trial_once() -> None:
    study = optuna.create_study()
    _finish(study, TrialState.COMPLETE)
    _finish(study, TrialState.PRUNED)
    _finish(study, TrialState.FAIL, fail_reason="ValueError: a bad draw")  # counts: it ran
    _finish(study, TrialState.FAIL, fail_reason=INTERRUPTED)              # retried: does not
    _finish(study, TrialState.FAIL, fail_reason=OVER_BUDGET)              # never ran: does not
    stale = _finish(study, TrialState.FAIL)  # as Optuna fails a trial whose heartbeat stopped
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, stale)      # ... and queues it
    study.ask()                                                           # the retry, popped
    study.enqueue_trial({"x": 0.1})
    assert budget_state(study) == BudgetState(counted=3, running=1, waiting=1)
    assert n_budget_trials(study) == 3
    retry = study.trials[6]
    assert retry.system_attrs["retry_history"] == [5] and retry.params == stale.params

    state = BudgetState(counted=3, running=1, waiting=0)
    assert state.may_ask(5) and not state.may_ask(4) and state.may_ask(None)
    assert not state.spent(4) and state.spent(3) and not state.spent(None)
    assert BudgetState(counted=3, running=1, waiting=1).may_ask(4)  # a retry always runs


def test_of_two_trials_started_for_the_last_place_the_first_keeps_it() -> None:
    study = optuna.create_study()
    _finish(study, TrialState.COMPLETE)
    first, second = study.ask(), study.ask()  # two workers asked at the same moment
    assert within_budget(study, first.number, 2)
    assert not within_budget(study, second.number, 2)
    assert within_budget(study, second.number, 3) and within_budget(study, second.number, None)
    study.tell(first, 0.1)  # finished or running, the first still holds its place
    assert not within_budget(study, second.number, 2)


def _heartbeat_storage(path: Path) -> optuna.storages.BaseStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rdb = optuna.storages.RDBStorage(
            f"sqlite:///{path}", heartbeat_interval=1, grace_period=1,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(3))
    return optuna.storages.get_storage(rdb)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with")
def test_a_dead_workers_trial_is_retried_by_a_waiting_worker_and_counted_once(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    storage = _heartbeat_storage(tmp_path / "study.db")
    settings = quick(n_trials=3)
    found = prepare(tiny, settings, storage=storage)
    assert run_trials(found, settings, None, max_trials=2) == 2
    dead = found.study.ask()  # another worker asks, draws, beats once, and is killed
    found.runner.space.sample(dead)
    storage.record_heartbeat(dead._trial_id)
    # 2 counted + 1 running fill the budget: this worker waits, sees the heartbeat go stale,
    # and runs the retry that Optuna queued
    started = time.monotonic()
    assert run_trials(found, settings, None) == 1
    assert time.monotonic() - started >= 1.0  # the grace period
    trials = found.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL,
                                                                     TrialState.COMPLETE]
    assert trials[2].number == dead.number and trials[2].user_attrs.get("fail_reason") is None
    assert set(trials[2].params) == {"units", "lr"}
    assert trials[3].params == trials[2].params
    assert trials[3].system_attrs["failed_trial"] == dead.number
    assert n_budget_trials(found.study) == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with")
def test_resume_on_a_heartbeat_storage_leaves_running_trials_to_the_heartbeat(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    storage = _heartbeat_storage(tmp_path / "study.db")
    found = prepare(tiny, quick(), storage=storage)
    running = found.study.ask()  # perhaps another worker's, alive
    prepare(tiny, quick(resume=True), storage=storage)
    assert found.study.trials[running.number].state == TrialState.RUNNING


def test_joining_with_other_data_names_what_differs(tiny: Spectra, tmp_path: Path,
                                                    quick: Quick) -> None:
    storage = optuna.storages.get_storage(f"sqlite:///{tmp_path / 'study.db'}")
    prepare(tiny, quick(), storage=storage)
    with pytest.raises(SpectuneError, match=r"^study 'spectune' was created on other data: the "
                                            r"training data <synthetic> has 40 spectra here, 48 in "
                                            r"the study"):
        prepare(tiny[:50], quick(resume=True), storage=storage, join=True)
    y = tiny.y.copy()  # one target of the held-out test set changed
    y[split_indices(tiny, test_size=0.2, tune_size=0, random_state=0).test[0], 0] += 1.0
    with pytest.raises(SpectuneError, match=r"the test data <synthetic> holds other values "
                                            r"\(checksum [0-9a-f]{12}\.\.\. here"):
        prepare(dataclasses.replace(tiny, y=y), quick(resume=True), storage=storage, join=True)
    with pytest.raises(SpectuneError, match=r"no study 'other' in sqlite:///"):
        prepare(tiny, quick(study_name="other"), storage=storage, join=True)
    assert prepare(tiny, quick(resume=True), storage=storage, join=True).study.trials == []


def test_finish_rebuilds_the_final_model_whoever_ran_the_trials(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    settings = quick(n_trials=3, candidates=2)
    found = search(tiny, tmp_path / "here", settings)
    assert not (tmp_path / "here" / "trials").exists()  # no weights travel between workers
    here = finish_run(found, settings, tmp_path / "here")
    elsewhere = finish_run(found, settings, tmp_path / "elsewhere")  # as if by another machine
    X = tiny.flat_X()
    np.testing.assert_array_equal(load_model(tmp_path / "elsewhere" / "model").predict(X),
                                  load_model(tmp_path / "here" / "model").predict(X))
    assert here.metrics["final"]["weights"] == elsewhere.metrics["final"]["weights"]
    assert elsewhere.metrics["study"]["n_trials"] == 3