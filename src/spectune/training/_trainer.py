"""One training loop with hooks (minGPT ``Trainer.run``, skorch's step methods)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy.typing as npt
import torch
from torch import nn

from spectune.training._callback import Callback
from spectune.training._config import TrainConfig, resolve_device
from spectune.training._data import TrainingData, batch_indices, prepare_data
from spectune.training._early_stopping import EarlyStopping
from spectune.training._errors import DivergedError, StopTraining, TrainingPruned
from spectune.training._history import History
from spectune.training._losses import hidden_weights, l2_penalty, make_criterion
from spectune.training._optimizers import make_optimizer
from spectune.training._plateau import ReduceLROnPlateau
from spectune.training._predict import forward_in_chunks
from spectune.training._result import TrainResult

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
TASKS = ("regression", "classification")


class Trainer:
    """Trains one model on data that stays on the device; override the steps to change them.

    Randomness (batch order, dropout, augmentation) comes from ``config.seed`` only: a seeded
    ``torch.Generator`` draws the batch permutations and is handed to ``augment``, and the
    global RNG (dropout) is seeded inside ``torch.random.fork_rng``, so the caller's RNG state is
    left as it was. On CPU, the same seed and thread count give bit-identical results without
    ``torch.use_deterministic_algorithms``; on CUDA some kernels are not bit-reproducible.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    >>> trainer = Trainer(nn.Linear(3, 1), TrainConfig(max_epochs=2))
    >>> len(trainer.run(X, X.sum(axis=1)).history)
    2
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        task: str = "regression",
        callbacks: Sequence[Callback] = (),
        augment: Augment | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got task={task!r}.")
        self.config, self.task, self.augment = config, task, augment
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.criterion = make_criterion(config, task, self.device)
        self.penalised = hidden_weights(self.model) if config.l2 > 0 else []
        self.callbacks = list(callbacks)
        self.history = History("rmse" if task == "regression" else "accuracy")
        self._data: TrainingData | None = None
        self.generator = torch.Generator(device=self.device)

    def prepare(
        self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None
    ) -> TrainingData:
        """Move the data to the device once and seed the batch generator."""
        self._data = prepare_data(
            X_train, y_train, X_val, y_val, task=self.task, device=self.device
        )
        self.generator.manual_seed(self.config.seed)
        return self._data

    @property
    def data(self) -> TrainingData:
        """The prepared tensors; :meth:`prepare` must have run."""
        if self._data is None:
            raise RuntimeError("Call Trainer.prepare() (or run()) before using the data.")
        return self._data

    def run(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> TrainResult:
        """Train for up to ``max_epochs``, calling the callbacks after each epoch."""
        data = self.prepare(X_train, y_train, X_val, y_val)
        self.history, stop_reason = History(self.history.metric_name), "max_epochs reached"
        with self.seeded():
            for callback in self.callbacks:
                callback.on_train_begin(self)
            try:
                for epoch in range(self.config.max_epochs):
                    logs = self.run_epoch(epoch)
                    for callback in self.callbacks:
                        callback.on_epoch_end(epoch, logs)
            except StopTraining as stop:
                stop_reason = str(stop)
            except TrainingPruned as pruned:
                pruned.history = self.history
                raise
            for callback in self.callbacks:
                callback.on_train_end()
        self.model.eval()
        stopper = next((c for c in self.callbacks if isinstance(c, EarlyStopping)), None)
        best_epoch = getattr(stopper, "best_epoch_", None)
        return TrainResult(
            self.model, self.history, self.task, data.y_mean, data.y_std, best_epoch, stop_reason
        )

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """Train one epoch, evaluate, record the logs; raise DivergedError on a non-finite loss."""
        start, lr = time.perf_counter(), self.optimizer.param_groups[0]["lr"]
        train_loss = self.train_epoch().item()
        val_loss, val_metric = (v.item() if v is not None else None for v in self.evaluate())
        logs = self.history.append(
            epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            lr=lr,
            val_metric=val_metric,
            time=time.perf_counter() - start,
        )
        losses = [train_loss] + ([val_loss] if val_loss is not None else [])
        if not all(math.isfinite(v) for v in losses):
            raise DivergedError(
                f"The loss became non-finite at epoch {epoch} (train_loss={train_loss}, "
                f"val_loss={val_loss}) with lr={lr}; lower lr or set grad_clip.",
                epoch,
                self.history,
            )
        return logs

    def batches(self) -> Iterator[torch.Tensor]:
        """Index tensors of one epoch's mini-batches, in a seeded random order."""
        return batch_indices(
            len(self.data.X_train), self.config.batch_size, self.generator, self.device
        )

    def train_epoch(self) -> torch.Tensor:
        """One pass over the training set; the sample-weighted mean objective, on the device."""
        self.model.train()
        total, count = torch.zeros((), device=self.device), 0
        for idx in self.batches():
            total += self.train_step(self.data.X_train[idx], self.data.y_train[idx]) * len(idx)
            count += len(idx)
        return total / count

    def train_step(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on one batch (augmented if a hook is set); returns the objective."""
        if self.augment is not None:
            X = self.augment(X, self.generator)
        loss = self.objective(self.model(X), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loss.detach()

    def objective(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Data loss plus ``l2 * sum(w**2)`` over the hidden layers' weights."""
        loss = self.data_loss(output, target)
        if self.penalised:
            loss = loss + l2_penalty(self.penalised, self.config.l2)
        return loss

    def data_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The criterion, after checking that the model's output fits the targets."""
        if self.task == "regression":
            output = output.reshape(len(output), -1)
            if output.shape != target.shape:
                raise ValueError(
                    f"The model outputs shape {tuple(output.shape[1:])} per sample; there are "
                    f"{target.shape[1]} targets; build the model with {target.shape[1]} outputs."
                )
        elif output.ndim != 2 or output.shape[1] < (n_classes := self.data.n_classes or 0):
            raise ValueError(
                f"The model outputs shape {tuple(output.shape[1:])} per sample; the labels need "
                f"{n_classes} logits; build the model with one output per class."
            )
        return self.criterion(output, target)

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Validation loss (standardised, no penalty) and metric; (None, None) without data."""
        X_val, y_val = self.data.X_val, self.data.y_val
        if X_val is None or y_val is None:
            return None, None
        output = forward_in_chunks(self.model, X_val)
        loss = self.data_loss(output, y_val)
        if self.task == "classification":
            return loss, torch.eq(output.argmax(dim=1), y_val).double().mean()
        # RMSE per target in original units = y_std * standardised RMSE; mean over targets.
        rmse = (output - y_val).double().pow(2).mean(dim=0).sqrt()
        return loss, (rmse * torch.as_tensor(self.data.y_std, device=self.device)).mean()

    @contextlib.contextmanager
    def seeded(self) -> Iterator[None]:
        """Seed the global RNG (dropout) from ``config.seed``; the caller's state is restored."""
        cuda = self.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.device] if cuda else []):
            torch.random.default_generator.manual_seed(self.config.seed)
            if cuda:
                with torch.cuda.device(self.device):
                    torch.cuda.manual_seed(self.config.seed)
            yield


