"""After the study: the best configuration refitted on calibration+tuning data.

Passos & Mishra (2022) gain accuracy by retraining the chosen model on all the training data.
With no tuning set left for early stopping, ``scratch`` trains for the epochs at which the best
trial's tuning error was lowest; ``warm`` starts from the best trial's weights and fine-tunes
for a quarter of those epochs at a tenth of its learning rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import optuna

from spectune.data import Spectra
from spectune.training._augment import augmenter_from_params
from spectune.training._network import SpectralNetwork, fit_network
from spectune.training._residual import fit_pls_baseline
from spectune.tuning._materialise import TrialPlan
from spectune.tuning._trial import wants_pls_residual

__all__ = ["refit"]

Refit = Literal["scratch", "warm"]


def refit(
    plan: TrialPlan,
    best: optuna.trial.FrozenTrial,
    pool: Spectra,
    *,
    mode: Refit = "scratch",
    seed: int = 0,
    warm_state: Mapping[str, Any] | None = None,
) -> SpectralNetwork:
    """Train ``plan`` on every spectrum of ``pool`` (calibration + tuning, never test)."""
    epochs = int(best.user_attrs.get("best_epoch", best.user_attrs.get("epochs", 1) - 1)) + 1
    config = dataclasses.replace(
        plan.train, early_stopping_patience=None, max_epochs=max(1, epochs), seed=seed
    )
    init_state = None
    if mode == "warm":
        if warm_state is None:
            raise ValueError("--refit warm needs the best trial's weights; they were not kept "
                             "(k-fold objectives keep none): use --refit scratch.")
        lr = max(config.lr_min, config.lr / 10)
        config = dataclasses.replace(config, lr=lr, lr_min=min(config.lr_min, lr),
                                     max_epochs=max(1, epochs // 4))
        init_state = warm_state
    residual = (fit_pls_baseline(pool.flat_X(), pool.y, random_state=seed)
                if wants_pls_residual(plan, pool) else False)
    return fit_network(
        pool.flat_X(), pool.y, preprocessing=plan.preprocess, arch=plan.arch, config=config,
        task=pool.task, classes=pool.classes if pool.task == "classification" else None,
        init_state=init_state, augment=augmenter_from_params(plan.extra), pls_residual=residual,
    )
