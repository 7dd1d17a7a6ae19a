"""The settings of one training run, validated once and in one place (minGPT config)."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

Optimizer = Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"]
Loss = Literal["mse", "huber", "cross_entropy"]

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
LOSSES: tuple[str, ...] = ("mse", "huber", "cross_entropy")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, loss, regularisation, stopping and the learning-rate schedule.

    Parameters
    ----------
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "adagrad"}
        Adam is Passos & Mishra's choice; SGD uses ``momentum`` and ``nesterov``.
    lr : float
        Initial learning rate (LR_max of the LR range test).
    l2 : float
        Penalty ``l2 * sum(w**2)`` over the hidden layers' weights (not biases, not the output
        layer), added to the loss: Keras' ``kernel_regularizer=l2(l2)`` as in Passos & Mishra.
        Its gradient is ``2 * l2 * w``, so with plain SGD it equals torch ``weight_decay=2*l2``.
        The data term is computed on standardised targets, so ``l2`` does not depend on y's units.
    weight_decay : float
        Decoupled weight decay of AdamW (Loshchilov & Hutter); only with ``optimizer="adamw"``.
    momentum, nesterov : float, bool
        SGD only: heavy-ball momentum (0.9 by default) and Nesterov's variant.
    batch_size, max_epochs : int
        Mini-batch size and the most epochs trained.
    loss : {"mse", "huber", "cross_entropy"} or None
        None picks "mse" for regression and "cross_entropy" for classification.
    huber_delta : float
        Huber's threshold, in standard deviations of the target.
    class_weights : sequence of float or None
        Per-class weights of the cross entropy (torch ``CrossEntropyLoss(weight=...)``).
    early_stopping_patience : int or None
        Epochs without improvement of the validation loss before stopping; None switches it off.
    early_stopping_min_delta : float
        Smallest decrease of the monitored loss that counts as an improvement.
    plateau_patience : int or None
        Epochs without improvement before the LR is multiplied by ``plateau_factor``; None: off.
    plateau_factor : float
        Factor in (0, 1) applied to the LR on a plateau.
    lr_min : float
        Floor of the plateau schedule (LR_min of the LR range test).
    seed : int
        Seeds batch order, dropout and augmentation; same seed, same result on CPU.
    device : str
        "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).
    grad_clip : float or None
        Clip the global gradient norm to this value; None: no clipping.

    Examples
    --------
    >>> TrainConfig(lr=3e-3, l2=1e-4, early_stopping_patience=20).optimizer
    'adam'
    """

    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    l2: float = 0.0
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    batch_size: int = 32
    max_epochs: int = 200
    loss: Loss | None = None
    huber_delta: float = 1.0
    class_weights: tuple[float, ...] | None = None
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    plateau_patience: int | None = None
    plateau_factor: float = 0.5
    lr_min: float = 0.0
    seed: int = 0
    device: str = "cpu"
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        self._normalise_scalars()
        if self.class_weights is not None:
            object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, (*LOSSES, None))
        for name in ("lr", "huber_delta"):
            _check_number(name, getattr(self, name), low=0.0, strict=True)
        for name in ("l2", "weight_decay", "early_stopping_min_delta", "lr_min"):
            _check_number(name, getattr(self, name), low=0.0)
        _check_number("momentum", self.momentum, low=0.0, high=1.0)
        _check_number("plateau_factor", self.plateau_factor, low=0.0, high=1.0, strict=True)
        _check_int("batch_size", self.batch_size, low=1)
        _check_int("max_epochs", self.max_epochs, low=1)
        _check_int("seed", self.seed, low=0)
        _check_int("early_stopping_patience", self.early_stopping_patience, low=1, optional=True)
        _check_int("plateau_patience", self.plateau_patience, low=0, optional=True)
        if self.grad_clip is not None:
            _check_number("grad_clip", self.grad_clip, low=0.0, strict=True)
        for weight in self.class_weights or ():
            _check_number("class_weights", weight, low=0.0, strict=True)
        self._check_combinations()

    def _normalise_scalars(self) -> None:
        # NumPy scalars (from a grid or a YAML loader) become Python ones, so as_dict is JSON-safe.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, f.name, int(value))
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))

    def _check_combinations(self) -> None:
        if self.weight_decay > 0 and self.optimizer != "adamw":
            raise ValueError(
                f"weight_decay={self.weight_decay} applies to optimizer='adamw' only, got "
                f"optimizer={self.optimizer!r}; use l2 for a penalty with the other optimizers."
            )
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(
                f"nesterov=True needs optimizer='sgd' with momentum > 0, got "
                f"optimizer={self.optimizer!r}, momentum={self.momentum}."
            )
        if self.class_weights is not None and self.loss not in (None, "cross_entropy"):
            raise ValueError(f"class_weights need loss='cross_entropy', got loss={self.loss!r}.")
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min={self.lr_min} must not exceed lr={self.lr}.")
        if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", str(self.device)):
            raise ValueError(
                f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got device={self.device!r}."
            )

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict, to be saved with every run."""
        out = dataclasses.asdict(self)
        if self.class_weights is not None:
            out["class_weights"] = list(self.class_weights)
        return out


def get_default_config() -> TrainConfig:
    """The defaults in one place, for the CLI and YAML files (minGPT style)."""
    return TrainConfig()


def resolve_device(device: str) -> torch.device:
    """Turn "auto" into CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {name}={value!r}.")


def _check_number(
    name: str, value: object, *, low: float, high: float = math.inf, strict: bool = False
) -> None:
    ok = False
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        ok = (
            math.isfinite(number) and (number > low if strict else number >= low) and number < high
        )
    if not ok:
        rule = f"{'>' if strict else '>='} {low}" + (f" and < {high}" if high < math.inf else "")
        raise ValueError(f"{name} must be a finite number {rule}, got {name}={value!r}.")


def _check_int(name: str, value: object, *, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        extra = " or None" if optional else ""
        raise ValueError(f"{name} must be an integer >= {low}{extra}, got {name}={value!r}.")
