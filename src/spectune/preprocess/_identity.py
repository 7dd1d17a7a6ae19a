"""The passthrough route: spectra as measured ("raw" in Passos & Mishra, "refl" in Shen)."""

from __future__ import annotations

import numpy as np

from spectune.preprocess._base import SpectralTransformer

__all__ = ["Identity"]


class Identity(SpectralTransformer):
    """Return the spectra unchanged (a copy), so "raw" can sit among other routes.

    It still validates its input like every transformer here, so a raw route rejects NaN or a
    wrong number of points exactly as the preprocessed routes beside it do.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import Identity
    >>> Identity().fit_transform(np.array([[1.0, 2.0, 3.0]]))
    array([[1., 2., 3.]])
    """

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        return X.copy()
