"""``spectune lr-find``: the LR range test on the training part, its JSON and its curve."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune._outdir import MARKER
from spectune.cli import main
from spectune.data import make_synthetic


def _csv(path: Path, task: str = "regression", seed: int = 0, scale: float = 1.0) -> Path:
    """Synthetic spectra as a user's table: ``sample``, the target, one column per wavelength."""
    spectra, _ = make_synthetic(80, 60, task=task, random_state=seed)
    columns = [f"{w:.3f}" for w in spectra.wavelengths]
    table = pd.DataFrame(scale * spectra.flat_X(), columns=columns)
    table.insert(0, "target", spectra.y if task == "classification" else spectra.y[:, 0])
    table.insert(0, "sample", spectra.ids)
    table.to_csv(path, index=False)
    return path


def _lr_find(train: Path, out: Path, *extra: str) -> int:
    return main(["lr-find", str(train), "--target", "target", "--id-column", "sample",
                 "--steps", "40", "--lr-range", "1e-5:10", "--out", str(out), *extra])


def test_writes_the_curve_and_prints_the_rates(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lr"
    assert _lr_find(_csv(tmp_path / "train.csv"), out) == 0
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "lr_range.json", "lr_range.png",
                                                     "lr_range.svg"]
    found = json.loads((out / "lr_range.json").read_text())
    assert 0 < found["lr_min"] <= found["lr_max"] < 10
    n = len(found["losses"])
    np.testing.assert_allclose(found["lrs"], np.geomspace(1e-5, 10, 40)[:n])
    assert len(found["smoothed"]) == n - (found["diverged_at"] is not None)
    printed = capsys.readouterr().out
    assert f"LR_min = {found['lr_min']:.3g}" in printed
    assert f"LR_max = {found['lr_max']:.3g}" in printed
    settings = found["settings"]
    assert settings["steps"] == 40 and settings["lr_start"] == 1e-5
    assert settings["arch"]["conv"][0]["filters"] == 1  # the Passos base model
    # the range test saw the training part only: calibration + validation + test = all
    assert settings["data"]["n_test"] == 16
    assert settings["n_cal"] + settings["n_val"] == settings["data"]["n_train"] == 64
    assert settings["n_val"] == int(np.ceil(0.2 * 64))
    assert (out / "lr_range.png").read_bytes()[:4] == b"\x89PNG"
    assert "LR_max" in (out / "lr_range.svg").read_text()


def test_the_test_file_is_never_used(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.csv")
    results = []
    for name, seed, scale in (("a.csv", 1, 1.0), ("b.csv", 2, 5.0)):
        test = _csv(tmp_path / name, seed=seed, scale=scale)
        assert _lr_find(train, tmp_path / f"lr_{name}", "--test", str(test)) == 0
        results.append(json.loads((tmp_path / f"lr_{name}" / "lr_range.json").read_text()))
    # entirely different test spectra, same curve to the bit
    assert results[0]["losses"] == results[1]["losses"]
    assert results[0]["settings"]["n_cal"] + results[0]["settings"]["n_val"] == 80


def test_classification_uses_the_cross_entropy(tmp_path: Path) -> None:
    out = tmp_path / "lr"
    train = _csv(tmp_path / "train.csv", task="classification")
    assert _lr_find(train, out, "--task", "classification", "--arch", "mlp") == 0
    found = json.loads((out / "lr_range.json").read_text())
    assert found["settings"]["arch"]["n_outputs"] == 3
    # untrained softmax over 3 balanced classes: cross entropy near log(3) at the smallest LR
    assert abs(found["losses"][0] - np.log(3)) < 0.3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr-range", "1:0.1"], r"argument --lr-range: '1:0\.1' is not START:END with 0 < "),
        (["--lr-range", "abc"], r"argument --lr-range: 'abc' is not START:END"),
        (["--arch", "resnet"], r"--arch resnet: not a preset"),
        (["--preprocessing", "snv+nope"], r"--preprocessing snv\+nope"),
        (["--steps", "2"], r"argument --steps: 2 is out of range; give an integer >= 3"),
        (["--val-size", "1"], r"argument --val-size: 1 is not a fraction strictly between 0 and"),
        (["--l2", "-1"], r"argument --l2: -1 is out of range; give a number >= 0"),
        (["--lr-range", "1e5:1e8"], r"diverged after 0 step.*lower the start of --lr-range"),
    ],
)
def test_bad_options_give_one_line_and_no_output(tmp_path: Path, capsys, args: list[str],
                                                 message: str) -> None:
    out = tmp_path / "lr"
    assert _lr_find(_csv(tmp_path / "train.csv"), out, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spectune lr-find: error:")
    assert re.search(message, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


def test_refuses_a_non_empty_out_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lr"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _lr_find(_csv(tmp_path / "train.csv"), out) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("lr_range", "warning"),
    [("1e-8:1e-6", "did not diverge within --lr-range"), ("1e3:1e6", "range starts too high")],
)
def test_warns_when_a_rate_sits_at_the_edge_of_the_range(tmp_path: Path, caplog,
                                                         lr_range: str, warning: str) -> None:
    assert main(["lr-find", str(_csv(tmp_path / "train.csv")), "--target", "target",
                 "--steps", "20", "--lr-range", lr_range, "--out", str(tmp_path / "lr")]) == 0
    assert warning in caplog.text
