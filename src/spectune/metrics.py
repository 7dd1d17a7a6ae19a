"""Figures of merit as chemometricians report them, as plain JSON-ready dicts.

Regression adds to scikit-learn's RMSE and R² the bias, the bias-corrected standard error of
prediction (SEP) and the ratio of performance to deviation (RPD), the way chemometrics textbooks
define them (ddof=1). Classification reports accuracy, balanced accuracy, macro F1 and the
confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    r2_score,
    root_mean_squared_error,
)

from spectune.exceptions import DataError

__all__ = ["REGRESSION_KEYS", "classification_metrics", "regression_metrics"]

#: The regression figures, in the order reports show them.
REGRESSION_KEYS = ("rmse", "r2", "bias", "sep", "rpd")


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, target_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """RMSE, R², bias, SEP, RPD and ``n`` of predictions of one or several targets.

    Parameters
    ----------
    y_true, y_pred : array of shape (n,) or (n, n_targets)
        Reference values and predictions; at least 2 samples (SEP divides by ``n - 1``).
    target_names : sequence of str, optional
        Names of the targets (default ``y0``, ``y1``...), used for several targets only.

    Returns
    -------
    dict
        One target: ``{"rmse", "r2", "bias", "sep", "rpd", "n"}`` as floats (``n`` an int),
        where ``bias = mean(pred - true)``, ``sep = sqrt(sum((e - bias)**2) / (n - 1))`` and
        ``rpd = sd(y_true, ddof=1) / sep``. Several targets: the same keys holding the mean over
        targets, plus ``"per_target": {name: {one-target dict}}``.
    """
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    true, pred = (a[:, None] if a.ndim == 1 else a for a in (true, pred))
    if true.shape != pred.shape or true.ndim != 2:
        raise DataError(f"y_true has shape {true.shape} but y_pred has shape {pred.shape}.")
    if len(true) < 2:
        raise DataError(f"regression metrics need at least 2 samples; got {len(true)}.")
    per_target = [_one_target(true[:, j], pred[:, j]) for j in range(true.shape[1])]
    if len(per_target) == 1:
        return per_target[0]
    n_targets = len(per_target)
    names = [f"y{j}" for j in range(n_targets)] if target_names is None else list(target_names)
    if len(names) != n_targets:
        raise ValueError(f"{len(names)} target_names for {n_targets} targets.")
    averaged: dict[str, Any] = {
        key: float(np.mean([m[key] for m in per_target])) for key in REGRESSION_KEYS
    }
    averaged["n"] = len(true)
    averaged["per_target"] = dict(zip(names, per_target, strict=True))
    return averaged


def _one_target(true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    error = pred - true
    sep = float(np.std(error, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rpd = float(np.divide(np.std(true, ddof=1), sep))
    return {
        "rmse": float(root_mean_squared_error(true, pred)),
        "r2": float(r2_score(true, pred)),
        "bias": float(np.mean(error)),
        "sep": sep,
        "rpd": rpd,
        "n": len(true),
    }


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any] | np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, confusion matrix, labels and ``n``.

    Parameters
    ----------
    y_true, y_pred : array of shape (n,)
        True and predicted class labels.
    labels : sequence, optional
        Order of the confusion-matrix rows (true) and columns (predicted); default the sorted
        labels seen in either array.

    Returns
    -------
    dict
        ``{"accuracy", "balanced_accuracy", "f1_macro": float, "confusion_matrix": list of lists
        of int, "labels": list, "n": int}``.
    """
    true, pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if true.shape != pred.shape or true.size == 0:
        raise DataError(f"y_true has shape {true.shape} but y_pred has shape {pred.shape}.")
    order = np.unique(np.concatenate([true, pred])) if labels is None else np.asarray(labels)
    return {
        "accuracy": float(accuracy_score(true, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(true, pred)),
        "f1_macro": float(f1_score(true, pred, labels=order, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(true, pred, labels=order).tolist(),
        "labels": order.tolist(),
        "n": int(true.size),
    }
