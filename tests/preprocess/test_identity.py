"""Identity: the raw route returns a copy of the validated spectra."""

from __future__ import annotations

import numpy as np

from spectune.preprocess import Identity


def test_returns_an_equal_copy(calibration) -> None:
    out = Identity().fit(calibration).transform(calibration)
    np.testing.assert_array_equal(out, calibration)
    out[0, 0] = -1.0
    assert calibration[0, 0] != -1.0


def test_lists_become_arrays() -> None:
    np.testing.assert_array_equal(
        Identity().fit_transform([[1, 2], [3, 4]]), [[1.0, 2.0], [3.0, 4.0]]
    )
