"""The study on its storage: create, resume only the same run, recover killed trials, budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from spectune.data import Spectra, make_synthetic
from spectune.exceptions import SpectuneError
from spectune.tuning._study import (
    INTERRUPTED,
    data_checksum,
    n_budget_trials,
    open_study,
    recover_interrupted,
)


def _storage(tmp_path: Path) -> optuna.storages.BaseStorage:
    return optuna.storages.get_storage(f"sqlite:///{tmp_path / 'study.db'}")


def _open(storage: optuna.storages.BaseStorage, *, resume: bool, checksum: str = "abc",
          directions: tuple[str, ...] = ("minimize",)) -> optuna.Study:
    return open_study(storage, "spectune", directions=directions,
                      sampler=optuna.samplers.RandomSampler(seed=0),
                      pruner=optuna.pruners.NopPruner(), resume=resume, checksum=checksum,
                      settings={"n_trials": 3})


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0) ** 2


def test_checksum_follows_spectra_wavelengths_and_targets(tiny: Spectra) -> None:
    base = data_checksum(tiny)
    assert base == data_checksum(tiny[np.arange(tiny.n_samples)])  # same data, new object
    assert len(base) == 64
    X, y, wl = tiny.X.copy(), tiny.y.copy(), tiny.wavelengths.copy()
    X[3, 0, 7] += 1e-3
    y[5, 0] += 1e-3
    wl[-1] += 1.0
    for changed in (dataclasses.replace(tiny, X=X), dataclasses.replace(tiny, y=y),
                    dataclasses.replace(tiny, wavelengths=wl)):
        assert data_checksum(changed) != base
    assert data_checksum(tiny[:50], tiny[50:]) != data_checksum(tiny[:40], tiny[40:])
    labels = make_synthetic(30, 20, task="classification", random_state=0)[0]
    assert data_checksum(labels) == data_checksum(labels[np.arange(30)])


def test_new_study_stores_checksum_and_settings(tmp_path: Path) -> None:
    study = _open(_storage(tmp_path), resume=False, checksum="f00d")
    assert study.user_attrs == {"data_sha256": "f00d", "settings": {"n_trials": 3}}


def test_resume_refusals(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    with pytest.raises(SpectuneError, match=r"--resume: no study 'spectune' in sqlite:///"):
        _open(storage, resume=True)
    _open(storage, resume=False).optimize(_objective, n_trials=2)
    with pytest.raises(SpectuneError, match=r"study 'spectune' already exists .*pass --resume"):
        _open(storage, resume=False)
    with pytest.raises(SpectuneError, match=r"was run on other data \(checksum abc\.\.\., this "
                                            r"data 0123456789ab\.\.\.\)"):
        _open(storage, resume=True, checksum="0123456789abcdef")
    with pytest.raises(SpectuneError, match=r"other settings \(objective directions\)"):
        _open(storage, resume=True, directions=("minimize", "minimize"))
    resumed = _open(storage, resume=True)
    assert [t.state for t in resumed.trials] == [TrialState.COMPLETE] * 2


def test_recover_interrupted_fails_running_trials_and_retries_their_params(
    tmp_path: Path,
) -> None:
    storage = _storage(tmp_path)
    study = _open(storage, resume=False)
    study.optimize(_objective, n_trials=2)
    study.optimize(lambda t: 1 / 0 + _objective(t), n_trials=1, catch=(ZeroDivisionError,))
    killed = study.ask()  # a process killed during trial 3 leaves it RUNNING ...
    x = killed.suggest_float("x", 0.0, 1.0)
    study.ask()           # ... and one killed before sampling leaves no params
    before = {t.number: (t.state, t.params, t.values) for t in study.trials[:3]}
    assert n_budget_trials(study) == 3  # a trial that failed on its own counts

    resumed = _open(storage, resume=True)
    assert recover_interrupted(resumed, storage) == 2
    trials = resumed.get_trials()
    assert {t.number: (t.state, t.params, t.values) for t in trials[:3]} == before
    for number in (3, 4):
        assert trials[number].state == TrialState.FAIL
        assert trials[number].user_attrs["fail_reason"] == INTERRUPTED
    waiting = resumed.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1  # only the trial with params is retried
    assert waiting[0].user_attrs == {"retry_of": 3}
    assert waiting[0].system_attrs["fixed_params"] == {"x": x}  # how Optuna enqueues
    assert n_budget_trials(resumed) == 3

    resumed.optimize(_objective, n_trials=1)
    retried = resumed.trials[-1]
    assert retried.state == TrialState.COMPLETE and retried.params == {"x": x}
    assert retried.value == pytest.approx(x ** 2)
    assert n_budget_trials(resumed) == 4
    assert recover_interrupted(resumed, storage) == 0


def test_resume_refuses_incomparable_settings(tmp_path: Path) -> None:
    storage = _storage(tmp_path)

    def open_with(settings: dict, resume: bool) -> optuna.Study:
        return open_study(storage, "spectune", directions=("minimize",),
                          sampler=optuna.samplers.RandomSampler(seed=0),
                          pruner=optuna.pruners.NopPruner(), resume=resume, checksum="abc",
                          settings=settings)

    open_with({"objective": "rmse", "objective_weights": (0.5, 0.5), "n_trials": 3}, False)
    with pytest.raises(SpectuneError, match=r"other settings \(objective\)"):
        open_with({"objective": "overfit", "objective_weights": (0.5, 0.5)}, True)
    # a larger budget is a legitimate change; tuples compare equal to their JSON lists
    assert open_with({"objective": "rmse", "objective_weights": (0.5, 0.5), "n_trials": 9},
                     True).study_name == "spectune"
