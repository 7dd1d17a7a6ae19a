"""Objectives: each metric against scikit-learn or a hand computation, defaults, validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_squared_error,
    root_mean_squared_error,
)

from spectune.tuning._objectives import OBJECTIVES, Objective, default_objective


def _regression(n_targets: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1)
    y_cal, y_tune = rng.normal(size=(30, n_targets)), rng.normal(size=(12, n_targets))
    return (y_cal, y_cal + 0.1 * rng.normal(size=y_cal.shape),
            y_tune, y_tune + 0.5 * rng.normal(size=y_tune.shape))


def test_overfit_is_weighted_tuning_rmse_plus_mse_gap() -> None:
    y_cal, pred_cal, y_tune, pred_tune = _regression()
    w_tune, w_gap = 0.3, 0.7
    mse_cal, mse_tune = mean_squared_error(y_cal, pred_cal), mean_squared_error(y_tune, pred_tune)
    expected = w_tune * np.sqrt(mse_tune) + w_gap * abs(mse_tune - mse_cal)
    value = Objective("overfit", weights=(w_tune, w_gap)).score(y_cal, pred_cal, y_tune, pred_tune)
    assert value == pytest.approx(expected, rel=1e-12)
    # The gap term makes a model that fits calibration much better than tuning worse than RMSE.
    assert value > w_tune * np.sqrt(mse_tune)


def test_rmse_is_the_tuning_rmse_averaged_over_targets() -> None:
    y_cal, pred_cal, y_tune, pred_tune = _regression(n_targets=2)
    per_target = root_mean_squared_error(y_tune, pred_tune, multioutput="raw_values")
    value = Objective("rmse").score(y_cal, pred_cal, y_tune, pred_tune)
    assert value == pytest.approx(per_target.mean(), rel=1e-12)
    # Calibration predictions do not enter the RMSE objective.
    assert Objective("rmse").score(y_cal, y_cal, y_tune, pred_tune) == value


@pytest.mark.parametrize(("name", "reference"), [
    ("accuracy", accuracy_score),
    ("balanced_accuracy", balanced_accuracy_score),
    ("f1_macro", lambda y, p: f1_score(y, p, average="macro")),
])
def test_classification_objectives_match_scikit_learn(name: str, reference) -> None:
    rng = np.random.default_rng(2)
    y = np.array(["a"] * 12 + ["b"] * 5 + ["c"] * 3)
    pred = np.where(rng.random(y.size) < 0.7, y, rng.choice(["a", "b", "c"], size=y.size))
    assert Objective(name).score(y, y, y, pred) == pytest.approx(reference(y, pred), rel=1e-12)


def test_directions() -> None:
    assert [Objective(n).direction for n in OBJECTIVES] == [
        "minimize", "minimize", "maximize", "maximize", "maximize"]
    assert Objective("accuracy", pareto=True).directions == ["maximize", "minimize"]
    assert Objective("rmse").directions == ["minimize"]
    assert Objective("f1_macro").task == "classification"


@pytest.mark.parametrize(("y", "expected"), [
    (np.repeat(["a", "b", "c"], [10, 10, 9]), "accuracy"),
    (np.repeat(["a", "b"], [15, 10]), "accuracy"),          # 1.5 times: still balanced
    (np.repeat(["a", "b"], [16, 10]), "balanced_accuracy"),
    (np.repeat([0, 1, 2], [30, 30, 5]), "balanced_accuracy"),
])
def test_default_objective_for_classes(y: np.ndarray, expected: str) -> None:
    assert default_objective("classification", y) == expected


def test_default_objective_for_regression_is_rmse() -> None:
    assert default_objective("regression", np.zeros((5, 1))) == "rmse"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "mse"}, r"--objective 'mse' is not known; choose one of rmse, overfit"),
    ({"name": "overfit", "weights": (-0.5, 1.0)}, r"two non-negative numbers.*\(-0.5, 1.0\)"),
    ({"name": "overfit", "weights": (0.0, 0.0)}, r"not both 0; got \(0.0, 0.0\)"),
    ({"name": "overfit", "weights": (1.0,)}, r"two non-negative numbers"),
])
def test_objective_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Objective(**kwargs)
