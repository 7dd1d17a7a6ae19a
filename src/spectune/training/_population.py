"""Train K models of one architecture in lockstep on one device (``torch.func`` + ``torch.vmap``).

Why: a spectral CNN of Passos & Mishra's size leaves a GPU almost idle (a few kernels of a few
microseconds per step), so one trial at a time is bound by kernel launches. Stacking K trials'
weights and running one batched forward/backward per step makes the launches serve K trials at
once (issue 6). On a CPU there is nothing to gain (compute-bound), but the arithmetic is the
same, which is what lets the tests check the population against the single loop on CPU.

Each member keeps everything the single loop (:func:`~spectune.training.train`) gives a run:
its own batch order (a generator seeded from its ``config.seed``, drawn by the same
:func:`batch_indices`), its own dropout masks, learning rate, L2, weight decay, gradient clip,
Adam state, plateau schedule, early stopping with its best weights, epoch budget, pruning hook
and :class:`History`. The plateau, early-stopping and report logic are the library's own
callbacks, fed with each member's epoch logs. What members must share: the data, the
architecture (:func:`population_key`: modules, settings, shapes; dropout rates may differ), the
batch size, the loss and the optimizer family (Adam or AdamW).

Members join and leave between epochs: :meth:`PopulationTrainer.add` appends one (its epochs
count from 0, whatever the others' epoch), a finished, pruned or diverged member leaves at the
end of the epoch that decided it, and :meth:`PopulationTrainer.remove` takes one out. A slot
freed this way is refilled by adding a new member, which is how the study runner keeps K trials
in flight.

Equivalence with the single loop (tests/training/test_population.py): the batch order and, on
CPU with ``exact_dropout``, the dropout masks are the single loop's by construction, and Adam's
update is repeated operation for operation. What differs is the batched kernels (a convolution
of K groups, a batched matrix product), whose float32 sums may round differently from the
single model's; measured on CPU after 12 epochs the histories and predictions agree to about
1e-6 relative (documented tolerance in the tests: 1e-4 relative). BatchNorm works under vmap
(its running statistics are stacked buffers updated in place). On CUDA the single loop's own
dropout (a fused Philox kernel) cannot be reproduced, so ``exact_dropout`` defaults to False
there: one batched draw, seeded by the first member's seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy.typing as npt
import torch
from torch import nn

from spectune.training._callback import Callback
from spectune.training._config import TrainConfig, resolve_device
from spectune.training._data import batch_indices, prepare_data
from spectune.training._early_stopping import EarlyStopping
from spectune.training._errors import DivergedError, StopTraining, TrainingPruned
from spectune.training._history import History
from spectune.training._losses import hidden_weights, l2_penalty, make_criterion
from spectune.training._plateau import ReduceLROnPlateau
from spectune.training._population_adam import StackedAdam
from spectune.training._population_model import (
    Signature,
    centre,
    centred_kernels,
    dropout_rates,
    dropout_sites,
    make_template,
    member_forward,
    population_signature,
    stack,
    unsupported_layer,
    widen,
)
from spectune.training._predict import CHUNK
from spectune.training._report import ReportCallback
from spectune.training._result import TrainResult
from spectune.training._trainer import TASKS, Augment

__all__ = ["MemberOutcome", "PopulationTrainer", "population_key"]

OPTIMIZERS = ("adam", "adamw")


def population_key(model: nn.Module, config: TrainConfig) -> Signature:
    """Members with equal keys can train in one population (same data assumed).

    Raises ValueError when ``model`` or ``config`` cannot join any population (another
    optimizer than Adam/AdamW, a random layer other than ``nn.Dropout``).
    """
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"a population trains with optimizer 'adam' or 'adamw', got "
            f"optimizer={config.optimizer!r}; train this run alone with spectune.training.train."
        )
    layer = unsupported_layer(model)
    if layer is not None:
        raise ValueError(f"layer {layer} cannot be batched in a population; train this run "
                         "alone with spectune.training.train.")
    shared = (config.batch_size, config.optimizer, config.loss, config.huber_delta,
              config.class_weights, str(resolve_device(config.device)))
    return population_signature(model), shared


@dataclass(frozen=True)
class MemberOutcome:
    """How one member ended: a result, or the error the single loop would have raised.

    ``error`` is a :class:`TrainingPruned` (its ``history`` attached) or a
    :class:`DivergedError`; ``result`` is then None.
    """

    member: int
    result: TrainResult | None = None
    error: TrainingPruned | DivergedError | None = None


@dataclass
class _Member:
    id: int
    model: nn.Module
    config: TrainConfig
    augment: Augment | None
    history: History
    generator: torch.Generator
    dropout_generator: torch.Generator
    rates: list[float]
    holder: torch.optim.Optimizer  # carries the LR that the plateau callback lowers
    callbacks: list[Callback]
    stopper: EarlyStopping | None
    epoch: int = 0

    @property
    def lr(self) -> float:
        return float(self.holder.param_groups[0]["lr"])


class PopulationTrainer:
    """K training runs of one architecture on one dataset, one batched step at a time.

    Parameters
    ----------
    X_train, y_train, X_val, y_val : array-like
        As for :func:`~spectune.training.train`; moved to ``device`` once for all members.
    task : {"regression", "classification"}
    device : str
        Where data and weights live; members' ``config.device`` must name the same device.
    report : callable (member, value, epoch) -> None, optional
        Called after each epoch of each member with its ``report_monitor`` value (pruning).
    should_prune : callable (member) -> bool, optional
        Asked after each report; True prunes the member (a :class:`TrainingPruned` outcome).
    report_monitor : str
        Log key reported, "val_metric" as :class:`ReportCallback`.
    exact_dropout : bool or None
        Draw each member's dropout masks from its own generator, exactly as the single loop does
        on CPU (K draws per layer and step); False: one batched draw (fast; what a GPU needs).
        None: True on CPU, False on CUDA.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> pop = PopulationTrainer(X, X.sum(axis=1))
    >>> ids = [pop.add(nn.Linear(4, 1), TrainConfig(lr=lr, max_epochs=3)) for lr in (0.01, 0.1)]
    >>> [len(o.result.history) for o in pop.run().values()]
    [3, 3]
    """

    def __init__(
        self,
        X_train: npt.ArrayLike,
        y_train: npt.ArrayLike,
        X_val: npt.ArrayLike | None = None,
        y_val: npt.ArrayLike | None = None,
        *,
        task: str = "regression",
        device: str = "cpu",
        report: Callable[[int, float, int], None] | None = None,
        should_prune: Callable[[int], bool] | None = None,
        report_monitor: str = "val_metric",
        exact_dropout: bool | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got task={task!r}.")
        self.task, self.report, self.should_prune = task, report, should_prune
        self.report_monitor = report_monitor
        self.device = resolve_device(device)
        self.exact_dropout = self.device.type == "cpu" if exact_dropout is None else exact_dropout
        self.data = prepare_data(X_train, y_train, X_val, y_val, task=task, device=self.device)
        self.monitor = "val_loss" if X_val is not None else "train_loss"
        if report is not None and X_val is None and report_monitor.startswith("val_"):
            raise ValueError(f"report_monitor={report_monitor!r} needs validation data; give "
                             "X_val and y_val or report_monitor='train_loss'.")
        self._members: list[_Member] = []
        self._next_id = 0
        self._key: Signature | None = None
        self._params: dict[str, torch.Tensor] = {}
        self._buffers: dict[str, torch.Tensor] = {}
        self._best: dict[str, torch.Tensor] = {}
        self._taps: dict[str, torch.Tensor] = {}  # 1 on each member's own centred kernel taps
        self._widths: dict[str, int] = {}  # centred convolutions: the population's kernel width
        self._optimizer: StackedAdam | None = None

    # ---- membership -------------------------------------------------------------------
    @property
    def members(self) -> list[int]:
        """Ids of the members still training, in slot order."""
        return [m.id for m in self._members]

    def __len__(self) -> int:
        return len(self._members)

    def add(self, model: nn.Module, config: TrainConfig, *, augment: Augment | None = None) -> int:
        """Add a run (``model`` trained with ``config`` as :func:`train` would); return its id.

        The model's weights are copied into the population; the trained weights are loaded back
        into ``model`` when the member finishes.
        """
        key = population_key(model, config)
        if self._key is not None and key != self._key:
            raise ValueError(
                "this model or config does not fit the population (architecture, batch_size, "
                "loss or optimizer differ); group runs by population_key() and give each "
                "group its own PopulationTrainer."
            )
        if key[1][-1] != str(self.device):
            raise ValueError(f"config.device={config.device!r} but the population lives on "
                             f"{self.device}; give the members the population's device.")
        model = model.to(self.device)
        if self._key is None:
            self._setup(model, config)
            self._key = key
        member = self._member(model, config, augment)
        params, buffers = stack([model])
        params = self._fit_kernels(model, params)
        self._params = _cat(self._params, params, grad=True)
        self._buffers = _cat(self._buffers, buffers)
        self._best = _cat(self._best, {**params, **buffers})
        if self._optimizer is None or not self._members:
            self._optimizer = StackedAdam(self._params, decoupled=config.optimizer == "adamw")
        else:
            self._optimizer.extend(params)
        self._members.append(member)
        return member.id

    def _fit_kernels(self, model: nn.Module, params: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
        """Widen the population's or the new member's centred kernels to the wider of both."""
        taps = {}
        for conv, width in centred_kernels(model).items():
            if width > self._widths.get(conv, 0):
                self._grow(conv, width)
            name, widest = f"{conv}.weight", self._widths[conv]
            params[name] = widen(params[name], widest)
            ones = torch.ones((1,) * (params[name].dim() - 1) + (width,), device=self.device)
            taps[name] = widen(ones, widest)
        self._taps = _cat(self._taps, taps)
        return params

    @torch.no_grad()
    def _grow(self, conv: str, width: int) -> None:
        """Widen convolution ``conv`` of the template and of every member to ``width``."""
        self._widths[conv] = width
        dict(self._template.named_modules())[conv].padding = (width // 2,)
        name = f"{conv}.weight"
        if name in self._params:
            self._params[name] = widen(self._params[name].detach(), width).requires_grad_(True)
            self._best[name] = widen(self._best[name], width)
            self._taps[name] = widen(self._taps[name], width)
            if self._optimizer is not None:
                self._optimizer.widen(name, width)

    def remove(self, member: int) -> None:
        """Take ``member`` out (between epochs); its model keeps its initial weights."""
        ids = self.members
        if member not in ids:
            raise ValueError(f"member {member} is not in this population (members: {ids}).")
        self._keep([i for i, m in enumerate(ids) if m != member])

    def _setup(self, model: nn.Module, config: TrainConfig) -> None:
        """Template, dropout sites, loss and penalised weights, from the first member."""
        sample = self.data.X_train[:1]
        self._check_output(model, sample)
        self._template = make_template(model)
        self._sites = dropout_sites(model, sample)
        self._criterion = make_criterion(config, self.task, self.device)
        names = {id(p): name for name, p in model.named_parameters()}
        self._hidden = [names[id(w)] for w in hidden_weights(model)]
        self._fast_dropout = torch.Generator(device=self.device).manual_seed(config.seed)

    def _member(self, model: nn.Module, config: TrainConfig, augment: Augment | None) -> _Member:
        holder = torch.optim.SGD([torch.zeros(1)], lr=config.lr)
        callbacks: list[Callback] = []
        if config.plateau_patience is not None:
            callbacks.append(ReduceLROnPlateau(config.plateau_factor, config.plateau_patience,
                                               config.lr_min, self.monitor))
        stopper = None
        if config.early_stopping_patience is not None:
            # restore_best=False: the population keeps the best weights itself, stacked
            stopper = EarlyStopping(config.early_stopping_patience,
                                    config.early_stopping_min_delta, False, self.monitor)
            callbacks.append(stopper)
        member_id, self._next_id = self._next_id, self._next_id + 1
        if self.report is not None:
            report, should_prune = self.report, self.should_prune
            callbacks.append(ReportCallback(
                lambda value, epoch: report(member_id, value, epoch),
                None if should_prune is None else lambda: should_prune(member_id),
                self.report_monitor,
            ))
        stub = SimpleNamespace(model=model, optimizer=holder)
        for callback in callbacks:
            callback.on_train_begin(stub)  # type: ignore[arg-type]
        return _Member(
            member_id, model, config, augment,
            History("rmse" if self.task == "regression" else "accuracy"),
            torch.Generator(device=self.device).manual_seed(config.seed),
            torch.Generator(device=self.device).manual_seed(config.seed),
            dropout_rates(model, self._sites), holder, callbacks, stopper,
        )

    def _keep(self, slots: Sequence[int]) -> None:
        index = torch.as_tensor(list(slots), dtype=torch.long, device=self.device)
        self._members = [self._members[i] for i in slots]
        self._params = {k: v[index].detach().requires_grad_(True) for k, v in self._params.items()}
        self._buffers = {k: v[index] for k, v in self._buffers.items()}
        self._best = {k: v[index] for k, v in self._best.items()}
        self._taps = {k: v[index] for k, v in self._taps.items()}
        if self._optimizer is not None:
            self._optimizer.select(index)

    # ---- one epoch --------------------------------------------------------------------
    def run(self) -> dict[int, MemberOutcome]:
        """Train until every member has finished; outcomes by member id."""
        outcomes: dict[int, MemberOutcome] = {}
        while self._members:
            outcomes.update((o.member, o) for o in self.step())
        return outcomes

    def step(self) -> list[MemberOutcome]:
        """Train every member one epoch; return the outcomes of those that ended."""
        if not self._members:
            return []
        start = time.perf_counter()
        lr = [m.lr for m in self._members]
        train_loss = self._train_epoch(lr)
        val_loss, val_metric = self._evaluate()
        columns = [train_loss.double()] + [
            v.double() for v in (val_loss, val_metric) if v is not None
        ]
        rows = torch.stack(columns, dim=1).tolist()  # one device sync per epoch
        seconds = (time.perf_counter() - start) / len(self._members)
        ended: list[tuple[int, MemberOutcome]] = []
        improved: list[int] = []
        for slot, (member, row) in enumerate(zip(self._members, rows)):
            logs = member.history.append(
                member.epoch, train_loss=row[0], val_loss=row[1] if len(row) > 1 else None,
                lr=lr[slot], val_metric=row[2] if len(row) > 1 else None, time=seconds,
            )
            outcome = self._after_epoch(member, logs)
            if member.stopper is not None and member.stopper.best_epoch_ == member.epoch:
                improved.append(slot)
            if outcome is not None:
                ended.append((slot, outcome))
            member.epoch += 1
        self._save_best(improved)
        for slot, outcome in ended:
            if outcome.result is not None:
                self._unstack(slot)
        if ended:
            done = {slot for slot, _ in ended}
            self._keep([i for i in range(len(self._members)) if i not in done])
        return [outcome for _, outcome in ended]

    def _after_epoch(self, member: _Member, logs: dict[str, Any]) -> MemberOutcome | None:
        """The single loop's end of epoch: divergence check, then the callbacks in order."""
        losses = [logs["train_loss"]] + ([logs["val_loss"]] if logs["val_loss"] is not None
                                         else [])
        epoch, history = member.epoch, member.history
        if not all(math.isfinite(v) for v in losses):
            return MemberOutcome(member.id, error=DivergedError(
                f"The loss became non-finite at epoch {epoch} (train_loss={logs['train_loss']}, "
                f"val_loss={logs['val_loss']}) with lr={logs['lr']}; lower lr or set grad_clip.",
                epoch, history))
        try:
            for callback in member.callbacks:
                callback.on_epoch_end(epoch, logs)
        except StopTraining as stop:
            return self._finished(member, str(stop))
        except TrainingPruned as pruned:
            pruned.history = history
            return MemberOutcome(member.id, error=pruned)
        if epoch + 1 >= member.config.max_epochs:
            return self._finished(member, "max_epochs reached")
        return None

    def _finished(self, member: _Member, reason: str) -> MemberOutcome:
        for callback in member.callbacks:
            callback.on_train_end()
        best_epoch = None if member.stopper is None else member.stopper.best_epoch_
        result = TrainResult(member.model, member.history, self.task, self.data.y_mean,
                             self.data.y_std, best_epoch, reason)
        return MemberOutcome(member.id, result=result)

    @torch.no_grad()
    def _save_best(self, slots: list[int]) -> None:
        if slots:
            index = torch.as_tensor(slots, dtype=torch.long, device=self.device)
            current = {**self._params, **self._buffers}
            for name, best in self._best.items():
                best[index] = current[name][index]

    @torch.no_grad()
    def _unstack(self, slot: int) -> None:
        """Load a finished member's weights (its best ones under early stopping) into its model."""
        member = self._members[slot]
        source = {**self._params, **self._buffers}
        if member.stopper is not None and member.stopper.best_epoch_ is not None:
            source = self._best
        for name, tensor in (*member.model.named_parameters(), *member.model.named_buffers()):
            if name in source:
                value = source[name][slot]
                tensor.copy_(centre(value, tensor.shape[-1]) if name in self._taps else value)
        member.model.eval()

    def _train_epoch(self, lr: list[float]) -> torch.Tensor:
        """One pass over the training set for every member; per-member mean objective [K]."""
        members, device = self._members, self.device
        configs = [m.config for m in members]
        lr_t = torch.tensor(lr, dtype=torch.float64, device=device)
        decay = torch.tensor([c.weight_decay for c in configs], dtype=torch.float64, device=device)
        l2 = torch.tensor([c.l2 for c in configs], dtype=torch.float32, device=device)
        clip = None
        if any(c.grad_clip is not None for c in configs):
            clip = torch.tensor([math.inf if c.grad_clip is None else c.grad_clip
                                 for c in configs], dtype=torch.float32, device=device)
        penalise = any(c.l2 > 0 for c in configs)
        n, batch_size = len(self.data.X_train), configs[0].batch_size
        batches = [list(batch_indices(n, batch_size, m.generator, device)) for m in members]
        total, count = torch.zeros(len(members), device=device), 0
        self._template.train()
        for step in range(len(batches[0])):
            index = torch.stack([b[step] for b in batches])
            X, y = self.data.X_train[index], self.data.y_train[index]
            if any(m.augment is not None for m in members):
                X = torch.stack([X[k] if m.augment is None else m.augment(X[k], m.generator)
                                 for k, m in enumerate(members)])
            loss = self._train_step(X, y, self._masks(index.shape[1]), l2 if penalise else None)
            grads = dict(zip(self._params, torch.autograd.grad(loss.sum(),
                                                                 list(self._params.values()))))
            for name, taps in self._taps.items():  # outer taps of narrower kernels stay zero
                grads[name] = grads[name] * taps
            if clip is not None:
                _clip_per_member(grads, clip)
            assert self._optimizer is not None  # set by the first add()
            self._optimizer.step(self._params, grads, lr_t, decay)
            total += loss.detach() * index.shape[1]
            count += index.shape[1]
        return total / count

    def _train_step(self, X: torch.Tensor, y: torch.Tensor, masks: dict[str, torch.Tensor],
                    l2: torch.Tensor | None) -> torch.Tensor:
        def objective(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                      masks: dict[str, torch.Tensor], beta: torch.Tensor | None,
                      X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = self._data_loss(member_forward(self._template, (params, buffers, masks), X), y)
            if beta is not None:
                loss = loss + l2_penalty([params[name] for name in self._hidden], beta)
            return loss

        in_dims = (0, 0, 0, None if l2 is None else 0, 0, 0)
        return torch.vmap(objective, in_dims=in_dims, randomness="error")(
            self._params, self._buffers, masks, l2, X, y)

    def _masks(self, batch: int) -> dict[str, torch.Tensor]:
        """Per-member dropout masks ``bernoulli(1 - p) / (1 - p)`` of this step, ``[K, B, ...]``."""
        masks = {}
        for site_index, site in enumerate(self._sites):
            shape = (batch, *site.shape)
            keep = [1 - m.rates[site_index] for m in self._members]
            if self.exact_dropout:
                masks[site.key] = torch.stack([
                    torch.empty(shape, device=self.device)
                    .bernoulli_(q, generator=m.dropout_generator).div_(q)
                    for q, m in zip(keep, self._members)
                ])
            else:
                q = torch.tensor(keep, device=self.device).view(-1, *([1] * len(shape)))
                draw = torch.empty((len(keep), *shape), device=self.device)
                masks[site.key] = draw.bernoulli_(q.expand_as(draw),
                                                  generator=self._fast_dropout).div_(q)
        return masks

    def _data_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            output = output.reshape(len(output), -1)
        return self._criterion(output, target)

    @torch.no_grad()
    def _evaluate(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Validation loss and metric of every member ([K] each), as ``Trainer.evaluate``."""
        X_val, y_val = self.data.X_val, self.data.y_val
        if X_val is None or y_val is None:
            return None, None
        self._template.eval()
        forward = torch.vmap(lambda p, b, x: member_forward(self._template, (p, b), x),
                             in_dims=(0, 0, None))
        output = torch.cat([forward(self._params, self._buffers, X_val[i: i + CHUNK])
                            for i in range(0, len(X_val), CHUNK)], dim=1)
        output = output.reshape(len(output), len(X_val), -1)
        loss = torch.vmap(self._data_loss, in_dims=(0, None))(output, y_val)
        if self.task == "classification":
            return loss, torch.eq(output.argmax(dim=2), y_val).double().mean(dim=1)
        rmse = (output - y_val).double().pow(2).mean(dim=1).sqrt()
        y_std = torch.as_tensor(self.data.y_std, device=self.device)
        return loss, (rmse * y_std).mean(dim=1)

    def _check_output(self, model: nn.Module, sample: torch.Tensor) -> None:
        """The model's output must fit the targets (the single loop checks at its first step)."""
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(sample)
        model.train(was_training)
        n_targets = self.data.y_train.shape[1] if self.task == "regression" else None
        if self.task == "regression" and out.reshape(1, -1).shape[1] != n_targets:
            raise ValueError(f"The model outputs shape {tuple(out.shape[1:])} per sample; there "
                             f"are {n_targets} targets; build the model with {n_targets} outputs.")
        n_classes = self.data.n_classes or 0
        if self.task == "classification" and (out.ndim != 2 or out.shape[1] < n_classes):
            raise ValueError(f"The model outputs shape {tuple(out.shape[1:])} per sample; the "
                             f"labels need {n_classes} logits; build the model with one output "
                             "per class.")


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
