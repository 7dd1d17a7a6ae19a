"""Plain-text tables of the models in a metrics.json: the final model, PLS and the others."""

from __future__ import annotations

from typing import Any

_COLUMNS = {
    "regression": ("rmse", "r2", "bias", "sep", "rpd"),
    "classification": ("accuracy", "balanced_accuracy", "f1_macro"),
}


def model_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, model metrics) for the final model, its networks, PLS and each reference."""
    rows = []
    final = metrics.get("final")
    if final:
        rows.append((f"final model ({final['description']})",
                     {"cv": final["oof"], "test": final.get("test", {})}))
        for candidate in metrics.get("candidates", []):
            if candidate["kind"] == "network":
                weight = ", ".join(f"{w:.2g}" for w in candidate["weight"])
                rows.append((f"{candidate['name']} (weight {weight})",
                             {"cv": candidate["oof"], "test": candidate.get("test", {})}))
    elif "cnn" in metrics:
        rows.append(("CNN", metrics["cnn"]))
    pls = metrics["pls"]
    name = "PLS-DA" if metrics["task"] == "classification" else "PLS"
    rows.append((f"{name} ({pls['n_components']} LV, {pls['preprocessing']})", pls))
    rows.extend((f"{label} ({model['preprocessing']})" if model.get("preprocessing") else label,
                 model) for label, model in metrics.get("references", {}).items())
    return rows


def format_metrics(metrics: dict[str, Any]) -> str:
    columns = _COLUMNS[metrics["task"]]
    header = ["model", "out-of-fold", *(f"test {c}" for c in columns)]
    lines = []
    for label, model in model_rows(metrics):
        score = model.get("cv") or model.get("tune") or {}
        first = "rmse" if metrics["task"] == "regression" else "balanced_accuracy"
        chosen_by = score.get(first, score.get("objective"))
        test = model.get("test", {})
        lines.append([label, _fmt(chosen_by), *(_fmt(test.get(c)) for c in columns)])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    render = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *lines]]
    render.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(render)


def print_metrics(metrics: dict[str, Any]) -> None:
    """The table, and one line when too many test spectra lie outside the calibration domain."""
    print(format_metrics(metrics))
    test = metrics.get("domain", {}).get("test")
    if test:
        from spectune.models._domain import outside_warning

        message = outside_warning(test, what="test spectra")
        if message:
            print(message)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
