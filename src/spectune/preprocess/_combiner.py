"""Shared base of the two ways to combine preprocessing routes (concatenate, stack)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

from spectune.exceptions import DataError
from spectune.preprocess._base import SpectraMixin, check_fitted, parameter_error, validate_spectra

__all__ = ["RouteCombiner"]


class RouteCombiner(SpectraMixin, TransformerMixin, BaseEstimator):
    """Fit clones of several routes on the same spectra and combine their outputs.

    ``routes`` is a list of ``(name, transformer)`` pairs, as in scikit-learn's
    ``FeatureUnion``. ``fit`` clones every route and fits the clones on the data given to
    ``fit`` only (the calibration set), so ``routes`` itself is never changed. Subclasses say how
    outputs are combined (``_combine``) and record their layout (``_record_layout``).

    Attributes
    ----------
    routes_ : list of (str, transformer)
        The fitted clones.
    route_names_ : list of str
        Route names, in order.
    n_features_in_, n_channels_in_, n_points_in_, feature_names_in_
        The input layout seen in ``fit`` (see ``SpectralTransformer``).
    """

    def __init__(self, routes: Sequence[tuple[str, Any]]) -> None:
        self.routes = routes

    def fit(self, X: Any, y: Any = None) -> RouteCombiner:
        """Fit a clone of every route on ``X``.

        Parameters
        ----------
        X : array-like of shape (n, points) or (n, channels, points)
            Calibration spectra.
        y : array-like, optional
            Passed to each route's ``fit``.

        Returns
        -------
        self
        """
        self._fit_routes(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit the routes on ``X`` and return their combined outputs (each route runs once)."""
        return self._combine(self._fit_routes(X, y))

    def transform(self, X: Any) -> np.ndarray:
        """Run every fitted route on ``X`` and combine the outputs."""
        check_fitted(self)
        validate_spectra(self, X, reset=False)
        return self._combine([route.transform(X) for _, route in self.routes_])

    def _fit_routes(self, X: Any, y: Any) -> list[np.ndarray]:
        names = self._check_routes()
        validate_spectra(self, X, reset=True)
        # Routes get X as given, so each validates it and keeps the DataFrame column names.
        self.routes_ = [(name, clone(route)) for name, route in self.routes]
        outputs = [np.asarray(route.fit_transform(X, y)) for _, route in self.routes_]
        self.route_names_ = names
        self._record_layout(outputs)
        return outputs

    def _check_routes(self) -> list[str]:
        """Return the route names after checking ``routes`` is a list of (name, transformer)."""
        rule = "a non-empty list of (name, transformer) pairs with unique str names"
        routes = self.routes
        if not isinstance(routes, Sequence) or isinstance(routes, str) or not routes:
            raise parameter_error(self, "routes", rule, routes)
        for route in routes:
            if (
                not isinstance(route, tuple)
                or len(route) != 2
                or not isinstance(route[0], str)
                or not (hasattr(route[1], "fit") and hasattr(route[1], "transform"))
            ):
                raise parameter_error(self, "routes", rule, route, "Use make_route(name).")
        names = [name for name, _ in routes]
        if len(set(names)) != len(names):
            raise parameter_error(self, "routes", rule, names, "Rename the duplicates.")
        return names

    def _check_aligned(self, outputs: list[np.ndarray], *, same_points: bool) -> None:
        """Raise ``DataError`` unless all route outputs agree in shape (but maybe in points)."""
        expected_ndim = 2 if self.n_channels_in_ is None else 3
        first = outputs[0].shape
        for name, out in zip(self.route_names_, outputs, strict=True):
            shape = out.shape if same_points else out.shape[:-1]
            if out.ndim != expected_ndim or shape != (first if same_points else first[:-1]):
                raise DataError(
                    f"{type(self).__name__}: route {name!r} returns shape {out.shape} but route "
                    f"{self.route_names_[0]!r} returns {first} from {expected_ndim}-D input; "
                    "every route must keep the samples (and channels) aligned."
                )

    def _record_layout(self, outputs: list[np.ndarray]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _combine(self, outputs: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
