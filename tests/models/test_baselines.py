"""PLS / PLS-DA chosen by CV against hand-written scikit-learn computations on real spectra."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import spectrapepper
from chemotools.datasets import load_coffee, load_fermentation_train
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import NotFittedError
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from spectune.data._spectra import Spectra
from spectune.data._splits import cv_splitter, split_indices
from spectune.exceptions import DataError
from spectune.metrics import REGRESSION_KEYS, regression_metrics
from spectune.models._baselines import _features, run_baselines
from spectune.models._pls_cv import PLSDAClassifierCV, PLSRegressionCV
from spectune.preprocess import make_route

Folds = list[tuple[np.ndarray, np.ndarray]]


@pytest.fixture(scope="module")
def fermentation() -> Spectra:
    X, y = load_fermentation_train()
    spectra = Spectra(X.to_numpy(), X.columns.to_numpy(dtype=float), y.to_numpy(),
                      target_names=("glucose",), source="fermentation_train.csv")
    return spectra.select_range(950, 1550)


@pytest.fixture(scope="module")
def pepper() -> Spectra:
    axis, spectra = spectrapepper.load_spectras()
    return Spectra(np.asarray(spectra), np.asarray(axis), np.asarray(spectrapepper.load_targets()),
                   source="spectrapepper")


@pytest.fixture(scope="module")
def coffee() -> Spectra:
    X, y = load_coffee()
    return Spectra(X.to_numpy(), np.arange(X.shape[1], dtype=float), y.to_numpy()[:, 0],
                   target_names=("labels",), source="coffee")


def _cal_test(spectra: Spectra, test_size: float = 0.25) -> tuple[Spectra, Spectra]:
    split = split_indices(spectra, test_size=test_size, tune_size=0, random_state=0)
    return spectra[split.cal], spectra[split.test]


def _y(spectra: Spectra) -> np.ndarray:
    return spectra.y[:, 0] if spectra.task == "regression" else spectra.y


def _oof_grid(X: np.ndarray, Y: np.ndarray, folds: Folds, routes: list[str], top: int) -> list:
    """(route, k, out-of-fold predictions) for every setting, written out with scikit-learn."""
    grid = []
    for route in routes:
        for k in range(1, top + 1):
            pipe = Pipeline([("route", make_route(route)),
                             ("pls", PLSRegression(n_components=k, scale=False))])
            grid.append((route, k, cross_val_predict(pipe, X, Y, cv=folds)))
    return grid


def _refit(X: np.ndarray, Y: np.ndarray, route: str, k: int) -> Pipeline:
    return Pipeline([("route", make_route(route)),
                     ("pls", PLSRegression(n_components=k, scale=False))]).fit(X, Y)


def _rmse(true: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def test_pls_cv_equals_hand_computation(fermentation: Spectra) -> None:
    cal, test = _cal_test(fermentation)
    X, y = cal.flat_X(), _y(cal)
    cv = KFold(n_splits=5, shuffle=True, random_state=0)
    model = PLSRegressionCV(6, routes=["raw", "snv"], cv=cv).fit(X, y)

    grid = _oof_grid(X, y, list(cv.split(X)), ["raw", "snv"], 6)
    rmse = [_rmse(y, pred) for _, _, pred in grid]
    route, k, pred = grid[int(np.argmin(rmse))]
    assert (model.preprocessing_, model.n_components_) == (route, k)
    assert model.cv_rmse_ == pytest.approx(min(rmse))
    np.testing.assert_allclose(model.cv_predictions_, pred)
    np.testing.assert_allclose(model.cv_results_["rmse"], rmse)
    expected = _refit(X, y, route, k).predict(test.flat_X())
    np.testing.assert_allclose(model.predict(test.flat_X()), expected)


def test_one_standard_error_rule_equals_hand_computation(pepper: Spectra) -> None:
    cal, _ = _cal_test(pepper)
    X, y = cal.flat_X(), _y(cal)
    cv = KFold(n_splits=5, shuffle=True, random_state=0)
    folds = list(cv.split(X))
    routes = ["raw", "sg1"]
    grid = _oof_grid(X, y, folds, routes, 8)
    rmse = np.array([_rmse(y, pred) for _, _, pred in grid])
    best = int(np.argmin(rmse))
    fold_rmse = [_rmse(y[test], grid[best][2][test]) for _, test in folds]
    threshold = rmse[best] + np.std(fold_rmse, ddof=1) / np.sqrt(len(folds))
    candidates = [
        (k, r, route) for (route, k, _), r in zip(grid, rmse, strict=True) if r <= threshold
    ]
    k, _, route = min(candidates)  # fewest components, then lowest RMSE

    plain = PLSRegressionCV(8, routes=routes, cv=cv).fit(X, y)
    one_se = PLSRegressionCV(8, routes=routes, cv=cv, one_se=True).fit(X, y)
    assert (plain.preprocessing_, plain.n_components_) == (grid[best][0], grid[best][1])
    assert (one_se.preprocessing_, one_se.n_components_) == (route, k)
    assert one_se.n_components_ <= plain.n_components_


def test_pls_da_equals_hand_computation_and_classifies_coffee(coffee: Spectra) -> None:
    cal, test = _cal_test(coffee)
    X, y = cal.flat_X(), cal.y
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    model = PLSDAClassifierCV(5, routes=["snv"], cv=cv).fit(X, y)

    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype(float)
    grid = _oof_grid(X, onehot, list(cv.split(X, y)), ["snv"], 5)
    scores = [balanced_accuracy_score(y, classes[pred.argmax(axis=1)]) for _, _, pred in grid]
    route, k, _ = grid[int(np.argmax(scores))]
    assert (model.preprocessing_, model.n_components_) == (route, k)
    np.testing.assert_array_equal(model.classes_, classes)
    assert model.cv_balanced_accuracy_ == pytest.approx(max(scores))
    expected = classes[_refit(X, onehot, route, k).predict(test.flat_X()).argmax(axis=1)]
    np.testing.assert_array_equal(model.predict(test.flat_X()), expected)
    assert np.mean(expected == test.y) >= 0.9
    assert model.decision_function(test.flat_X()).shape == (len(test), 3)


def test_groups_given_to_fit_give_group_folds(fermentation: Spectra) -> None:
    X, y = fermentation.flat_X(), _y(fermentation)
    groups = np.arange(len(y)) // 3
    model = PLSRegressionCV(3, routes=["raw"], cv=4).fit(X, y, groups=groups)
    folds = list(GroupKFold(n_splits=4).split(X, y, groups))
    _, k, pred = _oof_grid(X, y, folds, ["raw"], 3)[model.best_index_]
    assert k == model.n_components_
    # one fit per fold gives every k (NIPALS is sequential): equal to k separate fits up to
    # the float rounding of the rotations
    np.testing.assert_allclose(model.cv_predictions_, pred, rtol=1e-6)


def test_several_targets(fermentation: Spectra) -> None:
    X, glucose = fermentation.flat_X(), fermentation.y[:, 0]
    Y = np.c_[glucose, np.sqrt(glucose) * 100.0]  # a second target in other units
    cv = KFold(n_splits=4, shuffle=True, random_state=1)
    model = PLSRegressionCV(4, routes=["raw"], cv=cv).fit(X, Y)
    assert model.predict(X[:3]).shape == (3, 2)
    per_target = np.sqrt(np.mean((model.cv_predictions_ - Y) ** 2, axis=0))
    np.testing.assert_allclose(model.cv_rmse_, per_target)
    nrmse = np.mean(per_target / Y.std(axis=0, ddof=1))
    assert model.cv_results_["nrmse"][model.best_index_] == pytest.approx(nrmse)
    assert model.cv_results_["nrmse"][model.best_index_] == model.cv_results_["nrmse"].min()


def test_run_baselines_regression_fragment(fermentation: Spectra) -> None:
    cal, test = _cal_test(fermentation)
    result = run_baselines(cal, test, cv=4, max_components=5, routes=["raw", "snv+sg1"],
                           random_state=0)
    assert (result["task"], result["target"], result["cv_folds"]) == ("regression", "glucose", 4)
    folds = list(cv_splitter(cal, n_splits=4, random_state=0).split(cal.flat_X()))
    model = PLSRegressionCV(5, routes=["raw", "snv+sg1"], cv=folds).fit(cal.flat_X(), _y(cal))
    pls = result["pls"]
    chosen = (pls["n_components"], pls["preprocessing"])
    assert chosen == (model.n_components_, model.preprocessing_)
    expected = regression_metrics(_y(test), model.predict(test.flat_X()))
    assert pls["test"] == pytest.approx(expected)
    assert pls["cv"]["rmse"] == pytest.approx(model.cv_rmse_)
    assert set(result["references"]) == {"ridge", "knn", "random_forest"}
    for scores in [pls, *result["references"].values()]:
        assert {"cv", "cal", "test"} <= set(scores)
        assert set(scores["test"]) == {*REGRESSION_KEYS, "n"} and scores["test"]["n"] == len(test)
    without_test = run_baselines(cal, cv=4, max_components=3, routes=["raw"])
    assert "test" not in without_test["pls"] and "test" not in without_test["references"]["knn"]


def test_run_baselines_several_targets(fermentation: Spectra) -> None:
    two = Spectra(fermentation.X, fermentation.wavelengths,
                  np.c_[fermentation.y, fermentation.y ** 0.5], target_names=("glucose", "root"))
    cal, test = _cal_test(two)
    result = run_baselines(cal, test, cv=3, max_components=3, routes=["raw"])
    assert result["target"] == ["glucose", "root"]
    assert list(result["pls"]["test"]["per_target"]) == ["glucose", "root"]


def test_run_baselines_classification_fragment(coffee: Spectra) -> None:
    cal, test = _cal_test(coffee)
    result = run_baselines(cal, test, cv=5, max_components=4, routes=["snv"], random_state=0)
    assert (result["task"], result["target"]) == ("classification", "labels")
    assert set(result["references"]) == {"logistic", "knn", "random_forest"}
    pls_test = result["pls"]["test"]
    assert pls_test["labels"] == sorted(set(coffee.y.tolist()))
    assert np.sum(pls_test["confusion_matrix"]) == len(test)
    assert pls_test["accuracy"] >= 0.9
    assert {"accuracy", "balanced_accuracy", "f1_macro"} <= set(pls_test)


def test_channels_are_flattened_side_by_side(fermentation: Spectra) -> None:
    X = fermentation.X[:, 0, :]
    two = Spectra(np.stack([X, 2 * X], axis=1), fermentation.wavelengths, fermentation.y)
    np.testing.assert_array_equal(_features(two), np.hstack([X, 2 * X]))
    result = run_baselines(two, cv=3, max_components=2, routes=["raw"])
    assert result["pls"]["cv"]["n"] == len(two)


def test_run_baselines_is_deterministic(fermentation: Spectra) -> None:
    kwargs = dict(cv=3, max_components=3, routes=["raw"], random_state=5)
    assert run_baselines(fermentation, **kwargs) == run_baselines(fermentation, **kwargs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.select_range(1000, 1500), "points differ from fermentation_train.csv"),
        (lambda s: Spectra(s.X, s.wavelengths, s.y, target_names=("other",), source="t.csv"),
         r"t\.csv: targets \('other',\)"),
    ],
)
def test_run_baselines_rejects_an_incompatible_test_set(
    fermentation: Spectra, change: Callable[[Spectra], Spectra], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        run_baselines(fermentation, change(fermentation), cv=3, max_components=2, routes=["raw"])


def test_run_baselines_errors(fermentation: Spectra) -> None:
    with pytest.raises(DataError, match="no target"):
        run_baselines(Spectra(fermentation.X, fermentation.wavelengths, source="x.csv"))
    with pytest.raises(DataError, match="25-fold CV needs at least 25 samples; got 21"):
        run_baselines(fermentation, cv=25)


@pytest.mark.parametrize(
    ("params", "message"),
    [(dict(max_components=0), "max_components"), (dict(routes=[]), "routes"),
     (dict(cv=1), "cv must be >= 2")],
)
def test_bad_parameters(fermentation: Spectra, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PLSRegressionCV(**params).fit(fermentation.flat_X(), _y(fermentation))


def test_estimator_contract(fermentation: Spectra) -> None:
    X, y = fermentation.flat_X(), _y(fermentation)
    model = PLSRegressionCV(3, routes=["snv"], cv=3, random_state=0)
    with pytest.raises(NotFittedError):
        model.predict(X)
    first = model.fit(X, y).predict(X)
    assert not hasattr(clone(model), "pipeline_")
    np.testing.assert_array_equal(clone(model).fit(X, y).predict(X), first)
    assert model.random_state == 0 and model.routes == ["snv"]


@parametrize_with_checks([
    PLSRegressionCV(2, routes=["raw"], cv=3, random_state=0),
    PLSDAClassifierCV(2, routes=["raw"], cv=3, random_state=0),
])
def test_scikit_learn_checks(estimator: object, check: Callable[[object], None]) -> None:
    check(estimator)


def test_min_equal_to_max_components_fits_one_setting(fermentation: Spectra) -> None:
    X, y = fermentation.flat_X(), _y(fermentation)
    model = PLSRegressionCV(3, min_components=3, routes=["snv"], cv=4, random_state=0).fit(X, y)
    assert (model.preprocessing_, model.n_components_) == ("snv", 3)
    assert list(model.cv_results_["n_components"]) == [3]
    reference = PLSRegressionCV(3, routes=["snv"], cv=4, random_state=0).fit(X, y)
    row = list(reference.cv_results_["n_components"]).index(3)
    assert model.cv_results_["rmse"][0] == pytest.approx(reference.cv_results_["rmse"][row])
    with pytest.raises(ValueError, match="min_components must be an integer >= 1; got 0"):
        PLSRegressionCV(3, min_components=0, routes=["snv"], cv=4).fit(X, y)

