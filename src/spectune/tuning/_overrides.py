"""Run settings win over a search space's: epochs, early-stopping and plateau patience, LR mode.

A space may set them (the ``passos`` space: ``max_epochs: 450``, ``early_stopping_patience:
50``, ``plateau_patience: 25``, ``lr_mode: range_test``): those are its defaults, used where the
run does not give the setting (``None`` in ``TuneSettings``); without either, the built-in
defaults below apply. A setting the run gives replaces the space's fixed value, said in one log
line; a drawn ``max_epochs`` (Shen's space tunes it) keeps its range below the run's epochs. The
space that runs, and is stored with the study for workers and refits, holds the resolved values,
so no trial trains more epochs than the run allows and Hyperband's largest resource is the most
epochs a trial trains.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from spectune.tuning._parameter import Parameter, SearchSpaceError
from spectune.tuning._space import SearchSpace

__all__ = ["BUILT_IN", "resolve_run_settings"]

log = logging.getLogger("spectune")

#: TuneSettings field -> (the space's parameter, the command-line option, built-in default).
#: A patience of 0 switches early stopping (or the plateau schedule) off.
BUILT_IN: dict[str, tuple[str, str, Any]] = {
    "max_epochs": ("max_epochs", "--epochs", 200),
    "patience": ("early_stopping_patience", "--patience", 30),
    "plateau_patience": ("plateau_patience", "--plateau-patience", 10),
    "lr_mode": ("lr_mode", "--lr-mode", "space"),
}


def resolve_run_settings(space: SearchSpace, given: dict[str, Any]
                         ) -> tuple[SearchSpace, dict[str, Any]]:
    """The space with the run's values in it, and every run setting resolved (none is None).

    ``given``: the run's values by TuneSettings field (None: not given, the space's or the
    built-in default applies).
    """
    spec = copy.deepcopy(space.spec)
    raw = spec["parameters"]
    params = {p.name: p for p in space.parameters}
    resolved = {}
    for field, (name, option, default) in BUILT_IN.items():
        value, param = given.get(field), params.get(name)
        if param is None or name not in raw:  # absent (or made by 'repeat': not a run setting)
            resolved[field] = default if value is None else value
            continue
        if field == "max_epochs" and param.type != "fixed":
            resolved[field] = _cap_epochs(raw, param, value, space.name)
            continue
        if param.type != "fixed":
            if value is None:
                raise SearchSpaceError(f"{space.source}: parameter {name!r} is a run setting "
                                       f"and cannot be tuned; fix it or give {option}")
        elif value is None:
            value = _from_space(field, param.value, space.source)
        elif _from_space(field, param.value, space.source) != value:
            log.warning("%s %s replaces the %s space's %s %s", option, _show(value),
                        space.name, name, _show(param.value))
        raw[name] = _fixed(raw[name], _to_space(field, value))
        resolved[field] = value
    return SearchSpace.from_dict(spec, source=space.source), resolved


def _cap_epochs(raw: dict[str, Any], param: Parameter, epochs: int | None, space: str) -> int:
    """A drawn max_epochs kept at most ``epochs`` (its largest value when not given)."""
    values = param.grid_values(10**6) or []
    largest = int(param.high if param.type == "int" else max(values))  # type: ignore[arg-type]
    if epochs is None or largest <= epochs:
        return largest if epochs is None else epochs
    entry = dict(raw[param.name])
    below = [v for v in values if v <= epochs]
    if param.type == "categorical" and below:
        entry["choices"] = below
    elif param.type == "int" and below:
        entry["high"] = max(below)
    else:  # the whole range lies above: the run's epochs, fixed
        entry = _fixed(entry, epochs)
    log.warning("--epochs %d caps the %s space's max_epochs (up to %d)", epochs, space, largest)
    raw[param.name] = entry
    return epochs


def _fixed(entry: Any, value: Any) -> Any:
    """A space entry fixed at ``value``, its condition and doc kept."""
    if not isinstance(entry, dict):
        return value
    kept = {k: v for k, v in entry.items() if k in ("when", "doc")}
    return {"type": "fixed", "value": value, **kept}


def _from_space(field: str, value: Any, source: str) -> Any:
    """A space's value in the run's terms: a patience of null is 0 (off); range_test."""
    if field == "lr_mode":
        mode = str(value).replace("_", "-")
        if mode not in ("space", "range-test"):
            raise SearchSpaceError(f"{source}: lr_mode must be 'space' or 'range_test', got "
                                   f"{value!r}")
        return mode
    if field == "max_epochs":
        return int(value)
    return 0 if value is None else int(value)


def _to_space(field: str, value: Any) -> Any:
    if field in ("patience", "plateau_patience"):
        return None if value == 0 else int(value)
    return value


def _show(value: Any) -> str:
    return "off" if value is None else str(value)
