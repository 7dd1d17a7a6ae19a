"""PLS and PLS-DA whose latent variables and preprocessing are chosen by k-fold CV.

The PLS baseline every deep model is compared with. The choice uses only the data given to
``fit`` (the calibration set): each (route, n_components) pair of the grid gets out-of-fold
predictions from scikit-learn's ``cross_val_predict`` on the same folds, the best pair (or, with
the one-standard-error rule, the pair with the fewest components whose CV error is within one
standard error of the best) is refitted on all the data.

PLS runs with ``scale=False``: spectra share one unit, so they are mean-centred only, as usual in
chemometrics; autoscaling would blow up noisy, nearly flat wavelengths.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.metrics import balanced_accuracy_score, root_mean_squared_error
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from spectune.preprocess import make_route

__all__ = ["DEFAULT_ROUTES", "PLSDAClassifierCV", "PLSRegressionCV", "pls_pipeline"]

#: Preprocessing routes tried by default (names understood by ``spectune.preprocess.make_route``).
DEFAULT_ROUTES = ("raw", "snv", "msc", "sg1", "snv+sg1", "sg2", "snv+sg2")

Folds = list[tuple[np.ndarray, np.ndarray]]
Loss = Callable[[np.ndarray, np.ndarray], float]


def pls_pipeline(route: str, n_components: int) -> Pipeline:
    """``make_route(route)`` then a mean-centring (``scale=False``) ``PLSRegression``."""
    pls = PLSRegression(n_components=n_components, scale=False)
    return Pipeline([("route", make_route(route)), ("pls", pls)])


def choose(n_components: np.ndarray, loss: np.ndarray, loss_se: np.ndarray, one_se: bool) -> int:
    """Index of the lowest ``loss``; with ``one_se``, of the fewest components within one SE.

    One-SE rule (Hastie, Tibshirani & Friedman 2009, §7.10): among the settings whose loss is at
    most ``loss[best] + loss_se[best]``, take the fewest components (lowest loss among those).
    """
    best = int(np.argmin(loss))
    if not one_se:
        return best
    within = np.flatnonzero(loss <= loss[best] + loss_se[best])
    fewest = within[n_components[within] == n_components[within].min()]
    return int(fewest[np.argmin(loss[fewest])])


class _PLSCV(BaseEstimator):
    """Shared grid search of the PLS regressor and the PLS-DA classifier."""

    _stratify = False

    def __init__(
        self,
        max_components: int = 20,
        *,
        routes: Sequence[str] | None = None,
        cv: int | Any = 5,
        one_se: bool = False,
        random_state: int | np.random.RandomState | None = None,
        n_jobs: int | None = None,
        min_components: int = 1,
    ) -> None:
        self.max_components = max_components
        self.min_components = min_components
        self.routes = routes
        self.cv = cv
        self.one_se = one_se
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _folds(self, X: np.ndarray, split_y: np.ndarray, groups: np.ndarray | None) -> Folds:
        cv = self.cv
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            if cv < 2:
                raise ValueError(f"cv must be >= 2 folds or a CV splitter; got {cv}.")
            if groups is not None:
                cv = GroupKFold(n_splits=cv)
            else:
                kind = StratifiedKFold if self._stratify else KFold
                cv = kind(n_splits=cv, shuffle=True, random_state=self.random_state)
        return list(check_cv(cv).split(X, split_y, groups))

    def _search(
        self, X: np.ndarray, Y: np.ndarray, split_y: np.ndarray, groups: np.ndarray | None,
        loss: Loss,
    ) -> tuple[Folds, np.ndarray, np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
        """Out-of-fold predictions and losses of every (route, n_components) on the same folds."""
        top = self.max_components
        if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
            raise ValueError(f"max_components must be an integer >= 1; got {top!r}.")
        routes = list(DEFAULT_ROUTES if self.routes is None else self.routes)
        if not routes or not all(isinstance(r, str) for r in routes):
            raise ValueError(
                f"routes must be a non-empty list of route names; got {self.routes!r}."
            )
        folds = self._folds(X, split_y, groups)
        # A fold's model sees the other folds only: cap by its size (centring costs one) and width.
        smallest = min(len(train) for train, _ in folds)
        top = min(top, smallest - 1, X.shape[1])
        if top < 1:
            raise ValueError(f"the smallest CV training fold has {smallest} samples; PLS needs 2.")
        low = self.min_components
        if isinstance(low, bool) or not isinstance(low, numbers.Integral) or low < 1:
            raise ValueError(f"min_components must be an integer >= 1; got {low!r}.")
        low = min(low, top)
        route_col = np.array([r for r in routes for _ in range(low, top + 1)])
        k_col = np.tile(np.arange(low, top + 1), len(routes))
        by_route = Parallel(n_jobs=self.n_jobs)(
            delayed(_out_of_fold_by_components)(route, X, Y, folds, top) for route in routes)
        oof = [pred for route_oof in by_route for pred in route_oof[low - 1:]]
        pooled = np.array([loss(Y, pred) for pred in oof])
        per_fold = np.array([[loss(Y[test], pred[test]) for _, test in folds] for pred in oof])
        se = per_fold.std(axis=1, ddof=1) / np.sqrt(len(folds))
        return folds, route_col, k_col, oof, pooled, se

    def _refit(self, X: np.ndarray, Y: np.ndarray, route: str, n_components: int) -> None:
        self.preprocessing_ = str(route)
        self.n_components_ = int(n_components)
        self.pipeline_ = pls_pipeline(self.preprocessing_, self.n_components_).fit(X, Y)

    def _scores(self, X: Any) -> np.ndarray:
        """Predictions of the refitted pipeline on checked ``X``."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict(validate_data(self, X, reset=False))


