"""Ensembles: distinct top trials, size and seed choice on tuning data, stacking weights, refit."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial
from scipy.optimize import minimize

from spectune.data import Spectra, make_synthetic
from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._files import SavedModel, save_model
from spectune.training._network import SpectralNetwork, fit_network
from spectune.tuning import _ensemble
from spectune.tuning._ensemble import (
    EnsembleChoice,
    choose_ensemble_size,
    choose_seed_count,
    kept_networks,
    mean_prediction,
    member_predictions,
    member_weights,
    refit_members,
    select_top_trials,
    stacking_weights,
)
from spectune.tuning._materialise import materialise
from spectune.tuning._refit import refit

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


# --- choosing the ensemble size on the tuning set ---------------------------------------------

def _hand_choice(errors: list[float], rtol: float = _ensemble.RTOL) -> int:
    best = min(errors)
    return next(i + 1 for i, e in enumerate(errors) if e <= best * (1 + rtol))


def test_mean_of_independent_noisy_predictors_beats_one() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 1))
    predictions = [y + rng.normal(scale=1.0, size=y.shape) for _ in range(5)]
    choice = choose_ensemble_size(predictions, y, task="regression")
    hand = [float(np.sqrt(np.mean((np.mean(predictions[: k + 1], axis=0) - y) ** 2)))
            for k in range(5)]
    np.testing.assert_allclose(choice.errors_by_k, hand, rtol=1e-12)
    assert choice.k == _hand_choice(hand) > 1
    assert choice.errors_by_k[choice.k - 1] < 0.6 * choice.errors_by_k[0]  # ~ 1/sqrt(5)
    assert choose_seed_count(predictions, y, task="regression") == choice
    assert choose_seed_count(predictions, y, task="regression", max_seeds=3).k == 3
    capped = choose_ensemble_size(predictions, y[:, 0], task="regression", max_members=2)
    assert capped.errors_by_k == choice.errors_by_k[:2]


def test_a_perfect_predictor_alone_is_chosen_and_ties_take_fewer() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 2))
    noisy = [y + rng.normal(size=y.shape) for _ in range(3)]
    choice = choose_ensemble_size([y, *noisy], y, task="regression")
    assert choice.k == 1 and choice.errors_by_k[0] == 0.0
    assert choose_ensemble_size([noisy[0]] * 4, y, task="regression").k == 1  # equal errors
    assert choice.as_dict()["errors_by_k"]["4"] == choice.errors_by_k[3]


def test_classification_is_judged_by_the_mean_probability() -> None:
    rng = np.random.default_rng(2)
    classes = np.array(["rye", "oat", "barley"])      # column order of the networks' outputs
    y = classes[rng.integers(0, 3, size=120)]
    codes = np.array([list(classes).index(label) for label in y])
    members = []
    for _ in range(4):  # noisy but informative probabilities
        logits = rng.normal(size=(120, 3)) + 1.5 * np.eye(3)[codes]
        members.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    choice = choose_ensemble_size(members, y, task="classification", classes=classes)
    hand = [-np.mean(np.log(np.mean(members[: k + 1], axis=0)[np.arange(120), codes]))
            for k in range(4)]
    np.testing.assert_allclose(choice.errors_by_k, hand, rtol=1e-9)
    assert choice.k == _hand_choice(hand)
    with pytest.raises(ValueError, match="classification needs classes="):
        choose_ensemble_size(members, y, task="classification")
    diverged = choose_ensemble_size([*members[:2], members[2] * np.nan], y,
                                    task="classification", classes=classes)
    assert diverged.errors_by_k[2] == np.inf and diverged.k == _hand_choice(hand[:2])
    assert diverged.as_dict()["errors_by_k"]["3"] is None  # strict JSON has no Infinity


def test_choice_rejects_bad_predictions() -> None:
    y = np.zeros((10, 1))
    with pytest.raises(ValueError, match=r"member 1 predictions have shape \(9, 1\)"):
        choose_ensemble_size([y, y[:9]], y, task="regression")
    with pytest.raises(ValueError, match="y_tune has 8 rows; the predictions have 10"):
        choose_ensemble_size([y], y[:8], task="regression")
    with pytest.raises(ValueError, match="no member predictions"):
        choose_ensemble_size([], y, task="regression")
    with pytest.raises(ValueError, match="non-finite tuning error"):
        choose_ensemble_size([y * np.nan], y, task="regression")
    with pytest.raises(ValueError, match="task must be 'regression' or 'classification'"):
        choose_ensemble_size([y], y, task="ranking")
    # A diverged last member spoils only the sizes that include it.
    assert choose_ensemble_size([y + 1, y - 1, y * np.nan], y, task="regression").k == 2


# --- stacking weights -------------------------------------------------------------------------

def _simplex_reference(members: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """The same least squares on the simplex, by SciPy's SLSQP."""
    design = np.stack([m.ravel() for m in members], axis=1)
    k = design.shape[1]
    result = minimize(lambda w: np.sum((design @ w - y.ravel()) ** 2), np.full(k, 1 / k),
                      method="SLSQP", bounds=[(0, 1)] * k, tol=1e-14,
                      constraints={"type": "eq", "fun": lambda w: w.sum() - 1})
    return result.x


