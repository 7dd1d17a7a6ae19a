"""The final stage: cross-fitted candidates, the stack, intervals on what is deployed, data roles,
invariance to the test targets, and a resume that cannot re-split."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import FrozenTrial

from spectune.data import Spectra, make_synthetic
from spectune.exceptions import SpectuneError
from spectune.models import PLSRegressionCV, fit_baselines
from spectune.training._conformal import predict_interval
from spectune.training._files import load_model
from spectune.tuning import TuneSettings, _crossfit, _trial
from spectune.tuning._crossfit import (
    affordable,
    final_folds,
    linear_candidate,
    network_candidates,
)
from spectune.tuning._run import prepare, run_trials, tune
from spectune.tuning._time_budget import search_work

Quick = Callable[..., TuneSettings]


# --- the split every candidate is cross-fitted on ---------------------------------------------

def test_pools_are_cross_fitted_in_five_folds_and_groups_stay_together() -> None:
    small = make_synthetic(21, 20, random_state=0)[0]
    folds = final_folds(small, seed=0)
    assert len(folds) == 5 and sorted(len(test) for _, test in folds) == [4, 4, 4, 4, 5]
    grouped = Spectra(small.X, small.wavelengths, y=small.y, groups=np.arange(21) // 3)
    folds = final_folds(grouped, seed=0)
    assert len(folds) == 5
    for train, test in folds:
        assert not set(grouped.groups[train]) & set(grouped.groups[test])
    few = Spectra(small.X, small.wavelengths, y=small.y, groups=np.arange(21) // 6)
    folds = final_folds(few, seed=0)
    assert len(folds) == 4  # fewer groups than folds: one group out
    for train, test in folds:
        assert len(np.unique(few.groups[test])) == 1
    large = make_synthetic(60, 20, random_state=0)[0]
    folds = final_folds(large, seed=0)
    assert len(folds) == 5
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(60))


def test_a_network_in_a_fold_never_sees_its_out_of_fold_rows(
        tiny: Spectra, tmp_path: Path, quick: Quick, monkeypatch: pytest.MonkeyPatch) -> None:
    found = prepare(tiny, quick(n_trials=2, test_size=0), out=tmp_path)
    run_trials(found, quick(n_trials=2, test_size=0), tmp_path)
    seen: list[tuple[np.ndarray, np.ndarray, int | None]] = []
    train = found.runner.train

    def spy(plan: Any, evaluation: Any, seed: int, **kwargs: Any) -> Any:
        seen.append((evaluation.train, evaluation.val, kwargs.get("epochs")))
        return train(plan, evaluation, seed, **kwargs)

    monkeypatch.setattr(found.runner, "train", spy)
    folds = final_folds(found.pool, seed=0)
    best = found.study.best_trial
    (candidate,) = network_candidates(found.runner, [best], folds, seed=0)
    assert len(seen) == len(folds) + 1  # every fold, and the refit on the whole pool
    stopped_at = best.user_attrs["best_epoch"] + 1  # the trial's best early-stopping epoch
    assert all(len(stop) == 0 and epochs == stopped_at for _, stop, epochs in seen)
    trained = sorted(sorted(rows.tolist()) for rows, _, _ in seen)
    expected = sorted([sorted(train.tolist()) for train, _ in folds]
                      + [list(range(found.pool.n_samples))])
    assert trained == expected  # each fold on its training rows only; the refit on every row
    assert np.isfinite(candidate.oof).all() and candidate.oof.shape == (found.pool.n_samples, 1)
    assert candidate.info["epochs"] == stopped_at and candidate.member is not None


def test_a_residual_network_keeps_the_pls_setting_it_was_tuned_against(
        tiny: Spectra, tmp_path: Path, quick: Quick, monkeypatch: pytest.MonkeyPatch) -> None:
    space = {"parameters": {"pls_residual": True, "units": 4, "lr": 1e-2, "batch_size": 16}}
    found = prepare(tiny, quick(space=space, n_trials=1, test_size=0), out=tmp_path)
    run_trials(found, quick(space=space, n_trials=1, test_size=0), tmp_path)
    searched = found.runner.searched_pls_setting()
    settings: list[Any] = []
    original = _trial.fit_pls_baseline

    def spy(X: Any, y: Any, **kwargs: Any) -> Any:
        baseline = original(X, y, **kwargs)
        settings.append((kwargs.get("setting"), baseline.setting))
        return baseline

    monkeypatch.setattr(_trial, "fit_pls_baseline", spy)
    folds = final_folds(found.pool, seed=0)
    network_candidates(found.runner, [found.study.best_trial], folds, seed=0)
    assert len(settings) == len(folds) + 1  # one PLS per fold's rows, one for the refit
    assert all(asked == searched == got for asked, got in settings)


def test_linear_candidates_are_nested_cross_validated(tiny: Spectra) -> None:
    folds = final_folds(tiny, seed=0)
    search = {"routes": ("raw", "snv"), "max_components": 4}
    fitted = fit_baselines(tiny, folds, random_state=0, **search)
    candidate = linear_candidate("pls", tiny, folds, fitted["pls"], seed=0, **search)
    expected = np.empty((tiny.n_samples, 1))
    for train, test in folds:  # by hand: the choice made again inside each fold
        part = tiny[train]
        inner = _crossfit._folds(part, 0)
        model = PLSRegressionCV(4, routes=["raw", "snv"], cv=inner).fit(part.flat_X(),
                                                                       part.y[:, 0])
        expected[test, 0] = model.predict(tiny[test].flat_X())
    np.testing.assert_allclose(candidate.oof, expected, rtol=1e-10)
    member = candidate.member
    np.testing.assert_allclose(member.predict(tiny.flat_X())[:, 0],
                               fitted["pls"].model.predict(tiny.flat_X()), rtol=1e-6)


# --- a whole run ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A quadratic synthetic set: networks have something to add beside PLS and Ridge."""
    spectra = make_synthetic(100, 40, target_kind="quadratic", random_state=3)[0]
    out = tmp_path_factory.mktemp("final") / "run"
    settings = TuneSettings(
        space={"parameters": {"units": {"type": "int", "low": 4, "high": 12},
                              "lr": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
                              "batch_size": 16}},
        n_trials=3, max_epochs=6, pruner="none", sampler="random", show_progress=False,
        candidates=2, linear_routes=("raw",), max_components=4, seed=0, jobs=1)
    result = tune(spectra, out, settings)
    return {"result": result, "out": out, "metrics": result.metrics, "spectra": spectra,
            "settings": settings}


