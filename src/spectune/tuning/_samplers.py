"""Optuna samplers and pruners by name, with the defaults the papers and our measurements chose."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import optuna

SamplerName = Literal["tpe", "random", "grid", "gp", "cmaes", "qmc"]
PrunerName = Literal["hyperband", "median", "none"]
SAMPLERS: tuple[str, ...] = ("tpe", "random", "grid", "gp", "cmaes", "qmc")
PRUNERS: tuple[str, ...] = ("hyperband", "median", "none")

STARTUP_TRIALS_PER_DIMENSION = 10


def default_startup_trials(n_dimensions: int, n_trials: int | None) -> int:
    """About 10 random trials per hyperparameter (Passos & Mishra), capped by the budget.

    With a trial budget, at most a third of it is random so that TPE has trials left to
    exploit; at least 5 so its first model is not fitted on one or two points.
    """
    wanted = STARTUP_TRIALS_PER_DIMENSION * max(1, n_dimensions)
    if n_trials is None:
        return wanted
    return max(min(5, n_trials), min(wanted, n_trials // 3))


def make_sampler(
    name: str,
    *,
    seed: int | None,
    n_startup_trials: int = 10,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler; ``grid`` (the space's grid) is needed by ``"grid"`` only."""
    if name == "tpe":
        # multivariate + group model the joint and conditional parameters; constant_liar lets
        # several workers ask at once without proposing the same point.
        with warnings.catch_warnings():  # group= is marked experimental; we rely on it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                n_startup_trials=n_startup_trials, multivariate=True, group=True,
                constant_liar=True, seed=seed,
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        if grid is None:
            raise ValueError("--sampler grid needs a space whose parameters all have a grid.")
        return optuna.samplers.GridSampler(dict(grid), seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)
    if name == "cmaes":
        # Optuna imports the "cmaes" package lazily: without it every trial after the start-up
        # would fail with ModuleNotFoundError, so say so before the study starts.
        if importlib.util.find_spec("cmaes") is None:
            raise ValueError("--sampler cmaes needs the 'cmaes' package: pip install cmaes, "
                             "or choose another sampler.")
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=n_startup_trials,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
    if name == "qmc":
        with warnings.catch_warnings():  # experimental since Optuna 3.0, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    raise ValueError(f"--sampler {name!r} is not known; choose one of {', '.join(SAMPLERS)}.")


def make_pruner(
    name: str,
    *,
    max_epochs: int,
    min_resource: int = 10,
    reduction_factor: int = 3,
) -> optuna.pruners.BasePruner:
    """An Optuna pruner whose resource is the training epoch."""
    if name == "hyperband":
        if not 1 <= min_resource < max_epochs:
            raise ValueError(
                f"--min-resource must lie in [1, max_epochs={max_epochs}); got {min_resource}."
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=max_epochs, reduction_factor=reduction_factor
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min_resource)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner {name!r} is not known; choose one of {', '.join(PRUNERS)}.")
