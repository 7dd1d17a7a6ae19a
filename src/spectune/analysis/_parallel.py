"""Parallel coordinates of a search: one line per trial across its top hyperparameters.

The data (:func:`get_parallel_info`, tested) is computed apart from the matplotlib drawing, as in
Optuna's visualisation modules, without plotly or pyplot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from spectune.analysis._figures import save_figure
from spectune.analysis._importance import ImportanceInfo
from spectune.analysis._search_plots import distribution_of, top_params
from spectune.analysis._study_trials import direction_name, finished_trials

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ParallelInfo", "get_parallel_info", "plot_parallel"]


#: One axis' ticks: positions in [0, 1] and their labels.
Ticks = tuple[tuple[float, ...], tuple[str, ...]]


class ParallelInfo(NamedTuple):
    """Parallel coordinates: one line per complete trial across the chosen hyperparameters and
    the objective (last axis).

    ``coords[i, j]`` is trial ``i`` on axis ``j``, scaled to [0, 1]: a numeric hyperparameter
    over its search range (in log space for a log-scale one), a categorical one by the index of
    its value among the choices, the objective over its observed range; NaN where the
    hyperparameter does not exist in that trial (conditional). ``ticks[j]`` gives positions and
    labels for axis ``j``; ``best_row`` is the best trial's row.
    """

    names: tuple[str, ...]
    numbers: tuple[int, ...]
    values: tuple[float, ...]
    coords: np.ndarray
    ticks: tuple[Ticks, ...]
    best_row: int | None
    direction: str


def _scale(dist: BaseDistribution, raw: Sequence[float] | np.ndarray) -> tuple[np.ndarray, Ticks]:
    """Scale a distribution's values to [0, 1] (NaN stays NaN) and give that axis' ticks."""
    x = np.asarray(raw, dtype=float)
    if isinstance(dist, CategoricalDistribution):
        top = max(len(dist.choices) - 1, 1)
        positions = tuple(i / top for i in range(len(dist.choices)))
        return x / top, (positions, tuple(str(c) for c in dist.choices))
    low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
    log = bool(getattr(dist, "log", False))
    warp = np.log if log else (lambda v: v)
    span = float(warp(high) - warp(low))
    if span <= 0:  # a single value (or a constant objective): the middle of the axis
        return np.where(np.isnan(x), np.nan, 0.5), ((0.5,), (f"{low:.3g}",))
    middle = math.sqrt(low * high) if log else (low + high) / 2
    return ((warp(x) - warp(low)) / span,
            ((0.0, 0.5, 1.0), tuple(f"{m:.3g}" for m in (low, middle, high))))


def get_parallel_info(study: optuna.Study, params: Sequence[str] | None = None, *, k: int = 6,
                      importance: ImportanceInfo | None = None) -> ParallelInfo:
    """Parallel coordinates of ``params`` (default: the ``k`` most important) and the
    objective, over the complete trials."""
    trials = finished_trials(study)
    names = (*top_params(study, trials, params, k, importance), "objective")
    if not trials:
        return ParallelInfo(names, (), (), np.empty((0, len(names))), (), None,
                            direction_name(study))
    values = np.array([t.values[0] for t in trials], dtype=float)
    columns = [_scale(FloatDistribution(values.min(), values.max()), values)]
    for name in names[:-1]:
        dist = distribution_of(trials, name)
        columns.insert(-1, _scale(dist, [dist.to_internal_repr(t.params[name])
                                         if name in t.params else math.nan for t in trials]))
    direction = direction_name(study)
    best = int(np.argmax(values) if direction == "maximize" else np.argmin(values))
    return ParallelInfo(names, tuple(t.number for t in trials), tuple(values.tolist()),
                        np.column_stack([c for c, _ in columns]),
                        tuple(ticks for _, ticks in columns), best, direction)


_ABSENT = -0.12  # where a line crosses the axis of a hyperparameter its trial does not have


def _draw_axes(ax: Axes, info: ParallelInfo) -> None:
    for j, (positions, labels) in enumerate(info.ticks):
        ax.axvline(j, color="0.3", linewidth=0.8)
        if np.isnan(info.coords[:, j]).any():
            ax.text(j + 0.03, _ABSENT, "absent", fontsize="x-small", va="center", color="0.4")
        for position, label in zip(positions, labels, strict=True):
            ax.text(j + 0.03, position, label, fontsize="x-small", va="center")


def parallel_figure(info: ParallelInfo, *, ylabel: str = "objective") -> Figure:
    """One line per trial, coloured by its objective value; the best trial drawn thick."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n_axes = len(info.names)
    figure = Figure(figsize=(1.4 * n_axes + 2.0, 4.2), layout="constrained")
    ax = figure.add_subplot()
    values = np.asarray(info.values)
    norm = Normalize(*(values.min(), values.max()) if len(values) else (0.0, 1.0))
    cmap = colormaps["viridis_r" if info.direction == "minimize" else "viridis"]  # best = yellow
    xs = np.arange(n_axes)
    coords = np.where(np.isnan(info.coords), _ABSENT, info.coords)  # conditional: not there
    for row in np.argsort(-values if info.direction == "minimize" else values):  # best on top
        ax.plot(xs, coords[row], color=cmap(norm(values[row])), alpha=0.6, linewidth=1.0)
    if info.best_row is not None:
        ax.plot(xs, coords[info.best_row], color="C3", linewidth=2.5)
    _draw_axes(ax, info)
    ax.set_xticks(xs, [*info.names[:-1], ylabel], rotation=20)
    ax.set_yticks([])
    ax.set_ylim(_ABSENT - 0.05, 1.05)
    ax.set_xlim(-0.2, n_axes - 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    figure.colorbar(ScalarMappable(norm, cmap), ax=ax, label=f"{ylabel} ({info.direction})")
    best = "" if info.best_row is None else f"; red: best, trial {info.numbers[info.best_row]}"
    ax.set_title(f"Parallel coordinates ({len(values)} complete trials{best})", fontsize="medium")
    return figure


def plot_parallel(info: ParallelInfo, path: str | Path, *, ylabel: str = "objective"
                  ) -> list[Path]:
    """Draw the parallel coordinates into ``path`` as PNG and SVG; returns the files written."""
    return save_figure(parallel_figure(info, ylabel=ylabel), path)