def test_the_stack_is_fitted_on_out_of_fold_outputs_and_saved_as_fitted(run: dict) -> None:
    metrics, out = run["metrics"], run["out"]
    names = [c["name"] for c in metrics["candidates"]]
    assert names[-2:] == ["pls", "ridge"]
    passed = [f"trial {n}" for n in metrics["final"]["passed_over"]]  # over the search's work
    networks = len(names) - 2  # --candidates 2 of 3 trials, as far as the search's work allows
    assert networks == 2 or (networks >= 1 and networks + len(passed) == 3)
    assert not set(passed) & set(names)
    weights = np.array([c["weight"] for c in metrics["candidates"]])
    assert (weights >= 0).all() and weights.sum(axis=0) == pytest.approx(1.0)
    model = load_model(out / "model")
    used = [n for n, w in zip(names, weights, strict=True) if w.sum() > 0]
    assert model.info["members"] == used == metrics["final"]["members"]
    X = run["spectra"].flat_X()[:10]
    by_hand = sum(np.asarray(metrics["final"]["weights"][name]) * member.predict(X)
                  for name, member in zip(used, model.members, strict=True))
    np.testing.assert_allclose(model.predict(X), by_hand, rtol=1e-6)
    assert metrics["final"]["cv"] == "5-fold" and metrics["cv_folds"] == 5


def test_the_out_of_fold_estimate_is_the_stacks(run: dict) -> None:
    metrics, out = run["metrics"], run["out"]
    table = pd.read_csv(out / "predictions.csv")
    pool = table[table["set"].isin(["cal", "tune"])]
    name = run["spectra"].target_names[0]
    rmse = float(np.sqrt(np.mean((pool[f"final_{name}"] - pool[f"observed_{name}"]) ** 2)))
    assert metrics["final"]["oof"]["rmse"] == pytest.approx(rmse, rel=1e-9)
    candidates = [c["oof"]["rmse"] for c in metrics["candidates"]]
    assert metrics["final"]["oof"]["rmse"] <= min(candidates) + 1e-9  # least squares on them


