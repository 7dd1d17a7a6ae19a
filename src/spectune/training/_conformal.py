"""Conformal prediction intervals for saved regression models: split conformal, by MAPIE.

Split conformal (Vovk et al. 2005; Lei et al. 2018): the absolute residuals of a fitted model on
data it never fitted (the conformalization set) give, for a new spectrum exchangeable with them,
the interval ``prediction +- q`` that covers the truth with probability at least ``level``
(``q``: the ``ceil((n + 1) * level)``-th smallest residual). MAPIE's ``SplitConformalRegressor``
(``prefit=True``) computes it, one target at a time. A model folder keeps its conformalization
spectra and targets (``conformal.safetensors``, no pickle), so any level can be asked for at
predict time (``spectune predict --interval 0.9``).

Which model, on which data (the honest options):

- A model fitted on part of the data and saved with the rest, never fitted on, is its own
  interval model: ``save_model(folder, members, ..., conformal=ConformalSet(X, y, source))``.
- ``tune`` refits the chosen configuration on calibration + tuning data, so no unseen data remain
  but the test set, which is looked at once for the report and cannot also calibrate.
  Conformalizing the refit on the tuning set would use fitted residuals: intervals too narrow.
  CV+ / jackknife+ (MAPIE's ``CrossConformalRegressor``) on the final configuration would cost k
  more refits. Chosen: the best trial's network, trained on the calibration set only, is stored
  as the folder's *interval model* (``interval_members``) with the tuning set as its
  conformalization set. The intervals are centred on the interval model's prediction, which can
  differ a little from the refit's point prediction. Caveat: the tuning set also picked the trial
  and its early-stopping epoch, so its residuals are slightly optimistic and the coverage may fall
  a little below the level; the test set, touched once, measures it (``coverage``).
- k-fold tuning keeps no single held-out set: such models get no intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from mapie.regression import SplitConformalRegressor
from sklearn.base import BaseEstimator, RegressorMixin

from spectune.data import Spectra
from spectune.exceptions import DataError, SpectuneError

if TYPE_CHECKING:
    from spectune.training._files import SavedModel

__all__ = [
    "ConformalSet",
    "check_level",
    "conformal_data",
    "conformal_intervals",
    "coverage",
    "predict_interval",
]

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class ConformalSet:
    """Spectra and targets that the interval model never fitted on, and where they come from.

    Attributes
    ----------
    X : ndarray of shape (n, points) or (n, channels, points)
        Raw spectra, as the model's ``predict`` takes them.
    y : ndarray of shape (n, n_targets), float64
    source : str
        A line for ``model.json``, e.g. "tuning set (40 spectra), never fitted by the model".
    """

    X: np.ndarray
    y: np.ndarray
    source: str

    def __post_init__(self) -> None:
        X, y = np.asarray(self.X), np.asarray(self.y, dtype=np.float64)
        y = y.reshape(len(y), -1)
        if X.ndim not in (2, 3) or len(X) != len(y) or len(X) < 2:
            raise DataError(
                f"conformal data: X of shape {X.shape} and y of shape {y.shape}; need 2-D or 3-D "
                "spectra and the same number (at least 2) of targets."
            )
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise DataError("conformal data: X or y holds NaN or inf; drop those samples first.")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "source", str(self.source))

    @property
    def n_samples(self) -> int:
        return len(self.y)


def conformal_data(spectra: Spectra, source: str) -> ConformalSet:
    """The conformalization set of held-out ``spectra`` (regression), described by ``source``."""
    if spectra.task != "regression" or spectra.y is None:
        raise DataError(f"{spectra.source}: conformal intervals are for regression; the target is "
                        f"a {spectra.task} target.")
    return ConformalSet(spectra.flat_X(), spectra.y, source)


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), else a one-line ValueError."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"the interval level must lie strictly between 0 and 1 (e.g. 0.9); "
                         f"got {level!r}.")
    return float(level)


def conformal_intervals(
    predict: Predict, conformal: ConformalSet, X: npt.ArrayLike, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAPIE split-conformal intervals of ``predict`` (a fitted model's) at ``level``.

    Returns
    -------
    prediction, lower, upper : ndarray of shape (n, n_targets)
    """
    level, n = check_level(level), conformal.n_samples
    if n < max(1 / level, 1 / (1 - level)):  # MAPIE's rule: the quantile must be finite
        raise DataError(
            f"level {level:g} needs at least {math.ceil(max(1 / level, 1 / (1 - level)))} "
            f"conformalization samples; the model has {n}, enough for levels from "
            f"{1 / n:.3g} to {1 - 1 / n:.3g}."
        )
    X = np.asarray(X)
    shape = X.shape[1:]
    if conformal.X.shape[1:] != shape:
        raise DataError(f"spectra of shape {shape} per sample; the conformalization spectra have "
                        f"{conformal.X.shape[1:]}.")
    bounds = []
    for column in range(conformal.y.shape[1]):
        mapie = SplitConformalRegressor(
            _Column(predict, column, shape), confidence_level=level, prefit=True
        )
        mapie.conformalize(_flat(conformal.X), conformal.y[:, column])
        bounds.append(mapie.predict_interval(_flat(X)))
    center = np.column_stack([points for points, _ in bounds])
    lower = np.column_stack([interval[:, 0, 0] for _, interval in bounds])
    upper = np.column_stack([interval[:, 1, 0] for _, interval in bounds])
    return center, lower, upper


def predict_interval(
    model: SavedModel, X: npt.ArrayLike, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals of a loaded model folder from its stored conformalization set.

    Returns the interval model's prediction and the bounds, each ``(n, n_targets)``.
    """
    if model.task != "regression":
        raise SpectuneError("prediction intervals are for regression models; this model "
                            "classifies (use its class probabilities).")
    if model.conformal is None:
        raise SpectuneError(
            "the model folder holds no conformalization data, so it cannot give intervals; "
            "`spectune tune` with a hold-out tuning set (--cv 0) stores them with its model."
        )
    return conformal_intervals(model.interval_predict, model.conformal, X, level)


def coverage(y: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Fraction of the values (samples x targets) that lie inside ``[lower, upper]``."""
    y, lower, upper = (np.asarray(a, dtype=np.float64) for a in (y, lower, upper))
    y = y.reshape(lower.shape)
    return float(np.mean((lower <= y) & (y <= upper)))


class _Column(RegressorMixin, BaseEstimator):
    """One target of a fitted model's ``predict`` in scikit-learn's dress (MAPIE's estimator).

    MAPIE takes 2-D ``X`` and one target, so spectra travel flattened and are reshaped back.
    """

    is_fitted = True  # MAPIE's prefit check looks for a "fitted" attribute

    def __init__(self, model_predict: Predict, column: int = 0, shape: tuple[int, ...] = ()
                 ) -> None:
        self.model_predict = model_predict
        self.column = column
        self.shape = shape

    def fit(self, X: Any, y: Any) -> _Column:
        raise NotImplementedError("a prefit model: MAPIE only conformalizes it.")

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X).reshape(len(X), *self.shape)
        return np.asarray(self.model_predict(X)).reshape(len(X), -1)[:, self.column]


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)
