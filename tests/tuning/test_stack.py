"""The final stack: distinct top trials, weights on out-of-fold outputs, and their mix."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial
from scipy.optimize import minimize
from sklearn.metrics import log_loss

from spectune.tuning import _stack
from spectune.tuning._stack import combine, select_top_trials, stack_weights

DISTRIBUTIONS = {"units": IntDistribution(1, 64), "lr": FloatDistribution(1e-4, 1.0),
                 "act": CategoricalDistribution(["relu", "elu"])}


def _trial(value: float | None, state: TrialState = TrialState.COMPLETE, **params: Any
           ) -> FrozenTrial:
    return create_trial(params=params, distributions={k: DISTRIBUTIONS[k] for k in params},
                        value=value, state=state)


def _study(direction: str, rows: list[tuple[float, dict[str, Any]]]) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for value, params in rows:
        study.add_trial(_trial(value, **params))
    return study


ROWS = [  # value, params; trial numbers 0..5
    (0.5, {"units": 8, "lr": 0.01}),
    (0.2, {"units": 16, "lr": 0.01}),
    (0.2, {"units": 16, "lr": 0.01}),   # a repeat of trial 1: the same model again
    (0.3, {"units": 32, "lr": 0.01}),
    (0.9, {"units": 4, "lr": 0.01}),
    (0.3, {"units": 32, "lr": 0.02}),   # differs from trial 3 by lr only
]


# --- select_top_trials -------------------------------------------------------------------------

def test_top_trials_skip_repeated_params_and_other_states() -> None:
    study = _study("minimize", ROWS)
    study.add_trial(_trial(None, TrialState.FAIL, units=2, lr=0.5))
    study.add_trial(_trial(None, TrialState.PRUNED, units=3, lr=0.5))
    top = select_top_trials(study, 4)
    assert [t.number for t in top] == [1, 3, 5, 0]   # 2 repeats 1; ties keep the earlier trial
    assert [t.value for t in top] == sorted(t.value for t in top)
    assert len(select_top_trials(study, 50)) == 5    # only five distinct complete trials exist


def test_top_trials_follow_the_direction() -> None:
    study = _study("maximize", ROWS)
    assert [t.number for t in select_top_trials(study, 3)] == [4, 0, 3]
    pareto = optuna.create_study(directions=["maximize", "minimize"])
    for value, params in ROWS:
        pareto.add_trial(create_trial(params=params, values=[value, 1.0],
                                      distributions={k: DISTRIBUTIONS[k] for k in params}))
    assert [t.number for t in select_top_trials(pareto, 2)] == [4, 0]


def test_distinct_on_names_or_a_key_function() -> None:
    study = _study("minimize", ROWS)
    # On units alone, trial 5 is trial 3 again.
    assert [t.number for t in select_top_trials(study, 4, distinct_on=("units",))] == [1, 3, 0, 4]
    by_lr = select_top_trials(study, 4, distinct_on=lambda params: params["lr"])
    assert [t.number for t in by_lr] == [1, 5]


def test_top_trials_bad_arguments() -> None:
    study = _study("minimize", ROWS)
    with pytest.raises(ValueError, match=r"k \(the number of trials to ensemble\).*got 0"):
        select_top_trials(study, 0)
    with pytest.raises(ValueError, match=r"distinct_on names parameters no trial has: \['unit'\]"):
        select_top_trials(study, 2, distinct_on=("unit",))


# --- weights on out-of-fold outputs ----------------------------------------------------------

def _simplex_reference(members: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """The same least squares on the simplex, by SciPy's SLSQP."""
    design = np.stack([m.ravel() for m in members], axis=1)
    k = design.shape[1]
    result = minimize(lambda w: np.sum((design @ w - y.ravel()) ** 2), np.full(k, 1 / k),
                      method="SLSQP", bounds=[(0, 1)] * k, tol=1e-14,
                      constraints={"type": "eq", "fun": lambda w: w.sum() - 1})
    return result.x


def test_weights_recover_a_known_blend_per_target() -> None:
    rng = np.random.default_rng(3)
    cnn, pls = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    y = np.column_stack([0.7 * cnn[:, 0] + 0.3 * pls[:, 0], 0.2 * cnn[:, 1] + 0.8 * pls[:, 1]])
    y += rng.normal(scale=0.01, size=y.shape)
    weights = stack_weights([cnn, pls], y, task="regression")
    assert weights.shape == (2, 2)  # candidates x targets: each target its own mix
    np.testing.assert_allclose(weights, [[0.7, 0.2], [0.3, 0.8]], atol=0.01)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)


