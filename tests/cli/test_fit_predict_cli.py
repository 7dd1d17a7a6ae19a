"""``spectune fit`` then ``spectune predict``: the model folder, the predictions CSV, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune._outdir import MARKER
from spectune.cli import main
from spectune.data import make_synthetic, read_table
from spectune.training._files import load_model

ARCH = r"--arch \S*arch\.yaml: "  # how an --arch error starts
FAST = ["--arch", "mlp", "--epochs", "8", "--patience", "4", "--batch-size", "16"]


def _table(path: Path, *, n_targets: int = 1, task: str = "regression",
           grid: np.ndarray | None = None) -> Path:
    """Synthetic spectra as a CSV (``sample``, targets, wavelengths), optionally re-gridded."""
    spectra, _ = make_synthetic(60, 50, task=task, n_targets=n_targets, random_state=0)
    X, wl = spectra.flat_X(), spectra.wavelengths
    if grid is not None:  # the same spectra, measured on another instrument's grid
        X, wl = np.array([np.interp(grid, spectra.wavelengths, row) for row in X]), grid
    table = pd.DataFrame(X, columns=[f"{w:.4f}" for w in wl])
    if task == "classification":
        table.insert(0, "variety", np.array(["arabica", "robusta", "liberica"])[spectra.y])
    else:
        for i, name in enumerate(spectra.target_names):
            table.insert(i, name, spectra.y[:, i])
    table.insert(0, "sample", spectra.ids)
    table.to_csv(path, index=False)
    return path


def _run(*args: str | Path) -> int:
    return main([str(a) for a in args])


def _one_line_error(capsys: pytest.CaptureFixture, command: str, pattern: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"spectune {command}: error:")
    assert re.search(pattern, err), err


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A regression model folder trained on ``train.csv`` (don't refit it in every test)."""
    folder = tmp_path_factory.mktemp("fit")
    train = _table(folder / "train.csv")
    assert _run("fit", train, "--target", "c0", "--id-column", "sample", *FAST,
                "--out", folder / "model") == 0
    return train, folder / "model"


def test_fit_writes_a_model_folder_with_metrics(fitted) -> None:
    _, model = fitted
    assert sorted(p.name for p in model.iterdir()) == [
        MARKER, "domain.json", "domain.safetensors", "metrics.json", "model.json",
        "model.safetensors"]
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["target"] == "c0"
    assert metrics["data"]["n_train"] == 48 and metrics["data"]["n_test"] == 12
    assert metrics["cnn"]["preprocessing"]["routes"] == ["snv"]
    assert metrics["cnn"]["arch"]["conv"] == []  # the MLP preset


def test_predict_writes_ids_and_predictions_matching_the_model(fitted, tmp_path: Path,
                                                               capsys) -> None:
    train, model = fitted
    out = tmp_path / "preds.csv"
    assert _run("predict", model, train, "--id-column", "sample", "--out", out) == 0
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["sample", "pred_c0", "t2", "q", "in_domain"]
    spectra = read_table(train, target="c0", id_column="sample")
    np.testing.assert_array_equal(preds["sample"], spectra.ids)
    expected = load_model(model).predict(spectra.flat_X())[:, 0]
    np.testing.assert_allclose(preds["pred_c0"], expected, rtol=1e-6)
    # the held-out rows' error is the test RMSE that fit reported
    metrics = json.loads((model / "metrics.json").read_text())
    held_out = metrics["data"]["split"]["test_index"]
    error = preds["pred_c0"].to_numpy()[held_out] - spectra.y[held_out, 0]
    np.testing.assert_allclose(np.sqrt(np.mean(error**2)), metrics["cnn"]["test"]["rmse"],
                               rtol=1e-5)
    assert f"wrote 60 predictions to {out}" in capsys.readouterr().out


def test_several_targets_give_one_column_each(tmp_path: Path) -> None:
    train = _table(tmp_path / "train.csv", n_targets=2)
    assert _run("fit", train, "--target", "c0", "--target", "c1", *FAST,
                "--out", tmp_path / "model") == 0
    assert _run("predict", tmp_path / "model", train, "--out", tmp_path / "preds.csv") == 0
    # without --id-column every other column of the table is kept, reference values included
    assert list(pd.read_csv(tmp_path / "preds.csv").columns) == [
        "sample", "c0", "c1", "pred_c0", "pred_c1", "t2", "q", "in_domain"]


