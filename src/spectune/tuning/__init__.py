"""Tuning stage: search spaces, objectives and the Optuna study runner (where Optuna lives)."""

from __future__ import annotations

from spectune.tuning._materialise import TrialPlan, materialise
from spectune.tuning._parameter import Parameter, SearchSpaceError
from spectune.tuning._samplers import (
    PRUNERS,
    SAMPLERS,
    default_startup_trials,
    make_pruner,
    make_sampler,
)
from spectune.tuning._settings import TuneSettings, settings_from_study
from spectune.tuning._space import BUILTIN_SPACES, SearchSpace, load_space

__all__ = [
    "BUILTIN_SPACES",
    "PRUNERS",
    "SAMPLERS",
    "Parameter",
    "SearchSpace",
    "SearchSpaceError",
    "TrialPlan",
    "TuneSettings",
    "default_startup_trials",
    "load_space",
    "make_pruner",
    "make_sampler",
    "materialise",
    "settings_from_study",
]
