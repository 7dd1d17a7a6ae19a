"""The population trainer: each member gives what the single loop gives it alone.

Tolerance (float32, CPU, one thread): batch order and dropout masks are the single loop's by
construction and the Adam update is the same arithmetic (bit-equal, tested below); what remains
is the batched kernels (grouped convolution, batched matrix product), whose float32 sums round
differently. Measured after 15 epochs: histories and predictions agree to <= 5e-7 relative; the
tests allow RTOL = 1e-5, and require every discrete outcome (epochs, stop reason, best epoch,
learning-rate schedule) to be identical.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from spectune.models import ArchSpec, ConvBlock, DenseBlock, build_model
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import (
    DivergedError,
    ReportCallback,
    TrainConfig,
    TrainingPruned,
    TrainResult,
    train,
)
from spectune.training._network import build_member, finish_network, fit_network, prepare_inputs
from spectune.training._population import MemberOutcome, PopulationTrainer, population_key
from spectune.training._population_adam import StackedAdam
from spectune.training._population_model import population_signature
from spectune.training._residual import fit_pls_baseline

RTOL = 1e-5  # float32; measured <= 5e-7 (module docstring)
POINTS = 40
BASE = {"batch_size": 16, "max_epochs": 15, "early_stopping_patience": 4,
        "plateau_patience": 2, "plateau_factor": 0.5, "lr_min": 1e-4}
MLP = ArchSpec(fc=(DenseBlock(8), DenseBlock(4)), n_outputs=1)
CNN_DROPOUT = ArchSpec(conv=(ConvBlock(2, 5, pool="max", dropout=0.1),),
                       fc=(DenseBlock(8, dropout=0.2),), n_outputs=1)
CNN_BATCHNORM = ArchSpec(conv=(ConvBlock(2, 5, batch_norm=True),),
                         fc=(DenseBlock(8, batch_norm=True),), n_outputs=1)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    """90 spectra of 40 points, y a noisy band sum; 60 to train, 30 to validate."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 1, POINTS)).astype(np.float32)
    y = X[:, 0, :5].sum(axis=1) + 0.1 * rng.normal(size=90)
    return X[:60], y[:60], X[60:], y[60:]


def _configs(**changes: Any) -> list[TrainConfig]:
    """Three members that differ in seed, learning rate and L2."""
    settings = [(0, 1e-2, 0.0), (1, 3e-3, 1e-3), (2, 3e-2, 1e-2)]
    return [TrainConfig(seed=s, lr=lr, l2=l2, **{**BASE, **changes}) for s, lr, l2 in settings]


def _alone(spec: ArchSpec, config: TrainConfig, data: tuple[np.ndarray, ...], **kw: Any
           ) -> TrainResult:
    return train(build_model(spec, 1, POINTS, seed=config.seed), *data, config=config, **kw)


def _assert_same_run(alone: TrainResult, member: TrainResult, X_val: np.ndarray) -> None:
    """Identical discrete outcomes; losses, metrics and predictions within RTOL."""
    assert len(member.history) == len(alone.history)
    assert member.stop_reason == alone.stop_reason
    assert member.best_epoch == alone.best_epoch
    assert member.history.lr == alone.history.lr
    for key in ("train_loss", "val_loss", "val_metric"):
        np.testing.assert_allclose(member.history.column(key), alone.history.column(key),
                                   rtol=RTOL, err_msg=key)
    expected = alone.predict(X_val)
    np.testing.assert_allclose(member.predict(X_val), expected,
                               atol=RTOL * np.abs(expected).max())


@pytest.mark.parametrize("decoupled", [False, True])
def test_stacked_adam_equals_torch_adam_to_the_bit(decoupled: bool) -> None:
    lrs, decays = [1e-3, 3e-2, 0.1], [0.0, 0.01, 0.1]
    generator = torch.Generator().manual_seed(0)
    alone = [torch.randn(4, 6, generator=generator, requires_grad=True) for _ in lrs]
    optim = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizers = [optim([p], lr=lr, weight_decay=wd if decoupled else 0.0)
                  for p, lr, wd in zip(alone, lrs, decays)]
    stacked = {"w": torch.stack([p.detach().clone() for p in alone])}
    adam = StackedAdam(stacked, decoupled=decoupled)
    for _ in range(30):
        # gradients over several orders of magnitude, different per member
        scale = 10.0 ** torch.randn(3, 1, 1, generator=generator)
        grads = torch.randn(3, 4, 6, generator=generator) * scale
        for p, opt, g in zip(alone, optimizers, grads):
            p.grad = g.clone()
            opt.step()
        adam.step(stacked, {"w": grads}, torch.tensor(lrs, dtype=torch.float64),
                  torch.tensor(decays, dtype=torch.float64))
    assert torch.equal(stacked["w"], torch.stack([p.detach() for p in alone]))


@pytest.mark.parametrize("spec", [MLP, CNN_DROPOUT, CNN_BATCHNORM],
                         ids=["mlp", "cnn-dropout", "cnn-batchnorm"])
