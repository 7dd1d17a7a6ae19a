"""``spectune report DIR``: (re)writes DIR/report.html; refuses a folder that is no run in one
line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from spectune.cli import main


@pytest.fixture(scope="module")
def run_dir(study_files: SimpleNamespace) -> Path:
    """A two-trial MLP run made by ``spectune tune`` (PLS on the raw route only)."""
    out = study_files.folder / "report_run"
    assert main(["tune", str(study_files.train), "--target", "y", "--space",
                 str(study_files.space), "--out", str(out), "--trials", "2", "--epochs", "3",
                 "--pruner", "none", "--sampler", "random", "--quiet", "--routes", "raw",
                 "--max-components", "4", "--jobs", "1", "--no-report"]) == 0
    return out


def test_report_writes_the_page_and_its_figures(run_dir: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    (run_dir / "report.html").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["report", str(run_dir), "--seed", "1"]) == 0
    assert capsys.readouterr().out == (f"wrote {run_dir / 'report.html'} and "
                                       f"{run_dir / 'figures'}/\n")
    html = (run_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "1. Verdict: the final model against" in html
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['final']['test']['rmse']:.4g}" in html
    stems = {p.stem for p in (run_dir / "figures").iterdir()}
    assert {"history", "spectra_raw"} <= stems
    assert len(list((run_dir / "figures").glob("*.svg"))) == len(stems)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d, ("not a spectune run folder (no metrics.json); give the --out folder of a "
                   "`spectune tune` run.")),
    (lambda d: d / "absent", "no such folder; give the --out folder of a `spectune tune` run."),
])
def test_report_refuses_a_folder_that_is_no_run(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                make: object, message: str) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"spectune report: error: {folder}: {message}\n"
    assert not (folder / "report.html").exists()
