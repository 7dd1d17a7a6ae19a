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
architecture (:func:`population_key`: modules, settings, shapes; dropout rates and centred
kernel widths may differ), the batch size, the loss and the optimizer family (Adam or AdamW).

Members join and leave between epochs: :meth:`PopulationTrainer.add` appends one (its epochs
count from 0, whatever the others' epoch), a finished, pruned or diverged member leaves at the
end of the epoch that decided it, and :meth:`PopulationTrainer.remove` takes one out. A slot
freed this way is refilled by adding a new member, which is how the study runner keeps K trials
in flight.

Layout: :mod:`._population_stack` holds the stacked weights and runs the batched step,
:mod:`._population_member` a member's bookkeeping, :mod:`._population_model` the template and
what may differ between members, :mod:`._population_adam` the optimizer.

Equivalence with the single loop (tests/training/test_population.py): the batch order and, on
CPU with ``exact_dropout``, the dropout masks are the single loop's by construction, and Adam's
update is repeated operation for operation. What differs is the batched kernels (a convolution
of K groups, a batched matrix product), whose float32 sums may round differently from the
single model's; measured on CPU over 8-15 epochs the histories and predictions agree to
5e-7 relative or better (tolerance in the tests: 1e-5). Convolutions with "same" padding and
odd kernels of different widths share a population (see :mod:`._population_model`).
BatchNorm works under vmap (its running statistics are stacked buffers updated in place). On
CUDA the single loop's own dropout (a fused Philox kernel) cannot be reproduced, so
``exact_dropout`` defaults to False there: one batched draw, seeded by the first member's seed.
Everything is float32: no mixed precision (no test has shown it keeps the accuracy).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from spectune.training._config import TrainConfig, resolve_device
from spectune.training._data import batch_indices, prepare_data
from spectune.training._population_member import (
    Member,
    MemberOutcome,
    end_of_epoch,
    finished_result,
    new_member,
)
from spectune.training._population_model import (
    Signature,
    dropout_rates,
    population_signature,
    unsupported_layer,
)
from spectune.training._population_stack import WeightStack
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

    Notes
    -----
    ``History.time`` of a member is the lockstep epoch's wall time divided by the members that
    trained in it: each trial's share of the device.

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
        self._members: list[Member] = []
        self._next_id = 0
        self._key: Signature | None = None
        self._stack: WeightStack | None = None
        self._dropout = torch.Generator(device=self.device)  # the batched draw (not exact)

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
        if self._stack is None:
            sample = self.data.X_train[:1]
            self._check_output(model, sample)
            self._stack = WeightStack(model, config, self.task, sample)
            self._dropout.manual_seed(config.seed)
            self._key = key
        member = new_member(
            self._next_id, model, config, augment=augment, monitor=self.monitor,
            metric="rmse" if self.task == "regression" else "accuracy",
            rates=dropout_rates(model, self._stack.sites), device=self.device,
            report=self.report, should_prune=self.should_prune,
            report_monitor=self.report_monitor,
        )
        self._next_id += 1
        self._stack.append(model)
        self._members.append(member)
        return member.id

    def remove(self, member: int) -> None:
        """Take ``member`` out (between epochs); its model keeps its initial weights."""
        ids = self.members
        if member not in ids:
            raise ValueError(f"member {member} is not in this population (members: {ids}).")
        self._keep([i for i, m in enumerate(ids) if m != member])

    def _keep(self, slots: list[int]) -> None:
        self._members = [self._members[i] for i in slots]
        if self._stack is not None:
            self._stack.select(slots)

    def run(self) -> dict[int, MemberOutcome]:
        """Train until every member has finished; outcomes by member id."""
        outcomes: dict[int, MemberOutcome] = {}
        while self._members:
            outcomes.update((o.member, o) for o in self.step())
        return outcomes

    def step(self) -> list[MemberOutcome]:
        """Train every member one epoch; return the outcomes of those that ended."""
        if not self._members or self._stack is None:
            return []
        start = time.perf_counter()
        lr = [m.lr for m in self._members]
        columns = [self._train_epoch(self._stack, lr).double()]
        val_loss, val_metric = self._evaluate(self._stack)
        if val_loss is not None and val_metric is not None:
            columns += [val_loss.double(), val_metric]
        rows = torch.stack(columns, dim=1).tolist()  # one device sync per epoch
        seconds = (time.perf_counter() - start) / len(self._members)
        ended: list[tuple[int, MemberOutcome]] = []
        improved: list[int] = []
        for slot, (member, row) in enumerate(zip(self._members, rows)):
            logs = member.history.append(
                member.epoch, train_loss=row[0], val_loss=row[1] if len(row) > 1 else None,
                lr=lr[slot], val_metric=row[2] if len(row) > 1 else None, time=seconds,
            )
            decision = end_of_epoch(member, logs)
            if member.stopper is not None and member.stopper.best_epoch_ == member.epoch:
                improved.append(slot)
            member.epoch += 1
            if decision is not None:
                ended.append((slot, self._outcome(member, *decision)))
        self._stack.save_best(improved)
        for slot, outcome in ended:
            if outcome.result is not None:
                member = self._members[slot]
                best = member.stopper is not None and member.stopper.best_epoch_ is not None
                self._stack.load_into(member.model, slot, best=best)
        if ended:
            done = {slot for slot, _ in ended}
            self._keep([i for i in range(len(self._members)) if i not in done])
        return [outcome for _, outcome in ended]

    def _outcome(self, member: Member, kind: str, detail: object) -> MemberOutcome:
        if kind == "finished":
            return MemberOutcome(member.id, result=finished_result(
                member, str(detail), self.task, self.data.y_mean, self.data.y_std))
        return MemberOutcome(member.id, error=detail)  # type: ignore[arg-type]

    def _train_epoch(self, stack: WeightStack, lr: list[float]) -> torch.Tensor:
        """One pass over the training set for every member; per-member mean objective [K]."""
        members, device = self._members, self.device
        configs = [m.config for m in members]
        lr_t = torch.tensor(lr, dtype=torch.float64, device=device)
        decay = torch.tensor([c.weight_decay for c in configs], dtype=torch.float64, device=device)
        l2 = None
        if any(c.l2 > 0 for c in configs):  # l2 = 0 adds exactly 0, as no penalty does
            l2 = torch.tensor([c.l2 for c in configs], dtype=torch.float32, device=device)
        clip = None
        if any(c.grad_clip is not None for c in configs):
            clip = torch.tensor([np.inf if c.grad_clip is None else c.grad_clip
                                 for c in configs], dtype=torch.float32, device=device)
        n, batch_size = len(self.data.X_train), configs[0].batch_size
        # each member's epoch order from its own generator, by the single loop's own function
        batches = [list(batch_indices(n, batch_size, m.generator, device)) for m in members]
        order = torch.stack([torch.cat(b) for b in batches])  # [K, samples this epoch]
        bounds = np.cumsum([0] + [len(b) for b in batches[0]]).tolist()
        total, count = torch.zeros(len(members), device=device), 0
        for start, stop in itertools.pairwise(bounds):
            index = order[:, start:stop]
            X, y = self.data.X_train[index], self.data.y_train[index]
            if any(m.augment is not None for m in members):
                X = torch.stack([X[k] if m.augment is None else m.augment(X[k], m.generator)
                                 for k, m in enumerate(members)])
            loss = stack.train_step(X, y, self._masks(stack, stop - start), l2, lr_t, decay, clip)
            total += loss * (stop - start)
            count += stop - start
        return total / count

    def _masks(self, stack: WeightStack, batch: int) -> dict[str, torch.Tensor]:
        """Each member's dropout masks, ``bernoulli(1 - p) / (1 - p)``, ``[K, B, ...]``."""
        masks = {}
        for site_index, site in enumerate(stack.sites):
            shape = (batch, *site.shape)
            keep = [1 - m.rates[site_index] for m in self._members]
            if self.exact_dropout:
                masks[site.key] = torch.stack([
                    torch.empty(shape, device=self.device)
                    .bernoulli_(q, generator=m.dropout_generator).div_(q)
                    for q, m in zip(keep, self._members, strict=True)
                ])
            else:
                q = torch.tensor(keep, device=self.device).view(-1, *([1] * len(shape)))
                draw = torch.empty((len(keep), *shape), device=self.device)
                masks[site.key] = draw.bernoulli_(q.expand_as(draw),
                                                  generator=self._dropout).div_(q)
        return masks

    @torch.no_grad()
    def _evaluate(self, stack: WeightStack) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Validation loss and metric of every member ([K] each), as ``Trainer.evaluate``."""
        X_val, y_val = self.data.X_val, self.data.y_val
        if X_val is None or y_val is None:
            return None, None
        output = stack.predict(X_val)
        loss = torch.vmap(stack.data_loss, in_dims=(0, None))(output, y_val)
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
        if self.task == "regression":
            n_targets = self.data.y_train.shape[1]
            if out.reshape(1, -1).shape[1] != n_targets:
                raise ValueError(
                    f"The model outputs shape {tuple(out.shape[1:])} per sample; there are "
                    f"{n_targets} targets; build the model with {n_targets} outputs.")
            return
        n_classes = self.data.n_classes or 0
        if out.ndim != 2 or out.shape[1] < n_classes:
            raise ValueError(f"The model outputs shape {tuple(out.shape[1:])} per sample; the "
                             f"labels need {n_classes} logits; build the model with one output "
                             "per class.")
