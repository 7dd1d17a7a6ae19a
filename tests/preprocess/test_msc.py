"""MultiplicativeScatterCorrection against np.polyfit on the calibration mean; no leakage."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.exceptions import DataError
from spectune.preprocess import MultiplicativeScatterCorrection


def _msc_by_polyfit(X: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hand MSC: least-squares line x = a + b * reference by np.polyfit, then (x - a) / b."""
    out = np.empty_like(X)
    for i, row in enumerate(X):
        slope, offset = np.polyfit(reference, row, 1)
        out[i] = (row - offset) / slope
    return out


def test_equals_polyfit_against_calibration_mean(calibration) -> None:
    msc = MultiplicativeScatterCorrection().fit(calibration)
    np.testing.assert_allclose(msc.reference_, calibration.mean(axis=0))
    np.testing.assert_allclose(
        msc.transform(calibration), _msc_by_polyfit(calibration, calibration.mean(axis=0))
    )


def test_test_data_use_calibration_reference_only(calibration, test_spectra) -> None:
    msc = MultiplicativeScatterCorrection().fit(calibration)
    reference = msc.reference_.copy()
    out = msc.transform(test_spectra)
    np.testing.assert_array_equal(msc.reference_, reference)
    np.testing.assert_allclose(out, _msc_by_polyfit(test_spectra, calibration.mean(axis=0)))
    # Fitting on the test spectra would give another result: the reference matters.
    refit = MultiplicativeScatterCorrection().fit_transform(test_spectra)
    assert not np.allclose(out, refit)


def test_scatter_copies_of_the_reference_collapse_onto_it(calibration) -> None:
    msc = MultiplicativeScatterCorrection().fit(calibration)
    copies = 0.1 + np.array([[0.7], [1.3]]) * msc.reference_
    np.testing.assert_allclose(msc.transform(copies), np.tile(msc.reference_, (2, 1)))


def test_3d_has_one_reference_per_channel(spectra3d) -> None:
    msc = MultiplicativeScatterCorrection().fit(spectra3d)
    assert msc.reference_.shape == spectra3d.shape[1:]
    np.testing.assert_allclose(msc.reference_, spectra3d.mean(axis=0))


def test_flat_spectrum_is_not_divided_by_zero(calibration) -> None:
    msc = MultiplicativeScatterCorrection().fit(calibration)
    out = msc.transform(np.full((1, calibration.shape[1]), 0.3))
    np.testing.assert_allclose(out, msc.reference_.mean())


def test_flat_calibration_mean_is_refused() -> None:
    with pytest.raises(DataError, match="mean calibration spectrum of channel 0 is flat"):
        MultiplicativeScatterCorrection().fit(np.ones((4, 10)))


def test_needs_two_points() -> None:
    with pytest.raises(DataError, match=r"at least 2 points but got 1 feature\(s\)"):
        MultiplicativeScatterCorrection().fit(np.ones((4, 1)))
