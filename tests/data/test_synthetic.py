"""Synthetic spectra: deterministic, Beer-Lambert, and the truth they report is the truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.metrics import r2_score

from spectune.data import make_synthetic

CLEAN = {"noise": 0.0, "scatter": 0.0, "baseline": 0.0}


def test_same_seed_same_spectra() -> None:
    a, truth_a = make_synthetic(50, 80, random_state=7)
    b, truth_b = make_synthetic(50, 80, random_state=7)
    c, _ = make_synthetic(50, 80, random_state=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(truth_a.concentrations, truth_b.concentrations)
    assert not np.array_equal(a.X, c.X)


def test_clean_spectra_are_beer_lambert() -> None:
    spectra, truth = make_synthetic(30, 100, random_state=0, **CLEAN)
    wl = truth.wavelengths
    pure = np.exp(-0.5 * ((wl - truth.centres[:, None]) / truth.widths[:, None]) ** 2)
    np.testing.assert_allclose(truth.pure_spectra, pure)
    np.testing.assert_allclose(spectra.X[:, 0], truth.concentrations @ pure, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(spectra.wavelengths, np.linspace(1000, 2500, 100))


def test_target_is_linear_in_component_zero() -> None:
    spectra, truth = make_synthetic(60, 50, random_state=1)
    design = np.column_stack([truth.concentrations, np.ones(60)])
    coef, *_ = np.linalg.lstsq(design, spectra.y[:, 0], rcond=None)
    np.testing.assert_allclose(coef, [1.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_several_targets_are_the_first_concentrations() -> None:
    spectra, truth = make_synthetic(20, 40, n_targets=2, random_state=2)
    np.testing.assert_array_equal(spectra.y, truth.concentrations[:, :2])
    assert spectra.target_names == ("c0", "c1")


def test_noise_scatter_and_baseline_have_their_size() -> None:
    clean, _ = make_synthetic(400, 60, random_state=3, **CLEAN)
    noisy, _ = make_synthetic(400, 60, random_state=3, noise=0.01, scatter=0.0, baseline=0.0)
    assert np.std(noisy.X - clean.X) == pytest.approx(0.01, rel=0.05)
    shifted, _ = make_synthetic(400, 60, random_state=3, noise=0.0, scatter=0.0, baseline=0.1)
    offsets = (shifted.X - clean.X)[:, 0].mean(axis=1)  # the slope averages out over -1..1
    assert np.std(offsets) == pytest.approx(0.1, rel=0.15)


def pls_r2(kind: str) -> float:
    spectra, _ = make_synthetic(300, 120, target_kind=kind, random_state=4)
    X, y = spectra.flat_X(), spectra.y[:, 0]
    model = PLSRegression(n_components=5).fit(X[:200], y[:200])
    return r2_score(y[200:], model.predict(X[200:]).ravel())


def test_nonlinear_targets_defeat_a_linear_model() -> None:
    assert pls_r2("linear") > 0.95
    assert pls_r2("quadratic") < 0.3
    assert pls_r2("interaction") < 0.3


def test_quadratic_and_interaction_formulas() -> None:
    quad, truth = make_synthetic(20, 30, target_kind="quadratic", random_state=5)
    np.testing.assert_allclose(quad.y[:, 0], (truth.concentrations[:, 0] - 0.55) ** 2)
    inter, truth = make_synthetic(20, 30, target_kind="interaction", random_state=5)
    c = truth.concentrations - 0.55
    np.testing.assert_allclose(inter.y[:, 0], c[:, 0] * c[:, 1])


def test_signal_band_places_component_zero() -> None:
    _, truth = make_synthetic(10, 301, signal_band=(1400, 1600), random_state=0)
    assert truth.centres[0] == 1500 and truth.widths[0] == 50
    selected = truth.wavelengths[truth.signal_mask]
    assert selected.min() >= 1400 and selected.max() <= 1600 and selected.size == 41
    assert truth.wavelengths[np.argmax(truth.pure_spectra[0])] == 1500


def test_classes_shift_band_zero() -> None:
    spectra, truth = make_synthetic(60, 200, task="classification", n_classes=3, random_state=6,
                                    **CLEAN)
    assert spectra.task == "classification"
    np.testing.assert_array_equal(np.bincount(spectra.y), [20, 20, 20])
    np.testing.assert_allclose(truth.class_shifts, np.array([0.0, 0.5, 1.0]) * truth.widths[0])
    rest = truth.concentrations[:, 1:] @ truth.pure_spectra[1:]
    band0 = (spectra.X[:, 0] - rest) / truth.concentrations[:, :1]  # the shifted band, c0 = 1
    peaks = truth.wavelengths[np.argmax(band0, axis=1)]
    expected = truth.centres[0] + truth.class_shifts[spectra.y]
    spacing = truth.wavelengths[1] - truth.wavelengths[0]
    np.testing.assert_allclose(peaks, expected, atol=spacing / 2 + 1e-9)
    assert truth.signal_mask[np.searchsorted(truth.wavelengths, peaks)].all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"task": "ranking"}, r"task must be"), ({"target_kind": "cubic"}, r"target_kind must be"),
     ({"n_components": 1, "target_kind": "interaction"}, r"n_components=1 is too few"),
     ({"n_targets": 2, "target_kind": "quadratic"}, r"n_targets=2"),
     ({"noise": -1.0}, r"must be >= 0"), ({"signal_band": (900, 1100)}, r"signal_band must be"),
     ({"n_samples": 5, "task": "classification"}, r"n_samples >= 6"),
     ({"n_classes": 1, "task": "classification"}, r"n_classes must be at least 2")],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)
