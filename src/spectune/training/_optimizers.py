"""The optimizer named in a TrainConfig, built from torch.optim."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from spectune.training._config import TrainConfig


def make_optimizer(
    config: TrainConfig, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """Build ``config.optimizer`` at ``config.lr``; each keeps torch's own defaults otherwise."""
    name, lr = config.optimizer, config.lr
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=config.nesterov)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adagrad(params, lr=lr)
