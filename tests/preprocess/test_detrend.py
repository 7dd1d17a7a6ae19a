"""Detrend against scipy.signal.detrend, and removal of a known polynomial trend."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import detrend

from spectune.exceptions import DataError
from spectune.preprocess import Detrend


@pytest.mark.parametrize(("order", "kind"), [(0, "constant"), (1, "linear")])
def test_equals_scipy_detrend(order, kind, calibration) -> None:
    np.testing.assert_allclose(
        Detrend(order=order).fit_transform(calibration),
        detrend(calibration, type=kind, axis=-1),
        atol=1e-12,
    )


@pytest.mark.parametrize("order", [1, 2, 3])
def test_removes_an_added_polynomial_of_that_order(order, calibration) -> None:
    x = np.linspace(400.0, 2500.0, calibration.shape[1])  # any grid: the trend is in the index
    rng = np.random.default_rng(order)
    trends = np.vstack(
        [np.polyval(rng.normal(size=order + 1), (x - 1450) / 1050) for _ in calibration]
    )
    detrended = Detrend(order=order).fit_transform(calibration)
    np.testing.assert_allclose(
        Detrend(order=order).fit_transform(calibration + trends), detrended, atol=1e-10
    )


def test_residual_is_orthogonal_to_the_fitted_polynomial(calibration) -> None:
    out = Detrend(order=2).fit_transform(calibration)
    basis = np.vander(np.arange(calibration.shape[1]), 3)
    np.testing.assert_allclose(out @ basis, 0.0, atol=1e-9)


def test_bad_order() -> None:
    with pytest.raises(
        ValueError, match=r"'order' parameter of Detrend must be an int >= 0; got -1"
    ):
        Detrend(order=-1).fit(np.ones((3, 10)))
    with pytest.raises(DataError, match=r"at least 4 points but got 3 feature\(s\).*order=3"):
        Detrend(order=3).fit(np.ones((3, 3)))
