"""BaselineCorrection against pybaselines called directly; recovery of a known added baseline."""

from __future__ import annotations

import numpy as np
import pytest
from pybaselines import Baseline

from spectune.exceptions import DataError
from spectune.preprocess import BaselineCorrection

_X = np.linspace(0.0, 1.0, 200)
_PEAKS = np.vstack(  # three spectra of Gaussian bands, heights differing
    [
        sum(
            h * np.exp(-(((_X - c) / 0.02) ** 2))
            for h, c in zip(heights, (0.3, 0.55, 0.75), strict=True)
        )
        for heights in [(1.0, 0.6, 0.8), (0.4, 1.0, 0.2), (1.0, 0.0, 0.0)]
    ]
)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("asls", None),
        ("asls", {"lam": 1e5, "p": 0.05}),
        ("arpls", {"lam": 1e4}),
        ("airpls", None),
        ("modpoly", {"poly_order": 3}),
    ],
)
def test_equals_pybaselines(method, params, calibration) -> None:
    expected = np.vstack(
        [row - getattr(Baseline(), method)(row, **(params or {}))[0] for row in calibration[:5]]
    )
    out = BaselineCorrection(method, params=params).fit_transform(calibration[:5])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


# Whittaker smoothers with a 3rd-difference penalty leave any quadratic unpenalised; modpoly
# fits the polynomial itself. Tolerances: the bias each method shows under the bands.
@pytest.mark.parametrize(
    ("method", "params", "tolerance"),
    [
        ("modpoly", {"poly_order": 2, "use_original": True}, 0.035),
        ("arpls", {"lam": 1e5, "diff_order": 3}, 0.005),
        ("asls", {"lam": 1e6, "p": 0.001, "diff_order": 3}, 0.015),
        ("airpls", {"lam": 1e5, "diff_order": 3}, 0.015),
    ],
)
@pytest.mark.parametrize("kind", ["linear", "quadratic"])
def test_recovers_bands_on_a_known_baseline(method, params, tolerance, kind) -> None:
    added = 0.5 + 0.8 * _X if kind == "linear" else 0.2 - 0.6 * _X + 1.1 * _X**2
    assert np.abs(added).min() > 3 * tolerance  # uncorrected, the test would fail
    out = BaselineCorrection(method, params=params).fit_transform(_PEAKS + added)
    np.testing.assert_allclose(out, _PEAKS, atol=tolerance)


def test_bad_method_and_params(calibration) -> None:
    with pytest.raises(ValueError, match=r"'method'.*must be one of 'asls', 'arpls'.*; got 'als'"):
        BaselineCorrection("als").fit(calibration)
    with pytest.raises(
        ValueError, match=r"'params'.*keywords of pybaselines' asls \(lam, p.*; got \['lambda'\]"
    ):
        BaselineCorrection("asls", params={"lambda": 1e5}).fit(calibration)
    with pytest.raises(ValueError, match=r"'params'.*must be a dict or None; got \[1\]"):
        BaselineCorrection("asls", params=[1]).fit(calibration)


def test_too_few_points_for_the_order() -> None:
    with pytest.raises(DataError, match=r"at least 3 points but got 2 feature\(s\).*diff_order=2"):
        BaselineCorrection("arpls").fit(np.ones((3, 2)))
    with pytest.raises(DataError, match=r"at least 5 points but got 4 feature\(s\).*poly_order=4"):
        BaselineCorrection("modpoly", params={"poly_order": 4}).fit(np.ones((3, 4)))