def test_classification_gives_the_class_and_one_probability_per_class(tmp_path: Path) -> None:
    train = _table(tmp_path / "train.csv", task="classification")
    assert _run("fit", train, "--target", "variety", "--id-column", "sample", *FAST,
                "--out", tmp_path / "model") == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["task"] == "classification"
    assert _run("predict", tmp_path / "model", train, "--id-column", "sample",
                "--out", tmp_path / "preds.csv") == 0
    preds = pd.read_csv(tmp_path / "preds.csv")
    classes = ["arabica", "liberica", "robusta"]  # sorted, as the model encodes them
    assert list(preds.columns) == ["sample", "pred_class", *[f"proba_{c}" for c in classes],
                                   "t2", "q", "in_domain"]
    proba = preds[[f"proba_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(preds["pred_class"], np.array(classes)[proba.argmax(axis=1)])


def test_another_grid_needs_resample(fitted, tmp_path: Path, capsys) -> None:
    train, model = fitted
    wl = read_table(train, target="c0").wavelengths
    other = _table(tmp_path / "other.csv", grid=np.linspace(wl[0], wl[-1], 73))
    out = tmp_path / "preds.csv"
    assert _run("predict", model, other, "--out", out) == 2
    _one_line_error(capsys, "predict", r"other\.csv: the model was trained on .*--resample")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]

    assert _run("predict", model, other, "--resample", "--out", out) == 0
    # reference: the other file's spectra linearly interpolated back onto the training grid
    spectra = read_table(other)
    back = np.array([np.interp(wl, spectra.wavelengths, row) for row in spectra.flat_X()])
    expected = load_model(model).predict(back.astype(np.float32))[:, 0]
    np.testing.assert_allclose(pd.read_csv(out)["pred_c0"], expected, rtol=1e-5, atol=1e-6)


def test_fit_refuses_a_test_file_on_another_grid(fitted, tmp_path: Path, capsys) -> None:
    train, _ = fitted
    wl = read_table(train, target="c0").wavelengths
    test = _table(tmp_path / "test.csv", grid=np.linspace(wl[0], wl[-1], 73))
    out = tmp_path / "model"
    assert _run("fit", train, "--target", "c0", "--test", test, *FAST, "--out", out) == 2
    _one_line_error(capsys, "fit", r"test\.csv: .*--resample")
    assert not out.exists()
    assert _run("fit", train, "--target", "c0", "--test", test, "--resample", *FAST,
                "--out", out) == 0
    assert json.loads((out / "metrics.json").read_text())["data"]["n_test"] == 60


def test_predict_refuses_to_overwrite(fitted, tmp_path: Path, capsys) -> None:
    train, model = fitted
    out = tmp_path / "preds.csv"
    out.write_text("keep me\n")
    assert _run("predict", model, train, "--out", out) == 2
    _one_line_error(capsys, "predict", r"preds\.csv: file exists; .*--overwrite")
    assert out.read_text() == "keep me\n"
    assert _run("predict", model, train, "--out", out, "--overwrite") == 0
    assert list(pd.read_csv(out).columns) == ["sample", "c0", "pred_c0", "t2", "q", "in_domain"]


def test_predict_refuses_a_folder_that_is_not_a_model(fitted, tmp_path: Path, capsys) -> None:
    train, _ = fitted
    assert _run("predict", tmp_path, train, "--out", tmp_path / "preds.csv") == 2
    _one_line_error(capsys, "predict", r"no model\.json")


@pytest.mark.parametrize(
    ("option", "pattern"),
    [(["--batch-size", "0"], r"argument --batch-size: 0 is out of range; give an integer >= 1"),
     (["--lr", "-1"], r"argument --lr: -1 is out of range; give a number > 0"),
     (["--patience", "0"], r"argument --patience: 0 is out of range; give an integer >= 1")],
)
def test_bad_training_option_gives_one_line_before_reading(tmp_path: Path, capsys,
                                                           option: list[str],
                                                           pattern: str) -> None:
    out = tmp_path / "model"
    # the table does not exist: the option is refused before any data is read
    assert _run("fit", tmp_path / "absent.csv", "--target", "c0", *option, "--out", out) == 2
    _one_line_error(capsys, "fit", pattern)
    assert not out.exists()


@pytest.mark.parametrize(
    ("yaml_text", "pattern"),
    [
        ("preset: passos\nkernel_size: [5\n", f"{ARCH}not valid YAML"),
        ("- 1\n- 2\n", f"{ARCH}expected a mapping, got list"),
        ("preset: resnet\n", f"{ARCH}preset 'resnet' is not one of passos, shen, mlp"),
        ("preset: passos\nkernels: 3\n", f"{ARCH}.*unexpected keyword argument 'kernels'"),
        ("fc:\n  - {units: 8, colour: red}\n",
         f"{ARCH}dense block 1: unknown key\\(s\\) \\['colour'\\]"),
        # valid YAML and keys, but a kernel longer than the 50-point spectra: fails at fit time
        ("conv:\n  - {filters: 2, kernel_size: 99, padding: 0}\nfc:\n  - {units: 4}\n",
         r"conv block 1 \(kernel 99, stride 1\): input length 50 gives output length -48 < 1"),
    ],
    ids=["garbled", "list", "unknown preset", "unknown setting", "unknown key", "too long"],
)
def test_bad_arch_yaml_gives_one_line_and_no_model(fitted, tmp_path: Path, capsys,
                                                   yaml_text: str, pattern: str) -> None:
    train, _ = fitted
    arch = tmp_path / "arch.yaml"
    arch.write_text(yaml_text)
    out = tmp_path / "model"
    assert _run("fit", train, "--target", "c0", "--arch", arch, "--epochs", "2",
                "--out", out) == 2
    _one_line_error(capsys, "fit", pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.yaml"]


def test_arch_yaml_with_a_preset_and_its_settings_is_used(fitted, tmp_path: Path) -> None:
    train, _ = fitted
    arch = tmp_path / "arch.yaml"
    arch.write_text("preset: passos\nkernel_size: 7\nn_dense: 2\n")
    assert _run("fit", train, "--target", "c0", "--arch", arch, "--epochs", "2",
                "--out", tmp_path / "model") == 0
    saved = json.loads((tmp_path / "model" / "metrics.json").read_text())["cnn"]["arch"]
    assert saved["conv"][0]["kernel_size"] == 7 and len(saved["fc"]) == 2
