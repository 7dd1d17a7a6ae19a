"""Reflectance (or transmittance) to absorbance, A = log10(1/R)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Tags

from spectune.exceptions import DataError
from spectune.preprocess._base import SpectralTransformer

__all__ = ["Absorbance"]


class Absorbance(SpectralTransformer):
    """Convert reflectance ``R`` to absorbance ``log10(1/R)``, linear in concentration (Beer).

    Shen & Viscarra Rossel (2021) feed the CNN both reflectance and absorbance channels. The
    logarithm needs ``R > 0``: a zero or negative value is refused with the position of the first
    one, because it usually means the data are already absorbance (or a baseline-corrected
    spectrum), and a silent ``inf``/``nan`` would only surface later as a failed training.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import Absorbance
    >>> Absorbance().fit_transform(np.array([[1.0, 0.1, 0.01]]))
    array([[-0.,  1.,  2.]])
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def _fit_channels(self, X: np.ndarray) -> None:
        self._check_positive(X)

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        self._check_positive(X)
        return -np.log10(X)

    def _check_positive(self, X: np.ndarray) -> None:
        """Raise ``DataError`` naming the first non-positive value (row, channel, column)."""
        bad = X <= 0
        if not bad.any():
            return
        row, channel, column = np.unravel_index(np.argmax(bad), X.shape)
        value = X[row, channel, column]
        where = f"row {row}, column {column}"
        if self.n_channels_in_ is not None:
            where = f"row {row}, channel {channel}, column {column}"
        kind = "Negative" if value < 0 else "Zero"
        raise DataError(
            f"{kind} values in data: Absorbance computes log10(1/R) and needs R > 0, but "
            f"{where} holds {value:g}; the data may already be absorbance (drop 'abs' from the "
            "route)."
        )