def test_stacking_recovers_known_blend_weights() -> None:
    rng = np.random.default_rng(3)
    cnn, pls = rng.normal(size=(300, 1)), rng.normal(size=(300, 1))
    y = 0.7 * cnn + 0.3 * pls + rng.normal(scale=0.01, size=cnn.shape)
    weights = stacking_weights([cnn, pls], y)
    np.testing.assert_allclose(weights, [0.7, 0.3], atol=0.01)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()


def test_stacking_weights_are_the_simplex_least_squares() -> None:
    rng = np.random.default_rng(4)
    members = [rng.normal(size=(80, 2)) + 3.0 for _ in range(3)]
    y = 1.3 * members[0] - 0.3 * members[1] + rng.normal(scale=0.2, size=(80, 2))
    weights = stacking_weights(members, y)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[1] == 0.0  # the unconstrained optimum would be negative
    np.testing.assert_allclose(weights, _simplex_reference(members, y), atol=1e-5)
    # Without the sign constraint: w3 = 1 - w1 - w2 substituted, plain least squares.
    free = stacking_weights(members, y, nonnegative=False)
    base = members[2].ravel()
    design = np.stack([members[0].ravel() - base, members[1].ravel() - base], axis=1)
    w12 = np.linalg.lstsq(design, y.ravel() - base, rcond=None)[0]
    np.testing.assert_allclose(free, [*w12, 1 - w12.sum()], atol=1e-6)
    assert free[1] < 0


def test_stacking_probabilities_fit_the_one_hot_labels() -> None:
    rng = np.random.default_rng(5)
    classes = np.array([10, 20])
    y = classes[rng.integers(0, 2, size=60)]
    p1, p2 = rng.dirichlet([1, 1], size=60), rng.dirichlet([1, 1], size=60)
    weights = stacking_weights([p1, p2], y, classes=classes)
    onehot = (y[:, None] == classes).astype(float)
    w = np.clip(np.sum((p1 - p2) * (onehot - p2)) / np.sum((p1 - p2) ** 2), 0, 1)
    np.testing.assert_allclose(weights, [w, 1 - w], atol=1e-6)
    with pytest.raises(ValueError, match=r"labels \['30'\] that are not in classes"):
        stacking_weights([p1, p2], np.r_[y[:-1], 30], classes=classes)


def test_mean_prediction_and_member_weights() -> None:
    a, b = np.ones((4, 2)), np.zeros((4, 2))
    np.testing.assert_allclose(mean_prediction([a, b]), 0.5 * a)
    np.testing.assert_allclose(mean_prediction([a, b], [0.25, 0.75]), 0.25 * a)
    with pytest.raises(ValueError, match=r"weights has shape \(3,\); expected \(2,\)"):
        mean_prediction([a, b], [0.2, 0.3, 0.5])
    np.testing.assert_allclose(member_weights(3, 2), [1 / 6, 1 / 6, 1 / 3, 1 / 3])
    assert member_weights(4, 5).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_trials and n_seeds must be >= 1"):
        member_weights(0, 2)


# --- members: predictions, kept folders, refit ------------------------------------------------

CONFIG = TrainConfig(max_epochs=2, batch_size=16, seed=0)


