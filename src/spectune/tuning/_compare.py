"""TPE against random search (or any samplers) on the same data, splits, budget and seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spectune.analysis._convergence import get_convergence_info, plot_convergence
from spectune.data import Spectra
from spectune.tuning._run import TuneSettings, search

__all__ = ["compare_samplers"]


def compare_samplers(
    train: Spectra, out: Path, settings: TuneSettings, samplers: Sequence[str] = ("tpe", "random")
) -> dict[str, Any]:
    """Run one study per sampler (named after it) in ``out/study.db``; draw the convergence.

    Everything but the sampler is the same: data, split, space, budget, seed. Returns, per
    sampler, the best value, the trial that found it and the curve.
    """
    infos = []
    for name in samplers:
        found = search(train, out, dataclasses.replace(settings, sampler=name, study_name=name))
        infos.append(get_convergence_info(found.study, name))
    label = found.objective.name
    files = plot_convergence(infos, out / "convergence", ylabel=label)
    return {
        "objective": label,
        "n_trials": settings.n_trials,
        "seed": settings.seed,
        "samplers": {
            info.name: {
                "best": info.best_so_far[-1] if info.values else None,
                "best_trial": info.numbers[info.values.index(info.best_so_far[-1])]
                if info.values else None,
                "trials": info.numbers,
                "values": info.values,
                "best_so_far": info.best_so_far,
            }
            for info in infos
        },
        "figures": [str(f.name) for f in files],
    }
