"""Model figures: each info function against a reference, each drawer writes PNG and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics as skm

from spectune.analysis import (
    GradCamInfo,
    PLSCoefficientsInfo,
    get_comparison_info,
    get_confusion_info,
    get_pred_obs_info,
    get_spectra_info,
    get_training_curves_info,
    plot_comparison,
    plot_confusion,
    plot_explanation,
    plot_pred_obs,
    plot_spectra,
    plot_training_curves,
)
from spectune.analysis._pls_plots import plot_pls_coefficients
from spectune.data import make_synthetic
from spectune.exceptions import DataError
from spectune.models import ArchSpec, DenseBlock
from spectune.preprocess import make_route
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._config import TrainConfig
from spectune.training._history import History
from spectune.training._network import fit_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_written(files: list[Path]) -> None:
    png, svg = files
    assert png.suffix == ".png" and png.read_bytes()[:8] == PNG_MAGIC
    assert ET.parse(svg).getroot().tag.endswith("svg")


def _history() -> History:
    history = History("rmse")
    lrs = [1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3]
    for epoch, (train, val, lr) in enumerate(zip([1.0, 0.6, 0.4, 0.3, 0.25],
                                                 [1.1, 0.7, 0.5, 0.55, 0.6], lrs, strict=True)):
        history.append(epoch, train_loss=train, val_loss=val, lr=lr, val_metric=val, time=0.1)
    return history


def _regression_sets(n_targets: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    sets = {}
    for name, n in (("calibration", 30), ("tuning", 10), ("test", 12)):
        true = rng.normal(5.0, 2.0, size=(n, n_targets))
        sets[name] = (true, true + rng.normal(0.0, 0.5, size=true.shape))
    return sets


def test_training_curves_info_marks_lr_steps_and_best_epoch() -> None:
    info = get_training_curves_info(_history(), name="refit")
    np.testing.assert_array_equal(info.epochs, np.arange(5))
    np.testing.assert_array_equal(info.lr_steps, [2, 4])  # the epochs whose rate changed
    assert info.best_epoch == 2  # lowest tuning loss
    assert get_training_curves_info(_history(), best_epoch=4).best_epoch == 4
    # a refit without tuning data: no tuning curve, no best epoch; JSON form accepted
    data = _history().as_dict()
    data["val_loss"] = [None] * 5
    bare = get_training_curves_info(data)
    assert np.isnan(bare.val_loss).all() and bare.best_epoch is None


def test_pred_obs_info_residuals_limits_and_metrics() -> None:
    sets = _regression_sets(n_targets=2)
    info = get_pred_obs_info(sets, target_names=["fat", "protein"])
    for name, (true, pred) in sets.items():
        np.testing.assert_allclose(info.residuals[name], pred - true)
        for j in range(2):
            t, p = true[:, j], pred[:, j]
            rmse = skm.root_mean_squared_error(t, p)
            assert info.metrics[name][j]["rmse"] == pytest.approx(rmse)
            assert info.metrics[name][j]["r2"] == pytest.approx(skm.r2_score(t, p))
    everything = np.concatenate([a for pair in sets.values() for a in pair])
    assert np.all(info.limits[:, 0] < everything.min(axis=0))  # the 1:1 line covers all points
    assert np.all(info.limits[:, 1] > everything.max(axis=0))


def test_pred_obs_info_rejects_mismatched_sets() -> None:
    with pytest.raises(DataError, match="set 'test': y_true has shape"):
        get_pred_obs_info({"test": (np.zeros(4), np.zeros(3))})
    with pytest.raises(ValueError, match="target_names has 2 names for 1 targets"):
        get_pred_obs_info({"test": (np.zeros(4), np.zeros(4))}, target_names=["a", "b"])
    one = get_pred_obs_info({"test": (np.ones(1), np.ones(1))})
    assert one.metrics["test"] == [None]  # too few samples for metrics
    assert one.limits[0, 0] < 1.0 < one.limits[0, 1]


def test_confusion_info_equals_sklearn() -> None:
    true = np.array(["a", "b", "a", "c", "c", "a"])
    pred = np.array(["a", "b", "b", "c", "a", "a"])
    info = get_confusion_info(true, pred)
    np.testing.assert_array_equal(info.labels, ["a", "b", "c"])
    np.testing.assert_array_equal(info.counts, skm.confusion_matrix(true, pred))
    np.testing.assert_allclose(info.normalised, info.counts / info.counts.sum(axis=1)[:, None])
    empty_row = get_confusion_info(true, pred, labels=["a", "b", "c", "d"])
    np.testing.assert_array_equal(empty_row.normalised[3], 0.0)


def test_comparison_info_scores_equal_sklearn() -> None:
    true, pred = _regression_sets()["test"]
    info = get_comparison_info(true, {"PLS": pred, "CNN": pred + 0.1})
    assert info.model_names == ("PLS", "CNN")
    rmse = skm.root_mean_squared_error(true, pred + 0.1)
    assert info.scores["CNN"]["rmse"] == pytest.approx(rmse)
    assert info.scores["PLS"]["r2"] == pytest.approx(skm.r2_score(true, pred))
    labels = np.array(["a", "a", "a", "b"])
    guesses = {"PLS-DA": np.array(["a", "a", "b", "b"]), "CNN": np.array(["a", "a", "a", "a"])}
    classes = get_comparison_info(labels, guesses, task="classification")
    assert classes.pred_obs is None
    for model, guess in guesses.items():
        assert classes.scores[model] == pytest.approx({
            "accuracy": skm.accuracy_score(labels, guess),
            "balanced_accuracy": skm.balanced_accuracy_score(labels, guess),
            "f1_macro": skm.f1_score(labels, guess, average="macro", zero_division=0),
        })
    with pytest.raises(ValueError, match="task must be"):
        get_comparison_info(labels, guesses, task="ranking")


def test_raw_spectra_info_mean_sd_and_sampled_curves() -> None:
    spectra, _ = make_synthetic(30, 50, random_state=0)
    info = get_spectra_info(spectra, n_curves=5, random_state=1)
    X = spectra.X[:, 0]
    np.testing.assert_allclose(info.mean[0], X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(info.sd[0], X.std(axis=0, ddof=1), rtol=1e-5)
    chosen = np.sort(np.random.default_rng(1).choice(30, 5, replace=False))
    np.testing.assert_array_equal(info.curves[0], X[chosen])
    np.testing.assert_array_equal(info.colour_values, spectra.y[chosen, 0])
    assert info.colour_kind == "continuous" and info.panel_names == ("raw",)
    labels = get_spectra_info(spectra.X, y=np.array(["p", "q"] * 15), n_curves=4)
    assert labels.colour_kind == "classes"
    with pytest.raises(ValueError, match="n_curves must be"):
        get_spectra_info(spectra, n_curves=-1)


@pytest.mark.parametrize("combine", ["concat", "stack"])
def test_route_panels_one_per_route_equal_each_route(combine: str) -> None:
    spectra, _ = make_synthetic(20, 40, random_state=0)
    spec = PreprocessingSpec(("raw", "snv", "sg1"), combine)
    info = get_spectra_info(spectra, preprocessing=spec, n_curves=3)
    assert info.panel_names == ("raw", "snv", "sg1")  # standardisation is not a panel
    for r, name in enumerate(info.panel_names):
        alone = make_route(name).fit_transform(spectra.X[:, 0])
        np.testing.assert_allclose(info.mean[r], alone.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(info.wavelengths, spectra.wavelengths)


def test_route_panels_of_a_fitted_network_and_of_two_channels() -> None:
    spectra, _ = make_synthetic(20, 40, random_state=0)
    spec = PreprocessingSpec(("raw", "snv"), "concat")
    network = fit_network(spectra.X, spectra.y, preprocessing=spec,
                          arch=ArchSpec(fc=(DenseBlock(4),)),
                          config=TrainConfig(max_epochs=1))
    info = get_spectra_info(spectra.X, preprocessing=network, n_curves=2)
    assert info.panel_names == ("raw", "snv")
    np.testing.assert_allclose(info.mean[1], make_route("snv").fit_transform(
        spectra.X[:, 0]).mean(axis=0), rtol=1e-5, atol=1e-7)
    two = np.concatenate([spectra.X, 2 * spectra.X], axis=1)  # [n, 2, P]
    stacked = get_spectra_info(two, preprocessing=PreprocessingSpec(("raw", "snv"), "stack"))
    assert stacked.panel_names == ("raw/channel 0", "raw/channel 1", "snv/channel 0",
                                   "snv/channel 1")
    np.testing.assert_allclose(stacked.mean[1], two[:, 1].mean(axis=0), rtol=1e-6)


def test_every_drawer_writes_png_and_svg(tmp_path: Path) -> None:
    info = get_training_curves_info(_history(), name="best trial")
    _assert_written(plot_training_curves([info, info._replace(name="refit")],
                                         tmp_path / "curves"))
    sets = _regression_sets(n_targets=2)
    _assert_written(plot_pred_obs(get_pred_obs_info(sets), tmp_path / "pred_obs.png"))
    true, pred = sets["test"]
    _assert_written(plot_comparison(get_comparison_info(true, {"PLS": pred, "CNN": pred}),
                                    tmp_path / "compare"))
    labels = np.array(["a", "b", "a", "c"])
    _assert_written(plot_comparison(get_comparison_info(labels, {"PLS-DA": labels},
                                                        task="classification"),
                                    tmp_path / "compare_classes"))
    _assert_written(plot_confusion(get_confusion_info(labels, labels[::-1]),
                                   tmp_path / "confusion"))
    spectra, _ = make_synthetic(20, 40, random_state=0)
    _assert_written(plot_spectra(get_spectra_info(spectra, n_curves=4), tmp_path / "raw"))
    classes = get_spectra_info(spectra, y=np.repeat(["p", "q"], 10), n_curves=4)
    _assert_written(plot_spectra(classes, tmp_path / "raw_classes"))
    routes = get_spectra_info(spectra, preprocessing=PreprocessingSpec(("raw", "sg2")),
                              n_curves=0)
    _assert_written(plot_spectra(routes, tmp_path / "routes"))


def test_explanation_and_pls_drawers_write_png_and_svg(tmp_path: Path) -> None:
    wl = np.linspace(1000, 2500, 40)
    cam = np.abs(np.sin(np.vstack([wl, 2 * wl]) / 100))
    info = GradCamInfo(wl, cam, np.ones((1, 40)), ("raw", "snv"), "hires_cam", 0, 7)
    _assert_written(plot_explanation(info, tmp_path / "cam"))
    _assert_written(plot_explanation([("low y", info), ("high y", info)], tmp_path / "groups"))
    pls = PLSCoefficientsInfo(wl, np.ones((2, 1, 40)), np.ones((1, 40)), ("snv+sg1",),
                              ("fat", "protein"), "wavelength (preprocessed spectra)", 3)
    _assert_written(plot_pls_coefficients(pls, tmp_path / "pls"))
