"""Issue 16's Done-when through `spectune tune`: on fermentation (off-line calibration, on-line
test, full range) metrics.json, the console, the report and predict say how many test spectra lie
outside the calibration domain; on a random split of the same calibration data almost none do."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spectune.cli import main
from spectune.data import export_dataset

pytestmark = pytest.mark.report
QUICK = ["--trials", "1", "--epochs", "3", "--pruner", "none", "--sampler", "random", "--quiet",
         "--routes", "raw", "--max-components", "4", "--jobs", "1", "--candidates", "1", "--space"]
SPACE = "parameters: {units: 4, lr: 0.003, batch_size: 16}\n"


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tune_domain")
    train, test = export_dataset("fermentation", folder)
    (folder / "space.yaml").write_text(SPACE)
    return {"train": train, "test": test, "space": folder / "space.yaml", "folder": folder}


def _tune(tables: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["tune", str(tables["train"]), "--target", "glucose", "--id-column", "sample",
                 *QUICK, str(tables["space"]), "--out", str(out), *extra])


def test_on_line_spectra_are_counted_said_drawn_and_flagged(tables: dict[str, Path],
                                                            capsys: pytest.CaptureFixture) -> None:
    out = tables["folder"] / "online"
    assert _tune(tables, out, "--test", str(tables["test"])) == 0
    console = capsys.readouterr().out
    test = json.loads((out / "metrics.json").read_text())["domain"]["test"]
    assert test["n"] == 34 and test["n_outside"] >= 31
    assert (f"{test['n_outside']} of 34 test spectra ({test['n_outside'] / 34:.0%}) lie outside "
            "the calibration domain") in console
    html = (out / "report.html").read_text()
    assert f"{test['n_outside']} of 34 test spectra lie outside the calibration domain" in html
    assert (out / "figures" / "domain.png").is_file()
    preds = tables["folder"] / "preds.csv"
    assert main(["predict", str(out / "model"), str(tables["test"]), "--id-column", "sample",
                 "--out", str(preds)]) == 0
    assert int((~pd.read_csv(preds)["in_domain"]).sum()) == test["n_outside"]


def test_a_random_split_of_the_calibration_spectra_is_almost_all_inside(
        tables: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    out = tables["folder"] / "random"
    assert _tune(tables, out, "--no-report", "--test-size", "0.33") == 0
    test = json.loads((out / "metrics.json").read_text())["domain"]["test"]
    assert test["n"] == 7 and test["n_outside"] <= 1
    assert "lie outside the calibration domain" not in capsys.readouterr().out
