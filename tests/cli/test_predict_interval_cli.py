"""``spectune predict --interval LEVEL``: conformal bounds from the model folder, and refusals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main
from spectune.data import make_synthetic
from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._conformal import ConformalSet, predict_interval
from spectune.training._files import load_model, save_model
from spectune.training._network import fit_network

CONFIG = TrainConfig(max_epochs=5, batch_size=16, seed=0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """new.csv (spectra to predict) and three model folders: with, without conformal data, and
    a classifier. Models are fitted on spectra 0-39; the intervals' residuals are those of
    spectra 40-69, which they never saw."""
    root = tmp_path_factory.mktemp("interval")
    spectra, _ = make_synthetic(90, 30, n_targets=2, n_components=3, random_state=0)
    X, y, wl = spectra.flat_X(), spectra.y, spectra.wavelengths
    table = pd.DataFrame(X[70:], columns=[f"{w:.4f}" for w in wl])
    table.insert(0, "sample", spectra.ids[70:])
    table.to_csv(root / "new.csv", index=False)
    fit = {"preprocessing": PreprocessingSpec(("snv",)), "arch": MLP(units=(8,)),
           "config": CONFIG}
    net = fit_network(X[:40], y[:40], **fit)
    names = list(spectra.target_names)
    save_model(root / "with", [net], wavelengths=wl, target_names=names,
               conformal=ConformalSet(net.predict(X[40:70]), y[40:70], "held out"))
    save_model(root / "without", [net], wavelengths=wl, target_names=names)
    labels = np.where(y[:40, 0] > np.median(y[:40, 0]), "high", "low")
    classifier = fit_network(X[:40], labels, task="classification", **fit)
    save_model(root / "classifier", [classifier], wavelengths=wl, target_names=["class"])
    return {"root": root, "new": root / "new.csv", "with": root / "with",
            "without": root / "without", "classifier": root / "classifier"}


def _run(*args: str | Path) -> int:
    return main(["predict", *(str(a) for a in args)])


def test_interval_adds_lower_and_upper_columns_per_target(folders, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    assert _run(folders["with"], folders["new"], "--id-column", "sample", "--interval", "0.8",
                "--out", out) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["sample", "pred_c0", "pred_c1", "lower_c0", "upper_c0",
                                   "lower_c1", "upper_c1"]
    X = pd.read_csv(folders["new"]).drop(columns="sample").to_numpy()
    center, lower, upper = predict_interval(load_model(folders["with"]), X, 0.8)
    for i, name in enumerate(("c0", "c1")):
        np.testing.assert_allclose(table[f"pred_{name}"], center[:, i], rtol=1e-6)
        np.testing.assert_allclose(table[f"lower_{name}"], lower[:, i], rtol=1e-6)
        np.testing.assert_allclose(table[f"upper_{name}"], upper[:, i], rtol=1e-6)
    assert (table["lower_c0"] < table["pred_c0"]).all() and (
        table["pred_c0"] < table["upper_c0"]).all()


def test_without_interval_no_bounds_are_written(folders, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    assert _run(folders["with"], folders["new"], "--id-column", "sample", "--out", out) == 0
    assert list(pd.read_csv(out).columns) == ["sample", "pred_c0", "pred_c1"]


@pytest.mark.parametrize(
    ("model", "level", "message"),
    [
        ("with", "1.5", r"argument --interval: 1\.5 is not a fraction strictly between 0 and 1"),
        ("with", "0", r"argument --interval: 0 is not a fraction strictly between 0 and 1"),
        ("without", "0.9", (r"--interval with \S*without: the model folder holds no "
                            r"out-of-fold residuals.*`spectune tune` stores them")),
        ("classifier", "0.9", r"prediction intervals are for regression models"),
        ("with", "0.99", (r"level 0\.99 needs at least 100 out-of-fold residuals; the "
                          r"model has 30")),
    ],
    ids=["above 1", "zero", "no conformal data", "classifier", "too few samples"],
)
def test_refusals_print_one_line_exit_2_and_write_nothing(
    folders, tmp_path: Path, capsys: pytest.CaptureFixture, model: str, level: str, message: str
) -> None:
    out = tmp_path / "preds.csv"
    assert _run(folders[model], folders["new"], "--id-column", "sample", "--interval", level,
                "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spectune predict: error:"), err
    assert re.search(message, err), err
    assert not out.exists()
