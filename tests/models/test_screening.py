"""Calibration outlier screening: planted outliers are found, clean data mostly kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from spectune.data import make_synthetic
from spectune.models import ApplicabilityDomain, screen_outliers


def _spectra(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    spectra, _ = make_synthetic(60, 100, random_state=seed)
    return spectra.flat_X().astype(np.float64), spectra.y[:, 0].astype(np.float64)


def _band(centre: float) -> np.ndarray:
    return np.exp(-0.5 * ((np.arange(100) - centre) / 3.0) ** 2)


def test_planted_spectral_and_reference_outliers_are_flagged_by_their_rule() -> None:
    # Arrange: two spectra with a band no other has, two reference values off by 8 sd
    X, y = _spectra()
    X[[5, 40]] += 0.3 * _band(30)
    y[12] += 8 * y.std()
    y[33] -= 8 * y.std()
    # Act
    outliers, report = screen_outliers(X, y)
    # Assert
    assert {5, 40} <= set(report["rules"]["q"]["flagged"])
    assert {12, 33} <= set(report["rules"]["y_residual"]["flagged"])
    assert report["outliers"] == np.flatnonzero(outliers).tolist()
    assert report["n_outliers"] <= 4 + 3  # the planted four, and few others
    json.dumps(report)  # goes into metrics.json as is


def test_clean_data_are_mostly_kept() -> None:
    flagged = [screen_outliers(*_spectra(seed), max_components=8)[0].mean() for seed in range(3)]
    assert np.mean(flagged) <= 0.05


def test_limits_are_the_documented_quantiles() -> None:
    X, y = _spectra(1)
    _, report = screen_outliers(X, y, confidence=0.99, max_components=8)
    rules = report["rules"]
    assert rules["y_residual"]["limit"] == pytest.approx(stats.norm.ppf(0.995))
    domain = ApplicabilityDomain("snv", confidence=0.99).fit(X)
    assert rules["t2"]["limit"] == pytest.approx(domain.t2_limit_)
    cube = np.cbrt(domain.cv_q_)
    mad_sd = 1.4826 * np.median(np.abs(cube - np.median(cube)))
    expected = (np.median(cube) + stats.norm.ppf(0.99) * mad_sd) ** 3
    assert rules["q"]["limit"] == pytest.approx(expected)
    flagged_q = np.flatnonzero(domain.cv_q_ > expected).tolist()
    assert rules["q"]["flagged"] == flagged_q


def test_without_targets_only_the_spectral_rules_run() -> None:
    X, _ = _spectra()
    X[7] += 0.3 * _band(70)
    outliers, report = screen_outliers(X)
    assert set(report["rules"]) == {"t2", "q"} and outliers[7]


def test_class_labels_are_refused_in_one_line() -> None:
    X, _ = _spectra()
    with pytest.raises(ValueError, match="one number per spectrum .*None for classes"):
        screen_outliers(X, np.array(["a", "b"] * 30))
