"""Detrend: subtract a least-squares polynomial fitted to each spectrum."""

from __future__ import annotations

import numpy as np
from numpy.polynomial import polynomial

from spectune.preprocess._base import SpectralTransformer, check_integer

__all__ = ["Detrend"]


class Detrend(SpectralTransformer):
    """Remove a polynomial trend (offset, slope, curvature) fitted to each spectrum on its own.

    Barnes et al. (1989) apply it after SNV to remove the curvilinear baseline of diffuse
    reflectance. The polynomial is fitted on the point index rescaled to [-1, 1], which keeps the
    least-squares problem well conditioned for any order, all spectra in one ``numpy.polynomial``
    call.

    Parameters
    ----------
    order : int, default=1
        Degree of the polynomial removed: 0 centres, 1 removes a straight line.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import Detrend
    >>> Detrend(order=1).fit_transform(np.array([[1.0, 3.0, 5.0, 7.0]])).round(12) + 0.0
    array([[0., 0., 0., 0.]])
    """

    def __init__(self, order: int = 1) -> None:
        self.order = order

    def _check_params(self) -> None:
        check_integer(self, "order", self.order, low=0)

    def _min_points(self) -> tuple[int, str]:
        return self.order + 1, f"lower order={self.order}"

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        points = np.linspace(-1.0, 1.0, X.shape[-1])
        rows = X.reshape(-1, X.shape[-1])
        coefficients = polynomial.polyfit(points, rows.T, self.order)
        return X - polynomial.polyval(points, coefficients).reshape(X.shape)
