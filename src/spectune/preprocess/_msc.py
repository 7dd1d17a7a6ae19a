"""Multiplicative Scatter Correction against the mean calibration spectrum."""

from __future__ import annotations

import numpy as np

from spectune.exceptions import DataError
from spectune.preprocess._base import SpectralTransformer

__all__ = ["MultiplicativeScatterCorrection"]


class MultiplicativeScatterCorrection(SpectralTransformer):
    """Regress each spectrum on a reference, ``x = a + b * ref``, and return ``(x - a) / b``.

    The reference is the mean of the spectra seen in ``fit`` (per channel), i.e. of the
    calibration set only: transforming test spectra never moves it, so no test information leaks
    into the preprocessing. ``a`` and ``b`` are the ordinary least-squares line of each spectrum
    against the reference, in closed form for all spectra at once. A flat spectrum (slope 0)
    comes out flat at the reference's mean level instead of being divided by zero.

    Attributes
    ----------
    reference_ : ndarray of shape (points,) or (channels, points)
        Mean calibration spectrum (shape follows the input given to ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import MultiplicativeScatterCorrection
    >>> X = np.array([[1.0, 2.0, 4.0], [3.0, 4.0, 6.0]])
    >>> MultiplicativeScatterCorrection().fit(X).reference_
    array([2., 3., 5.])
    """

    def _min_points(self) -> tuple[int, str]:
        return 2, "MSC fits an offset and a slope per spectrum, so use another route"

    def _fit_channels(self, X: np.ndarray) -> None:
        reference = X.mean(axis=0, dtype=np.float64)
        flat = np.ptp(reference, axis=-1) == 0
        if flat.any():
            raise DataError(
                f"MultiplicativeScatterCorrection: the mean calibration spectrum of channel "
                f"{int(np.argmax(flat))} is flat, so there is nothing to regress on; use SNV "
                "instead or check the calibration spectra."
            )
        self.reference_ = self._without_channel_axis(reference)

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        reference = self._with_channel_axis(self.reference_)
        ref_centred = reference - reference.mean(axis=-1, keepdims=True)
        x_mean = X.mean(axis=-1, keepdims=True, dtype=np.float64)
        slope = ((X - x_mean) * ref_centred).sum(axis=-1, keepdims=True) / (ref_centred**2).sum(
            axis=-1, keepdims=True
        )
        slope = np.where(slope == 0, 1.0, slope)  # flat spectrum: no division by 0
        offset = x_mean - slope * reference.mean(axis=-1, keepdims=True)
        return (X - offset) / slope
