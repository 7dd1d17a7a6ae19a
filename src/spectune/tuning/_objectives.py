"""What a trial is judged by: one number from calibration and tuning predictions.

An objective is a metric (tuning RMSE, Passos & Mishra's overfit penalty, accuracy, balanced
accuracy, macro-F1) computed on each evaluation of a trial; the scheme that produces the
evaluations (one hold-out tuning set, k folds, N seeds) lives in the trial runner, and the
objective's value is the mean over evaluations. ``pareto`` adds the parameter count as a second
objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

__all__ = ["OBJECTIVES", "Objective", "default_objective", "metric_names"]

OBJECTIVES: dict[str, tuple[str, str]] = {
    # name: (task, direction)
    "rmse": ("regression", "minimize"),
    "overfit": ("regression", "minimize"),
    "accuracy": ("classification", "maximize"),
    "balanced_accuracy": ("classification", "maximize"),
    "f1_macro": ("classification", "maximize"),
}
IMBALANCE_RATIO = 1.5


@dataclass(frozen=True)
class Objective:
    """A metric with its direction, and the weights of the overfit penalty.

    Parameters
    ----------
    name : {"rmse", "overfit", "accuracy", "balanced_accuracy", "f1_macro"}
        ``overfit`` is ``w_tune * RMSE_tune + w_gap * |MSE_tune - MSE_cal|`` (Passos & Mishra
        2022), which prefers models whose calibration and tuning errors agree.
    weights : (float, float)
        ``(w_tune, w_gap)`` of ``overfit``.
    pareto : bool
        Also minimise the parameter count (a Pareto front; Optuna cannot prune such studies).
    """

    name: str = "rmse"
    weights: tuple[float, float] = (0.5, 0.5)
    pareto: bool = False

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(f"--objective {self.name!r} is not known; choose one of "
                             f"{', '.join(OBJECTIVES)}.")
        if len(self.weights) != 2 or min(self.weights) < 0 or sum(self.weights) == 0:
            raise ValueError(f"objective weights must be two non-negative numbers, not both 0; "
                             f"got {self.weights}.")

    @property
    def task(self) -> str:
        return OBJECTIVES[self.name][0]

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        return OBJECTIVES[self.name][1]  # type: ignore[return-value]

    @property
    def directions(self) -> list[str]:
        return [self.direction, "minimize"] if self.pareto else [self.direction]

    def score(
        self, y_cal: np.ndarray, pred_cal: np.ndarray, y_tune: np.ndarray, pred_tune: np.ndarray
    ) -> float:
        """The metric of one evaluation (regression targets as ``[n, n_targets]``)."""
        if self.name == "rmse":
            return _rmse(y_tune, pred_tune)
        if self.name == "overfit":
            w_tune, w_gap = self.weights
            gap = abs(_rmse(y_tune, pred_tune) ** 2 - _rmse(y_cal, pred_cal) ** 2)
            return w_tune * _rmse(y_tune, pred_tune) + w_gap * gap
        if self.name == "accuracy":
            return float(accuracy_score(y_tune, pred_tune))
        if self.name == "balanced_accuracy":
            return float(balanced_accuracy_score(y_tune, pred_tune))
        return float(f1_score(y_tune, pred_tune, average="macro"))


def default_objective(task: str, y: np.ndarray) -> str:
    """RMSE for regression; balanced accuracy when the classes are imbalanced, else accuracy.

    Imbalanced means the largest class is more than 1.5 times the smallest.
    """
    if task == "regression":
        return "rmse"
    _, counts = np.unique(y, return_counts=True)
    return "balanced_accuracy" if counts.max() > IMBALANCE_RATIO * counts.min() else "accuracy"


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """RMSE per target in the target's units, averaged over targets."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float).reshape(np.shape(y))
    y = y.reshape(len(y), -1)
    return float(np.mean(np.sqrt(np.mean((pred.reshape(y.shape) - y) ** 2, axis=0))))


_LABELS = {"rmse": "RMSE", "overfit": "overfit score", "accuracy": "accuracy",
           "balanced_accuracy": "balanced accuracy", "f1_macro": "macro-F1"}


def metric_names(objective: Objective, cv: int = 0) -> list[str]:
    """What the study's values are, for ``study.set_metric_names`` (optuna-dashboard) and logs:
    "tune RMSE" (hold-out tuning set), "CV RMSE" (k-fold), and "parameters" on a Pareto front."""
    names = [f"{'CV' if cv else 'tune'} {_LABELS[objective.name]}"]
    return names + (["parameters"] if objective.pareto else [])
