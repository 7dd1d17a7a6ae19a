"""SavitzkyGolay against scipy.signal.savgol_filter, analytic derivatives, parameter errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from spectune.exceptions import DataError
from spectune.preprocess import SavitzkyGolay

_X = np.linspace(0.0, 1.0, 101)
SIGNALS = {
    "sine": np.sin(2 * np.pi * 3 * _X),
    "ramp": 2.0 * _X - 0.5,
    "step": (_X > 0.5).astype(float),
    "noise": np.random.default_rng(7).normal(size=_X.size),
}
MODES = ["interp", "mirror", "constant", "nearest", "wrap"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize(
    ("window_length", "polyorder", "deriv"), [(11, 2, 0), (7, 2, 1), (15, 3, 2)]
)
def test_equals_scipy(mode, signal, window_length, polyorder, deriv) -> None:
    X = np.vstack([SIGNALS[signal], 0.5 * SIGNALS[signal] + 1.0])
    sg = SavitzkyGolay(window_length, polyorder=polyorder, deriv=deriv, mode=mode, delta=0.01)
    expected = savgol_filter(X, window_length, polyorder, deriv=deriv, delta=0.01, mode=mode)
    np.testing.assert_allclose(sg.fit_transform(X), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("deriv", [0, 1, 2])
def test_derivative_of_a_cubic_is_exact(deriv) -> None:
    # A cubic is reproduced exactly by a cubic local fit, edges included ("interp").
    x = np.linspace(-1.0, 1.0, 81)
    step = x[1] - x[0]
    coefficients = np.array([0.3, -1.0, 0.5, 2.0])  # 0.3 - x + 0.5 x^2 + 2 x^3
    polynomial = np.polynomial.Polynomial(coefficients)
    out = SavitzkyGolay(9, polyorder=3, deriv=deriv, delta=step).fit_transform(polynomial(x)[None])
    np.testing.assert_allclose(out[0], polynomial.deriv(deriv)(x), atol=1e-9)


def test_derivatives_of_a_sine_follow_the_analytic_ones() -> None:
    x = np.linspace(0.0, 2 * np.pi, 400)
    step = x[1] - x[0]
    X = np.sin(x)[None]
    first = SavitzkyGolay(11, polyorder=3, deriv=1, delta=step).fit_transform(X)[0]
    second = SavitzkyGolay(11, polyorder=3, deriv=2, delta=step).fit_transform(X)[0]
    np.testing.assert_allclose(first, np.cos(x), atol=1e-4)
    np.testing.assert_allclose(second, -np.sin(x), atol=1e-3)


def test_per_point_derivative_by_default() -> None:
    ramp = (3.0 * np.arange(30.0))[None]
    np.testing.assert_allclose(SavitzkyGolay(deriv=1).fit_transform(ramp), 3.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"window_length": 10},
            r"'window_length' parameter of SavitzkyGolay must be odd; got 10\. Use 11 or 9",
        ),
        ({"window_length": 3, "polyorder": 3}, r"'window_length'.*must be > polyorder=3; got 3"),
        ({"window_length": 0}, r"'window_length'.*must be an int >= 1; got 0"),
        ({"polyorder": -1}, r"'polyorder'.*must be an int >= 0; got -1"),
        ({"polyorder": 2.0}, r"'polyorder'.*must be an int >= 0; got 2\.0"),
        ({"deriv": 3}, r"'deriv'.*must be <= polyorder=2; got 3"),
        ({"deriv": True}, r"'deriv'.*must be an int >= 0; got True"),
        ({"mode": "reflect"}, r"'mode'.*must be one of 'mirror', .*'interp'; got 'reflect'"),
        ({"delta": 0.0}, r"'delta'.*must be a float > 0; got 0\.0"),
    ],
)
def test_bad_parameters_are_named(params, message, calibration) -> None:
    with pytest.raises(ValueError, match=message):
        SavitzkyGolay(**params).fit(calibration)


def test_window_longer_than_spectra() -> None:
    with pytest.raises(
        DataError, match=r"at least 21 points but got 15 feature\(s\).*window_length=21"
    ):
        SavitzkyGolay(21).fit(np.ones((3, 15)))
