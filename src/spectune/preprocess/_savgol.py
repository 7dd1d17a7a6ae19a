"""Savitzky-Golay smoothing and derivatives, by scipy.signal.savgol_filter."""

from __future__ import annotations

from numbers import Real
from typing import Literal

import numpy as np
from scipy.signal import savgol_filter

from spectune.preprocess._base import (
    SpectralTransformer,
    check_integer,
    check_option,
    parameter_error,
)

__all__ = ["SavitzkyGolay"]

_MODES = ("mirror", "constant", "nearest", "wrap", "interp")


class SavitzkyGolay(SpectralTransformer):
    """Fit a local polynomial in a sliding window: smoothing (``deriv=0``) or derivatives.

    A thin wrapper of :func:`scipy.signal.savgol_filter` along the point axis. Derivatives
    remove additive (1st) and linear (2nd) baselines; Passos & Mishra (2022) concatenate the 1st
    and 2nd derivatives, Shen & Viscarra Rossel (2021) stack them as channels.

    Parameters
    ----------
    window_length : int, default=11
        Odd number of points in the window, greater than ``polyorder`` and at most the number of
        points per spectrum.
    polyorder : int, default=2
        Degree of the local polynomial.
    deriv : int, default=0
        Order of the derivative (0 smooths); at most ``polyorder``.
    mode : {"interp", "mirror", "constant", "nearest", "wrap"}, default="interp"
        How the edges are handled (see SciPy); "interp" fits the edge windows instead of padding.
    delta : float, default=1.0
        Spacing of the points, so derivatives come per wavelength unit; 1.0 gives them per point.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import SavitzkyGolay
    >>> X = np.arange(12.0).reshape(2, 6) ** 2
    >>> SavitzkyGolay(5, polyorder=2, deriv=2).fit_transform(X)
    array([[2., 2., 2., 2., 2., 2.],
           [2., 2., 2., 2., 2., 2.]])
    """

    def __init__(
        self,
        window_length: int = 11,
        *,
        polyorder: int = 2,
        deriv: int = 0,
        mode: Literal["interp", "mirror", "constant", "nearest", "wrap"] = "interp",
        delta: float = 1.0,
    ) -> None:
        self.window_length = window_length
        self.polyorder = polyorder
        self.deriv = deriv
        self.mode = mode
        self.delta = delta

    def _check_params(self) -> None:
        polyorder = check_integer(self, "polyorder", self.polyorder, low=0)
        window = check_integer(self, "window_length", self.window_length, low=1)
        if window <= polyorder:
            raise parameter_error(
                self, "window_length", f"> polyorder={polyorder}", window, "Widen the window."
            )
        if window % 2 == 0:
            raise parameter_error(
                self, "window_length", "odd", window, f"Use {window + 1} or {window - 1}."
            )
        deriv = check_integer(self, "deriv", self.deriv, low=0)
        if deriv > polyorder:
            raise parameter_error(
                self, "deriv", f"<= polyorder={polyorder}", deriv, "Raise polyorder."
            )
        check_option(self, "mode", self.mode, _MODES)
        if isinstance(self.delta, bool) or not isinstance(self.delta, Real) or self.delta <= 0:
            raise parameter_error(self, "delta", "a float > 0", self.delta)

    def _min_points(self) -> tuple[int, str]:
        return self.window_length, f"lower window_length={self.window_length}"

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        return savgol_filter(
            X,
            self.window_length,
            self.polyorder,
            deriv=self.deriv,
            delta=self.delta,
            axis=-1,
            mode=self.mode,
        )
