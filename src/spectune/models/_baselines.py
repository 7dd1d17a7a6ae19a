"""The classical baselines of a run: CV-tuned PLS (or PLS-DA) and three quick references.

:func:`run_baselines` returns the ``metrics.json`` fragment that every deep model is set against.
All models see the same calibration folds; the test set is touched once, after the choices.
Spectra with several channels are flattened (channels side by side) into one feature vector:
the classical models have no notion of channels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from spectune.data._spectra import Spectra
from spectune.data._splits import cv_splitter
from spectune.exceptions import DataError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.models._pls_cv import PLSDAClassifierCV, PLSRegressionCV
from spectune.preprocess import make_route

__all__ = ["reference_models", "run_baselines"]

#: Route every quick reference starts with: scatter correction, the usual first step for spectra.
REFERENCE_ROUTE = "snv"
_N_TREES = 100
_N_NEIGHBOURS = 5

Score = Callable[[np.ndarray, np.ndarray], dict[str, Any]]


def reference_models(
    task: str, *, n_train: int, random_state: int | None = 0
) -> dict[str, Pipeline]:
    """Untuned quick references, each SNV then a scikit-learn model.

    Regression: ridge (alpha by efficient leave-one-out, ``RidgeCV``), k-nearest neighbours and
    a random forest; classification: logistic regression (on standardised SNV spectra),
    k-nearest neighbours and a random forest. ``n_train`` (the smallest training fold) caps the
    number of neighbours. The forests use ``max_features="sqrt"`` and 100 trees, for speed.
    """
    k = max(1, min(_N_NEIGHBOURS, n_train))
    forest = dict(n_estimators=_N_TREES, max_features="sqrt", random_state=random_state, n_jobs=1)
    if task == "regression":
        models: dict[str, BaseEstimator] = {
            "ridge": RidgeCV(alphas=np.logspace(-4, 4, 17)),
            "knn": KNeighborsRegressor(n_neighbors=k),
            "random_forest": RandomForestRegressor(**forest),
        }
    else:
        models = {
            "logistic": Pipeline(
                [("scale", StandardScaler()), ("logistic", LogisticRegression(max_iter=2000))]
            ),
            "knn": KNeighborsClassifier(n_neighbors=k),
            "random_forest": RandomForestClassifier(**forest),
        }
    return {name: Pipeline([("route", make_route(REFERENCE_ROUTE)), ("model", model)])
            for name, model in models.items()}


def run_baselines(
    cal: Spectra,
    test: Spectra | None = None,
    *,
    cv: int = 5,
    max_components: int = 20,
    routes: Sequence[str] | None = None,
    one_se: bool = False,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """PLS (PLS-DA for classes) tuned by CV on ``cal``, quick references, scored on ``test``.

    Parameters
    ----------
    cal : Spectra
        Calibration data: every choice (components, route, ridge alpha) is made on it alone.
    test : Spectra, optional
        Scored once with the refitted models; without it the fragment has no ``"test"`` entries.
    cv : int
        Folds of the CV (:func:`spectune.data.cv_splitter`: stratified for classes, grouped when
        ``cal.groups`` exists), shared by PLS and the references.
    max_components, routes, one_se
        As in :class:`PLSRegressionCV`.
    random_state : int or None
        Seed of the folds and the forests.

    Returns
    -------
    dict
        ``{"task", "target", "cv_folds", "pls": {"n_components", "preprocessing", "one_se",
        "cv", "cal", "test"}, "references": {name: {"cv", "cal", "test"}}}`` where each of
        ``cv`` (out-of-fold), ``cal`` (fitted) and ``test`` is a
        :func:`~spectune.metrics.regression_metrics` or
        :func:`~spectune.metrics.classification_metrics` dict.
    """
    X, y = _features(cal), _targets(cal)
    test_xy = None if test is None else (_features(_compatible(cal, test)), _targets(test))
    splitter = cv_splitter(cal, n_splits=cv, random_state=random_state)
    folds = list(splitter.split(X, y, cal.groups))
    search: dict[str, Any] = {
        "routes": routes, "cv": folds, "one_se": one_se, "random_state": random_state
    }
    if cal.task == "regression":
        pls: PLSRegressionCV | PLSDAClassifierCV = PLSRegressionCV(max_components, **search)
        score: Score = partial(regression_metrics, target_names=cal.target_names)
    else:
        pls = PLSDAClassifierCV(max_components, **search)
        seen = y if test_xy is None else np.concatenate([y, test_xy[1]])
        score = partial(classification_metrics, labels=np.unique(seen))
    pls.fit(X, y)
    names = list(cal.target_names)
    result: dict[str, Any] = {
        "task": cal.task,
        "target": names[0] if len(names) == 1 else names,
        "cv_folds": len(folds),
        "pls": {
            "n_components": pls.n_components_,
            "preprocessing": pls.preprocessing_,
            "one_se": bool(one_se),
            **_evaluate(pls, pls.cv_predictions_, X, y, test_xy, score),
        },
        "references": {},
    }
    n_train = min(len(train) for train, _ in folds)
    references = reference_models(str(cal.task), n_train=n_train, random_state=random_state)
    for name, model in references.items():
        oof = cross_val_predict(model, X, y, cv=folds)
        result["references"][name] = _evaluate(clone(model).fit(X, y), oof, X, y, test_xy, score)
    return result


def _evaluate(
    model: Any, oof: np.ndarray, X: np.ndarray, y: np.ndarray,
    test_xy: tuple[np.ndarray, np.ndarray] | None, score: Score,
) -> dict[str, Any]:
    """Out-of-fold, calibration (refitted) and test metrics of a fitted ``model``."""
    scores = {"cv": score(y, oof), "cal": score(y, model.predict(X))}
    if test_xy is not None:
        scores["test"] = score(test_xy[1], model.predict(test_xy[0]))
    return scores


def _features(spectra: Spectra) -> np.ndarray:
    """``[n, channels * points]``: channels side by side."""
    return spectra.X.reshape(spectra.n_samples, -1)


def _targets(spectra: Spectra) -> np.ndarray:
    if spectra.y is None:
        raise DataError(f"{spectra.source}: no target; baselines need one (--target).")
    if spectra.task == "regression" and spectra.y.shape[1] == 1:
        return spectra.y[:, 0]
    return spectra.y


def _compatible(cal: Spectra, test: Spectra) -> Spectra:
    if test.task != cal.task or test.target_names != cal.target_names:
        raise DataError(
            f"{test.source}: targets {test.target_names} ({test.task}) differ from "
            f"{cal.source}: {cal.target_names} ({cal.task})."
        )
    if test.X.shape[1:] != cal.X.shape[1:]:
        raise DataError(
            f"{test.source}: {test.n_channels} channels x {test.n_points} points differ from "
            f"{cal.source}: {cal.n_channels} x {cal.n_points}; align the test grid first."
        )
    return test
