"""``tune`` end to end on tiny data: failures inside the study, reproducibility, k-fold by hand,
classification on real data, Pareto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from optuna.trial import TrialState
from sklearn.metrics import accuracy_score, root_mean_squared_error

from spectune.data import Spectra, cv_splitter, load_dataset, split_indices
from spectune.exceptions import InvalidArchitectureError, SpectuneError
from spectune.models import ArchSpec, DenseBlock
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._network import fit_network
from spectune.tuning import SearchSpace, TuneSettings, materialise
from spectune.tuning._run import tune

Quick = Callable[..., TuneSettings]

# On 40 points a kernel k leaves 41 - k points and the pool of 12 needs 12 of them:
# kernels 31..39 (5 of the 19 odd sizes 3..39, 26 %) cannot be built.
SHORT_CONV = {"parameters": {
    "n_conv": 1, "filters": 2, "kernel_size": {"type": "int", "low": 3, "high": 39, "step": 2},
    "pool": "max", "pool_size": 12, "units": 4, "lr": 3.0e-3, "batch_size": 16,
}}


def _run(tiny: Spectra, out: Path, settings: TuneSettings) -> tuple[Any, dict[str, Any]]:
    result = tune(tiny, out, settings)
    return result, json.loads((out / "metrics.json").read_text())


def _trials(study: Any) -> list[tuple[Any, ...]]:
    return [(t.number, t.state, t.params, t.values) for t in study.trials]


def test_invalid_draws_fail_and_the_study_reaches_its_budget(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    space = SearchSpace.from_dict(SHORT_CONV)
    kernels = space.grid()["kernel_size"]
    invalid = set()
    for k in kernels:
        try:
            materialise(space.resolve({"kernel_size": k}), task="regression", n_outputs=1,
                        n_channels=1, length=tiny.n_points)
        except InvalidArchitectureError:
            invalid.add(k)
    assert invalid == {k for k in kernels if 41 - k < 12}  # the analytic rule above
    assert 0.2 <= len(invalid) / len(kernels) <= 0.4

    result, metrics = _run(tiny, tmp_path / "run", quick(space=SHORT_CONV, n_trials=10))
    trials = result.study.trials
    assert len(trials) == 10 and all(t.state.is_finished() for t in trials)
    failed = [t.number for t in trials if t.params["kernel_size"] in invalid]
    assert 0 < len(failed) < 10
    for trial in trials:
        if trial.number in failed:  # the message names the error, the layer and the lengths
            assert trial.state == TrialState.FAIL
            assert trial.user_attrs["fail_reason"].startswith(
                "InvalidArchitectureError: conv block 1 max pool (size 12, stride 12): input "
                f"length {41 - trial.params['kernel_size']} gives output length 0 < 1")
        else:
            assert trial.state == TrialState.COMPLETE
    assert metrics["study"]["n_failed"] == len(failed)
    assert metrics["study"]["n_complete"] == 10 - len(failed)
    assert metrics["cnn"]["params"]["kernel_size"] not in invalid
    assert (tmp_path / "run" / "model").is_dir()


def test_diverged_trials_fail_and_the_study_goes_on(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    space = {"parameters": {"units": 4, "optimizer": "sgd", "batch_size": 16,
                            "lr": {"type": "categorical", "choices": [1.0e-3, 1.0e10]}}}
    result, metrics = _run(tiny, tmp_path / "run", quick(space=space, n_trials=6))
    states = {t.number: t.state for t in result.study.trials}
    assert len(states) == 6 and set(states.values()) == {TrialState.FAIL, TrialState.COMPLETE}
    for trial in result.study.trials:
        diverged = trial.params["lr"] > 1
        assert (trial.state == TrialState.FAIL) == diverged
        if diverged:
            assert trial.user_attrs["fail_reason"].startswith("DivergedError: ")
    assert metrics["cnn"]["params"]["lr"] == 1.0e-3


def test_every_trial_failing_is_an_error_that_says_why(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    space = {"parameters": {"units": 4, "optimizer": "sgd", "lr": 1.0e10, "batch_size": 16,
                            "dropout": {"type": "float", "low": 0.0, "high": 0.2}}}
    with pytest.raises(SpectuneError, match=r"every trial failed or was pruned \(2 trials\); "
                                            r"reasons: DivergedError: The loss became non-fin"):
        tune(tiny, tmp_path / "run", quick(space=space, n_trials=2))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_objective_of_the_other_task_is_refused(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    with pytest.raises(SpectuneError, match="--objective accuracy is for classification; the "
                                            "target is a regression target"):
        tune(tiny, tmp_path / "run", quick(objective="accuracy"))


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_same_seed_same_trials(tiny: Spectra, tmp_path: Path, quick: Quick,
                               sampler: str) -> None:
    settings = quick(sampler=sampler, n_trials=4, n_startup_trials=2, seed=4)
    first, metrics = _run(tiny, tmp_path / "a", settings)
    second, again = _run(tiny, tmp_path / "b", settings)
    assert _trials(first.study) == _trials(second.study)
    assert len({t.params["lr"] for t in first.study.trials}) == 4  # four different draws
    assert metrics["final"]["test"] == again["final"]["test"]


def test_k_fold_value_equals_hand_computation(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    settings = quick(cv=3, n_trials=2)
    result, metrics = _run(tiny, tmp_path / "run", settings)
    assert metrics["data"]["split"]["cv"] == 3
    # The pool is everything but the test split; its 3 folds are the CV splitter's.
    parts = split_indices(tiny, test_size=settings.test_size, tune_size=0, random_state=0)
    pool = tiny[parts.cal]
    X, y = pool.flat_X(), pool.y
    for trial in result.study.trials:
        config = TrainConfig(lr=trial.params["lr"], batch_size=16, max_epochs=4,
                             early_stopping_patience=settings.patience,
                             plateau_patience=settings.plateau_patience, lr_min=1e-6, seed=0)
        rmse = []
        for train, val in cv_splitter(pool, n_splits=3, random_state=0).split(X, y):
            network = fit_network(
                X[train], y[train], preprocessing=PreprocessingSpec(("raw",), "concat", False),
                arch=ArchSpec(fc=(DenseBlock(trial.params["units"]),), n_outputs=1),
                config=config, X_val=X[val], y_val=y[val],
            )
            rmse.append(root_mean_squared_error(y[val], network.predict(X[val])))
        assert len(set(rmse)) == 3
        assert trial.value == pytest.approx(np.mean(rmse), rel=1e-9)


@pytest.mark.slow
def test_classification_on_coffee(tmp_path: Path, quick: Quick) -> None:
    coffee, _ = load_dataset("coffee")
    space = {"parameters": {
        "route": {"type": "categorical", "choices": ["raw", "snv"]},
        "standardise": True,
        "units": {"type": "int", "low": 4, "high": 12},
        "lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True},
        "batch_size": 16,
    }}
    result, metrics = _run(coffee, tmp_path / "run", quick(space=space, max_epochs=8))
    assert metrics["study"]["objective"] == "accuracy"  # 3 balanced classes
    assert metrics["study"]["n_complete"] == 3
    for model in (metrics["final"], metrics["pls"]):
        assert {"accuracy", "balanced_accuracy", "f1_macro"} <= set(model["test"])
    test = coffee[split_indices(coffee, test_size=0.2, tune_size=0, random_state=0).test]
    assert metrics["data"]["n_test"] == test.n_samples == 12
    expected = accuracy_score(test.y, result.predict(test.flat_X()))
    assert metrics["final"]["test"]["accuracy"] == pytest.approx(expected)
    assert [c["name"] for c in metrics["candidates"]][-1] == "logistic"  # the linear candidate
    assert set(result.predict(test.flat_X())) <= set(coffee.classes)
    best = result.study.best_trial
    assert metrics["cnn"]["tune"]["accuracy"] == best.user_attrs["tune_accuracy"] == best.value


def test_pareto_gives_two_objectives_and_a_best_trial_on_the_front(
    tiny: Spectra, tmp_path: Path, quick: Quick
) -> None:
    result, metrics = _run(tiny, tmp_path / "run", quick(pareto=True, n_trials=4))
    study = result.study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    for trial in study.trials:
        assert trial.values[1] == 42 * trial.params["units"] + 1  # an MLP 40 -> units -> 1
    front = study.best_trials
    assert metrics["study"]["best_trial"] in {t.number for t in front}
    assert metrics["cnn"]["tune"]["objective"] == min(t.values[0] for t in front)
    assert metrics["cnn"]["n_params"] == 42 * metrics["cnn"]["params"]["units"] + 1
