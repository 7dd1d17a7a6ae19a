"""The transfer report: the choice, every method's CV error, escaped text, one inline figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spectune.analysis._transfer_report import write_transfer_report


def _metrics(held_out: dict[str, Any] | None = None) -> dict[str, Any]:
    ok = {"status": "ok", "cv_nrmse": 0.1, "cv_nrmse_se": 0.01}
    methods = [
        {"method": "none", "setting": {}, "cv_rmse": 0.5, **ok},
        {"method": "pds", "setting": {"window": 4, "components": 2}, "cv_rmse": 0.05, **ok},
        {"method": "recalibration", "status": "skipped", "reason": "needs <calibration> data"},
    ]
    return {"target": ["protein"], "transfer": {
        "method": "pds", "setting": {"window": 4, "components": 2},
        "cv": {"folds": 5, "kind": "5-fold", "seed": 0, "rule": "lowest",
               "reference": "reference values"},
        "record": {"standards": {"n": 12, "sha256": "f00", "references": True},
                   "source_model": {"path": "runs/m<1>/model", "sha256": "abc"}},
        "methods": methods, "settings_tried": methods,
        "held_out": held_out if held_out is not None else {
            "ids": ["a", "b", "c"], "reference": [[1.0], [2.0], [3.0]],
            "predictions": {"none": [[1.5], [2.6], [3.4]], "pds": [[1.1], [2.0], [2.9]]}},
    }}


def test_the_page_shows_the_choice_beside_every_method(tmp_path: Path) -> None:
    text = write_transfer_report(tmp_path / "report.html", _metrics()).read_text()
    assert "Chosen: pds (window=4, components=2), CV RMSE 0.05 against 0.5 without" in text
    assert "needs &lt;calibration&gt; data" in text and "<calibration>" not in text
    assert "runs/m&lt;1&gt;/model" in text
    assert text.count('src="data:image/png;base64,') == 1
    for method in ("none", "pds", "recalibration"):
        assert f"<td>{method}</td>" in text


def test_a_figure_that_cannot_be_drawn_leaves_a_note(tmp_path: Path) -> None:
    broken = {"ids": ["a"], "reference": [[1.0]], "predictions": {"none": [[1.0]]}}
    text = write_transfer_report(tmp_path / "report.html", _metrics(broken)).read_text()
    assert "The figure could not be drawn: KeyError" in text