def test_members_train_as_they_would_alone(spec: ArchSpec, data: tuple[np.ndarray, ...]) -> None:
    configs = _configs()
    population = PopulationTrainer(*data)
    ids = [population.add(build_model(spec, 1, POINTS, seed=c.seed), c) for c in configs]
    outcomes = population.run()
    assert sorted(outcomes) == ids and len(population) == 0
    stops = set()
    for member, config in zip(ids, configs):
        alone = _alone(spec, config, data)
        _assert_same_run(alone, outcomes[member].result, data[2])
        stops.add(alone.stop_reason.split(" at ")[0])
    # the members really differ: one stops early, another runs all its epochs
    assert stops == {"early stopping", "max_epochs reached"}


def test_adamw_grad_clip_and_classification_match_the_single_loop(
    data: tuple[np.ndarray, ...]
) -> None:
    X, y, Xv, yv = data
    labels, labels_val = (y > np.median(y)).astype(int), (yv > np.median(y)).astype(int)
    spec = ArchSpec(fc=(DenseBlock(8, dropout=0.25),), n_outputs=2, task="classification")
    configs = [dataclasses.replace(c, optimizer="adamw", weight_decay=wd, grad_clip=clip)
               for c, wd, clip in zip(_configs(max_epochs=8), (0.0, 0.01, 0.1), (None, 0.5, 2.0))]
    population = PopulationTrainer(X, labels, Xv, labels_val, task="classification")
    ids = [population.add(build_model(spec, 1, POINTS, seed=c.seed), c) for c in configs]
    outcomes = population.run()
    for member, config in zip(ids, configs):
        alone = _alone(spec, config, (X, labels, Xv, labels_val), task="classification")
        _assert_same_run(alone, outcomes[member].result, Xv)


def test_pruning_hook_per_member_matches_a_report_callback(data: tuple[np.ndarray, ...]) -> None:
    configs = _configs(max_epochs=6, early_stopping_patience=None)
    reports: list[tuple[int, float, int]] = []
    population = PopulationTrainer(
        *data, report=lambda member, value, epoch: reports.append((member, value, epoch)),
        should_prune=lambda member: member == 1 and len(
            [r for r in reports if r[0] == 1]) == 3,
    )
    ids = [population.add(build_model(MLP, 1, POINTS, seed=c.seed), c) for c in configs]
    outcomes = population.run()
    pruned = outcomes[ids[1]].error
    assert isinstance(pruned, TrainingPruned) and pruned.epoch == 2
    seen: list[tuple[float, int]] = []
    callback = ReportCallback(lambda value, epoch: seen.append((value, epoch)),
                              lambda: len(seen) == 3)
    with pytest.raises(TrainingPruned) as alone:
        _alone(MLP, configs[1], data, callbacks=[callback])
    assert len(pruned.history) == len(alone.value.history) == 3
    np.testing.assert_allclose(pruned.history.train_loss, alone.value.history.train_loss,
                               rtol=RTOL)
    mine = [(v, e) for m, v, e in reports if m == ids[1]]
    assert [e for _, e in mine] == [e for _, e in seen] == [0, 1, 2]
    np.testing.assert_allclose([v for v, _ in mine], [v for v, _ in seen], rtol=RTOL)
    # the others were not disturbed
    assert [len(outcomes[i].result.history) for i in (ids[0], ids[2])] == [6, 6]


def test_members_join_and_leave_between_epochs(data: tuple[np.ndarray, ...]) -> None:
    first, second, late = _configs(max_epochs=7)
    population = PopulationTrainer(*data, exact_dropout=True)
    a = population.add(build_model(CNN_DROPOUT, 1, POINTS, seed=first.seed), first)
    b = population.add(build_model(CNN_DROPOUT, 1, POINTS, seed=second.seed), second)
    outcomes: dict[int, MemberOutcome] = {}
    for _ in range(2):
        outcomes.update((o.member, o) for o in population.step())
    c = population.add(build_model(CNN_DROPOUT, 1, POINTS, seed=late.seed), late)
    population.remove(b)
    assert population.members == [a, c]
    outcomes.update(population.run())
    assert b not in outcomes
    for member, config in ((a, first), (c, late)):
        _assert_same_run(_alone(CNN_DROPOUT, config, data), outcomes[member].result, data[2])


def test_a_diverging_member_fails_alone_at_the_single_loop_epoch(
    data: tuple[np.ndarray, ...]
) -> None:
    fine, wild = _configs(max_epochs=4)[:2]
    wild = dataclasses.replace(wild, lr=1e6, lr_min=0.0, early_stopping_patience=None)
    population = PopulationTrainer(*data)
    ids = [population.add(build_model(MLP, 1, POINTS, seed=c.seed), c) for c in (fine, wild)]
    outcomes = population.run()
    with pytest.raises(DivergedError) as alone:
        _alone(MLP, wild, data)
    error = outcomes[ids[1]].error
    assert isinstance(error, DivergedError) and error.epoch == alone.value.epoch
    assert len(error.history) == alone.value.epoch + 1
    assert outcomes[ids[0]].result is not None


