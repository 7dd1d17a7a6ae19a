"""Every sampler and pruner runs a short study of real trials; start-up sizes; refusals."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from spectune.data import Spectra
from spectune.tuning import (
    PRUNERS,
    SAMPLERS,
    SearchSpace,
    default_startup_trials,
    make_pruner,
    make_sampler,
)
from spectune.tuning._objectives import Objective
from spectune.tuning._trial import Evaluation, TrialRunner

MIXED = {"parameters": {
    "route": {"type": "categorical", "choices": ["raw", "snv"]},
    "units": {"type": "int", "low": 4, "high": 12},
    "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": 16,
}}
CATEGORICAL = {"parameters": {
    "units": {"type": "categorical", "choices": [4, 8]},
    "lr": {"type": "categorical", "choices": [1.0e-3, 1.0e-2]},
    "batch_size": 16,
}}


def _study(sampler: optuna.samplers.BaseSampler, space: SearchSpace, pool: Spectra,
           evaluations: list[Evaluation], *, pruner: optuna.pruners.BasePruner | None = None,
           n_trials: int = 3) -> optuna.Study:
    """A study of ``n_trials`` real trials; any error in a trial propagates (no ``catch``)."""
    runner = TrialRunner(space, pool, evaluations, Objective(),
                         train_defaults={"max_epochs": 4})
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    study.optimize(runner, n_trials=n_trials)
    return study


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_runs_a_study(name: str, tiny: Spectra,
                                   hold_out: list[Evaluation]) -> None:
    space = SearchSpace.from_dict(CATEGORICAL if name == "grid" else MIXED)
    # One start-up trial, so that the model-based samplers propose trials 2 and 3 themselves.
    sampler = make_sampler(name, seed=0, n_startup_trials=1,
                           grid=space.grid() if name == "grid" else None)
    study = _study(sampler, space, tiny, hold_out)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    for trial in study.trials:
        assert np.isfinite(trial.value)
        assert trial.value == pytest.approx(trial.user_attrs["tune_rmse"], rel=1e-12)
        assert set(trial.params) == {p.name for p in space.parameters if p.type != "fixed"}
    if name == "grid":  # a grid never repeats a point while points are left
        points = [tuple(sorted(t.params.items())) for t in study.trials]
        assert len(set(points)) == 3
        assert all(t.params["units"] in (4, 8) for t in study.trials)


@pytest.mark.parametrize("name", PRUNERS)
def test_each_pruner_runs_a_study_with_per_epoch_reports(
    name: str, tiny: Spectra, hold_out: list[Evaluation]
) -> None:
    pruner = make_pruner(name, max_epochs=4, min_resource=1)
    study = _study(optuna.samplers.RandomSampler(seed=0), SearchSpace.from_dict(MIXED), tiny,
                   hold_out, pruner=pruner)
    assert len(study.trials) == 3
    for trial in study.trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)) and steps  # epochs trained: 1, 2, ...
        if trial.state == TrialState.COMPLETE:
            assert len(steps) == 4  # every epoch of an unpruned trial
    if name == "none":
        assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_grid_needs_the_space_grid() -> None:
    with pytest.raises(ValueError, match="--sampler grid needs a space"):
        make_sampler("grid", seed=0)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"--sampler 'bayes' is not known; choose one of tpe"):
        make_sampler("bayes", seed=0)
    with pytest.raises(ValueError, match=r"--pruner 'asha' is not known; choose one of hyper"):
        make_pruner("asha", max_epochs=10)


@pytest.mark.parametrize("min_resource", [0, 20, 30])
def test_hyperband_needs_min_resource_below_max_epochs(min_resource: int) -> None:
    with pytest.raises(ValueError, match=rf"\[1, max_epochs=20\); got {min_resource}"):
        make_pruner("hyperband", max_epochs=20, min_resource=min_resource)


def test_cmaes_without_its_package_is_refused_before_the_study(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)  # as if not installed
    with pytest.raises(ValueError, match="needs the 'cmaes' package: pip install cmaes"):
        make_sampler("cmaes", seed=0)


@pytest.mark.parametrize(("n_dimensions", "n_trials", "expected"), [
    (2, None, 20),    # 10 per hyperparameter without a budget
    (0, None, 10),    # at least one dimension's worth
    (14, 100, 33),    # a third of the budget
    (2, 300, 20),     # 10 per hyperparameter fits in a third
    (3, 6, 5),        # at least 5 ...
    (3, 3, 3),        # ... but never more than the budget
])
def test_default_startup_trials(n_dimensions: int, n_trials: int | None, expected: int) -> None:
    assert default_startup_trials(n_dimensions, n_trials) == expected


def test_same_seed_same_draws() -> None:
    space = SearchSpace.from_dict(MIXED)

    def draws(name: str) -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=make_sampler(name, seed=5, n_startup_trials=2))
        study.optimize(lambda t: (p := space.sample(t))["lr"] * p["units"], n_trials=4)
        return [t.params for t in study.trials]

    for name in ("tpe", "random", "qmc"):
        first = draws(name)
        assert first == draws(name)
        assert len({p["lr"] for p in first}) == 4