def test_intervals_are_those_of_the_saved_predictor(run: dict) -> None:
    metrics, out = run["metrics"], run["out"]
    model = load_model(out / "model")
    X = run["spectra"].flat_X()[:15]
    prediction, lower, upper = predict_interval(model, X, 0.9)
    np.testing.assert_array_equal(prediction, model.predict(X))
    assert ((lower <= prediction) & (prediction <= upper)).all()
    table = pd.read_csv(out / "predictions.csv")
    pool = table[table["set"].isin(["cal", "tune"])]
    name = run["spectra"].target_names[0]
    residuals = np.abs(pool[f"observed_{name}"] - pool[f"final_{name}"]).to_numpy()
    k = int(np.ceil((len(residuals) + 1) * 0.9))
    np.testing.assert_allclose(upper - prediction, np.sort(residuals)[k - 1], rtol=1e-6)
    interval = metrics["final"]["interval"]
    assert set(interval["coverage"]) == {"0.8", "0.9", "0.95"}
    assert all(0 <= c <= 1 for c in interval["coverage"].values())


def test_data_roles_are_written_down(run: dict) -> None:
    roles = {r["role"]: r for r in run["metrics"]["roles"]}
    data = run["metrics"]["data"]
    fit = roles["search: fit each trial's network and preprocessing"]
    stop = roles["search: early stopping, LR plateau, pruning, the trial's score"]
    assert (fit["n"], stop["n"]) == (data["n_cal"], data["n_tune"])
    assert roles["stack weights"]["n"] == data["n_pool"]
    assert roles["test: scored once, after every choice"]["n"] == data["n_test"]
    assert "out of fold" in roles["prediction intervals (conformal)"]["spectra"]


def test_the_final_model_does_not_depend_on_the_number_of_processes(run: dict,
                                                                   tmp_path: Path) -> None:
    import dataclasses
    result = tune(run["spectra"], tmp_path / "two", dataclasses.replace(run["settings"], jobs=2))
    assert result.metrics["final"]["weights"] == run["metrics"]["final"]["weights"]
    assert (tmp_path / "two" / "model" / "model.safetensors").read_bytes() == \
        (run["out"] / "model" / "model.safetensors").read_bytes()


def test_purely_linear_when_the_networks_add_nothing(tmp_path: Path, quick: Quick) -> None:
    spectra = make_synthetic(60, 40, noise=0.001, random_state=2)[0]  # linear and clean: PLS
    result = tune(spectra, tmp_path / "run", quick(n_trials=2, max_epochs=1, candidates=1))
    final = result.metrics["final"]
    assert set(final["members"]) <= {"pls", "ridge"}
    assert final["description"].startswith("purely")
    assert all(hasattr(m, "coef") for m in load_model(result.model_dir).members)


# --- honesty ----------------------------------------------------------------------------------

def _fingerprint(out: Path) -> dict[str, Any]:
    metrics = json.loads((out / "metrics.json").read_text())
    model = load_model(out / "model")
    return {
        "trials": [(c["name"], c["weight"], c["oof"]) for c in metrics["candidates"]],
        "members": metrics["final"]["members"],
        "widths": metrics["final"]["interval"]["half_width"],
        "weights": (out / "model" / "model.safetensors").read_bytes(),
        "conformal": model.conformal.predictions.tobytes(),
        "pls": metrics["pls"]["cv"],
    }


def test_no_choice_depends_on_the_test_targets(tmp_path: Path, quick: Quick) -> None:
    spectra = make_synthetic(80, 40, target_kind="quadratic", random_state=5)[0]
    pool, test = spectra[:60], spectra[60:]
    settings = quick(n_trials=3, candidates=2)
    shuffled = Spectra(test.X, test.wavelengths, y=test.y[::-1] * 3 + 7, source="shuffled")
    tune(pool, tmp_path / "a", settings, test=test)
    tune(pool, tmp_path / "b", settings, test=shuffled)
    a, b = _fingerprint(tmp_path / "a"), _fingerprint(tmp_path / "b")
    assert a == b  # trials, members, weights, widths and saved weights, byte for byte
    changed_y = pool.y.copy()
    changed_y[0] += 1.0
    tune(Spectra(pool.X, pool.wavelengths, y=changed_y), tmp_path / "c", settings, test=test)
    c = _fingerprint(tmp_path / "c")
    assert c["weights"] != a["weights"] and c["conformal"] != a["conformal"]


def test_a_resume_that_would_split_otherwise_is_refused(tiny: Spectra, tmp_path: Path,
                                                        quick: Quick) -> None:
    tune(tiny, tmp_path / "run", quick(n_trials=2, test_size=0))
    with pytest.raises(SpectuneError, match=r"split its calibration and tuning spectra "
                                            r"differently \(--seed 1 here, 0 in the study\)"):
        tune(tiny, tmp_path / "run", quick(n_trials=3, test_size=0, resume=True, seed=1))
    result = tune(tiny, tmp_path / "run", quick(n_trials=3, test_size=0, resume=True))
    assert len(result.study.trials) == 3