def _fit(spectra: Spectra, seed: int) -> SpectralNetwork:
    return fit_network(spectra.flat_X(), spectra.y, preprocessing=PreprocessingSpec(("raw",)),
                       arch=MLP(units=(6,)), config=dataclasses.replace(CONFIG, seed=seed),
                       task=spectra.task,
                       classes=spectra.classes if spectra.task == "classification" else None)


def test_classification_members_average_probabilities_like_the_saved_model() -> None:
    spectra = make_synthetic(40, 30, task="classification", random_state=0)[0]
    nets = [_fit(spectra, seed) for seed in (0, 1, 2)]
    proba = member_predictions(nets, spectra.flat_X())
    assert all(p.shape == (40, len(spectra.classes)) for p in proba)
    weights = member_weights(2, 2)
    saved = SavedModel(nets, weights, spectra.wavelengths, list(spectra.target_names))
    np.testing.assert_allclose(mean_prediction(proba, weights), saved.predict_proba(spectra.X))
    labels = spectra.classes[mean_prediction(proba, weights).argmax(axis=1)]
    np.testing.assert_array_equal(labels, saved.predict(spectra.X))
    nets[1].classes = nets[1].classes[::-1]
    with pytest.raises(ValueError, match="member 1 has classes"):
        member_predictions(nets, spectra.flat_X())


def test_kept_networks_load_the_trials_that_have_a_folder(tiny: Spectra, tmp_path: Path) -> None:
    nets = {3: _fit(tiny, 0), 7: _fit(tiny, 1)}
    for number, net in nets.items():
        save_model(tmp_path / str(number), [net], wavelengths=tiny.wavelengths,
                   target_names=list(tiny.target_names))
    trials = [_trial(0.1) for _ in range(3)]
    for trial, number in zip(trials, (7, 5, 3), strict=True):
        trial.number = number
    found, loaded = kept_networks(tmp_path, trials)
    assert [t.number for t in found] == [7, 3]
    for trial, net in zip(found, loaded, strict=True):
        np.testing.assert_allclose(net.predict(tiny.X), nets[trial.number].predict(tiny.X),
                                   rtol=1e-6)


def test_refit_members_best_trial_per_seed_others_once(tiny: Spectra) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake(plan: Any, trial: Any, pool: Spectra, **kw: Any) -> Any:
        calls.append((plan, trial, kw["seed"], kw["mode"], kw["warm_state"]))
        return calls[-1]

    plans: list[Any] = ["p0", "p1", "p2"]  # stand-ins: refit_members only hands them on
    trials: list[Any] = ["t0", "t1", "t2"]
    warm: list[Any] = ["w0", "w1", "w2"]
    out = refit_members(plans, trials, tiny, seeds=[5, 6], mode="warm", refit_fn=fake,
                        warm_states=warm)
    assert out == calls == [("p0", "t0", 5, "warm", "w0"), ("p0", "t0", 6, "warm", "w0"),
                            ("p1", "t1", 5, "warm", "w1"), ("p2", "t2", 5, "warm", "w2")]
    with pytest.raises(ValueError, match="one plan per trial"):
        refit_members(plans[:1], [], tiny, seeds=[0], refit_fn=fake)


def test_refit_members_calls_the_real_refit_on_the_pool(tiny: Spectra) -> None:
    plan = materialise({"units": 5, "lr": 5e-3, "batch_size": 16}, task="regression",
                       n_outputs=1, n_channels=1, length=tiny.n_points,
                       train_defaults={"max_epochs": 5, "lr_min": 1e-6})
    best = _trial(0.1, units=5)
    best.user_attrs = {"best_epoch": 1}
    nets = refit_members([plan], [best], tiny, seeds=[0, 1], refit_fn=refit)
    assert [(n.config.seed, len(n.history)) for n in nets] == [(0, 2), (1, 2)]
    assert not np.allclose(nets[0].predict(tiny.X), nets[1].predict(tiny.X))


# --- no test data anywhere --------------------------------------------------------------------

def test_no_function_takes_test_data() -> None:
    names = [n for n in _ensemble.__all__ if callable(getattr(_ensemble, n))]
    params = {n: list(inspect.signature(getattr(_ensemble, n)).parameters) for n in names}
    assert params and all(params.values())
    offending = {n: p for n, p in params.items() if any("test" in name.lower() for name in p)}
    assert offending == {}
    assert not any("test" in f.name for f in dataclasses.fields(EnsembleChoice))
