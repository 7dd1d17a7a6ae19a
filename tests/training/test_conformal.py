"""Conformal intervals: MAPIE's split conformal on stored held-out data, coverage, model files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from spectune.data import make_synthetic
from spectune.exceptions import DataError, ModelFileError, SpectuneError
from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._conformal import (
    ConformalSet,
    conformal_data,
    conformal_intervals,
    coverage,
    predict_interval,
)
from spectune.training._files import load_model, save_model
from spectune.training._network import SpectralNetwork, fit_network


def _fit(X: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 20) -> SpectralNetwork:
    config = TrainConfig(max_epochs=epochs, batch_size=16, lr=3e-3, seed=seed)
    return fit_network(X, y, preprocessing=PreprocessingSpec(("snv",)), arch=MLP(units=(8,)),
                       config=config)


@pytest.fixture(scope="module")
def problem() -> tuple[np.ndarray, np.ndarray, SpectralNetwork]:
    """Two targets; a network fitted on the first 40 spectra (the rest were never fitted)."""
    spectra, _ = make_synthetic(100, 40, n_targets=2, n_components=3, random_state=0)
    X, y = spectra.flat_X(), spectra.y
    return X, y, _fit(X[:40], y[:40])


def _half_width(residuals: np.ndarray, level: float) -> np.ndarray:
    """Split conformal by hand: the ceil((n + 1) * level)-th smallest absolute residual."""
    k = math.ceil((len(residuals) + 1) * level)
    return np.sort(np.abs(residuals), axis=0)[k - 1]


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_intervals_are_the_split_conformal_quantile_per_target(problem, level: float) -> None:
    X, y, net = problem
    conformal = ConformalSet(X[40:80], y[40:80], "held out")
    center, lower, upper = conformal_intervals(net.predict, conformal, X[80:], level)
    np.testing.assert_allclose(center, net.predict(X[80:]), rtol=1e-12)
    q = _half_width(y[40:80] - net.predict(X[40:80]), level)  # one width per target
    np.testing.assert_allclose(upper - center, np.broadcast_to(q, center.shape), rtol=1e-9)
    np.testing.assert_allclose(center - lower, np.broadcast_to(q, center.shape), rtol=1e-9)


def test_intervals_widen_with_the_level(problem) -> None:
    X, y, net = problem
    conformal = ConformalSet(X[40:80], y[40:80], "held out")
    widths = []
    for level in (0.5, 0.8, 0.95):
        _, lower, upper = conformal_intervals(net.predict, conformal, X[80:], level)
        widths.append(upper - lower)
    assert (widths[0] > 0).all()
    assert (widths[1] > widths[0]).all() and (widths[2] > widths[1]).all()


def test_coverage_at_0_9_over_repeated_data_sets() -> None:
    """Split conformal promises >= 0.9 on average (at most 0.9 + 1/(n+1) with n = 100)."""
    covered = []
    for seed in range(10):
        spectra, _ = make_synthetic(300, 40, noise=0.01, random_state=seed)
        X, y = spectra.flat_X(), spectra.y
        net = _fit(X[:100], y[:100], seed=seed, epochs=15)
        conformal = ConformalSet(X[100:200], y[100:200], "held out")
        _, lower, upper = conformal_intervals(net.predict, conformal, X[200:], 0.9)
        covered.append(coverage(y[200:], lower, upper))
    assert 0.85 <= np.mean(covered) <= 0.95, covered


def test_coverage_counts_the_values_inside_the_bounds() -> None:
    y = np.array([[1.0, 5.0], [2.0, 0.0], [3.0, 1.0]])
    lower = np.array([[0.0, 5.0], [2.5, -1], [2, 0]])
    upper = np.array([[1.0, 6], [3, 1], [4, 0.5]])
    inside = [[True, True], [False, True], [True, False]]  # bounds included
    assert coverage(y, lower, upper) == pytest.approx(np.mean(inside))
    assert coverage(y[:, 0], lower[:, :1], upper[:, :1]) == pytest.approx(2 / 3)


def test_saved_folder_keeps_the_data_and_gives_the_same_intervals(problem, tmp_path: Path) -> None:
    X, y, net = problem
    conformal = ConformalSet(X[40:80], y[40:80], "tuning set (40 spectra)")
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"],
               conformal=conformal)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conformal.safetensors", "model.json", "model.safetensors"]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["conformal"] == {
        "file": "conformal.safetensors", "source": "tuning set (40 spectra)", "n_samples": 40,
        "model": "members", "shapes": {"X": [40, 40], "y": [40, 2]}}
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(loaded.conformal.X, X[40:80])
    expected = conformal_intervals(net.predict, conformal, X[80:], 0.8)
    for got, want in zip(predict_interval(loaded, X[80:], 0.8), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_separate_interval_model_centres_the_intervals(problem, tmp_path: Path) -> None:
    """tune's case: the refit predicts, the calibration-only network gives the intervals."""
    X, y, net = problem
    refit = _fit(X[:80], y[:80], seed=1)  # saw the conformal data: must not calibrate
    conformal = ConformalSet(X[40:80], y[40:80], "tuning set")
    save_model(tmp_path, [refit], wavelengths=np.arange(40), target_names=["a", "b"],
               conformal=conformal, interval_members=[net])
    loaded = load_model(tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["conformal"]["model"] == \
        "interval_members"
    np.testing.assert_array_equal(loaded.predict(X[80:]), refit.predict(X[80:]))
    center, _, upper = predict_interval(loaded, X[80:], 0.9)
    np.testing.assert_array_equal(center, net.predict(X[80:]))
    q = _half_width(y[40:80] - net.predict(X[40:80]), 0.9)
    np.testing.assert_allclose(upper - center, np.broadcast_to(q, center.shape), rtol=1e-9)


def test_conformal_data_from_spectra_and_its_refusals() -> None:
    spectra, _ = make_synthetic(20, 30, random_state=0)
    conformal = conformal_data(spectra, "tuning set")
    np.testing.assert_array_equal(conformal.X, spectra.flat_X())
    assert conformal.y.shape == (20, 1) and conformal.source == "tuning set"
    classes, _ = make_synthetic(20, 30, task="classification", random_state=0)
    with pytest.raises(DataError, match=r"conformal intervals are for regression; .*classif"):
        conformal_data(classes, "tuning set")
    with pytest.raises(DataError, match=r"X of shape \(20, 30\) and y of shape \(19, 1\)"):
        ConformalSet(spectra.flat_X(), spectra.y[:19], "x")
    X = spectra.flat_X().copy()
    X[3, 4] = np.nan
    with pytest.raises(DataError, match="NaN or inf"):
        ConformalSet(X, spectra.y, "x")


def test_bad_levels_and_too_small_sets_are_refused(problem) -> None:
    X, y, net = problem
    conformal = ConformalSet(X[40:50], y[40:50], "ten spectra")
    for level in (0.0, 1.0, 1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"strictly between 0 and 1 .*got"):
            conformal_intervals(net.predict, conformal, X[80:], level)
    with pytest.raises(DataError, match=r"level 0.95 needs at least 20 .*has 10, enough for "
                                        r"levels from 0.1 to 0.9"):
        conformal_intervals(net.predict, conformal, X[80:], 0.95)
    with pytest.raises(DataError, match=r"spectra of shape \(39,\) per sample"):
        conformal_intervals(net.predict, conformal, X[80:, :39], 0.5)


def test_saving_refuses_conformal_data_that_cannot_serve(problem, tmp_path: Path) -> None:
    X, y, net = problem
    options = {"wavelengths": np.arange(40), "target_names": ["a", "b"]}
    with pytest.raises(ValueError, match=r"do not fit the model: .*1 channel\(s\) x 40 points, "
                                         r"2 target\(s\)"):
        save_model(tmp_path, [net], conformal=ConformalSet(X[40:80, :30], y[40:80], "x"),
                   **options)
    with pytest.raises(ValueError, match="interval_members without conformal data"):
        save_model(tmp_path, [net], interval_members=[net], **options)
    labels = np.array(["a", "b"])[(y[:40, 0] > np.median(y[:40, 0])).astype(int)]
    classifier = fit_network(X[:40], labels, preprocessing=PreprocessingSpec(),
                             arch=MLP(units=(4,)), config=TrainConfig(max_epochs=1),
                             task="classification")
    with pytest.raises(ValueError, match="for regression models; these members classify"):
        save_model(tmp_path, [classifier], conformal=ConformalSet(X[40:80], y[40:80, :1], "x"),
                   wavelengths=np.arange(40), target_names=["class"])


def test_a_model_without_conformal_data_says_how_to_get_one(problem, tmp_path: Path) -> None:
    X, _, net = problem
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"])
    with pytest.raises(SpectuneError, match=r"holds no conformalization data.*spectune tune"):
        predict_interval(load_model(tmp_path), X, 0.9)


def test_damaged_conformal_data_are_refused(problem, tmp_path: Path) -> None:
    X, y, net = problem
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"],
               conformal=ConformalSet(X[40:80], y[40:80], "held out"))
    arrays = load_file(str(tmp_path / "conformal.safetensors"))
    save_file({"X": arrays["X"][:30], "y": arrays["y"]}, str(tmp_path / "conformal.safetensors"))
    with pytest.raises(ModelFileError, match=r"model\.json and conformal\.safetensors disagree"):
        load_model(tmp_path)
    (tmp_path / "conformal.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"conformal\.safetensors: cannot be read"):
        load_model(tmp_path)