class PLSRegressionCV(RegressorMixin, _PLSCV):
    """PLS regression with its latent variables and preprocessing chosen by k-fold CV.

    Parameters
    ----------
    max_components : int, default=20
        Largest number of latent variables tried (capped by the smallest CV training fold minus
        one and by the number of features).
    min_components : int, default=1
        Smallest number tried (``min_components == max_components`` with one route fixes the
        setting: the model is then fitted, not chosen).
    routes : sequence of str, optional
        Preprocessing routes tried (``spectune.preprocess.make_route`` names); default
        :data:`DEFAULT_ROUTES`.
    cv : int, CV splitter or iterable of (train, test), default=5
        An int gives shuffled ``KFold`` (``GroupKFold`` when ``fit`` gets groups). The folds must
        partition the samples (``cross_val_predict``); repeated k-fold is not accepted.
    one_se : bool, default=False
        Take the fewest components whose CV RMSE is within one standard error (of the per-fold
        RMSEs) of the best.
    random_state : int, RandomState or None
        Seed of the shuffled folds.
    n_jobs : int, optional
        Passed to ``cross_val_predict``.

    Attributes
    ----------
    n_components_, preprocessing_ : int, str
        The chosen setting.
    cv_rmse_ : float or ndarray of shape (n_targets,)
        Pooled out-of-fold RMSE (RMSECV) of the chosen setting, per target when several.
    cv_predictions_ : ndarray
        Its out-of-fold predictions, shaped like ``y``.
    cv_results_ : dict of ndarray
        One row per setting: ``preprocessing``, ``n_components``, ``rmse`` (mean over targets),
        ``nrmse`` (RMSE / sd(y), mean over targets: the criterion, so that targets in different
        units weigh alike) and ``nrmse_se``; ``pandas.DataFrame(cv_results_)`` shows it.
    best_index_ : int
        Row of ``cv_results_`` chosen.
    pipeline_ : Pipeline
        Route and PLS refitted on all the data given to ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 40)); y = X[:, :3].sum(axis=1)
    >>> model = PLSRegressionCV(5, routes=["raw"], cv=3, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    """

    def fit(self, X: Any, y: Any, groups: Any = None) -> PLSRegressionCV:
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        _check_n_samples(X)
        Y = y.reshape(len(y), -1)
        sd = Y.std(axis=0, ddof=1)
        sd = np.where(sd > 0, sd, 1.0)

        def nrmse(true: np.ndarray, pred: np.ndarray) -> float:
            rmse = root_mean_squared_error(true, pred, multioutput="raw_values")
            return float(np.mean(rmse / sd))

        folds, route_col, k_col, oof, loss, se = self._search(X, y, y, groups, nrmse)
        self.best_index_ = choose(k_col, loss, se, self.one_se)
        self.cv_results_ = {
            "preprocessing": route_col,
            "n_components": k_col,
            "rmse": np.array([root_mean_squared_error(y, pred) for pred in oof]),
            "nrmse": loss,
            "nrmse_se": se,
        }
        self.cv_predictions_ = oof[self.best_index_]
        rmse = root_mean_squared_error(y, self.cv_predictions_, multioutput="raw_values")
        self.cv_rmse_ = float(rmse[0]) if y.ndim == 1 else rmse
        self._refit(X, y, route_col[self.best_index_], k_col[self.best_index_])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the refitted pipeline, shaped like the ``y`` given to ``fit``."""
        return self._scores(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class PLSDAClassifierCV(ClassifierMixin, _PLSCV):
    """PLS-DA: PLS on one-hot classes, predicting the largest score; setting chosen by CV.

    Same parameters and grid as :class:`PLSRegressionCV`; an int ``cv`` gives shuffled
    ``StratifiedKFold``. The criterion is the pooled out-of-fold balanced accuracy (robust to
    unequal classes); the one-SE rule uses the SE of the per-fold balanced accuracies.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels; column ``j`` of :meth:`decision_function` scores ``classes_[j]``.
    n_components_, preprocessing_, best_index_, pipeline_, cv_predictions_
        As in :class:`PLSRegressionCV` (``cv_predictions_`` holds out-of-fold labels).
    cv_balanced_accuracy_ : float
        Pooled out-of-fold balanced accuracy of the chosen setting.
    cv_results_ : dict of ndarray
        ``preprocessing``, ``n_components``, ``balanced_accuracy``, ``balanced_accuracy_se``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 20)); y = np.repeat(["a", "b", "c"], 10); X[y == "b", :5] += 3
    >>> PLSDAClassifierCV(3, routes=["raw"], cv=3, random_state=0).fit(X, y).classes_
    array(['a', 'b', 'c'], dtype='<U1')
    """

    _stratify = True

    def fit(self, X: Any, y: Any, groups: Any = None) -> PLSDAClassifierCV:
        X, y = validate_data(self, X, y)
        _check_n_samples(X)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"PLS-DA needs at least 2 classes; got {len(self.classes_)}.")
        onehot = np.eye(len(self.classes_))[codes]

        def error(true: np.ndarray, scores: np.ndarray) -> float:
            return 1.0 - _balanced_accuracy(true.argmax(axis=1), scores.argmax(axis=1))

        folds, route_col, k_col, oof, loss, se = self._search(X, onehot, y, groups, error)
        self.best_index_ = choose(k_col, loss, se, self.one_se)
        self.cv_results_ = {
            "preprocessing": route_col,
            "n_components": k_col,
            "balanced_accuracy": 1.0 - loss,
            "balanced_accuracy_se": se,
        }
        self.cv_predictions_ = self.classes_[oof[self.best_index_].argmax(axis=1)]
        self.cv_balanced_accuracy_ = float(1.0 - loss[self.best_index_])
        self._refit(X, onehot, route_col[self.best_index_], k_col[self.best_index_])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """PLS scores of each class, shape (n, n_classes); not probabilities.

        With two classes, as scikit-learn expects, shape (n,): score of ``classes_[1]`` minus
        score of ``classes_[0]`` (positive means ``classes_[1]``).
        """
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest PLS score."""
        scores = self._scores(X)
        return self.classes_[scores.argmax(axis=1)]


