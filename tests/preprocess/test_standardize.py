"""ColumnStandardizer against sklearn's StandardScaler; calibration statistics only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from spectune.preprocess import ColumnStandardizer


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_equals_standard_scaler(dtype, calibration, test_spectra) -> None:
    cal, test = calibration.astype(dtype), test_spectra.astype(dtype)
    ours = ColumnStandardizer().fit(cal)
    theirs = StandardScaler().fit(cal)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-5)
    np.testing.assert_allclose(ours.transform(test), theirs.transform(test), rtol=1e-4, atol=1e-4)


def test_test_data_use_calibration_statistics_only(calibration, test_spectra) -> None:
    scaler = ColumnStandardizer().fit(calibration)
    mean, scale = scaler.mean_.copy(), scaler.scale_.copy()
    out = scaler.transform(test_spectra)
    np.testing.assert_array_equal(scaler.mean_, mean)
    np.testing.assert_array_equal(scaler.scale_, scale)
    expected = (test_spectra - calibration.mean(axis=0)) / calibration.std(axis=0)
    np.testing.assert_allclose(out, expected)
    assert not np.allclose(out.mean(axis=0), 0.0, atol=0.1)  # test data are not re-centred


def test_3d_statistics_per_channel_and_point(spectra3d) -> None:
    scaler = ColumnStandardizer().fit(spectra3d)
    assert scaler.mean_.shape == scaler.scale_.shape == spectra3d.shape[1:]
    np.testing.assert_allclose(scaler.mean_, spectra3d.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, spectra3d.std(axis=0))


def test_constant_column_is_only_centred(calibration) -> None:
    X = calibration.copy()
    X[:, 10] = 0.7
    scaler = ColumnStandardizer().fit(X)
    assert scaler.scale_[10] == 1.0
    np.testing.assert_allclose(scaler.transform(X)[:, 10], 0.0, atol=1e-12)
    np.testing.assert_allclose(scaler.transform(X), StandardScaler().fit_transform(X), atol=1e-12)
