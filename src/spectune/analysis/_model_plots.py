"""Figures about a trained model: training curves, predictions, PLS vs CNN, confusion.

As in Optuna's visualisation modules, each figure is a tested ``get_<plot>_info(...)`` returning
plain arrays and a thin ``plot_<plot>(info, path)`` that only hands them to matplotlib and writes
``path`` as PNG and SVG. Figures are drawn on matplotlib's Agg canvas without pyplot, so they
need no display and leave pyplot's state alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix

from spectune.analysis._figures import grid_figure, save_figure
from spectune.exceptions import DataError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.training import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "ComparisonInfo",
    "ConfusionInfo",
    "PredObsInfo",
    "TrainingCurvesInfo",
    "get_comparison_info",
    "get_confusion_info",
    "get_pred_obs_info",
    "get_training_curves_info",
    "plot_comparison",
    "plot_confusion",
    "plot_pred_obs",
    "plot_training_curves",
]

#: Colours of the data sets, the same in every figure.
SET_COLOURS = {"calibration": "C0", "tuning": "C1", "test": "C3",
               "calibration (out of fold)": "C0", "tuning (out of fold)": "C1"}
CLASSIFICATION_SCORES = ("accuracy", "balanced_accuracy", "f1_macro")


class TrainingCurvesInfo(NamedTuple):
    """One run's losses per epoch and its learning-rate schedule (NaN where none)."""

    name: str
    epochs: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    lr: np.ndarray
    lr_steps: np.ndarray  # epochs trained at a rate different from the epoch before
    best_epoch: int | None


class PredObsInfo(NamedTuple):
    """Predicted vs observed per data set (or per model), ``[n, n_targets]`` arrays by name.

    ``residuals`` are predicted - observed; ``limits`` ``[n_targets, 2]`` is the range of the
    1:1 line and of both axes, covering every point; ``metrics`` holds, per set and target,
    :func:`spectune.metrics.regression_metrics` (None for fewer than 2 samples).
    """

    target_names: tuple[str, ...]
    observed: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    residuals: dict[str, np.ndarray]
    limits: np.ndarray
    metrics: dict[str, list[dict[str, Any] | None]]


class ConfusionInfo(NamedTuple):
    """Confusion matrix (rows: true class, columns: predicted), counts and row-normalised."""

    labels: np.ndarray
    counts: np.ndarray
    normalised: np.ndarray


class ComparisonInfo(NamedTuple):
    """Models on the same test set: predicted vs observed (regression) and scores by model."""

    task: str
    model_names: tuple[str, ...]
    pred_obs: PredObsInfo | None
    scores: dict[str, dict[str, float]]


def get_training_curves_info(
    history: History | Mapping[str, Any], *, name: str = "training", best_epoch: int | None = None
) -> TrainingCurvesInfo:
    """Curves from a :class:`History` or its ``as_dict()``; the best epoch defaults to the
    epoch of the lowest tuning loss."""
    data = history.as_dict() if isinstance(history, History) else history
    epochs = np.asarray(data["epoch"], dtype=int)
    train, val, lr = (_floats(data[key]) for key in ("train_loss", "val_loss", "lr"))
    if best_epoch is None and np.isfinite(val).any():
        best_epoch = int(epochs[np.nanargmin(val)])
    steps = epochs[1:][np.diff(lr) != 0]
    return TrainingCurvesInfo(name, epochs, train, val, lr, steps, best_epoch)


