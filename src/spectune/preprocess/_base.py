"""Shared plumbing of spectral transformers: validate 2-D or 3-D spectra once, work per channel.

Every transformer of this subpackage accepts spectra as ``[n, points]`` (what scikit-learn and PLS
see) or as ``[n, channels, points]`` (what the CNN sees, one channel per preprocessing route or
detector). The 2-D case goes through scikit-learn's ``validate_data`` so feature names, dtype and
``n_features_in_`` follow the sklearn contract; the 3-D case has its own small check here. Inside,
a transformer always sees ``[n, channels, points]`` and works along the last axis, so no
transformer repeats the dispatch.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from spectune.exceptions import DataError, NotFittedError

__all__ = [
    "SpectraMixin",
    "SpectralTransformer",
    "check_fitted",
    "check_integer",
    "check_option",
    "parameter_error",
    "validate_spectra",
]

# float32 is kept as float32: spectra reach the network in float32, and doubling them is waste.
_FLOAT_DTYPES = (np.float64, np.float32)


def parameter_error(
    owner: object, name: str, rule: str, value: object, fix: str = ""
) -> ValueError:
    """Build the one-line message for a bad constructor parameter (sklearn's wording)."""
    tail = f" {fix}" if fix else ""
    return ValueError(
        f"The {name!r} parameter of {type(owner).__name__} must be {rule}; got {value!r}.{tail}"
    )


def check_integer(owner: object, name: str, value: object, *, low: int) -> int:
    """Return ``value`` if it is an integer (not a bool) ``>= low``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise parameter_error(owner, name, f"an int >= {low}", value)
    return int(value)


def check_option(owner: object, name: str, value: object, options: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``options``, else raise ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in options:
        raise parameter_error(owner, name, f"one of {', '.join(map(repr, options))}", value)
    return value


def check_fitted(estimator: BaseEstimator) -> None:
    """Raise spectune's ``NotFittedError`` (also sklearn's) when ``estimator`` is not fitted."""
    try:
        check_is_fitted(estimator)
    except _SklearnNotFittedError as exc:
        raise NotFittedError(str(exc)) from None


def validate_spectra(estimator: Any, X: Any, *, reset: bool) -> np.ndarray:
    """Validate spectra of shape ``[n, points]`` or ``[n, channels, points]``.

    With ``reset=True`` (in ``fit``) the layout is recorded: ``n_features_in_`` (points for 2-D,
    channels x points for 3-D, i.e. the flattened width), ``n_channels_in_`` (``None`` for 2-D)
    and ``n_points_in_``. With ``reset=False`` (in ``transform``) the input must match it.
    """
    # .ndim first: asarray on a DataFrame copies, and array-likes may refuse np.ndim
    ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    if ndim != 3:
        if not reset and estimator.n_channels_in_ is not None:
            raise DataError(
                f"{type(estimator).__name__} was fitted on 3-D spectra [n, "
                f"{estimator.n_channels_in_}, {estimator.n_points_in_}] but got an array of "
                f"{ndim} dimension(s); pass spectra with the same layout as in fit."
            )
        X = validate_data(estimator, X, reset=reset, dtype=_FLOAT_DTYPES)
        if reset:
            estimator.n_channels_in_ = None
            estimator.n_points_in_ = X.shape[1]
        return X
    X = check_array(X, allow_nd=True, dtype=_FLOAT_DTYPES, estimator=estimator, input_name="X")
    n_channels, n_points = X.shape[1:]
    if reset:
        estimator.n_features_in_ = n_channels * n_points
        estimator.n_channels_in_ = n_channels
        estimator.n_points_in_ = n_points
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif (estimator.n_channels_in_, estimator.n_points_in_) != (n_channels, n_points):
        fitted = (
            f"[n, {estimator.n_points_in_}]"
            if estimator.n_channels_in_ is None
            else f"[n, {estimator.n_channels_in_}, {estimator.n_points_in_}]"
        )
        raise DataError(
            f"{type(estimator).__name__} was fitted on spectra {fitted} but got "
            f"[n, {n_channels}, {n_points}]; pass spectra with the same layout as in fit."
        )
    return X


class SpectraMixin:
    """Tags and channel-axis helpers shared by transformers and route combiners."""

    n_channels_in_: int | None

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.three_d_array = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _with_channel_axis(self, a: np.ndarray) -> np.ndarray:
        """``[..., points]`` seen in the 2-D layout -> ``[..., 1, points]``; 3-D is unchanged."""
        return a if self.n_channels_in_ is not None else a[..., np.newaxis, :]

    def _without_channel_axis(self, a: np.ndarray) -> np.ndarray:
        """Inverse of ``_with_channel_axis``: back to the layout given in ``fit``."""
        return a if self.n_channels_in_ is not None else a[..., 0, :]


class SpectralTransformer(SpectraMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class: a transformer along the point axis that keeps the shape of its input.

    Subclasses implement ``_transform_channels`` (and ``_fit_channels`` when they learn
    something), both on ``[n, channels, points]``; they may override ``_check_params`` and
    ``_min_points``. Attributes they learn should be stored through ``_without_channel_axis`` so
    that a 2-D fit gives per-point arrays, as scikit-learn users expect.

    Attributes
    ----------
    n_features_in_ : int
        Width seen in ``fit``: points for 2-D input, channels x points for 3-D input.
    n_channels_in_ : int or None
        Channels seen in ``fit``; ``None`` when the input was 2-D.
    n_points_in_ : int
        Points per spectrum seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of a 2-D DataFrame given to ``fit``.
    """

    def fit(self, X: Any, y: Any = None) -> SpectralTransformer:
        """Check the parameters and ``X``, then learn what the transform needs from ``X``.

        Parameters
        ----------
        X : array-like of shape (n, points) or (n, channels, points)
            Calibration spectra; later calls to ``transform`` use statistics of these only.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_spectra(self, X, reset=True)
        minimum, fix = self._min_points()
        if X.shape[-1] < minimum:
            raise DataError(
                f"{type(self).__name__} needs spectra of at least {minimum} points but got "
                f"{X.shape[-1]} feature(s) per spectrum; {fix}."
            )
        self._fit_channels(self._with_channel_axis(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Transform spectra with what ``fit`` learned; the output has the shape of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, points) or (n, channels, points)

        Returns
        -------
        ndarray of the same shape and float dtype as ``X``
        """
        check_fitted(self)
        X = validate_spectra(self, X, reset=False)
        out = self._transform_channels(self._with_channel_axis(X))
        return np.asarray(self._without_channel_axis(out), dtype=X.dtype)

    def _check_params(self) -> None:
        """Validate constructor parameters; called first in ``fit``."""

    def _min_points(self) -> tuple[int, str]:
        """Fewest points per spectrum the transform can handle, and how to fix a shorter input."""
        return 1, "pass longer spectra"

    def _fit_channels(self, X: np.ndarray) -> None:
        """Learn from ``X`` of shape ``[n, channels, points]``; stateless transformers skip it."""

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Transform ``X`` of shape ``[n, channels, points]`` along the last axis."""
        raise NotImplementedError
