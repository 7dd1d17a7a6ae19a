"""Shared spectra for the preprocessing tests: small, smooth, reflectance-like, deterministic."""

from __future__ import annotations

import numpy as np
import pytest


def make_reflectance(n: int, points: int, seed: int) -> np.ndarray:
    """Reflectance-like spectra in (0, 1): one smooth shape with scatter (offset, scale), noise."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, points)
    shape = 0.5 + 0.2 * np.sin(2 * np.pi * x) + 0.1 * np.exp(-(((x - 0.6) / 0.05) ** 2))
    offset = rng.uniform(-0.1, 0.1, size=(n, 1))
    scale = rng.uniform(0.8, 1.2, size=(n, 1))
    return offset + scale * shape + rng.normal(0.0, 0.005, size=(n, points))


@pytest.fixture
def calibration() -> np.ndarray:
    """30 calibration spectra of 64 points."""
    return make_reflectance(30, 64, seed=1)


@pytest.fixture
def test_spectra() -> np.ndarray:
    """10 other spectra on the same grid, drawn apart from the calibration set."""
    return make_reflectance(10, 64, seed=2) * 1.1


@pytest.fixture
def spectra3d() -> np.ndarray:
    """20 spectra of 3 channels x 48 points; channels differ in level so per-channel work shows."""
    channels = [make_reflectance(20, 48, seed=seed) * (0.5 + 0.2 * seed) for seed in (3, 4, 5)]
    return np.stack(channels, axis=1)
