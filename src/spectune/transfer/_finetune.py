"""Fine-tuning: a few more training epochs of the model's networks on the new standards.

A network's weights can follow the new instrument directly, but a few standards overfit fast,
so the number of epochs is a setting chosen by cross-validation over the standards like any
other: each CV fit trains up to the largest candidate once and the held-out standards are
predicted after every epoch. Two modes: the output layer only (``layers="output"``, at the
network's own learning rate), or every layer at a tenth of it (``layers="all"``); batch-norm
statistics stay frozen either way (a handful of standards cannot re-estimate them). Each step
is one full batch of standards, with the training loop of :mod:`spectune.training`.

Members without a network (PLS alone) are kept as they are; a PLS-residual network learns the
standards' residual from its PLS part, which stays fixed.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from spectune.training import Callback, Member, SavedModel, SpectralNetwork, TrainConfig, train
from spectune.transfer._methods import Context, Method, Setting
from spectune.transfer._standards import Standards

__all__ = ["FineTuning", "fine_tune", "has_network"]

LAYERS = ("output", "all")
#: Epoch counts the CV may choose from (up to ``Context.max_epochs``, which is always tried).
EPOCH_LADDER = (1, 2, 5, 10, 20, 50, 100, 200, 500)
ALL_LAYERS_LR_FACTOR = 0.1


class FineTuning(Method):
    """Train the networks further on the standards measured on the new instrument.

    Settings: ``layers`` ("output" or "all") and ``epochs``.
    """

    name = "fine-tuning"
    needs_references = True
    min_standards = 5

    def unavailable(self, context: Context) -> str | None:
        if context.model.task != "regression":
            return "fine-tunes regression models"
        if not any(has_network(m) for m in context.model.members):
            return "the model has no network to fine-tune (linear members only)"
        return None

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        epochs = sorted({e for e in EPOCH_LADDER if e < context.max_epochs} | {context.max_epochs})
        return [{"layers": layers, "epochs": e} for layers in LAYERS for e in epochs]

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        members, _ = _tune_members(context, standards, setting["layers"], setting["epochs"])
        return replace(context.model, members=members)

    def cv_predict(self, context: Context, train: Standards, X_held: np.ndarray,
                   grid: list[Setting]) -> list[np.ndarray]:
        by_setting: dict[tuple[str, int], np.ndarray] = {}
        for layers in LAYERS:
            _, per_epoch = _tune_members(context, train, layers, context.max_epochs, X_held)
            for epoch, pred in enumerate(per_epoch, start=1):
                by_setting[layers, epoch] = pred
        return [by_setting[s["layers"], s["epochs"]] for s in grid]


def has_network(member: Member) -> bool:
    """Whether ``member`` is a network that adds something (a linear member is none; a
    PLS-residual network whose output layer is zero adds nothing to its PLS)."""
    if not isinstance(member, SpectralNetwork):
        return False
    if member.linear is None:
        return True
    return any(bool(p.detach().abs().sum() > 0) for p in member.model.output.parameters())


def _tune_members(context: Context, standards: Standards, layers: str, epochs: int,
                  X_watch: np.ndarray | None = None) -> tuple[list[Member], list[Any]]:
    """Every network member fine-tuned; the ensemble's predictions of ``X_watch`` per epoch."""
    model = context.model
    members: list[Member] = []
    watched = []
    for i, member in enumerate(model.members):
        if not isinstance(member, SpectralNetwork) or not has_network(member):
            members.append(member)
            if X_watch is not None:
                watched.append([member.predict(X_watch)] * epochs)
            continue
        tuned, per_epoch = fine_tune(member, standards.slave, standards.y, layers=layers,
                                     epochs=epochs, seed=context.seed + i, X_watch=X_watch)
        members.append(tuned)
        watched.append(per_epoch)
    if X_watch is None:
        return members, []
    weights = model.weights.reshape(len(model.members), -1)  # one column per target
    ensemble = [sum(w * preds[e] for w, preds in zip(weights, watched, strict=True))
                for e in range(epochs)]
    return members, ensemble


def fine_tune(member: SpectralNetwork, X: np.ndarray, y: np.ndarray, *, layers: str,
              epochs: int, seed: int = 0, X_watch: np.ndarray | None = None,
              ) -> tuple[SpectralNetwork, list[np.ndarray]]:
    """A copy of ``member`` trained ``epochs`` more full-batch epochs on raw spectra ``X, y``.

    Returns the tuned copy and, with ``X_watch``, its predictions of ``X_watch`` after each
    epoch. The network keeps its preprocessing and its output units: the loop standardises
    the targets with their own mean and sd, so the network's output is mapped to those units
    during training (:class:`_Rescaled`) and back afterwards, unchanged.
    """
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {LAYERS}; got {layers!r}.")
    net = copy.deepcopy(member)
    target = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if net.linear is not None:
        target = target - net.linear.predict(X)
    # The loop's standardisation (training.train: mean and sd, a zero sd counted as 1).
    mean, sd = target.mean(axis=0), target.std(axis=0)
    sd[sd == 0] = 1.0
    y_mean = np.zeros_like(mean) if net.y_mean is None else np.asarray(net.y_mean)
    y_std = np.ones_like(mean) if net.y_std is None else np.asarray(net.y_std)
    wrapped = _Rescaled(net.model, y_std / sd, (y_mean - mean) / sd,
                        output_only=layers == "output")
    lr = net.config.lr * (1.0 if layers == "output" else ALL_LAYERS_LR_FACTOR)
    config = TrainConfig(lr=lr, batch_size=len(target), max_epochs=epochs, seed=seed,
                         device=str(next(net.model.parameters()).device))
    watch = _Watch(net, X_watch)
    train(wrapped, net.transform(X), target, config=config, callbacks=[watch])
    for p in net.model.parameters():
        p.requires_grad_(True)
    net.model.eval()
    return net, watch.predictions_


class _Rescaled(nn.Module):
    """``inner``'s output in the standardised units of the fine-tuning targets.

    ``inner(x) * y_std + y_mean`` is a prediction in the user's units; ``(that - mean) / sd``
    is what the loop trains on, so ``scale = y_std / sd`` and ``shift = (y_mean - mean) / sd``.
    """

    def __init__(self, inner: nn.Module, scale: np.ndarray, shift: np.ndarray, *,
                 output_only: bool) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        for p in inner.parameters():
            p.requires_grad_(not output_only)
        for p in inner.output.parameters():
            p.requires_grad_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).reshape(len(x), -1) * self.scale + self.shift

    def train(self, mode: bool = True) -> _Rescaled:
        super().train(mode)
        for module in self.inner.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()  # a few standards cannot re-estimate the running statistics
        return self


class _Watch(Callback):
    """Predicts ``X`` with the network being tuned after every epoch (nothing without ``X``)."""

    def __init__(self, net: SpectralNetwork, X: np.ndarray | None) -> None:
        self.net, self.X = net, X
        self.predictions_: list[np.ndarray] = []

    def on_train_begin(self, trainer: Any) -> None:
        self.predictions_ = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.X is not None:
            self.predictions_.append(self.net.predict(self.X))
