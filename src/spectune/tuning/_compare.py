"""TPE against random search (or any samplers) on the same data, splits, budget and seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import optuna

from spectune.data import Spectra
from spectune.tuning._run import search
from spectune.tuning._settings import TuneSettings

__all__ = ["compare_samplers"]


def compare_samplers(
    train: Spectra, out: Path, settings: TuneSettings, samplers: Sequence[str] = ("tpe", "random")
) -> dict[str, optuna.Study]:
    """Run one study per sampler (named after it) in ``out/study.db``; the studies by name.

    Everything but the sampler is the same: data, split, space, budget, seed.
    :func:`spectune.analysis.summarize_convergence` draws and sums them up.
    """
    return {name: search(train, out, dataclasses.replace(settings, sampler=name,
                                                         study_name=name)).study
            for name in samplers}
