"""Standard Normal Variate: remove additive and multiplicative scatter spectrum by spectrum."""

from __future__ import annotations

import numpy as np

from spectune.preprocess._base import SpectralTransformer

__all__ = ["StandardNormalVariate"]


class StandardNormalVariate(SpectralTransformer):
    """Centre each spectrum on its own mean and divide by its own standard deviation.

    Row-wise, so it needs no calibration statistics: ``(x - mean(x)) / std(x)`` with the
    population standard deviation (``ddof=0``), so every output row has mean 0 and
    ``numpy.std`` 1. A flat spectrum (standard deviation 0) becomes zeros instead of ``nan``.
    Passos & Mishra (2022) use it alone and before the Savitzky-Golay derivatives.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import StandardNormalVariate
    >>> StandardNormalVariate().fit_transform(np.array([[1.0, 2.0, 3.0]]))
    array([[-1.22474487,  0.        ,  1.22474487]])
    """

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        std = X.std(axis=-1, keepdims=True)
        return (X - X.mean(axis=-1, keepdims=True)) / np.where(std == 0, 1, std)
