"""StandardNormalVariate against the hand formula (population std, ddof=0)."""

from __future__ import annotations

import numpy as np

from spectune.preprocess import StandardNormalVariate


def test_equals_hand_formula(calibration) -> None:
    mean = calibration.mean(axis=1, keepdims=True)
    std = np.sqrt(((calibration - mean) ** 2).sum(axis=1, keepdims=True) / calibration.shape[1])
    np.testing.assert_allclose(
        StandardNormalVariate().fit_transform(calibration), (calibration - mean) / std
    )


def test_rows_have_mean_0_and_std_1(calibration) -> None:
    out = StandardNormalVariate().fit_transform(calibration * 7.0 + 3.0)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1.0)


def test_removes_offset_and_scale(calibration) -> None:
    snv = StandardNormalVariate().fit(calibration)
    np.testing.assert_allclose(snv.transform(2.5 * calibration - 0.3), snv.transform(calibration))


def test_flat_spectrum_becomes_zeros(calibration) -> None:
    X = calibration.copy()
    X[3] = 0.42
    out = StandardNormalVariate().fit_transform(X)
    np.testing.assert_array_equal(out[3], 0.0)
    assert np.isfinite(out).all()
