"""What a user meets on day one: a Kennard-Stone test split, predictions on stdout with their ids
and RMSEP, ``python -m spectune``, a help that answers at once, files other users may read."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main
from spectune.data import kennard_stone, make_synthetic, read_table
from spectune.training._files import load_model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train.csv (sample, y, 40 wavelengths) and a model fitted on it."""
    root = tmp_path_factory.mktemp("day_one")
    spectra = make_synthetic(n_samples=40, n_points=40, random_state=0)[0]
    table = pd.DataFrame(spectra.flat_X(), columns=[f"{w:.2f}" for w in spectra.wavelengths])
    table.insert(0, "y", spectra.y[:, 0])
    table.insert(0, "sample", [f"s{i:03d}" for i in range(40)])
    table.to_csv(root / "train.csv", index=False)
    assert main(["fit", str(root / "train.csv"), "--target", "y", "--arch", "mlp",
                 "--epochs", "3", "--out", str(root / "model")]) == 0
    return {"root": root, "train": root / "train.csv", "model": root / "model"}


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_kennard_stone_split_without_test_file(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ks"
    assert main(["baseline", str(files["train"]), "--target", "y", "--split", "kennard-stone",
                 "--cv", "3", "--max-components", "3", "--out", str(out)]) == 0
    split = json.loads((out / "metrics.json").read_text())["data"]["split"]
    spectra = read_table(files["train"], target="y")
    calibration = kennard_stone(spectra.X.reshape(40, -1), 32)  # 20% of 40 held out
    assert split["method"] == "kennard-stone"
    np.testing.assert_array_equal(split["test_index"],
                                  np.setdiff1d(np.arange(40), calibration))


def test_predict_to_stdout_keeps_ids_and_prints_rmsep(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(files["model"]), str(files["train"]), "--out", "-"]) == 0
    out, err = capsys.readouterr()
    table = pd.read_csv(io.StringIO(out))
    # the ids, without --id-column; then the calibration domain's flags
    assert list(table.columns) == ["sample", "y", "pred_y", "t2", "q", "in_domain"]
    assert list(table["sample"]) == [f"s{i:03d}" for i in range(40)]
    spectra = read_table(files["train"], target="y")
    expected = load_model(files["model"]).predict(spectra.flat_X())[:, 0]
    np.testing.assert_allclose(table["pred_y"], expected, rtol=1e-6)
    rmsep = np.sqrt(np.mean((expected - spectra.y[:, 0]) ** 2))
    assert err == f"RMSEP y {rmsep:.4g} on 40 samples\n"  # on stderr: stdout is the CSV


def test_predict_without_the_target_column_prints_no_score(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.csv"
    pd.read_csv(files["train"]).drop(columns="y").to_csv(new, index=False)
    assert main(["predict", str(files["model"]), str(new), "--out", str(tmp_path / "p.csv")]) == 0
    assert capsys.readouterr().out == f"wrote 40 predictions to {tmp_path / 'p.csv'}\n"
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["sample", "pred_y", "t2", "q",
                                                             "in_domain"]


def _write_jcamp(path: Path, wavelengths: np.ndarray, y: np.ndarray) -> None:
    """One spectrum as plain (AFFN) JCAMP-DX XY pairs."""
    pairs = "\n".join(f"{x:.2f} {v:.9g}" for x, v in zip(wavelengths, y, strict=True))
    path.write_text(f"##TITLE={path.stem}\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n"
                    f"##XUNITS=1/CM\n##YUNITS=ABSORBANCE\n##NPOINTS={len(y)}\n"
                    f"##XYPOINTS=(XY..XY)\n{pairs}\n##END=\n")


def test_fit_and_predict_on_a_folder_of_instrument_files(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's spectra written one JCAMP-DX file each, targets keyed by file name: fit and
    predict read them as they read the table."""
    table = pd.read_csv(files["train"])
    spectra = read_table(files["train"], target="y", id_column="sample")
    folder = tmp_path / "spectra"
    folder.mkdir()
    for name, row in zip(table["sample"], spectra.flat_X(), strict=True):
        _write_jcamp(folder / f"{name}.jdx", spectra.wavelengths, row)
    table[["sample", "y"]].to_csv(tmp_path / "lab.csv", index=False)
    model = tmp_path / "model"
    assert main(["fit", str(folder), "--targets", str(tmp_path / "lab.csv"), "--target", "y",
                 "--arch", "mlp", "--epochs", "3", "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), f"{folder}/*.jdx", "--targets",
                 str(tmp_path / "lab.csv"), "--out", "-"]) == 0
    out, err = capsys.readouterr()
    predicted = pd.read_csv(io.StringIO(out))
    assert list(predicted.columns) == ["sample", "y", "pred_y", "t2", "q", "in_domain"]
    assert list(predicted["sample"]) == list(table["sample"])  # file names, in name order
    expected = load_model(model).predict(spectra.flat_X())[:, 0]
    np.testing.assert_allclose(predicted["pred_y"], expected, rtol=1e-5)
    assert err.startswith("RMSEP y ")


def test_python_dash_m_spectune_runs_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "spectune", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("spectune ")


def test_help_imports_neither_torch_nor_pandas() -> None:
    """``spectune --help`` answers at once because it loads no heavy library (measured with
    ``python -X importtime``: torch alone takes about a second)."""
    code = ("import sys, spectune.cli as cli\n"
            "assert 'torch' not in sys.modules\n"
            "assert cli.main(['--help']) == 0\n"
            "heavy = [m for m in ('torch', 'pandas', 'sklearn', 'optuna') if m in sys.modules]\n"
            "print(heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "tune" in done.stdout and "predict" in done.stdout  # the commands are listed


def test_output_files_have_the_usual_permissions(files: dict[str, Path], tmp_path: Path,
                                                 umask_022: None) -> None:
    out = tmp_path / "run"
    assert main(["baseline", str(files["train"]), "--target", "y", "--cv", "3",
                 "--max-components", "3", "--out", str(out)]) == 0
    assert main(["predict", str(files["model"]), str(files["train"]),
                 "--out", str(tmp_path / "preds.csv")]) == 0
    for path in (out, out / "metrics.json", tmp_path / "preds.csv"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
