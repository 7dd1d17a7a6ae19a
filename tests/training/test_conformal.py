"""Cross-conformal intervals from out-of-fold residuals: the quantile, coverage, model files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

from spectune.data import make_synthetic
from spectune.exceptions import DataError, ModelFileError, SpectuneError
from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._conformal import (
    ConformalSet,
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
def problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, SpectralNetwork]:
    """Two targets; out-of-fold predictions of 60 spectra and a network refitted on them."""
    spectra, _ = make_synthetic(100, 40, n_targets=2, n_components=3, random_state=0)
    X, y = spectra.flat_X(), spectra.y
    oof = np.concatenate([_fit(X[train], y[train]).predict(X[test]) for train, test in
                          KFold(3).split(X[:60])])
    return X, y, oof, _fit(X[:60], y[:60])


def _half_width(residuals: np.ndarray, level: float) -> np.ndarray:
    """The conformal quantile by hand: the ceil((n + 1) * level)-th smallest |residual|."""
    k = math.ceil((len(residuals) + 1) * level)
    return np.sort(np.abs(residuals), axis=0)[k - 1]


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_intervals_are_the_conformal_quantile_of_the_residuals_per_target(problem, level) -> None:
    X, y, oof, net = problem
    conformal = ConformalSet(oof, y[:60], "out of fold")
    prediction = net.predict(X[60:])
    lower, upper = conformal_intervals(prediction, conformal, level)
    q = _half_width(y[:60] - oof, level)  # one width per target
    np.testing.assert_allclose(upper - prediction, np.broadcast_to(q, prediction.shape),
                               rtol=1e-9)
    np.testing.assert_allclose(prediction - lower, np.broadcast_to(q, prediction.shape),
                               rtol=1e-9)
    np.testing.assert_allclose(conformal.half_widths(level), q, rtol=1e-9)


def test_intervals_widen_with_the_level_and_hold_the_prediction(problem) -> None:
    X, y, oof, net = problem
    conformal = ConformalSet(oof, y[:60], "out of fold")
    prediction = net.predict(X[60:])
    widths = []
    for level in (0.5, 0.8, 0.95):
        lower, upper = conformal_intervals(prediction, conformal, level)
        assert ((lower <= prediction) & (prediction <= upper)).all()
        widths.append(upper - lower)
    assert (widths[0] > 0).all()
    assert (widths[1] > widths[0]).all() and (widths[2] > widths[1]).all()


def test_coverage_at_0_9_over_repeated_data_sets() -> None:
    """Cross-conformal (K-fold residuals, refitted model) covers about 0.9 on new data; its
    models see 4/5 of the data, so the refit's residuals are a little smaller: >= 0.87."""
    covered = []
    for seed in range(10):
        spectra, _ = make_synthetic(300, 40, noise=0.01, random_state=seed)
        X, y = spectra.flat_X().astype(float), spectra.y
        model = Ridge(alpha=1e-3)
        oof = cross_val_predict(model, X[:200], y[:200], cv=KFold(5, shuffle=True,
                                                                  random_state=seed))
        lower, upper = conformal_intervals(model.fit(X[:200], y[:200]).predict(X[200:]),
                                           ConformalSet(oof, y[:200], "oof"), 0.9)
        covered.append(coverage(y[200:], lower, upper))
    assert 0.87 <= np.mean(covered) <= 0.95, covered


def test_coverage_counts_the_values_inside_the_bounds() -> None:
    y = np.array([[1.0, 5.0], [2.0, 0.0], [3.0, 1.0]])
    lower = np.array([[0.0, 5.0], [2.5, -1], [2, 0]])
    upper = np.array([[1.0, 6], [3, 1], [4, 0.5]])
    inside = [[True, True], [False, True], [True, False]]  # bounds included
    assert coverage(y, lower, upper) == pytest.approx(np.mean(inside))
    assert coverage(y[:, 0], lower[:, :1], upper[:, :1]) == pytest.approx(2 / 3)