def test_weights_are_the_simplex_least_squares() -> None:
    rng = np.random.default_rng(4)
    members = [rng.normal(size=(80, 1)) + 3.0 for _ in range(3)]
    y = 1.3 * members[0] - 0.3 * members[1] + rng.normal(scale=0.2, size=(80, 1))
    weights = stack_weights(members, y, task="regression")[:, 0]
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[1] == 0.0  # the unconstrained optimum would be negative
    np.testing.assert_allclose(weights, _simplex_reference(members, y), atol=1e-5)


def test_a_useless_candidate_gets_no_weight_and_a_perfect_one_all() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(size=(50, 1))
    noise = rng.normal(size=(50, 1))
    weights = stack_weights([noise, y.copy(), y + rng.normal(scale=0.5, size=y.shape)], y,
                            task="regression")
    np.testing.assert_allclose(weights[:, 0], [0.0, 1.0, 0.0], atol=1e-9)


def test_classification_weights_minimise_the_log_loss_of_the_mix() -> None:
    rng = np.random.default_rng(5)
    classes = np.array([10, 20, 30])
    y = classes[rng.integers(0, 3, size=90)]
    onehot = (y[:, None] == classes).astype(float)
    sharp = 0.8 * onehot + 0.2 * rng.dirichlet([1, 1, 1], size=90)  # informative
    blur = rng.dirichlet([1, 1, 1], size=90)                         # noise
    weights = stack_weights([sharp, blur], y, task="classification", classes=classes)
    assert weights.shape == (2,) and weights.sum() == pytest.approx(1.0)

    def loss(w: float) -> float:
        return log_loss(y, w * sharp + (1 - w) * blur, labels=classes)

    grid = np.linspace(0, 1, 2001)
    best = grid[np.argmin([loss(w) for w in grid])]
    assert weights[0] == pytest.approx(best, abs=2e-3)
    assert loss(weights[0]) <= min(loss(0.0), loss(1.0))
    with pytest.raises(ValueError, match=r"labels \['40'\] that are not in classes"):
        stack_weights([sharp, blur], np.r_[y[:-1], 40], task="classification", classes=classes)
    with pytest.raises(ValueError, match="classification needs classes="):
        stack_weights([sharp, blur], y, task="classification")


def test_a_tiny_share_is_dropped_and_the_rest_refitted() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(size=(40, 1))
    good = y + rng.normal(scale=0.3, size=y.shape)
    other = y + rng.normal(scale=0.3, size=y.shape)
    faint = 0.2 * y + rng.normal(size=y.shape)  # a little signal: NNLS gives it a sliver
    full = _simplex_reference([good, other, faint], y)
    assert 0 < full[2] < _stack.MIN_WEIGHT
    weights = stack_weights([good, other, faint], y, task="regression")[:, 0]
    assert weights[2] == 0.0
    np.testing.assert_allclose(weights[:2], _simplex_reference([good, other], y), atol=1e-5)


def test_combine_mixes_per_target_or_on_probabilities() -> None:
    a, b = np.ones((4, 2)), np.zeros((4, 2))
    np.testing.assert_allclose(combine([a, b], [[0.25, 0.5], [0.75, 0.5]]),
                               np.column_stack([np.full(4, 0.25), np.full(4, 0.5)]))
    np.testing.assert_allclose(combine([a, b], [0.3, 0.7]), 0.3 * a)


def test_bad_outputs_are_refused() -> None:
    with pytest.raises(ValueError, match="a stack needs at least one"):
        stack_weights([], np.zeros(3), task="regression")
    with pytest.raises(ValueError, match=r"member 1 predictions have shape \(4, 1\)"):
        stack_weights([np.zeros((3, 1)), np.zeros((4, 1))], np.zeros(3), task="regression")
    with pytest.raises(ValueError, match="y has 5 rows; the predictions have 3"):
        stack_weights([np.zeros((3, 1))], np.zeros(5), task="regression")


def test_no_function_takes_test_data() -> None:
    names = [n for n in _stack.__all__ if callable(getattr(_stack, n))]
    params = {n: list(inspect.signature(getattr(_stack, n)).parameters) for n in names}
    assert params and all(params.values())
    offending = {n: p for n, p in params.items() if any("test" in name.lower() for name in p)}
    assert offending == {}