def train(
    model: nn.Module,
    X_train: npt.ArrayLike,
    y_train: npt.ArrayLike,
    X_val: npt.ArrayLike | None = None,
    y_val: npt.ArrayLike | None = None,
    *,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    task: str = "regression",
    augment: Augment | None = None,
) -> TrainResult:
    """Train ``model`` in place and return it with its history.

    Parameters
    ----------
    model : torch.nn.Module
        Outputs ``[n, n_targets]`` (regression) or ``[n, n_classes]`` logits (classification).
    X_train, X_val : array-like of shape (n, ...)
        Model inputs, e.g. ``[n, channels, points]`` spectra; moved to the device once.
    y_train, y_val : array-like
        Regression: ``(n,)`` or ``(n, n_targets)`` floats, standardised inside with the training
        targets' mean and std. Classification: integer codes ``0..K-1``.
    config : TrainConfig
        ``plateau_patience`` and ``early_stopping_patience`` add a :class:`ReduceLROnPlateau`
        and an :class:`EarlyStopping` (in that order, before ``callbacks``) that monitor the
        validation loss, or the training loss without validation data.
    callbacks : sequence of Callback
        Further hooks, e.g. a :class:`ReportCallback` for pruning.
    task : {"regression", "classification"}
    augment : callable (batch_X, generator) -> batch_X, optional
        Applied to training batches only, never to validation data.

    Returns
    -------
    TrainResult

    Raises
    ------
    DivergedError
        The loss became NaN or infinite; ``.epoch`` says when.
    TrainingPruned
        A :class:`ReportCallback` asked to stop; ``.history`` holds the epochs trained.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = X @ np.arange(4.0)
    >>> result = train(nn.Linear(4, 1), X, y, config=TrainConfig(lr=0.05, max_epochs=40))
    >>> bool(result.history.train_loss[-1] < 0.01 * result.history.train_loss[0])
    True
    """
    monitor = "val_loss" if X_val is not None else "train_loss"
    built: list[Callback] = []
    if config.plateau_patience is not None:
        built.append(
            ReduceLROnPlateau(
                config.plateau_factor, config.plateau_patience, config.lr_min, monitor
            )
        )
    if config.early_stopping_patience is not None:
        built.append(
            EarlyStopping(
                config.early_stopping_patience, config.early_stopping_min_delta, True, monitor
            )
        )
    trainer = Trainer(model, config, task=task, callbacks=[*built, *callbacks], augment=augment)
    return trainer.run(X_train, y_train, X_val, y_val)
