"""Every choice of a tuning run, as one frozen value saved with the study."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from spectune.exceptions import SpectuneError
from spectune.tuning._overrides import BUILT_IN
from spectune.tuning._storage import public_url

__all__ = ["TuneSettings", "settings_from_study", "stored_settings"]


@dataclass(frozen=True)
class TuneSettings:
    """Every choice of a tuning run, saved with the study so that a run can be reproduced.

    Budget: ``n_trials`` (finished trials, resumed ones included) and/or ``timeout`` seconds.
    ``cv`` > 1 scores each trial by k-fold CV on calibration+tuning data instead of the hold-out
    tuning set; ``seeds`` > 1 trains each evaluation from that many initial seeds.
    ``max_epochs``, ``patience``, ``plateau_patience`` (0: off) and ``lr_mode`` win over the
    space's values; None takes the space's, else the built-in default (``_overrides``).
    """

    space: str = "default"
    objective: str | None = None
    objective_weights: tuple[float, float] = (0.5, 0.5)
    pareto: bool = False
    cv: int = 0
    seeds: int = 1
    sampler: str = "tpe"
    n_startup_trials: int | None = None
    pruner: str = "hyperband"
    min_resource: int = 10
    reduction_factor: int = 3
    n_trials: int | None = 30
    timeout: float | None = None
    storage: str | None = None
    study_name: str = "spectune"
    resume: bool = False
    seed: int = 0
    device: str = "cpu"
    max_epochs: int | None = None
    patience: int | None = None
    plateau_patience: int | None = None
    lr_mode: str | None = None
    candidates: int = 3
    jobs: int | None = None
    linear_routes: tuple[str, ...] | None = None
    max_components: int = 20
    screen_outliers: bool = False
    split: str = "auto"
    test_size: float = 0.2
    tune_size: float = 0.2
    show_progress: bool = True
    population: int | None = None

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout is None:
            raise ValueError("give a budget: --trials N and/or --timeout SECONDS.")
        if self.n_trials is not None and self.n_trials < 1:
            raise ValueError(f"--trials must be >= 1, got {self.n_trials}.")
        if self.cv == 1 or self.cv < 0:
            raise ValueError(f"--cv must be 0 (hold-out tuning set) or >= 2 folds, got {self.cv}.")
        if self.candidates < 1:
            raise ValueError(f"--candidates must be >= 1, got {self.candidates}.")
        if self.jobs is not None and self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs}.")
        if self.max_components < 1:
            raise ValueError(f"--max-components must be >= 1, got {self.max_components}.")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}.")
        if self.lr_mode not in (None, "space", "range-test"):
            raise ValueError(f"--lr-mode must be 'space' or 'range-test', got {self.lr_mode!r}.")
        for name, low in (("max_epochs", 1), ("patience", 0), ("plateau_patience", 0)):
            value = getattr(self, name)
            if value is not None and value < low:
                raise ValueError(f"{BUILT_IN[name][1]} must be >= {low}, got {value}.")
        if self.pruner == "hyperband" and self.max_epochs is not None \
                and not 1 <= self.min_resource < self.max_epochs:
            raise ValueError(f"--min-resource must lie in [1, --epochs={self.max_epochs}) for "
                             f"hyperband; got {self.min_resource}.")


def settings_from_study(attrs: dict[str, Any], **changes: Any) -> TuneSettings:
    """The settings a study was created with (its user attributes), with ``changes``."""
    if "settings" not in attrs:
        raise SpectuneError("the study holds no spectune settings; was it created by spectune?")
    names = {f.name for f in dataclasses.fields(TuneSettings)}
    stored = {k: v for k, v in attrs["settings"].items() if k in names}
    stored["objective_weights"] = tuple(stored.get("objective_weights", (0.5, 0.5)))
    if stored.get("linear_routes") is not None:
        stored["linear_routes"] = tuple(stored["linear_routes"])
    return dataclasses.replace(TuneSettings(**stored), **changes)


def stored_settings(settings: TuneSettings) -> dict[str, Any]:
    """The settings as saved with the study (a password in the storage URL hidden)."""
    stored = dataclasses.asdict(settings)
    if settings.storage:
        stored["storage"] = public_url(settings.storage)
    return stored
