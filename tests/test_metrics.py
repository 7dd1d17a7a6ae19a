"""Figures of merit against the textbook formulas written out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spectune.exceptions import DataError
from spectune.metrics import REGRESSION_KEYS, classification_metrics, regression_metrics

TRUE = [1.0, 2.0, 3.0, 4.0, 5.0, 7.5]
PRED = [1.1, 1.9, 3.4, 4.3, 4.6, 7.0]


def _by_hand(true: list[float], pred: list[float]) -> dict[str, float]:
    n = len(true)
    e = [p - t for t, p in zip(true, pred, strict=True)]
    mean_t = sum(true) / n
    bias = sum(e) / n
    sep = math.sqrt(sum((x - bias) ** 2 for x in e) / (n - 1))
    sd = math.sqrt(sum((t - mean_t) ** 2 for t in true) / (n - 1))
    return {
        "rmse": math.sqrt(sum(x * x for x in e) / n),
        "r2": 1 - sum(x * x for x in e) / sum((t - mean_t) ** 2 for t in true),
        "bias": bias,
        "sep": sep,
        "rpd": sd / sep,
    }


def test_regression_metrics_match_textbook_formulas() -> None:
    got = regression_metrics(np.array(TRUE), np.array(PRED))
    assert set(got) == {*REGRESSION_KEYS, "n"} and got["n"] == 6
    for key, value in _by_hand(TRUE, PRED).items():
        assert got[key] == pytest.approx(value, rel=1e-12)
    # (n, 1) columns are one target too
    assert regression_metrics(np.array(TRUE)[:, None], np.array(PRED)[:, None]) == got


def test_several_targets_give_averages_and_per_target() -> None:
    second_true, second_pred = [10.0, 8.0, 6.0, 5.0, 3.0, 1.0], [9.0, 8.5, 6.5, 4.0, 3.5, 1.5]
    got = regression_metrics(np.c_[TRUE, second_true], np.c_[PRED, second_pred],
                             target_names=["glucose", "ethanol"])
    first, second = _by_hand(TRUE, PRED), _by_hand(second_true, second_pred)
    assert list(got["per_target"]) == ["glucose", "ethanol"]
    for key in REGRESSION_KEYS:
        assert got["per_target"]["glucose"][key] == pytest.approx(first[key])
        assert got["per_target"]["ethanol"][key] == pytest.approx(second[key])
        assert got[key] == pytest.approx((first[key] + second[key]) / 2)
    assert got["n"] == 6
    default = regression_metrics(np.c_[TRUE, TRUE], np.c_[PRED, PRED])
    assert list(default["per_target"]) == ["y0", "y1"]
    json.dumps(got)


@pytest.mark.parametrize(
    ("true", "pred", "message"),
    [([1.0, 2.0], [1.0, 2.0, 3.0], "shape"), ([1.0], [1.5], "at least 2 samples; got 1")],
)
def test_regression_metrics_errors(true: list, pred: list, message: str) -> None:
    with pytest.raises(DataError, match=message):
        regression_metrics(np.array(true), np.array(pred))


def test_classification_metrics_match_hand_counts() -> None:
    true = np.array(["a", "a", "a", "a", "b", "b", "c", "c", "c", "c"])
    pred = np.array(["a", "a", "b", "a", "b", "c", "c", "c", "a", "c"])
    labels = ["a", "b", "c"]
    matrix = [[sum((true == t) & (pred == p)) for p in labels] for t in labels]
    recall = [matrix[i][i] / sum(matrix[i]) for i in range(3)]
    precision = [matrix[i][i] / sum(row[i] for row in matrix) for i in range(3)]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    got = classification_metrics(true, pred, labels=labels)
    assert got["confusion_matrix"] == matrix
    assert got["labels"] == labels
    assert got["accuracy"] == pytest.approx(np.mean(true == pred))
    assert got["balanced_accuracy"] == pytest.approx(np.mean(recall))
    assert got["f1_macro"] == pytest.approx(np.mean(f1))
    assert got["n"] == 10
    json.dumps(got)


def test_classification_labels_default_and_order() -> None:
    true, pred = np.array([2, 1, 1, 3]), np.array([2, 1, 3, 3])
    assert classification_metrics(true, pred)["labels"] == [1, 2, 3]
    reordered = classification_metrics(true, pred, labels=[3, 2, 1])
    assert reordered["labels"] == [3, 2, 1]
    assert reordered["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_classification_metrics_shape_error() -> None:
    with pytest.raises(DataError, match="shape"):
        classification_metrics(np.array([1, 2]), np.array([1]))
