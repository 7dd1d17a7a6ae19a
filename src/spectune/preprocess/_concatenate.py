"""Concatenate preprocessing routes along the point axis (Passos & Mishra 2022)."""

from __future__ import annotations

from typing import Any

import numpy as np

from spectune.preprocess._base import check_fitted
from spectune.preprocess._combiner import RouteCombiner

__all__ = ["ConcatenateRoutes"]


class ConcatenateRoutes(RouteCombiner):
    """Put the outputs of several routes side by side along the point axis.

    Passos & Mishra (2022) augment the input "in variable space" by concatenating raw, SNV, SG
    1st and 2nd derivatives, SNV+D1 and SNV+D2 (see ``passos_concat``). ``[n, points]`` gives
    ``[n, sum of route widths]``; ``[n, channels, points]`` gives ``[n, channels, sum of
    widths]``. ``segments_`` tells where each route lies, so plots can label the axis.

    Parameters
    ----------
    routes : list of (str, transformer)
        Named routes, e.g. ``[("raw", Identity()), ("snv", StandardNormalVariate())]``.

    Attributes
    ----------
    routes_ : list of (str, transformer)
        Fitted clones of the routes.
    route_names_ : list of str
        Route names, in order.
    segments_ : list of (str, int, int)
        ``(name, start, stop)``: route ``name`` fills ``[..., start:stop]`` of the output.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import ConcatenateRoutes, Identity, StandardNormalVariate
    >>> union = ConcatenateRoutes([("raw", Identity()), ("snv", StandardNormalVariate())])
    >>> union.fit_transform(np.ones((4, 10))).shape
    (4, 20)
    >>> union.segments_
    [('raw', 0, 10), ('snv', 10, 20)]
    """

    def _record_layout(self, outputs: list[np.ndarray]) -> None:
        self._check_aligned(outputs, same_points=False)
        stops = np.cumsum([out.shape[-1] for out in outputs])
        self.segments_ = [
            (name, int(stop - out.shape[-1]), int(stop))
            for name, out, stop in zip(self.route_names_, outputs, stops, strict=True)
        ]

    def _combine(self, outputs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(outputs, axis=-1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output names ``"{route}__{feature}"`` (2-D input only; 3-D has ``segments_``).

        Parameters
        ----------
        input_features : array-like of str, optional
            Input names; by default those seen in ``fit`` or ``x0, x1, ...``.

        Returns
        -------
        ndarray of str
        """
        check_fitted(self)
        if self.n_channels_in_ is not None:
            raise ValueError(
                "ConcatenateRoutes was fitted on 3-D spectra, which have no flat feature names; "
                "use segments_ to label the point axis."
            )
        names = [
            f"{name}__{feature}"
            for name, route in self.routes_
            for feature in route.get_feature_names_out(input_features)
        ]
        return np.asarray(names, dtype=object)
