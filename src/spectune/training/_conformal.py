"""Prediction intervals on exactly the deployed predictor, from its out-of-fold residuals.

Cross-conformal prediction ("CV" / jackknife-style, Barber et al. 2021; Vovk 2015): every
calibration+tuning spectrum has an out-of-fold prediction of the final model's recipe (each
candidate trained without that spectrum's fold, combined with the final weights); for a new
spectrum, the interval is the deployed prediction plus or minus the
``ceil((n + 1) * level)``-th smallest absolute out-of-fold residual, per target. The point
prediction therefore lies inside its interval by construction, and the intervals are those of
the model that is saved, not of a proxy.

MAPIE does the conformal arithmetic: its ``SplitConformalRegressor`` (``prefit=True``) is given
an identity regressor over the prediction itself, conformalized on the pairs (out-of-fold
prediction, observed value) and asked for the interval of the deployed prediction. MAPIE's
``CrossConformalRegressor`` would refit the whole recipe once per fold itself, which the final
stage has already done (its cross-fitting also chooses the stack): the out-of-fold predictions
are reused instead. Its "plus" variant would also need every fold's networks at prediction time.

A model folder keeps the out-of-fold predictions and targets (``conformal.safetensors``, no
pickle), so any level can be asked for at predict time (``spectune predict --interval 0.9``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from mapie.regression import SplitConformalRegressor
from sklearn.base import BaseEstimator, RegressorMixin

from spectune.exceptions import DataError, SpectuneError

if TYPE_CHECKING:
    from spectune.training._files import SavedModel

__all__ = [
    "ConformalSet",
    "check_level",
    "conformal_intervals",
    "coverage",
    "predict_interval",
]


@dataclass(frozen=True, eq=False)
class ConformalSet:
    """Out-of-fold predictions of the deployed recipe, the observed values, and their origin.

    Attributes
    ----------
    predictions, y : ndarray of shape (n, n_targets), float64
    source : str
        A line for ``model.json``, e.g. "out-of-fold predictions of the stack, 5 folds over
        156 spectra".
    """

    predictions: np.ndarray
    y: np.ndarray
    source: str

    def __post_init__(self) -> None:
        pred = np.asarray(self.predictions, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        pred, y = pred.reshape(len(pred), -1), y.reshape(len(y), -1)
        if pred.shape != y.shape or len(y) < 2:
            raise DataError(f"conformal data: predictions of shape {pred.shape} and y of shape "
                            f"{y.shape}; need the same shape and at least 2 samples.")
        if not (np.isfinite(pred).all() and np.isfinite(y).all()):
            raise DataError("conformal data hold NaN or inf; drop those samples first.")
        object.__setattr__(self, "predictions", pred)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "source", str(self.source))

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def half_widths(self, level: float) -> np.ndarray:
        """The interval's half width per target at ``level`` (``[n_targets]``)."""
        lower, upper = conformal_intervals(np.zeros((1, self.y.shape[1])), self, level)
        return (upper[0] - lower[0]) / 2


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), else a one-line ValueError."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"the interval level must lie strictly between 0 and 1 (e.g. 0.9); "
                         f"got {level!r}.")
    return float(level)


def conformal_intervals(prediction: npt.ArrayLike, conformal: ConformalSet, level: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds ``[n, n_targets]`` around ``prediction`` at ``level``."""
    level, n = check_level(level), conformal.n_samples
    if n < max(1 / level, 1 / (1 - level)):  # MAPIE's rule: the quantile must be finite
        raise DataError(
            f"level {level:g} needs at least {math.ceil(max(1 / level, 1 / (1 - level)))} "
            f"out-of-fold residuals; the model has {n}, enough for levels from "
            f"{1 / n:.3g} to {1 - 1 / n:.3g}."
        )
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1, conformal.y.shape[1])
    lower, upper = [], []
    for t in range(conformal.y.shape[1]):
        mapie = SplitConformalRegressor(_Identity(), confidence_level=level, prefit=True)
        mapie.conformalize(conformal.predictions[:, t:t + 1], conformal.y[:, t])
        _, bounds = mapie.predict_interval(prediction[:, t:t + 1])
        lower.append(bounds[:, 0, 0])
        upper.append(bounds[:, 1, 0])
    return np.column_stack(lower), np.column_stack(upper)


def predict_interval(
    model: SavedModel, X: npt.ArrayLike, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's prediction and its bounds at ``level``, each ``(n, n_targets)``."""
    if model.task != "regression":
        raise SpectuneError("prediction intervals are for regression models; this model "
                            "classifies (use its class probabilities).")
    if model.conformal is None:
        raise SpectuneError(
            "the model folder holds no out-of-fold residuals, so it cannot give intervals; "
            "`spectune tune` stores them with its final model."
        )
    prediction = np.asarray(model.predict(X), dtype=np.float64)
    prediction = prediction.reshape(len(prediction), -1)
    lower, upper = conformal_intervals(prediction, model.conformal, level)
    return prediction, lower, upper


def coverage(y: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Fraction of the values (samples x targets) that lie inside ``[lower, upper]``."""
    y, lower, upper = (np.asarray(a, dtype=np.float64) for a in (y, lower, upper))
    y = y.reshape(lower.shape)
    return float(np.mean((lower <= y) & (y <= upper)))


class _Identity(RegressorMixin, BaseEstimator):
    """A prefit regressor whose prediction is its one input column: the prediction itself."""

    is_fitted = True  # MAPIE's prefit check looks for a "fitted" attribute

    def fit(self, X: Any, y: Any) -> _Identity:
        raise NotImplementedError("a prefit model: MAPIE only conformalizes it.")

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]
