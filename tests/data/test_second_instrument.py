"""The simulated second instrument: each distortion is what it claims, on the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from spectune.data import (
    InstrumentResponse,
    make_instrument_pair,
    make_synthetic,
    simulate_instrument,
)

QUIET = {"noise": 0.0}


def _clean(n: int = 20, points: int = 80):
    return make_synthetic(n, points, noise=0.0, random_state=3)[0]


def test_pair_is_the_same_samples_on_two_instruments() -> None:
    a, b, truth = make_instrument_pair(30, 50, second=InstrumentResponse(gain=1.2),
                                       random_state=1)
    clean = make_synthetic(30, 50, noise=0.0, random_state=1)[0]
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.y[:, 0], truth.concentrations[:, 0])
    # the first instrument is plain: the clean samples plus its own noise of sd 0.002
    assert np.std(a.X - clean.X) == pytest.approx(0.002, rel=0.1)
    # the second applies its gain to the same samples, with noise of its own
    residual_b = b.X - 1.2 * clean.X
    assert np.std(residual_b) == pytest.approx(0.002, rel=0.1)
    assert abs(np.corrcoef((a.X - clean.X).ravel(), residual_b.ravel())[0, 1]) < 0.05


def test_same_seed_same_pair() -> None:
    second = InstrumentResponse(shift=5.0, broadening=10.0, baseline=0.01)
    first = make_instrument_pair(10, 40, second=second, random_state=4)
    again = make_instrument_pair(10, 40, second=second, random_state=4)
    for x, y in zip(first[:2], again[:2], strict=True):
        np.testing.assert_array_equal(x.X, y.X)


def test_gain_offset_and_baseline_are_exact() -> None:
    clean = _clean()
    response = InstrumentResponse(gain=1.1, offset=0.03, baseline=0.02, **QUIET)
    measured = simulate_instrument(clean, response).X[:, 0]
    wl = clean.wavelengths
    x = (wl - wl.mean()) / ((wl.max() - wl.min()) / 2)  # -1 .. 1 on an even grid
    np.testing.assert_allclose(measured, 1.1 * clean.X[:, 0] + 0.03 + 0.02 * x**2,
                               rtol=1e-6, atol=1e-7)


def test_shift_reads_the_spectrum_further_along_the_axis() -> None:
    clean = _clean()
    wl = clean.wavelengths
    step = wl[1] - wl[0]
    measured = simulate_instrument(clean, InstrumentResponse(shift=2 * step, **QUIET)).X[:, 0]
    # two whole points: the value reported at point j is the true one at point j + 2
    np.testing.assert_allclose(measured[:, :-2], clean.X[:, 0, 2:], rtol=1e-6, atol=1e-7)
    half = simulate_instrument(clean, InstrumentResponse(shift=step / 2, **QUIET)).X[:, 0]
    np.testing.assert_allclose(half[:, :-1], (clean.X[:, 0, :-1] + clean.X[:, 0, 1:]) / 2,
                               rtol=1e-5, atol=1e-6)


def test_broadening_is_a_gaussian_line_shape() -> None:
    clean = _clean()
    step = clean.wavelengths[1] - clean.wavelengths[0]
    measured = simulate_instrument(clean, InstrumentResponse(broadening=3 * step, **QUIET)).X
    expected = gaussian_filter1d(clean.X[:, 0].astype(np.float64), 3.0, axis=-1, mode="nearest")
    np.testing.assert_allclose(measured[:, 0], expected, rtol=1e-5, atol=1e-6)
    # a wider line shape lowers and widens the bands: the peak drops, the area stays
    assert measured.max(axis=-1).mean() < clean.X.max(axis=-1).mean()
    np.testing.assert_allclose(measured.sum(axis=-1), clean.X.sum(axis=-1), rtol=0.02)


def test_noise_has_its_size() -> None:
    clean = _clean(200, 60)
    measured = simulate_instrument(clean, InstrumentResponse(noise=0.01), random_state=0)
    assert np.std(measured.X - clean.X) == pytest.approx(0.01, rel=0.05)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="broadening and noise"):
        InstrumentResponse(noise=-1.0)
    with pytest.raises(TypeError, match="noise belongs to each instrument"):
        make_instrument_pair(10, 20, second=InstrumentResponse(), noise=0.1)
