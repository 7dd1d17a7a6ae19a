"""Column-wise standardisation with calibration statistics only."""

from __future__ import annotations

import numpy as np

from spectune.preprocess._base import SpectralTransformer

__all__ = ["ColumnStandardizer"]


class ColumnStandardizer(SpectralTransformer):
    """Centre and scale every point (and channel) by the mean and std of the calibration spectra.

    Passos & Mishra (2022) standardise the concatenated routes column-wise "with calibration-set
    statistics only": ``fit`` on the calibration spectra, then ``transform`` anything with those
    statistics. It equals scikit-learn's ``StandardScaler`` on 2-D input and also accepts
    ``[n, channels, points]``, with one mean and scale per channel and point. A constant column
    (std 0, or within rounding of 0) is only centred, as ``StandardScaler`` does.

    Attributes
    ----------
    mean_ : ndarray of shape (points,) or (channels, points)
        Calibration mean of each column.
    scale_ : ndarray of shape (points,) or (channels, points)
        Calibration standard deviation (``ddof=0``) of each column; 1 where it is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import ColumnStandardizer
    >>> scaler = ColumnStandardizer().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> scaler.transform(np.array([[4.0, 6.0]]))
    array([[3., 1.]])
    """

    def _fit_channels(self, X: np.ndarray) -> None:
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        constant = std <= 10 * np.finfo(np.float64).eps * np.abs(mean)
        self.mean_ = self._without_channel_axis(mean)
        self.scale_ = self._without_channel_axis(np.where(constant, 1.0, std))

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        mean = self._with_channel_axis(self.mean_)
        return (X - mean) / self._with_channel_axis(self.scale_)
