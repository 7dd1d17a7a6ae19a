"""Small, fast problems for the training tests: a noisy linear regression and an MLP."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn


def linear_problem(
    n: int = 96, d: int = 8, n_targets: int = 1, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """y = X w + noise in "original units" (scale 100, offset 50), split 2:1 into train/val."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = 50.0 + 100.0 * (
        X @ rng.normal(size=(d, n_targets)) + noise * rng.normal(size=(n, n_targets))
    )
    cut = 2 * n // 3
    return X[:cut], y[:cut], X[cut:], y[cut:]


def mlp(
    d: int = 8, n_out: int = 1, hidden: int = 16, seed: int = 0, dropout: float = 0.0
) -> nn.Module:
    """A tiny MLP whose initial weights depend on ``seed`` only."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(d, hidden), nn.ELU(), nn.Dropout(dropout), nn.Linear(hidden, n_out)
    )


@pytest.fixture
def problem() -> tuple[np.ndarray, ...]:
    return linear_problem()


@pytest.fixture
def make_mlp() -> Callable[..., nn.Module]:
    return mlp


@pytest.fixture
def make_problem() -> Callable[..., tuple[np.ndarray, ...]]:
    return linear_problem