def get_pred_obs_info(
    sets: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    *,
    target_names: Sequence[str] | None = None,
) -> PredObsInfo:
    """``{"calibration": (y_true, y_pred), "tuning": ..., "test": ...}`` -> the plot's data."""
    if not sets:
        raise ValueError("sets is empty; give at least one {name: (y_true, y_pred)}.")
    observed, predicted = {}, {}
    for name, (true, pred) in sets.items():
        true, pred = (np.asarray(a, dtype=float) for a in (true, pred))
        true, pred = (a.reshape(len(a), -1) for a in (true, pred))
        if true.shape != pred.shape:
            raise DataError(f"set {name!r}: y_true has shape {true.shape} but y_pred has "
                            f"{pred.shape}; give one prediction per reference value.")
        observed[name], predicted[name] = true, pred
    widths = {a.shape[1] for a in observed.values()}
    if len(widths) != 1:
        raise DataError(f"the sets have different numbers of targets {sorted(widths)}.")
    n_targets = widths.pop()
    names = tuple(target_names) if target_names is not None \
        else tuple(f"y{j}" for j in range(n_targets))
    if len(names) != n_targets:
        raise ValueError(f"target_names has {len(names)} names for {n_targets} targets.")
    both = np.concatenate([*observed.values(), *predicted.values()])
    low, high = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
    pad = np.where(high > low, 0.05 * (high - low), 0.5)
    metrics = {
        name: [regression_metrics(true[:, j], predicted[name][:, j]) if len(true) >= 2 else None
               for j in range(n_targets)]
        for name, true in observed.items()
    }
    residuals = {name: predicted[name] - true for name, true in observed.items()}
    return PredObsInfo(names, observed, predicted, residuals,
                       np.column_stack([low - pad, high + pad]), metrics)


def get_confusion_info(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, labels: npt.ArrayLike | None = None
) -> ConfusionInfo:
    """Counts and row-normalised rates (a true class with no sample gives a row of zeros)."""
    true, pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    order = np.unique(np.concatenate([true, pred])) if labels is None else np.asarray(labels)
    counts = confusion_matrix(true, pred, labels=order)
    rates = confusion_matrix(true, pred, labels=order, normalize="true")
    return ConfusionInfo(order, counts, rates)


def get_comparison_info(
    y_true: npt.ArrayLike,
    predictions: Mapping[str, npt.ArrayLike],
    *,
    task: str = "regression",
    target_names: Sequence[str] | None = None,
) -> ComparisonInfo:
    """PLS vs CNN (or any models) on one test set; regression scores are RMSE and R²
    (means over targets), classification scores accuracy, balanced accuracy and macro F1."""
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification'; got {task!r}.")
    names = tuple(predictions)
    true, classes = np.asarray(y_true), task == "classification"
    info = None if classes else get_pred_obs_info(
        {m: (true, p) for m, p in predictions.items()}, target_names=target_names)
    keys: tuple[str, ...] = CLASSIFICATION_SCORES if classes else ("rmse", "r2")
    scores = {}
    for model, pred in predictions.items():
        found = (classification_metrics if classes else regression_metrics)(true, np.asarray(pred))
        scores[model] = {k: float(found[k]) for k in keys}
    return ComparisonInfo(task, names, info, scores)


def plot_training_curves(
    infos: TrainingCurvesInfo | Sequence[TrainingCurvesInfo], path: str | Path
) -> list[Path]:
    """One panel per run (e.g. best trial, refit): calibration and tuning loss, LR on the right."""
    infos = [infos] if isinstance(infos, TrainingCurvesInfo) else list(infos)
    figure, axes = grid_figure(1, len(infos), 5.0, 3.8)
    for ax, info in zip(axes[0], infos, strict=True):
        lines = ax.plot(info.epochs, info.train_loss, color="C0", label="calibration loss")
        if np.isfinite(info.val_loss).any():
            lines += ax.plot(info.epochs, info.val_loss, color="C1", label="tuning loss")
        if info.best_epoch is not None:
            lines.append(ax.axvline(info.best_epoch, color="0.4", ls=":", label="best epoch"))
        if np.nanmin(np.concatenate([info.train_loss, info.val_loss])) > 0:
            ax.set_yscale("log")
        lr_ax = ax.twinx()
        lines += lr_ax.step(info.epochs, info.lr, where="post", color="C2", alpha=0.7,
                            label="learning rate")
        if np.nanmin(info.lr) > 0:
            lr_ax.set_yscale("log")
        lr_ax.set_ylabel("learning rate")
        ax.set(xlabel="epoch", ylabel="loss (standardised targets)", title=info.name)
        ax.legend(lines, [line.get_label() for line in lines], fontsize="small")
    return save_figure(figure, path)