def test_signature_ignores_dropout_rates_and_centred_kernel_widths_only() -> None:
    def key(kernel: int = 5, padding: Any = "same", **fields: Any) -> Any:
        spec = ArchSpec(conv=(ConvBlock(2, kernel, padding=padding, dropout=0.1),),
                        fc=(DenseBlock(**{"units": 8, **fields}),), n_outputs=1)
        return population_signature(build_model(spec, 1, POINTS, seed=0))

    assert key(dropout=0.1) == key(dropout=0.4) == key(kernel=9, dropout=0.1)
    assert key(dropout=0.1) != key(dropout=0.1, activation="elu")  # same shapes, other module
    assert key(dropout=0.1) != key(dropout=0.1, units=9)
    assert key(kernel=5, padding=0) != key(kernel=7, padding=0)  # valid convolutions: no
    assert key(kernel=4) != key(kernel=6)  # even "same" kernels pad asymmetrically: no


def test_centred_kernels_of_other_widths_train_as_alone(data: tuple[np.ndarray, ...]) -> None:
    def spec(kernel: int) -> ArchSpec:
        return ArchSpec(conv=(ConvBlock(1, kernel, padding="same"),),
                        fc=(DenseBlock(8, dropout=0.1),), n_outputs=1)

    configs = _configs(max_epochs=8)
    kernels = (3, 5, 9)  # the last one widens the population after an epoch of training
    population = PopulationTrainer(*data)
    ids = [population.add(build_model(spec(k), 1, POINTS, seed=c.seed), c)
           for k, c in zip(kernels[:2], configs[:2])]
    assert population.step() == []
    ids.append(population.add(build_model(spec(kernels[2]), 1, POINTS, seed=configs[2].seed),
                              configs[2]))
    outcomes = population.run()
    for member, kernel, config in zip(ids, kernels, configs):
        result = outcomes[member].result
        assert result.model.features[0].conv.weight.shape[-1] == kernel
        _assert_same_run(_alone(spec(kernel), config, data), result, data[2])


def test_members_that_cannot_join_are_refused(data: tuple[np.ndarray, ...]) -> None:
    config = _configs()[0]
    population = PopulationTrainer(*data)
    population.add(build_model(MLP, 1, POINTS, seed=0), config)
    with pytest.raises(ValueError, match="does not fit the population"):
        population.add(build_model(CNN_DROPOUT, 1, POINTS, seed=0), config)
    with pytest.raises(ValueError, match="does not fit the population"):
        population.add(build_model(MLP, 1, POINTS, seed=0),
                       dataclasses.replace(config, batch_size=8))
    with pytest.raises(ValueError, match="optimizer 'adam' or 'adamw', got optimizer='sgd'"):
        population_key(build_model(MLP, 1, POINTS), dataclasses.replace(config, optimizer="sgd"))
    with pytest.raises(ValueError, match=r"Dropout1d\) cannot be batched"):
        population_key(nn.Sequential(nn.Flatten(), nn.Dropout1d(0.1)), config)
    with pytest.raises(ValueError, match="member 7 is not in this population"):
        population.remove(7)
    with pytest.raises(ValueError, match="needs validation data"):
        PopulationTrainer(data[0], data[1], report=lambda *a: None)
    two_outputs = ArchSpec(fc=(DenseBlock(8),), n_outputs=2)
    with pytest.raises(ValueError, match="there are 1 targets"):
        PopulationTrainer(*data).add(build_model(two_outputs, 1, POINTS, seed=0), config)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_prepare_build_train_finish_is_fit_network(task: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(48, POINTS)).cumsum(axis=1).astype(np.float32)
    y = X[:, 10] - X[:, 30] + 0.1 * rng.normal(size=48)
    if task == "classification":
        y = np.where(y > np.median(y), "high", "low")
    kwargs = {"preprocessing": PreprocessingSpec(("snv",), "concat", True), "task": task,
              "X_val": X[36:], "y_val": y[36:]}
    # regression: a PLS-residual network (a small PLS grid keeps the test fast)
    residual = fit_pls_baseline(X[:36], y[:36], max_components=3, routes=("raw",), cv=3) \
        if task == "regression" else False
    arch = ArchSpec(fc=(DenseBlock(6),), n_outputs=2 if residual is False else 1, task=task)
    config = TrainConfig(max_epochs=5, batch_size=12, seed=3, early_stopping_patience=3)
    expected = fit_network(X[:36], y[:36], arch=arch, config=config, pls_residual=residual,
                           **kwargs)
    inputs = prepare_inputs(X[:36], y[:36], pls_residual=residual, seed=config.seed, **kwargs)
    spec, model, _ = build_member(inputs, arch, config)
    result = train(model, inputs.X, inputs.y, inputs.X_val, inputs.y_val, config=config,
                   task=task)
    network = finish_network(inputs, spec, result, config)
    np.testing.assert_array_equal(network.predict(X[36:]), expected.predict(X[36:]))
    assert network.history.as_dict()["train_loss"] == expected.history.as_dict()["train_loss"]
    assert (network.linear is None) == (expected.linear is None) == (residual is False)
