"""Convergence of one or several studies: best value so far against trials (TPE vs random)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.trial import TrialState

from spectune.analysis._figures import save_figure

__all__ = [
    "ConvergenceInfo", "get_convergence_info", "plot_convergence", "summarize_convergence",
]


class ConvergenceInfo(NamedTuple):
    """One study's curve: each completed trial's value and the best value up to it."""

    name: str
    numbers: list[int]
    values: list[float]
    best_so_far: list[float]
    direction: str


def get_convergence_info(study: optuna.Study, name: str | None = None) -> ConvergenceInfo:
    """Completed trials in the order they were run; pruned and failed ones add no point."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    trials.sort(key=lambda t: t.number)
    values = [float(t.values[0]) for t in trials]
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    best = (np.maximum if maximize else np.minimum).accumulate(values).tolist() if values else []
    return ConvergenceInfo(name or study.study_name, [t.number for t in trials], values, best,
                           "maximize" if maximize else "minimize")


def plot_convergence(infos: Sequence[ConvergenceInfo], path: Path, *, ylabel: str = "objective"
                     ) -> list[Path]:
    """Draw the curves into ``path`` as PNG and SVG; returns the files written."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for info in infos:
        line = ax.step(info.numbers, info.best_so_far, where="post", label=f"{info.name} best")
        ax.scatter(info.numbers, info.values, s=10, alpha=0.4, color=line[0].get_color())
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel)
    ax.set_title("Convergence: best value so far")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def summarize_convergence(studies: dict[str, optuna.Study], out: Path, *, objective: str
                          ) -> dict[str, Any]:
    """Draw ``out/convergence.png/.svg`` and return, per study, its best value, the trial that
    found it and the curve (``convergence.json``'s content)."""
    infos = [get_convergence_info(study, name) for name, study in studies.items()]
    files = plot_convergence(infos, out / "convergence", ylabel=objective)
    return {
        "objective": objective,
        "samplers": {
            info.name: {
                "best": info.best_so_far[-1] if info.values else None,
                "best_trial": info.numbers[info.values.index(info.best_so_far[-1])]
                if info.values else None,
                "trials": info.numbers, "values": info.values, "best_so_far": info.best_so_far,
            }
            for info in infos
        },
        "figures": [str(f.name) for f in files],
    }