def plot_pred_obs(info: PredObsInfo, path: str | Path, *, title: str = "") -> list[Path]:
    """Predicted vs observed with the 1:1 line (top) and residuals against the predicted
    values (bottom, where a trend or a funnel shows), per target."""
    figure, axes = grid_figure(2, len(info.target_names), 4.2, 3.6)
    for j, target in enumerate(info.target_names):
        top, bottom = axes[0, j], axes[1, j]
        for k, (name, true) in enumerate(info.observed.items()):
            colour = SET_COLOURS.get(name, f"C{k + 4}")
            label = f"{name}{_scores_text(info.metrics[name][j])}"
            top.scatter(true[:, j], info.predicted[name][:, j], s=14, alpha=0.75, color=colour,
                        label=label)
            bottom.scatter(info.predicted[name][:, j], info.residuals[name][:, j], s=12,
                           alpha=0.7, color=colour)
        _one_to_one(top, info.limits[j])
        top.set_title(f"{title} {target}".strip())
        top.legend(fontsize="small")
        bottom.axhline(0.0, color="k", lw=0.8)
        bottom.set(xlim=info.limits[j], xlabel=f"predicted {target}",
                   ylabel="residual (predicted - observed)")
    return save_figure(figure, path)


def plot_confusion(info: ConfusionInfo, path: str | Path) -> list[Path]:
    """Counts and row-normalised confusion matrices side by side."""
    figure, axes = grid_figure(1, 2, 4.6, 4.2)
    labels = [str(label) for label in info.labels]
    for ax, values, fmt, title in ((axes[0, 0], info.counts, "d", "counts"),
                                   (axes[0, 1], info.normalised, ".2f", "row-normalised")):
        ax.imshow(values, cmap="Blues", vmin=0)
        middle = (values.max() + values.min()) / 2
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, format(value, fmt), ha="center", va="center",
                    color="white" if value > middle else "black")
        ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
               yticklabels=labels, xlabel="predicted class", ylabel="true class", title=title)
    return save_figure(figure, path)


def plot_comparison(info: ComparisonInfo, path: str | Path) -> list[Path]:
    """Regression: predicted vs observed per model (rows: targets). Classes: score bars."""
    if info.pred_obs is None:
        figure, axes = grid_figure(1, 1, 6.0, 4.0)
        ax, width = axes[0, 0], 0.8 / len(info.model_names)
        for k, model in enumerate(info.model_names):
            values = [info.scores[model][s] for s in CLASSIFICATION_SCORES]
            ax.bar(np.arange(len(values)) + k * width, values, width, label=model)
        ax.set(xticks=np.arange(len(CLASSIFICATION_SCORES)) + 0.4 - width / 2, ylim=(0, 1),
               xticklabels=[s.replace("_", " ") for s in CLASSIFICATION_SCORES],
               ylabel="test score", title="Test set")
        ax.legend()
        return save_figure(figure, path)
    po = info.pred_obs
    figure, axes = grid_figure(len(po.target_names), len(info.model_names), 4.2, 4.0)
    for j, target in enumerate(po.target_names):
        for k, model in enumerate(info.model_names):
            ax = axes[j, k]
            ax.scatter(po.observed[model][:, j], po.predicted[model][:, j], s=14, alpha=0.75,
                       color=f"C{k}")
            _one_to_one(ax, po.limits[j])
            ax.set_title(f"{model}, {target}{_scores_text(po.metrics[model][j])}",
                         fontsize="medium")
    return save_figure(figure, path)


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _scores_text(metrics: Mapping[str, Any] | None) -> str:
    return "" if metrics is None else f": RMSE {metrics['rmse']:.3g}, R² {metrics['r2']:.3f}"


def _one_to_one(ax: Axes, limits: np.ndarray) -> None:
    """The 1:1 line over ``limits``, and equal axes covering them."""
    ax.plot(limits, limits, color="k", lw=0.8, ls="--", label="1:1")
    ax.set(xlim=limits, ylim=limits, xlabel="observed", ylabel="predicted", aspect="equal")
