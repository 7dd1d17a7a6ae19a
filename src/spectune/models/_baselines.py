"""The classical models of a run: PLS (PLS-DA), Ridge (logistic) and two quick references.

Every one of them gets the same choice a chemometrician makes: its preprocessing route (and its
own complexity: latent variables, ridge alpha, logistic C) chosen by CV on the calibration data
alone, on the same folds. :func:`fit_baselines` fits them; :func:`run_baselines` also scores
them and returns the ``metrics.json`` fragment every deep model is set against.
Spectra with several channels are flattened (channels side by side) into one feature vector:
the classical models have no notion of channels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import make_scorer, root_mean_squared_error
from sklearn.model_selection import GridSearchCV, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from spectune.data._spectra import Spectra
from spectune.data._splits import cv_splitter
from spectune.exceptions import DataError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.models._pls_cv import DEFAULT_ROUTES, PLSDAClassifierCV, PLSRegressionCV
from spectune.preprocess import make_route

__all__ = [
    "FittedBaseline", "fit_baselines", "pls_cv_curve", "reference_models", "run_baselines",
    "score_baseline",
]

_N_TREES = 100
_N_NEIGHBOURS = 5
_RIDGE_ALPHAS = np.logspace(-6, 4, 21)
_LOGISTIC_C = np.logspace(-3, 0, 4)  # spectra have more points than samples: C > 1 overfits

Score = Callable[[np.ndarray, np.ndarray], dict[str, Any]]
Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class FittedBaseline:
    """One classical model, its setting chosen by CV and refitted on all the data given.

    Attributes
    ----------
    name : str
        "pls" (PLS-DA for classes), "ridge" ("logistic" for classes), "knn", "random_forest".
    model : fitted estimator with ``predict`` (the refitted pipeline)
    route : str
        The chosen preprocessing route.
    settings : dict
        The chosen setting (route and the model's own: ``n_components``, ``alpha``, ``C``).
    oof : ndarray
        Out-of-fold predictions of the chosen setting on the folds that chose it (RMSECV's).
    """

    name: str
    model: Any
    route: str
    settings: dict[str, Any]
    oof: np.ndarray


def reference_models(task: str, *, n_train: int, random_state: int | None = 0
                     ) -> dict[str, tuple[Pipeline, dict[str, list[Any]]]]:
    """The models besides PLS, each a ``route -> model`` pipeline and its grid of settings.

    Regression: ridge (alpha by efficient leave-one-out, ``RidgeCV``), k-nearest neighbours,
    a random forest; classification: logistic regression (on standardised spectra, C in the
    grid), k-nearest neighbours, a random forest. ``n_train`` (the smallest training fold) caps
    the number of neighbours. The route itself is added to each grid by :func:`fit_baselines`.
    """
    k = max(1, min(_N_NEIGHBOURS, n_train))
    forest = dict(n_estimators=_N_TREES, max_features="sqrt", random_state=random_state, n_jobs=1)
    if task == "regression":
        models: dict[str, tuple[Any, dict[str, list[Any]]]] = {
            "ridge": (RidgeCV(alphas=_RIDGE_ALPHAS), {}),
            "knn": (KNeighborsRegressor(n_neighbors=k), {}),
            "random_forest": (RandomForestRegressor(**forest), {}),
        }
    else:
        models = {
            "logistic": (Pipeline([("scale", StandardScaler()),
                                   ("logistic", LogisticRegression(max_iter=5000))]),
                         {"model__logistic__C": list(_LOGISTIC_C)}),
            "knn": (KNeighborsClassifier(n_neighbors=k), {}),
            "random_forest": (RandomForestClassifier(**forest), {}),
        }
    return {name: (Pipeline([("route", make_route("raw")), ("model", model)]), grid)
            for name, (model, grid) in models.items()}


def fit_baselines(
    cal: Spectra,
    folds: Folds,
    *,
    max_components: int = 20,
    routes: Sequence[str] | None = None,
    one_se: bool = False,
    random_state: int | None = 0,
    names: Sequence[str] | None = None,
) -> dict[str, FittedBaseline]:
    """PLS and the references, each tuned by CV on ``folds`` of ``cal`` and refitted on it.

    ``names`` limits the models fitted ("pls", "ridge" / "logistic", "knn", "random_forest").
    BLAS runs on one thread here: hundreds of small fits are 10x faster so than with threads
    that spin up for each (measured on 2 cores with other work beside; a PCA-based domain fit
    took 28 s against 0.2 s).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_baselines(cal, folds, max_components=max_components, routes=routes,
                              one_se=one_se, random_state=random_state, names=names)


def _fit_baselines(cal: Spectra, folds: Folds, *, max_components: int,
                   routes: Sequence[str] | None, one_se: bool, random_state: int | None,
                   names: Sequence[str] | None) -> dict[str, FittedBaseline]:
    X, y = _features(cal), _targets(cal)
    routes = list(DEFAULT_ROUTES if routes is None else routes)
    fitted: dict[str, FittedBaseline] = {}
    if names is None or "pls" in names:
        kind = PLSRegressionCV if cal.task == "regression" else PLSDAClassifierCV
        pls = kind(max_components, routes=routes, cv=folds, one_se=one_se,
                   random_state=random_state).fit(X, y)
        fitted["pls"] = FittedBaseline(
            "pls", pls, pls.preprocessing_,
            {"preprocessing": pls.preprocessing_, "n_components": pls.n_components_},
            np.asarray(pls.cv_predictions_))
    n_train = min(len(train) for train, _ in folds)
    scoring = _scorer(cal.task, y)
    for name, (pipeline, grid) in reference_models(str(cal.task), n_train=n_train,
                                                   random_state=random_state).items():
        if names is not None and name not in names:
            continue
        steps = [make_route(r) for r in routes]
        search = GridSearchCV(pipeline, {"route": steps, **grid}, cv=folds, scoring=scoring,
                              error_score="raise").fit(X, y)
        route = next(r for r, step in zip(routes, steps, strict=True)
                     if step is search.best_params_["route"])
        settings = {"preprocessing": route, **_own_settings(search.best_estimator_)}
        oof = cross_val_predict(clone(search.best_estimator_), X, y, cv=folds)
        fitted[name] = FittedBaseline(name, search.best_estimator_, route, settings, oof)
    return fitted


def run_baselines(
    cal: Spectra,
    test: Spectra | None = None,
    *,
    cv: int | Folds = 5,
    max_components: int = 20,
    routes: Sequence[str] | None = None,
    one_se: bool = False,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """PLS (PLS-DA for classes) and the references tuned by CV on ``cal``, scored on ``test``.

    Parameters
    ----------
    cal : Spectra
        Calibration data: every choice (route, components, alpha, C) is made on it alone.
    test : Spectra, optional
        Scored once with the refitted models; without it the fragment has no ``"test"`` entries.
    cv : int or list of (train, test) index pairs
        Folds of the CV shared by every model (an int: :func:`spectune.data.cv_splitter`,
        stratified for classes, grouped when ``cal.groups`` exists).
    max_components, routes, one_se
        As in :class:`PLSRegressionCV`; ``routes`` are tried by every model.
    random_state : int or None
        Seed of the folds and the forests.

    Returns
    -------
    dict
        ``{"task", "target", "cv_folds", "pls": {"n_components", "preprocessing", "one_se",
        "cv", "cal", "test"}, "references": {name: {"preprocessing", ..., "cv", "cal",
        "test"}}}``; ``cv`` holds the out-of-fold scores of the chosen setting (RMSECV),
        ``cal`` the refitted model's, ``test`` the single look at the test set.
    """
    folds = cv if not isinstance(cv, int) else list(
        cv_splitter(cal, n_splits=cv, random_state=random_state).split(
            _features(cal), _targets(cal), cal.groups))
    test = None if test is None else _compatible(cal, test)
    fitted = fit_baselines(cal, folds, max_components=max_components, routes=routes,
                           one_se=one_se, random_state=random_state)
    names = list(cal.target_names)
    result: dict[str, Any] = {"task": cal.task, "target": names[0] if len(names) == 1 else names,
                              "cv_folds": len(folds), "references": {}}
    for name, baseline in fitted.items():
        scores = score_baseline(baseline, cal, test)
        if name == "pls":
            result["pls"] = {"n_components": baseline.settings["n_components"],
                             "preprocessing": baseline.route, "one_se": bool(one_se),
                             "cv_curve": pls_cv_curve(baseline), **scores}
        else:
            result["references"][name] = {**baseline.settings, **scores}
    return result


def pls_cv_curve(baseline: FittedBaseline) -> dict[str, Any]:
    """PLS's CV figure against the latent variables, per route (RMSECV; balanced accuracy for
    PLS-DA): what a chemometrician reads the choice of components from."""
    results = baseline.model.cv_results_
    metric = "rmse" if "rmse" in results else "balanced_accuracy"
    curves: dict[str, list[float]] = {}
    for route, value in zip(results["preprocessing"], results[metric], strict=True):
        curves.setdefault(str(route), []).append(float(value))
    return {"metric": metric, "routes": curves}


def score_baseline(baseline: FittedBaseline, cal: Spectra, test: Spectra | None
                   ) -> dict[str, Any]:
    """Out-of-fold (``cv``), refitted (``cal``) and, with ``test``, test scores."""
    X, y = _features(cal), _targets(cal)
    score = _score_function(cal, test)
    scores = {"cv": score(y, baseline.oof), "cal": score(y, baseline.model.predict(X))}
    if test is not None:
        scores["test"] = score(_targets(test), baseline.model.predict(_features(test)))
    return scores


def _score_function(cal: Spectra, test: Spectra | None) -> Score:
    if cal.task == "regression":
        return partial(regression_metrics, target_names=cal.target_names)
    seen = _targets(cal) if test is None else np.concatenate([_targets(cal), _targets(test)])
    return partial(classification_metrics, labels=np.unique(seen))


def _scorer(task: str, y: np.ndarray) -> Any:
    """Regression: RMSE / sd(y) averaged over targets (units apart weigh alike), as PLS's
    choice; classes: balanced accuracy, as PLS-DA's."""
    if task != "regression":
        return "balanced_accuracy"
    Y = np.asarray(y, dtype=float).reshape(len(y), -1)
    sd = Y.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)

    def nrmse(true: np.ndarray, pred: np.ndarray) -> float:
        true, pred = np.reshape(true, (len(true), -1)), np.reshape(pred, (len(pred), -1))
        return float(np.mean(root_mean_squared_error(true, pred, multioutput="raw_values") / sd))

    return make_scorer(nrmse, greater_is_better=False)


def _own_settings(pipeline: Pipeline) -> dict[str, Any]:
    """The model's own chosen complexity: ridge alpha, logistic C."""
    model = pipeline.named_steps["model"]
    if hasattr(model, "alpha_"):
        return {"alpha": float(model.alpha_)}
    if isinstance(model, Pipeline) and "logistic" in model.named_steps:
        return {"C": float(model.named_steps["logistic"].C)}
    return {}


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