def test_the_pls_inside_residual_networks_keeps_groups_together(tiny: Spectra, tmp_path: Path,
                                                                quick: Quick,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    grouped = Spectra(tiny.X, tiny.wavelengths, y=tiny.y, groups=np.arange(60) // 4)
    calls: list[Any] = []
    original = _trial.fit_pls_baseline

    def spy(X: Any, y: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("groups"))
        return original(X, y, **kwargs)

    monkeypatch.setattr(_trial, "fit_pls_baseline", spy)
    space = {"parameters": {"pls_residual": True, "units": 4, "lr": 1e-2, "batch_size": 16}}
    tune(grouped, tmp_path / "run", quick(space=space, n_trials=1, candidates=1, test_size=0))
    assert calls and all(g is not None and len(np.unique(g)) < len(g) for g in calls)


# --- trust: the calibration domain, outlier screening ---------------------------------------

def test_the_final_model_carries_its_calibration_domain(run: dict) -> None:
    metrics, out = run["metrics"], run["out"]
    domain = load_model(out / "model").domain
    assert domain is not None and metrics["domain"]["preprocessing"] == metrics["pls"][
        "preprocessing"]  # the route PLS chose by CV
    data = run["spectra"]
    assert metrics["domain"]["pool"]["n"] == metrics["data"]["n_pool"]
    assert metrics["domain"]["test"]["n"] == metrics["data"]["n_test"]
    shifted = data.flat_X()[:10] * 1.5 + 0.5  # another instrument: gain and offset
    assert not domain.score(shifted).in_domain.any()
    assert domain.summary(shifted)["n_outside"] == 10


def test_screening_leaves_out_planted_outliers_of_the_pool_only(tmp_path: Path,
                                                                quick: Quick) -> None:
    spectra = make_synthetic(70, 40, random_state=4)[0]
    X = spectra.X.copy()
    X[[3, 17], 0, :] += np.linspace(0, 5, 40)  # two calibration spectra far from the rest
    X[65, 0, :] += np.linspace(0, 5, 40)       # and one test spectrum, which stays
    planted = Spectra(X, spectra.wavelengths, y=spectra.y, ids=spectra.ids)
    result = tune(planted[:60], tmp_path / "run", quick(n_trials=1, screen_outliers=True),
                  test=planted[60:])
    screening = result.metrics["screening"]
    assert {"syn-0003", "syn-0017"} <= set(screening["outlier_ids"])
    assert result.metrics["data"]["n_pool"] == 60 - screening["n_outliers"]
    assert result.metrics["data"]["n_test"] == 10


def test_a_run_folder_stores_each_network_once(run: dict) -> None:
    out = run["out"]
    stored = sorted(str(p.relative_to(out)) for p in out.rglob("*.safetensors"))
    assert stored == ["model/conformal.safetensors", "model/domain.safetensors",
                      "model/model.safetensors", "spectra.safetensors"]


# --- the final stage trains at most what the search trained -----------------------------------

def _made_trial(number: int, work: float, best_epoch: int) -> FrozenTrial:
    trial = optuna.trial.create_trial(
        value=float(number), params={"x": float(number)},
        distributions={"x": optuna.distributions.FloatDistribution(0, 100)},
        user_attrs={"work": work, "best_epoch": best_epoch, "epochs_trained": best_epoch + 30,
                    "wall_s": 1.0})
    trial.number = number
    return trial


def test_a_trial_whose_cross_fitting_would_outrun_the_search_is_passed_over() -> None:
    ranked = [_made_trial(0, 10.0, 9), _made_trial(1, 500.0, 9), _made_trial(2, 10.0, 19),
              _made_trial(3, 1.0, 9)]
    # costs at scale 2: 200, 10000, 400, 20 (work x (best epoch + 1) x scale)
    chosen, passed = affordable(ranked, 3, budget=1000.0, scale=2.0)
    assert [t.number for t in chosen] == [0, 2, 3] and passed == [1]
    chosen, passed = affordable(ranked, 2, budget=1e6, scale=2.0)  # enough: rank order
    assert [t.number for t in chosen] == [0, 1] and passed == []
    chosen, passed = affordable(ranked[1:], 1, budget=10.0, scale=2.0)  # the best always
    assert [t.number for t in chosen] == [1] and passed == []


def test_the_search_work_sums_work_times_epochs_over_finished_trials() -> None:
    study = optuna.create_study()
    for trial in (_made_trial(0, 10.0, 9), _made_trial(1, 3.0, 4)):
        study.add_trial(trial)
    assert search_work(study) == 10.0 * 39 + 3.0 * 34
