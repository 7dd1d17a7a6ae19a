"""Fixtures of the tuning tests: tiny spectra and spaces, quick settings (PLS and Ridge on the
raw route with at most 4 latent variables: the baselines have tests of their own)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

from spectune.data import Spectra, make_synthetic, split_cal_tune
from spectune.tuning import TuneSettings
from spectune.tuning._trial import Evaluation

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(autouse=True)
def no_gc_after_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the full ``gc.collect`` Optuna runs after each trial of ``tune`` (0.4 s a trial in a
    test process; it frees memory, it changes no result)."""
    monkeypatch.setattr("optuna.study._optimize.gc", SimpleNamespace(collect=lambda: 0))


@pytest.fixture
def tiny() -> Spectra:
    """60 synthetic spectra of 40 points, one regression target."""
    return make_synthetic(n_samples=60, n_points=40, random_state=0)[0]


@pytest.fixture
def mlp_space() -> dict[str, Any]:
    """One dense layer of 4-12 units and a learning rate: the smallest space worth tuning."""
    return {"parameters": {
        "units": {"type": "int", "low": 4, "high": 12},
        "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
        "batch_size": 16,
    }}


@pytest.fixture
def quick(mlp_space: dict[str, Any]) -> Callable[..., TuneSettings]:
    """TuneSettings for a few-second run; keyword arguments override."""

    def make(**changes: Any) -> TuneSettings:
        base = dict(space=mlp_space, n_trials=3, max_epochs=4, pruner="none", sampler="random",
                    show_progress=False, linear_routes=("raw",), max_components=4, jobs=1)
        return TuneSettings(**{**base, **changes})

    return make


@pytest.fixture
def hold_out(tiny: Spectra) -> list[Evaluation]:
    """One calibration/tuning split of ``tiny``, as TrialRunner takes it."""
    parts = split_cal_tune(tiny, tune_size=0.2, random_state=0)
    return [Evaluation(parts.cal, parts.tune)]
