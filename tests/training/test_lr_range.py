"""LR range test on least squares with plain SGD, whose stability limit is known by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from spectune.training import TrainConfig, lr_range_test


@pytest.fixture
def least_squares():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(160, 5)) * [3.0, 1.0, 1.0, 0.5, 0.5]).astype(np.float32)
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=160)
    return X[:120], y[:120], X[120:], y[120:]


def _stability_limit(X):
    # loss = mean((A theta - y)^2), A = [X, 1]: Hessian 2 A^T A / n; stable if lr < 2/lambda_max
    A = np.c_[X, np.ones(len(X))].astype(np.float64)
    return 2.0 / np.linalg.eigvalsh(2.0 * A.T @ A / len(A)).max()


def _sgd(**options):
    return TrainConfig(optimizer="sgd", momentum=0.0, batch_size=32, **options)


def test_lr_max_lies_just_below_the_divergence_point(least_squares):
    X, y, Xv, yv = least_squares
    limit = _stability_limit(X)
    result = lr_range_test(
        lambda: torch.nn.Linear(5, 1), X, y, Xv, yv, config=_sgd(), lr_start=1e-5, lr_end=10.0
    )
    assert limit / 10 < result.lr_max < limit
    assert result.lr_min < result.lr_max
    assert result.diverged_at is not None and result.diverged_at > limit
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-5, 10.0, 100)[: len(result.lrs)])
    assert len(result.smoothed) == len(result.losses) - 1  # the diverged step is left out


def test_stops_once_the_averaged_loss_exceeds_the_divergence_factor(least_squares):
    result = lr_range_test(
        lambda: torch.nn.Linear(5, 1), *least_squares, config=_sgd(), lr_end=10.0
    )
    # reference: pandas' adjusted EWM equals the bias-corrected moving average
    average = pd.Series(result.losses).ewm(alpha=0.2, adjust=True).mean().to_numpy()
    best_before = np.minimum.accumulate(average)[:-1]
    assert average[-1] > 4 * best_before[-1] or not np.isfinite(result.losses[-1])
    assert np.all(average[1:-1] <= 4 * best_before[:-1])  # no earlier step was due to stop


def test_works_on_the_training_loss_without_validation(least_squares):
    X, y = least_squares[:2]
    result = lr_range_test(lambda: torch.nn.Linear(5, 1), X, y, config=_sgd(seed=1), lr_end=10.0)
    assert result.lr_min < result.lr_max < _stability_limit(X)
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["lr_max"] == result.lr_max and len(data["losses"]) == len(result.lrs)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lr_start": 1.0, "lr_end": 0.1}, "lr_start=1.0"),
        ({"n_steps": 2}, "n_steps=2"),
        ({"backoff": 0.5}, "backoff=0.5"),
        ({"drop": 1.0}, "drop=1.0"),
    ],
)
def test_bad_parameters_are_named(least_squares, options, match):
    with pytest.raises(ValueError, match=match):
        lr_range_test(lambda: torch.nn.Linear(5, 1), *least_squares, config=_sgd(), **options)


def test_immediate_divergence_is_explained(least_squares):
    with pytest.raises(ValueError, match="lower lr_start"):
        lr_range_test(
            lambda: torch.nn.Linear(5, 1), *least_squares, config=_sgd(), lr_start=1e4, lr_end=1e6
        )
