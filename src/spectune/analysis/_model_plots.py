"""Figures about a trained model: training curves, predictions, PLS vs CNN, spectra, explanations.

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

from spectune.analysis._explain import GradCamInfo, _raw, split_routes
from spectune.analysis._figures import save_figure
from spectune.data import Spectra
from spectune.exceptions import DataError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._history import History
from spectune.training._network import SpectralNetwork, as_3d

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ComparisonInfo",
    "ConfusionInfo",
    "PredObsInfo",
    "SpectraInfo",
    "TrainingCurvesInfo",
    "get_comparison_info",
    "get_confusion_info",
    "get_pred_obs_info",
    "get_spectra_info",
    "get_training_curves_info",
    "plot_comparison",
    "plot_confusion",
    "plot_explanation",
    "plot_pred_obs",
    "plot_spectra",
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


class SpectraInfo(NamedTuple):
    """Spectra per panel (raw channel, or preprocessing route): mean, sd and sampled curves.

    ``curves`` ``[panels, k, P]`` are the same ``k`` samples in every panel, coloured by
    ``colour_values`` (their target or class; None without y).
    """

    wavelengths: np.ndarray
    panel_names: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray
    curves: np.ndarray
    colour_values: np.ndarray | None
    colour_kind: str | None  # "continuous", "classes" or None
    title: str


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


def get_spectra_info(
    X: Spectra | npt.ArrayLike,
    *,
    preprocessing: PreprocessingSpec | SpectralNetwork | None = None,
    wavelengths: npt.ArrayLike | None = None,
    y: npt.ArrayLike | None = None,
    target: int = 0,
    n_curves: int = 20,
    random_state: int | None = 0,
) -> SpectraInfo:
    """The spectra against the wavelengths: one panel per raw channel, or per route.

    Without ``preprocessing``: the raw spectra. With it: each preprocessing route (each route
    and raw channel), before the column standardisation, which would make every point mean 0
    and sd 1. A network's fitted routes are used as they are; a :class:`PreprocessingSpec` is
    fitted on ``X`` (give the calibration set, as training does). ``y`` (default ``X.y``)
    colours ``n_curves`` sampled curves; string or integer labels are taken as classes.
    """
    X3, wl = _raw(X, wavelengths)
    if preprocessing is None:
        names = tuple(X.channel_names) if isinstance(X, Spectra) and X.channel_names else \
            tuple(["raw"] if X3.shape[1] == 1 else [f"channel {c}" for c in range(X3.shape[1])])
        return _spectra_info(np.moveaxis(X3, 1, 0), wl, names, X, y, target, n_curves,
                             random_state, "Raw spectra")
    layout = X3[:, 0, :] if X3.shape[1] == 1 else X3  # as the routes were fitted
    if isinstance(preprocessing, SpectralNetwork):
        spec = preprocessing.preprocessing
        out = preprocessing.transformer.named_steps["routes"].transform(layout)
    else:
        spec = preprocessing
        out = spec.build().named_steps["routes"].fit_transform(layout)
    routes, split = split_routes(as_3d(out), spec.routes, spec.combine, len(wl))  # [R, n, C, P]
    channels = split.shape[2]
    names = tuple(r if channels == 1 else f"{r}/channel {c}" for r in routes
                  for c in range(channels))
    panels = np.moveaxis(split, 2, 1).reshape(len(names), len(X3), len(wl))
    return _spectra_info(panels, wl, names, X, y, target, n_curves, random_state,
                         f"Preprocessing routes ({spec.combine})" if len(routes) > 1
                         else f"Preprocessing: {routes[0]}")


def plot_training_curves(
    infos: TrainingCurvesInfo | Sequence[TrainingCurvesInfo], path: str | Path
) -> list[Path]:
    """One panel per run (e.g. best trial, refit): calibration and tuning loss, LR on the right."""
    infos = [infos] if isinstance(infos, TrainingCurvesInfo) else list(infos)
    figure, axes = _figure(1, len(infos), 5.0, 3.8)
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
    figure, axes = _figure(2, len(info.target_names), 4.2, 3.6)
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
    figure, axes = _figure(1, 2, 4.6, 4.2)
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
        figure, axes = _figure(1, 1, 6.0, 4.0)
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
    figure, axes = _figure(len(po.target_names), len(info.model_names), 4.2, 4.0)
    for j, target in enumerate(po.target_names):
        for k, model in enumerate(info.model_names):
            ax = axes[j, k]
            ax.scatter(po.observed[model][:, j], po.predicted[model][:, j], s=14, alpha=0.75,
                       color=f"C{k}")
            _one_to_one(ax, po.limits[j])
            ax.set_title(f"{model}, {target}{_scores_text(po.metrics[model][j])}",
                         fontsize="medium")
    return save_figure(figure, path)


def plot_spectra(info: SpectraInfo, path: str | Path, *, xlabel: str = "wavelength"
                 ) -> list[Path]:
    """One panel per raw channel or route: mean ± sd and the sampled curves, by target/class."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    figure, axes = _figure(len(info.panel_names), 1, 7.0, 2.6)
    values = np.asarray([] if info.colour_values is None else info.colour_values)
    norm = None
    if info.colour_kind == "continuous":
        norm = Normalize(float(np.min(values)), float(np.max(values)))
    classes = np.unique(values).tolist() if info.colour_kind == "classes" else []
    for r, name in enumerate(info.panel_names):
        ax = axes[r, 0]
        for i, curve in enumerate(info.curves[r]):
            colour: Any
            if norm is not None:
                colour = colormaps["viridis"](norm(values[i]))
            else:
                colour = f"C{classes.index(values[i]) % 10}" if classes else "0.6"
            ax.plot(info.wavelengths, curve, color=colour, lw=0.7, alpha=0.8)
        ax.plot(info.wavelengths, info.mean[r], color="k", lw=1.5, label="mean")
        ax.fill_between(info.wavelengths, info.mean[r] - info.sd[r], info.mean[r] + info.sd[r],
                        color="k", alpha=0.15, label="mean ± sd")
        ax.set(title=f"{info.title}: {name}" if len(info.panel_names) > 1 else info.title,
               ylabel=name)
        ax.legend(fontsize="small", loc="upper right")
    axes[-1, 0].set_xlabel(xlabel)
    if norm is not None:
        from matplotlib.cm import ScalarMappable

        figure.colorbar(ScalarMappable(norm, "viridis"), ax=axes[:, 0].tolist(), label="y")
    elif classes:
        handles = [axes[0, 0].plot([], [], color=f"C{k % 10}")[0] for k in range(len(classes))]
        axes[0, 0].legend(handles, [str(c) for c in classes], fontsize="small", title="class")
    return save_figure(figure, path)