def _out_of_fold_by_components(route: str, X: np.ndarray, Y: np.ndarray, folds: Folds,
                                top: int) -> list[np.ndarray]:
    """Out-of-fold predictions of ``route`` + PLS for 1..``top`` latent variables at once.

    NIPALS extracts the components one after the other, so the first k components of a
    ``top``-component fit are those of a k-component fit: the scores of the held-out rows on
    the ``top`` rotations, summed up to k, give every k's prediction from one fit per fold
    (what ``cross_val_predict`` of each ``pls_pipeline(route, k)`` would give, ``top`` times
    cheaper; the tests check the equality).
    """
    Y2 = Y.reshape(len(Y), -1)
    by_k = np.empty((top, *Y2.shape))
    for train, test in folds:
        step = make_route(route).fit(X[train])
        pls = PLSRegression(n_components=top, scale=False).fit(step.transform(X[train]), Y2[train])
        scores = (step.transform(X[test]) - pls._x_mean) @ pls.x_rotations_  # [n, top]
        terms = scores[:, :, None] * pls.y_loadings_.T[None, :, :]  # [n, top, targets]
        by_k[:, test] = np.moveaxis(pls.intercept_ + np.cumsum(terms, axis=1), 1, 0)
    return [pred.reshape(Y.shape) for pred in by_k]


def _check_n_samples(X: np.ndarray) -> None:
    if len(X) < 3:
        raise ValueError(f"PLS with CV needs at least 3 samples; got n_samples={len(X)}.")


def _balanced_accuracy(true: Iterable[int], pred: Iterable[int]) -> float:
    # A fold may lack a class that the model still predicts; sklearn warns, the score stands.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(true, pred))
