"""The K members' weights as stacked tensors, and the batched step that trains them.

:class:`WeightStack` holds every member's parameters and buffers with a leading member axis,
the best weights early stopping keeps, the Adam state and the template module, and runs one
batched forward/backward (``torch.vmap`` over ``functional_call``) per training step. Members
join (:meth:`WeightStack.append`) and leave (:meth:`WeightStack.select`) between epochs.
"""

from __future__ import annotations

import torch
from torch import nn

from spectune.training._config import TrainConfig
from spectune.training._losses import hidden_weights, l2_penalty, make_criterion
from spectune.training._population_adam import StackedAdam
from spectune.training._population_model import (
    centre,
    centred_kernels,
    dropout_sites,
    make_template,
    member_forward,
    stack,
    widen,
)
from spectune.training._predict import CHUNK


class WeightStack:
    """Stacked weights of the members of one architecture, set up from the first member.

    Parameters
    ----------
    model : nn.Module
        The first member; its structure is the template of all.
    config : TrainConfig
        Its settings: loss and optimizer family (shared by all members).
    task : {"regression", "classification"}
    sample : tensor
        One training input, for the probe that finds the dropout layers.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, task: str, sample: torch.Tensor
                 ) -> None:
        self.task, self.device = task, sample.device
        self.template = make_template(model)
        self.sites = dropout_sites(model, sample)
        self.criterion = make_criterion(config, task, self.device)
        names = {id(p): name for name, p in model.named_parameters()}
        self.hidden = [names[id(w)] for w in hidden_weights(model)]
        self.decoupled = config.optimizer == "adamw"
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.best: dict[str, torch.Tensor] = {}
        self.taps: dict[str, torch.Tensor] = {}  # 1 on each member's own centred kernel taps
        self.widths: dict[str, int] = {}  # centred convolutions: the population's kernel width
        self.optimizer: StackedAdam | None = None

    def __len__(self) -> int:
        return len(next(iter(self.params.values()))) if self.params else 0

    def append(self, model: nn.Module) -> None:
        """Add ``model``'s weights as the last member (fresh Adam state)."""
        params, buffers = stack([model])
        params = self._fit_kernels(model, params)
        empty = len(self) == 0
        self.params = _cat(self.params, params, grad=True)
        self.buffers = _cat(self.buffers, buffers)
        self.best = _cat(self.best, {**params, **buffers})
        if self.optimizer is None or empty:
            self.optimizer = StackedAdam(self.params, decoupled=self.decoupled)
        else:
            self.optimizer.extend(params)

    def select(self, slots: list[int]) -> None:
        """Keep the members at ``slots``, in that order."""
        index = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        self.params = {k: v[index].detach().requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self.best = {k: v[index] for k, v in self.best.items()}
        self.taps = {k: v[index] for k, v in self.taps.items()}
        if self.optimizer is not None:
            self.optimizer.select(index)

    @torch.no_grad()
    def save_best(self, slots: list[int]) -> None:
        """Copy the current weights of ``slots`` to their best weights (early stopping)."""
        if slots:
            index = torch.as_tensor(slots, dtype=torch.long, device=self.device)
            current = {**self.params, **self.buffers}
            for name, best in self.best.items():
                best[index] = current[name][index]

    @torch.no_grad()
    def load_into(self, model: nn.Module, slot: int, *, best: bool) -> None:
        """Copy member ``slot``'s weights (its best ones with ``best``) into ``model``."""
        source = self.best if best else {**self.params, **self.buffers}
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            if name in source:
                value = source[name][slot]
                tensor.copy_(centre(value, tensor.shape[-1]) if name in self.taps else value)

    def train_step(
        self, X: torch.Tensor, y: torch.Tensor, masks: dict[str, torch.Tensor],
        l2: torch.Tensor | None, lr: torch.Tensor, decay: torch.Tensor,
        clip: torch.Tensor | None,
    ) -> torch.Tensor:
        """One optimizer step of every member on its batch ``X[k], y[k]``; the losses [K]."""
        def objective(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                      masks: dict[str, torch.Tensor], beta: torch.Tensor | None,
                      X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = self.data_loss(member_forward(self.template, (params, buffers, masks), X), y)
            if beta is not None:
                # beta: this member's l2 as a float32 scalar, the cast torch makes of a float
                loss = loss + l2_penalty([params[name] for name in self.hidden],
                                         beta)  # type: ignore[arg-type]
            return loss

        self.template.train()
        in_dims = (0, 0, 0, None if l2 is None else 0, 0, 0)
        loss = torch.vmap(objective, in_dims=in_dims, randomness="error")(
            self.params, self.buffers, masks, l2, X, y)
        grads = dict(zip(self.params, torch.autograd.grad(loss.sum(), list(self.params.values()))))
        for name, taps in self.taps.items():  # the outer taps of narrower kernels stay zero
            grads[name] = grads[name] * taps
        if clip is not None:
            _clip_per_member(grads, clip)
        if self.optimizer is not None:
            self.optimizer.step(self.params, grads, lr, decay)
        return loss.detach()

    @torch.no_grad()
    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Every member's evaluation-mode output on ``X`` (in chunks), ``[K, n, outputs]``."""
        self.template.eval()
        forward = torch.vmap(lambda p, b, x: member_forward(self.template, (p, b), x),
                             in_dims=(0, 0, None))
        output = torch.cat([forward(self.params, self.buffers, X[i: i + CHUNK])
                            for i in range(0, len(X), CHUNK)], dim=1)
        return output.reshape(len(output), len(X), -1)

    def data_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The criterion of one member (under vmap), as ``Trainer.data_loss`` computes it."""
        if self.task == "regression":
            output = output.reshape(len(output), -1)
        return self.criterion(output, target)

    def _fit_kernels(self, model: nn.Module, params: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
        """Widen the population's or the new member's centred kernels to the wider of both."""
        taps = {}
        for conv, width in centred_kernels(model).items():
            if width > self.widths.get(conv, 0):
                self._grow(conv, width)
            name, widest = f"{conv}.weight", self.widths[conv]
            params[name] = widen(params[name], widest)
            ones = torch.ones((1,) * (params[name].dim() - 1) + (width,), device=self.device)
            taps[name] = widen(ones, widest)
        self.taps = _cat(self.taps, taps)
        return params

    @torch.no_grad()
    def _grow(self, conv: str, width: int) -> None:
        """Widen convolution ``conv`` of the template and of every member to ``width``."""
        self.widths[conv] = width
        dict(self.template.named_modules())[conv].padding = (width // 2,)
        name = f"{conv}.weight"
        if name in self.params:
            self.params[name] = widen(self.params[name].detach(), width).requires_grad_(True)
            self.best[name] = widen(self.best[name], width)
            self.taps[name] = widen(self.taps[name], width)
            if self.optimizer is not None:
                self.optimizer.widen(name, width)


def _cat(old: dict[str, torch.Tensor], new: dict[str, torch.Tensor], *, grad: bool = False
         ) -> dict[str, torch.Tensor]:
    """Append new members' stacked tensors (fresh leaves when they are parameters)."""
    out = {k: torch.cat([old[k].detach(), v.detach()]) if k in old else v.detach().clone()
           for k, v in new.items()}
    return {k: v.requires_grad_(True) for k, v in out.items()} if grad else out


@torch.no_grad()
def _clip_per_member(grads: dict[str, torch.Tensor], max_norm: torch.Tensor) -> None:
    """``clip_grad_norm_`` for each member: its global gradient norm capped at ``max_norm[k]``."""
    first = next(iter(grads.values()))
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(len(first), -1), dim=1)
                         for g in grads.values()], dim=1)
    coef = torch.clamp(max_norm / (torch.linalg.vector_norm(norms, dim=1) + 1e-6), max=1.0)
    for g in grads.values():
        g.mul_(coef.view((-1,) + (1,) * (g.dim() - 1)))
