"""Figures of a search: optimisation history and slice plots (parallel coordinates: _parallel).

As in Optuna's visualisation modules, each figure has a ``get_*_info`` function that computes
plain, tested data from the study, and a thin matplotlib drawing (no plotly, no pyplot: the
figures are made on matplotlib's Agg canvas and need no display). Every figure uses the study's
(first) objective and direction; pruned and failed trials have no objective value.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from spectune.analysis._figures import save_figure
from spectune.analysis._importance import ImportanceInfo, get_importance_info
from spectune.analysis._study_trials import direction_name, finished_trials, is_maximize

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "HistoryInfo",
    "SliceInfo",
    "SlicePanel",
    "get_history_info",
    "get_slice_info",
    "plot_history",
    "plot_slices",
]


class HistoryInfo(NamedTuple):
    """Each complete trial's value and the best value up to it, with the best trial marked.

    ``pruned`` and ``failed`` hold trial numbers without a value (a complete trial whose value
    is not finite counts as failed).
    """

    numbers: tuple[int, ...]
    values: tuple[float, ...]
    best_so_far: tuple[float, ...]
    best_number: int | None
    best_value: float | None
    direction: str
    pruned: tuple[int, ...]
    failed: tuple[int, ...]


def get_history_info(study: optuna.Study) -> HistoryInfo:
    """The optimisation history of ``study`` (its first objective for a Pareto study)."""
    trials = finished_trials(study)
    values = [float(t.values[0]) for t in trials]
    maximize = is_maximize(study)
    best = (np.maximum if maximize else np.minimum).accumulate(values).tolist() if values else []
    at = int(np.argmax(values) if maximize else np.argmin(values)) if values else None
    kept = {t.number for t in trials}
    states = {state: tuple(sorted(t.number for t in study.get_trials(deepcopy=False,
                                                                        states=(state,))))
              for state in (TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE)}
    failed = sorted(states[TrialState.FAIL]
                    + tuple(n for n in states[TrialState.COMPLETE] if n not in kept))
    return HistoryInfo(tuple(t.number for t in trials), tuple(values), tuple(best),
                       None if at is None else trials[at].number,
                       None if at is None else values[at], direction_name(study),
                       states[TrialState.PRUNED], tuple(failed))


def history_figure(info: HistoryInfo, *, ylabel: str = "objective") -> Figure:
    """Values as points, best-so-far as a step line, the best trial starred, others as ticks."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter(info.numbers, info.values, s=14, color="C0", alpha=0.6, label="complete trial")
    ax.step(info.numbers, info.best_so_far, where="post", color="C1", label="best so far")
    if info.best_number is not None and info.best_value is not None:
        ax.scatter([info.best_number], [info.best_value], s=120, marker="*", color="C3",
                   zorder=3, label=f"best: trial {info.best_number} ({info.best_value:.4g})")
    for numbers, colour, label in ((info.pruned, "0.5", "pruned"), (info.failed, "C3", "failed")):
        if numbers:  # a rug along the bottom: these trials have no value to plot
            ax.plot(numbers, [0.02] * len(numbers), "|", color=colour, markersize=10,
                    transform=ax.get_xaxis_transform(), label=f"{label} ({len(numbers)})")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{ylabel} ({info.direction})")
    ax.set_title(f"Optimisation history: {len(info.numbers)} complete, {len(info.pruned)} "
                 f"pruned, {len(info.failed)} failed", fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return figure


def plot_history(info: HistoryInfo, path: str | Path, *, ylabel: str = "objective") -> list[Path]:
    """Draw the history into ``path`` as PNG and SVG; returns the files written."""
    return save_figure(history_figure(info, ylabel=ylabel), path)


def distribution_of(trials: Sequence[FrozenTrial], name: str) -> BaseDistribution:
    return next(t.distributions[name] for t in trials if name in t.distributions)


def top_params(study: optuna.Study, trials: Sequence[FrozenTrial], params: Sequence[str] | None,
                k: int, importance: ImportanceInfo | None) -> list[str]:
    """``params`` as given (checked), else the ``k`` most important (fANOVA unless given)."""
    seen = list(dict.fromkeys(n for t in trials for n in t.params))
    if params is not None:
        missing = [p for p in params if p not in seen]
        if missing:
            raise ValueError(f"params {missing} are in no complete trial of study "
                             f"{study.study_name!r}; choose among {seen}")
        return list(params)
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k}")
    ranked = list((importance or get_importance_info(study)).names)
    return (ranked + [n for n in seen if n not in ranked])[:k]


