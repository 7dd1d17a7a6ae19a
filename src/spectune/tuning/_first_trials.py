"""The first trials of a new study: cheap, known-good configurations, sized to the data.

Before TPE's random start-up trials, a study runs configurations that are known to do well on
spectra and cost seconds, so that a study cut short after one trial still has a reasonable model
and the sampler's first model has good points to start from:

1. a small PLS-residual MLP (regression on one channel: PLS plus a 32-unit correction, which
   is at worst about PLS; a plain small MLP otherwise);
2. Passos & Mishra's (2022) base CNN: the six concatenated routes, one narrow conv layer, ELU,
   He-normal, L2 (their beta 0.003), Adam at 2.5e-3 and a dense funnel sized from the conv
   output it gets (first layer a quarter of it, each next half the one before).

Each is written in the ``default`` space's names; a space that cannot draw one (other names,
values outside its ranges) or a draw that does not build for the data is skipped, so a space of
one's own starts with the configurations it can express, or with none.
"""

from __future__ import annotations

from typing import Any

from spectune.tuning._space import SearchSpace
from spectune.tuning._trial import TrialRunner

__all__ = ["first_trials"]


def first_trials(space: SearchSpace, runner: TrialRunner) -> list[tuple[str, dict[str, Any]]]:
    """``(name, params)`` of the starting configurations ``space`` can draw, in order."""
    n_cal = len(runner.evaluations[0].train)
    batch = 16 if n_cal < 100 else 32
    mlp = {"pls_residual": True, "route": "snv", "n_conv": 0, "n_fc": 1, "units_1": 32,
           "dropout": 0.1, "activation": "relu", "lr": 1e-3, "l2": 1e-4, "batch_size": batch,
           "aug": False}
    passos = {"pls_residual": False, "route": "passos_concat", "n_conv": 1, "filters_1": 4,
              "kernel_size": 5, "n_fc": 3, "dropout": 0.0, "activation": "elu", "lr": 2.5e-3,
              "l2": 0.0015, "batch_size": batch, "aug": False}
    found = []
    for name, values in (("small PLS-residual MLP", mlp),
                         ("Passos & Mishra CNN", _funnel(space, runner, passos))):
        params = space.draws(values)
        if params is not None and _builds(space, runner, params):
            found.append((name, params))
    return found


def _funnel(space: SearchSpace, runner: TrialRunner, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with dense units 1/4 of the conv output, then halving (within 16..256)."""
    probe = space.draws({**values, "n_fc": 1, "units_1": 16})
    if probe is None or not _builds(space, runner, probe):
        return values
    plan = runner.plan(space.resolve(probe))
    features = next(layer.out_shape[0] for layer in plan.summary.layers
                    if layer.module == "flatten")
    units = [min(256, max(16, round(features / 4)))]
    while len(units) < values["n_fc"]:
        units.append(max(16, round(units[-1] / 2)))
    return {**values, **{f"units_{i}": u for i, u in enumerate(units, start=1)}}


def _builds(space: SearchSpace, runner: TrialRunner, params: dict[str, Any]) -> bool:
    try:
        runner.plan(space.resolve(params))
    except Exception:  # noqa: BLE001 - too large for the data, too short a spectrum: skip it
        return False
    return True