def test_saved_folder_keeps_the_residuals_and_centres_on_its_prediction(problem, tmp_path: Path
                                                                       ) -> None:
    X, y, oof, net = problem
    conformal = ConformalSet(oof, y[:60], "out-of-fold predictions (3 folds)")
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"],
               conformal=conformal)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conformal.safetensors", "model.json", "model.safetensors"]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["conformal"] == {
        "file": "conformal.safetensors", "source": "out-of-fold predictions (3 folds)",
        "n_samples": 60, "shapes": {"predictions": [60, 2], "y": [60, 2]}}
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(loaded.conformal.predictions, oof)
    prediction, lower, upper = predict_interval(loaded, X[60:], 0.8)
    np.testing.assert_array_equal(prediction, net.predict(X[60:]))
    expected = conformal_intervals(prediction, conformal, 0.8)
    np.testing.assert_array_equal(lower, expected[0])
    np.testing.assert_array_equal(upper, expected[1])


def test_conformal_set_refusals() -> None:
    with pytest.raises(DataError, match=r"predictions of shape \(20, 1\) and y of shape \(19, 1\)"):
        ConformalSet(np.zeros(20), np.zeros(19), "x")
    bad = np.zeros((20, 1))
    bad[3] = np.nan
    with pytest.raises(DataError, match="NaN or inf"):
        ConformalSet(bad, np.zeros(20), "x")


def test_bad_levels_and_too_few_residuals_are_refused(problem) -> None:
    _, y, oof, _ = problem
    conformal = ConformalSet(oof[:10], y[:10], "ten spectra")
    for level in (0.0, 1.0, 1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"strictly between 0 and 1 .*got"):
            conformal_intervals(oof[:3], conformal, level)
    with pytest.raises(DataError, match=r"level 0.95 needs at least 20 .*has 10, enough for "
                                        r"levels from 0.1 to 0.9"):
        conformal_intervals(oof[:3], conformal, 0.95)


def test_saving_refuses_conformal_data_that_cannot_serve(problem, tmp_path: Path) -> None:
    X, y, oof, net = problem
    with pytest.raises(ValueError, match=r"conformal data of 1 target\(s\); the model has 2"):
        save_model(tmp_path, [net], conformal=ConformalSet(oof[:, :1], y[:60, :1], "x"),
                   wavelengths=np.arange(40), target_names=["a", "b"])
    labels = np.array(["a", "b"])[(y[:40, 0] > np.median(y[:40, 0])).astype(int)]
    classifier = fit_network(X[:40], labels, preprocessing=PreprocessingSpec(),
                             arch=MLP(units=(4,)), config=TrainConfig(max_epochs=1),
                             task="classification")
    with pytest.raises(ValueError, match="for regression models; these members classify"):
        save_model(tmp_path, [classifier], conformal=ConformalSet(oof[:, :1], y[:60, :1], "x"),
                   wavelengths=np.arange(40), target_names=["class"])


def test_a_model_without_residuals_says_how_to_get_them(problem, tmp_path: Path) -> None:
    X, _, _, net = problem
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"])
    with pytest.raises(SpectuneError, match=r"holds no out-of-fold residuals.*spectune tune"):
        predict_interval(load_model(tmp_path), X, 0.9)


def test_damaged_conformal_data_are_refused(problem, tmp_path: Path) -> None:
    _, y, oof, net = problem
    save_model(tmp_path, [net], wavelengths=np.arange(40), target_names=["a", "b"],
               conformal=ConformalSet(oof, y[:60], "held out"))
    arrays = load_file(str(tmp_path / "conformal.safetensors"))
    save_file({"predictions": arrays["predictions"][:30], "y": arrays["y"]},
              str(tmp_path / "conformal.safetensors"))
    with pytest.raises(ModelFileError, match=r"model\.json and conformal\.safetensors disagree"):
        load_model(tmp_path)
    (tmp_path / "conformal.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"conformal\.safetensors: cannot be read"):
        load_model(tmp_path)
