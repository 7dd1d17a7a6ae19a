"""The report of a calibration transfer: which method CV chose, and every method's CV error.

One self-contained HTML page written from the ``"transfer"`` section of the transferred model's
metrics.json (:func:`spectune.transfer.TransferResult.as_dict`): the choice and what it was
judged against, each method's best setting and CV RMSE beside it (or why it was not scored),
every setting tried, and the held-out predictions of the standards with and without transfer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spectune.analysis._report_html import (
    Section,
    esc,
    fmt,
    image,
    kv_table,
    note,
    page,
    para,
    table,
)

__all__ = ["write_transfer_report"]

log = logging.getLogger(__name__)


def write_transfer_report(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write the transfer report of ``metrics`` (a transfer's metrics.json) to ``path``."""
    transfer = metrics["transfer"]
    record, cv = transfer["record"], transfer["cv"]
    source = record.get("source_model") or {}
    sections = [_choice(transfer, metrics.get("command")), _methods(transfer),
                _settings(transfer), _held_out(transfer, metrics.get("target", []))]
    subtitle = (f"{source.get('path', 'model')} moved to a new instrument with "
                f"{record['standards']['n']} transfer standards: {transfer['method']} "
                f"({cv['kind']} CV over the standards).")
    text = page("spectune transfer report", subtitle, sections,
                "Made by spectune transfer; the numbers are in metrics.json beside this page.")
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def _choice(transfer: Mapping[str, Any], command: str | None) -> Section:
    record, cv = transfer["record"], transfer["cv"]
    rows = {r["method"]: r for r in transfer["methods"]}
    none = rows["none"].get("cv_rmse")
    chosen = rows[transfer["method"]].get("cv_rmse")
    section = Section("choice", "Choice")
    rule = ("the simplest method whose CV error lies within one standard error of the lowest"
            if cv["rule"] == "one standard error" else "the lowest CV error")
    section.add(
        para(f"Chosen: {transfer['method']} ({fmt(transfer['setting']) or 'no setting'}), "
             f"CV RMSE {fmt(chosen)} against {fmt(none)} without transfer."),
        para(f"Every method and setting was scored by {cv['kind']} cross-validation over the "
             f"standards (seed {cv['seed']}): each held-out standard, measured on the new "
             f"instrument, was predicted by the model moved with the other standards only, and "
             f"compared with {cv['reference']}. The choice is {rule}; it was then refitted on "
             "all the standards. These CV errors choose; they are not a test: score the moved "
             "model once on new-instrument spectra it never saw."),
        kv_table({"source model": (record.get("source_model") or {}).get("path"),
                  "source model SHA-256": (record.get("source_model") or {}).get("sha256"),
                  "standards": record["standards"]["n"],
                  "standards SHA-256": record["standards"]["sha256"],
                  "reference values": record["standards"]["references"]},
                 caption="What the moved model was made from"),
    )
    if command:
        section.add(para("Reproduce with:"), f"<pre>{esc(command)}</pre>")
    return section


def _methods(transfer: Mapping[str, Any]) -> Section:
    section = Section("methods", "Every method's CV error")
    rows = [(r["method"], fmt(r.get("setting")) if r["status"] == "ok" else "–",
             _number(r.get("cv_rmse")), r.get("cv_nrmse"), r.get("cv_nrmse_se"),
             "chosen" if r["method"] == transfer["method"] else r.get("reason", ""))
            for r in transfer["methods"]]
    section.add(table(("method", "best setting", "CV RMSE", "CV RMSE / sd", "its SE", "note"),
                      rows, caption="Each method with its best setting"))
    return section


def _settings(transfer: Mapping[str, Any]) -> Section:
    section = Section("settings", "Every setting tried")
    rows = [(r["method"], fmt(r["setting"]), _number(r["cv_rmse"]), r["cv_nrmse"])
            for r in transfer["settings_tried"] if r["status"] == "ok"]
    section.add(table(("method", "setting", "CV RMSE", "CV RMSE / sd"), rows))
    return section


def _held_out(transfer: Mapping[str, Any], targets: list[str]) -> Section:
    section = Section("held-out", "Held-out standards")
    held = transfer.get("held_out") or {}
    if not held:
        section.add(note("No held-out predictions were recorded."))
        return section
    try:
        reference = np.asarray(held["reference"], dtype=float)
        drawn = {name: np.asarray(held["predictions"][name], dtype=float)
                 for name in dict.fromkeys(("none", transfer["method"]))}
        section.add(image(_pred_ref_png(reference, drawn, targets),
                          "Held-out CV predictions of the standards against the reference, "
                          "without transfer and with the chosen method."))
    except Exception as error:  # a figure must never take the report down
        log.debug("transfer report: figure not drawn", exc_info=True)
        section.add(note(f"The figure could not be drawn: {type(error).__name__}: {error}",
                         error=True))
    return section


def _pred_ref_png(reference: np.ndarray, drawn: dict[str, np.ndarray],
                  targets: list[str]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_targets = reference.shape[1]
    figure = Figure(figsize=(4.2 * n_targets, 4.0))
    FigureCanvasAgg(figure)
    for t in range(n_targets):
        ax = figure.add_subplot(1, n_targets, t + 1)
        for (name, pred), marker in zip(drawn.items(), ("x", "o"), strict=False):
            ax.scatter(reference[:, t], pred[:, t], marker=marker, label=name, alpha=0.8)
        low = min(reference[:, t].min(), *(p[:, t].min() for p in drawn.values()))
        high = max(reference[:, t].max(), *(p[:, t].max() for p in drawn.values()))
        ax.plot([low, high], [low, high], color="0.5", lw=1)
        ax.set_xlabel(f"reference {targets[t] if t < len(targets) else ''}")
        ax.set_ylabel("held-out prediction")
        ax.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _number(value: Any) -> Any:
    """A list of per-target values as text; a float as is (the table formats it)."""
    return fmt(value) if isinstance(value, list) else value