class SlicePanel(NamedTuple):
    """One hyperparameter: its value (``x``) against the objective (``y``) for each trial in
    which it exists. A categorical parameter's ``x`` is the index of its value in
    ``categories`` (the choices, as text)."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    numbers: tuple[int, ...]
    scale: Literal["linear", "log", "categorical"]
    categories: tuple[str, ...] = ()


class SliceInfo(NamedTuple):
    """Slice plots of the chosen hyperparameters, most important first."""

    panels: tuple[SlicePanel, ...]
    direction: str
    n_trials: int


def get_slice_info(study: optuna.Study, params: Sequence[str] | None = None, *, k: int = 4,
                   importance: ImportanceInfo | None = None) -> SliceInfo:
    """Objective against each of ``params`` (default: the ``k`` most important, by fANOVA
    unless ``importance`` is given), over the complete trials."""
    trials = finished_trials(study)
    panels = []
    for name in top_params(study, trials, params, k, importance):
        dist = distribution_of(trials, name)
        having = [t for t in trials if name in t.params]
        scale: Literal["linear", "log", "categorical"]
        if isinstance(dist, CategoricalDistribution):
            x = [float(dist.to_internal_repr(t.params[name])) for t in having]
            scale, categories = "categorical", tuple(str(c) for c in dist.choices)
        else:
            x = [float(t.params[name]) for t in having]
            scale, categories = ("log" if getattr(dist, "log", False) else "linear"), ()
        panels.append(SlicePanel(name, tuple(x), tuple(float(t.values[0]) for t in having),
                                 tuple(t.number for t in having), scale, categories))
    return SliceInfo(tuple(panels), direction_name(study), len(trials))


def _log_axis(ax: Axes, x: Sequence[float]) -> None:
    """A log x axis with plain labels (1-2-5 in a narrow range; no overlapping minor ones)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    if x and max(x) / min(x) < 20:  # under ~1 decade: 1, 2, 5 per decade
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def slices_figure(info: SliceInfo, *, ylabel: str = "objective") -> Figure:
    """One panel per hyperparameter, sharing the objective axis; colour is the trial number."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n = max(len(info.panels), 1)
    figure = Figure(figsize=(2.8 * n + 0.8, 3.4), layout="constrained")
    axes = figure.subplots(1, n, sharey=True, squeeze=False)[0]
    last = max((max(p.numbers, default=0) for p in info.panels), default=0)
    for ax, panel in zip(axes, info.panels, strict=False):
        points = ax.scatter(panel.x, panel.y, c=panel.numbers, cmap="viridis", vmin=0,
                            vmax=max(last, 1), s=14, alpha=0.8)
        if panel.scale == "log":
            _log_axis(ax, panel.x)
        elif panel.scale == "categorical":  # before the integer test: its x are indices
            ax.set_xticks(range(len(panel.categories)), panel.categories, rotation=30)
            ax.set_xlim(-0.5, len(panel.categories) - 0.5)
        elif panel.x and all(float(v).is_integer() for v in panel.x):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(panel.name)
    axes[0].set_ylabel(f"{ylabel} ({info.direction})")
    if info.panels:
        figure.colorbar(points, ax=list(axes), label="trial", shrink=0.8)
    figure.suptitle(f"Slice plots ({info.n_trials} complete trials)", fontsize="medium")
    return figure


def plot_slices(info: SliceInfo, path: str | Path, *, ylabel: str = "objective") -> list[Path]:
    """Draw the slice plots into ``path`` as PNG and SVG; returns the files written."""
    return save_figure(slices_figure(info, ylabel=ylabel), path)