def plot_explanation(
    explanations: GradCamInfo | Sequence[tuple[str, GradCamInfo]], path: str | Path, *,
    xlabel: str = "wavelength",
) -> list[Path]:
    """The relevance (shaded, right axis) over the mean raw spectrum; rows are groups (classes
    or target tertiles), columns are the preprocessing routes the network was fed."""
    groups = [("all samples", explanations)] if isinstance(explanations, GradCamInfo) \
        else list(explanations)
    routes = groups[0][1].route_names
    figure, axes = _figure(len(groups), len(routes), 4.6, 2.8)
    for g, (label, info) in enumerate(groups):
        for r, route in enumerate(info.route_names):
            ax = axes[g, r]
            for spectrum in info.mean_spectrum:
                ax.plot(info.wavelengths, spectrum, color="k", lw=1.0)
            cam_ax = ax.twinx()
            cam_ax.fill_between(info.wavelengths, 0.0, info.cam[r], color="C3", alpha=0.35)
            cam_ax.set_ylim(0.0, 1.05)
            ax.set_title(f"{label} (n={info.n_samples}), route {route}", fontsize="medium")
            ax.set(xlabel=xlabel, ylabel="mean spectrum")
            cam_ax.set_ylabel(info.method.replace("_", " "))
    return save_figure(figure, path)


def _spectra_info(panels: np.ndarray, wl: np.ndarray, names: tuple[str, ...], X: Any,
                  y: Any, target: int, n_curves: int, random_state: int | None,
                  title: str) -> SpectraInfo:
    """Mean, sd and ``n_curves`` sampled curves of ``panels`` ``[R, n, P]``."""
    n = panels.shape[1]
    if isinstance(n_curves, bool) or not isinstance(n_curves, int) or n_curves < 0:
        raise ValueError(f"n_curves must be an integer >= 0; got {n_curves!r}.")
    chosen = np.sort(np.random.default_rng(random_state).choice(n, min(n_curves, n),
                                                                replace=False))
    kind = None
    if y is None and isinstance(X, Spectra):
        y = X.y
    if y is not None and len(chosen):
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} values for {n} spectra; give one per spectrum.")
        classes = y.dtype.kind not in "fc" or (isinstance(X, Spectra)
                                                and X.task == "classification")
        y = y if classes else y.reshape(n, -1)[:, target]
        y, kind = y[chosen], "classes" if classes else "continuous"
    else:
        y = None  # no curve to colour
    sd = panels.std(axis=1, ddof=1) if n > 1 else np.zeros_like(panels[:, 0])
    return SpectraInfo(wl, names, panels.mean(axis=1), sd, panels[:, chosen], y, kind, title)


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _scores_text(metrics: Mapping[str, Any] | None) -> str:
    return "" if metrics is None else f": RMSE {metrics['rmse']:.3g}, R² {metrics['r2']:.3f}"


def _one_to_one(ax: Axes, limits: np.ndarray) -> None:
    """The 1:1 line over ``limits``, and equal axes covering them."""
    ax.plot(limits, limits, color="k", lw=0.8, ls="--", label="1:1")
    ax.set(xlim=limits, ylim=limits, xlabel="observed", ylabel="predicted", aspect="equal")


def _figure(rows: int, cols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    return figure, np.asarray(figure.subplots(rows, cols, squeeze=False))
