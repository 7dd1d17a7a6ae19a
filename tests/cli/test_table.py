"""The terminal table of a metrics.json: the final model, its networks, PLS and references."""

from __future__ import annotations

from spectune.cli._table import format_metrics


def _metrics(task: str, oof: dict, pls_cv: dict, test: dict) -> dict:
    network = {"name": "trial 3", "kind": "network", "weight": [0.6], "oof": oof, "test": test}
    return {"task": task,
            "final": {"description": "a stack", "oof": oof, "test": test},
            "candidates": [network, {"name": "pls", "kind": "linear", "weight": [0.4],
                                     "oof": pls_cv}],
            "pls": {"n_components": 4, "preprocessing": "snv", "cv": pls_cv, "test": test},
            "references": {"ridge": {"preprocessing": "sg1", "cv": pls_cv, "test": test}}}


def _cells(text: str, row: int) -> list[str]:
    return text.splitlines()[row].split()


def test_classification_rows_show_each_models_out_of_fold_score() -> None:
    test = {"accuracy": 0.75, "balanced_accuracy": 0.7, "f1_macro": 0.6}
    text = format_metrics(_metrics("classification", {"balanced_accuracy": 0.875},
                                   {"balanced_accuracy": 0.9}, test))
    assert text.splitlines()[0].split() == ["model", "out-of-fold", "test", "accuracy", "test",
                                            "balanced_accuracy", "test", "f1_macro"]
    assert _cells(text, 2)[-4:] == ["0.875", "0.75", "0.7", "0.6"]  # final model (a stack)
    assert text.splitlines()[3].startswith("trial 3 (weight 0.6)")
    assert _cells(text, 4)[-4:] == ["0.9", "0.75", "0.7", "0.6"]  # PLS-DA (4 LV, snv)


def test_regression_rows_show_out_of_fold_rmse_and_each_route() -> None:
    test = {"rmse": 0.5, "r2": 0.9, "bias": 0.01, "sep": 0.49, "rpd": 3.1}
    text = format_metrics(_metrics("regression", {"rmse": 0.25}, {"rmse": 0.4}, test))
    assert text.splitlines()[2].startswith("final model (a stack)")
    assert _cells(text, 2)[-6] == "0.25"
    assert _cells(text, 4)[4] == "0.4" and "PLS (4 LV, snv)" in text.splitlines()[4]
    assert text.splitlines()[5].startswith("ridge (sg1)")
