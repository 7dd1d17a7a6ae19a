"""The terminal table of a metrics.json: CNN, PLS and references side by side."""

from __future__ import annotations

from spectune.cli._table import format_metrics


def _metrics(task: str, cnn_tune: dict, pls_cv: dict, test: dict) -> dict:
    return {"task": task, "cnn": {"tune": cnn_tune, "test": test},
            "pls": {"n_components": 4, "preprocessing": "snv", "cv": pls_cv, "test": test},
            "references": {}}


def _cells(text: str, row: int) -> list[str]:
    return text.splitlines()[row].split()


def test_classification_rows_show_each_models_selection_score() -> None:
    test = {"accuracy": 0.75, "balanced_accuracy": 0.7, "f1_macro": 0.6}
    text = format_metrics(_metrics("classification", {"accuracy": 0.875, "objective": 0.875},
                                   {"balanced_accuracy": 0.9}, test))
    assert text.splitlines()[0].split() == ["model", "cv/tune", "test", "accuracy", "test",
                                            "balanced_accuracy", "test", "f1_macro"]
    assert _cells(text, 2)[2:] == ["0.875", "0.75", "0.7", "0.6"]  # CNN (tuned): its objective
    assert _cells(text, 3)[-4:] == ["0.9", "0.75", "0.7", "0.6"]  # PLS-DA (4 LV, snv)


def test_regression_rows_show_tuning_and_cv_rmse() -> None:
    test = {"rmse": 0.5, "r2": 0.9, "bias": 0.01, "sep": 0.49, "rpd": 3.1}
    text = format_metrics(_metrics("regression", {"rmse": 0.25, "objective": 0.3},
                                   {"rmse": 0.4}, test))
    assert _cells(text, 2)[2] == "0.25"
    assert _cells(text, 3)[4] == "0.4" and "PLS (4 LV, snv)" in text.splitlines()[3]
