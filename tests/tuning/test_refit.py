"""Refit of the best trial on calibration+tuning: epochs from the trial, scratch or warm."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import torch

from spectune.data import Spectra
from spectune.tuning._materialise import TrialPlan, materialise
from spectune.tuning._refit import refit

PARAMS = {"units": 6, "lr": 4e-3, "batch_size": 16}


def _plan(pool: Spectra) -> TrialPlan:
    return materialise(PARAMS, task="regression", n_outputs=1, n_channels=1,
                       length=pool.n_points,
                       train_defaults={"max_epochs": 50, "early_stopping_patience": 5,
                                       "lr_min": 1e-6})


def _best(**user_attrs: Any) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=0.1, user_attrs=user_attrs)


@pytest.mark.parametrize(("attrs", "epochs"), [
    ({"best_epoch": 2, "epochs": 9}, 3),   # 0-based best epoch: train up to and including it
    ({"epochs": 5}, 5),                     # no early stopping: every epoch the trial trained
])
def test_scratch_trains_the_best_trials_epochs_without_early_stopping(
    tiny: Spectra, attrs: dict[str, int], epochs: int
) -> None:
    network = refit(_plan(tiny), _best(**attrs), tiny, seed=3)
    assert len(network.history) == epochs
    assert network.config.early_stopping_patience is None
    assert (network.config.seed, network.config.lr) == (3, PARAMS["lr"])
    assert network.predict(tiny.flat_X()).shape == (tiny.n_samples, 1)


def test_warm_fine_tunes_from_the_given_weights(tiny: Spectra) -> None:
    plan = _plan(tiny)
    with pytest.raises(ValueError, match="--refit warm needs the best trial's weights"):
        refit(plan, _best(best_epoch=7), tiny, mode="warm")
    start = refit(plan, _best(best_epoch=0), tiny, seed=1).model.state_dict()
    network = refit(plan, _best(best_epoch=7), tiny, mode="warm", seed=2, warm_state=start)
    assert len(network.history) == 8 // 4
    assert network.config.lr == pytest.approx(PARAMS["lr"] / 10)
    assert network.config.lr_min <= network.config.lr
    # Two epochs at a tenth of the learning rate stay close to the start, a fresh model does not.
    scratch = refit(plan, _best(best_epoch=1), tiny, seed=2).model.state_dict()
    warm = network.model.state_dict()
    distance = {name: float(torch.dist(warm[name], start[name])) for name in start}
    fresh = {name: float(torch.dist(scratch[name], start[name])) for name in start}
    assert all(distance[n] < fresh[n] for n in start if n.endswith("weight"))
