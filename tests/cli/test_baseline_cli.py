"""`spectune data` and `spectune baseline` end to end, and their refusals of bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main


@pytest.fixture(scope="module")
def fermentation_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    assert main(["data", "fermentation", "--out", str(folder)]) == 0
    return folder


def test_data_refuses_to_overwrite(fermentation_csv: Path, capsys: pytest.CaptureFixture) -> None:
    before = (fermentation_csv / "fermentation_train.csv").read_bytes()
    assert main(["data", "fermentation", "--out", str(fermentation_csv)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert (fermentation_csv / "fermentation_train.csv").read_bytes() == before


def test_baseline_on_fermentation_writes_metrics(fermentation_csv: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main([
        "baseline", str(fermentation_csv / "fermentation_train.csv"), "--target", "glucose",
        "--id-column", "sample", "--test", str(fermentation_csv / "fermentation_test.csv"),
        "--range", "950:1550", "--max-components", "8", "--cv", "3", "--out", str(out),
    ])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["target"] == "glucose"
    assert 1 <= metrics["pls"]["n_components"] <= 8
    assert metrics["data"]["n_test"] == 34
    # On-line test spectra against HPLC: PLS should explain most of the glucose variance.
    assert metrics["pls"]["test"]["r2"] > 0.8
    assert set(metrics["references"]) >= {"ridge", "knn", "random_forest"}
    printed = capsys.readouterr().out
    assert "PLS" in printed and "test rmse" in printed


def test_baseline_without_test_says_it_holds_out(fermentation_csv: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run"
    code = main([
        "baseline", str(fermentation_csv / "fermentation_test.csv"), "--target", "glucose",
        "--max-components", "5", "--cv", "3", "--out", str(out), "--seed", "3",
    ])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["split"]["method"] == "auto"
    assert metrics["data"]["n_test"] == int(np.ceil(34 * 0.2))
    assert "holding out" in caplog.text


def test_classification_baseline_on_coffee(tmp_path: Path) -> None:
    assert main(["data", "coffee", "--out", str(tmp_path / "d")]) == 0
    out = tmp_path / "run"
    code = main(["baseline", str(tmp_path / "d" / "coffee_train.csv"), "--target", "labels",
                 "--max-components", "6", "--cv", "3", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification"
    assert {"accuracy", "balanced_accuracy", "f1_macro"} <= set(metrics["pls"]["test"])
    assert metrics["pls"]["test"]["accuracy"] > 0.8


def _table(path: Path, n: int = 12, bad: tuple[int, int, str] | None = None) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((n, 30)) + 0.5, columns=[f"{w:.1f}" for w in
                                                               np.linspace(1000, 1300, 30)])
    frame.insert(0, "y", rng.normal(size=n))
    if bad is not None:
        row, col, value = bad
        frame = frame.astype(object)
        frame.iat[row, col] = value
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "nope"),
        (["--target", "y", "--range", "5000:6000"], "range"),
        (["--target", "y", "--cv", "50"], "CV|cv|fold"),
    ],
)
def test_bad_input_exits_nonzero_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    train = _table(tmp_path / "train.csv")
    out = tmp_path / "run"
    code = main(["baseline", str(train), *args, "--out", str(out)])
    assert code != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
    assert re.search(message, err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]


def test_non_numeric_cell_names_row_and_column(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    train = _table(tmp_path / "train.csv", bad=(4, 7, "oops"))
    out = tmp_path / "run"
    assert main(["baseline", str(train), "--target", "y", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and "oops" in err
    assert not out.exists()


def test_existing_output_is_not_overwritten(fermentation_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code = main(["baseline", str(fermentation_csv / "fermentation_train.csv"),
                 "--target", "glucose", "--test", str(fermentation_csv / "fermentation_test.csv"),
                 "--out", str(out)])
    assert code == 2
    assert (out / "mine.txt").read_text() == "keep me"
