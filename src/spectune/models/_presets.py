"""Ready-made architectures: Passos & Mishra's base CNN, a Shen-style CNN and an MLP."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from spectune.data import Task
from spectune.exceptions import InvalidArchitectureError
from spectune.models._arch import ArchSpec, ConvBlock, DenseBlock, validate_arch

__all__ = ["PASSOS_L2_BETA", "mlp", "passos_cnn", "shen_cnn"]

#: L2 strength beta of Passos & Mishra's (2022) base CNN (from Cui & Fearn 2018): their loss is
#: ``MSE + (beta / 2) * sum(w ** 2)`` (Keras ``l2(beta / 2)``), so the training setting
#: ``TrainConfig(l2=...)``, a Keras-style ``l2 * sum(w ** 2)``, takes ``PASSOS_L2_BETA / 2``.
PASSOS_L2_BETA = 0.003


def _round_half_up(x: float) -> int:
    """Round .5 upwards (Python's ``round`` rounds half to even), and never below 1."""
    return max(1, math.floor(x + 0.5))


def _per_layer(value: float | Sequence[float], n: int, name: str) -> tuple[float, ...]:
    """One value for every layer, or a sequence with exactly one per layer."""
    if isinstance(value, Sequence):
        if len(value) != n:
            raise InvalidArchitectureError(
                f"{name!r} has {len(value)} values for {n} dense layers; give one per layer."
            )
        return tuple(value)
    return (value,) * n


def _check_range(value: float, name: str, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidArchitectureError(
            f"{name!r} must lie in [{low:g}, {high:g}] (Passos & Mishra 2022); got {value!r}."
        )


def passos_cnn(
    length: int,
    *,
    kernel_size: int = 5,
    first_ratio: float = 4.0,
    next_ratio: float = 2.0,
    n_dense: int = 3,
    padding: int | Literal["same"] = "same",
    dropout: float | Sequence[float] = 0.0,
    task: Task = "regression",
    n_outputs: int = 1,
) -> ArchSpec:
    """Passos & Mishra's (2022) base 1D-CNN: one 1-filter conv layer and a dense funnel.

    The conv layer (1 filter, stride 1, no pooling; Keras ``padding="same"`` in their notebooks)
    feeds dense layers that shrink like a funnel: the first has ``conv_length / first_ratio``
    units, each next one ``previous / next_ratio`` (rounded half up, at least 1). ELU and
    He-normal throughout; the L2 strength is a training setting, see :data:`PASSOS_L2_BETA`.

    Parameters
    ----------
    length : int
        Input points (for the augmented input, the concatenated length of all variants).
    kernel_size : int
        Conv kernel width (5 in their base model; they tune 3 to 51).
    first_ratio : float
        In [2, 5]: conv output length over the first dense layer's units.
    next_ratio : float
        In [2, 3]: each dense layer's units over the next one's.
    n_dense : int
        Dense layers (they search 1 to 5).
    padding : int or "same"
    dropout : float or sequence of float
        One rate for all dense layers, or one per layer.
    task : {"regression", "classification"}
    n_outputs : int

    Examples
    --------
    >>> [b.units for b in passos_cnn(700, kernel_size=21).fc]
    [175, 88, 44]
    """
    _check_range(first_ratio, "first_ratio", 2, 5)
    _check_range(next_ratio, "next_ratio", 2, 3)
    if isinstance(n_dense, bool) or not isinstance(n_dense, int) or n_dense < 1:
        raise InvalidArchitectureError(f"'n_dense' must be an integer >= 1; got {n_dense!r}.")
    conv = ConvBlock(1, kernel_size, stride=1, padding=padding, activation="elu")
    probe = ArchSpec(conv=(conv,), fc=(DenseBlock(1),))
    conv_length = validate_arch(probe, 1, length, max_params=None).layers[0].out_shape[1]
    units = [_round_half_up(conv_length / first_ratio)]
    while len(units) < n_dense:
        units.append(_round_half_up(units[-1] / next_ratio))
    rates = _per_layer(dropout, n_dense, "dropout")
    fc = tuple(DenseBlock(u, activation="elu", dropout=r) for u, r in zip(units, rates))
    return ArchSpec(conv=(conv,), fc=fc, n_outputs=n_outputs, task=task, init="he_normal")


def _dense_stack(
    units: Sequence[int], activation: str, batch_norm: bool, dropout: float | Sequence[float]
) -> tuple[DenseBlock, ...]:
    rates = _per_layer(dropout, len(units), "dropout")
    return tuple(DenseBlock(u, batch_norm, activation, r) for u, r in zip(units, rates))


def shen_cnn(
    *,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 7,
    pool: Literal["max", "avg"] | None = "max",
    pool_size: int = 2,
    batch_norm: bool = True,
    activation: str = "relu",
    conv_dropout: float = 0.0,
    units: Sequence[int] = (128, 32),
    dropout: float | Sequence[float] = 0.2,
    task: Task = "regression",
    n_outputs: int = 1,
) -> ArchSpec:
    """A CNN in Shen & Viscarra Rossel's (2021) parametric form, with sensible defaults.

    One Conv-block per entry of ``filters`` (``"same"`` padding, so any length that survives
    the pooling works), then one FC-block per entry of ``units``.

    Examples
    --------
    >>> spec = shen_cnn()
    >>> [b.filters for b in spec.conv], [b.units for b in spec.fc]
    ([32, 64], [128, 32])
    """
    conv = tuple(
        ConvBlock(f, kernel_size, padding="same", batch_norm=batch_norm, activation=activation,
                  pool=pool, pool_size=pool_size, dropout=conv_dropout)
        for f in filters
    )
    fc = _dense_stack(units, activation, batch_norm, dropout)
    return ArchSpec(conv=conv, fc=fc, n_outputs=n_outputs, task=task)


def mlp(
    *,
    units: Sequence[int] = (128, 64),
    activation: str = "relu",
    batch_norm: bool = False,
    dropout: float | Sequence[float] = 0.1,
    task: Task = "regression",
    n_outputs: int = 1,
) -> ArchSpec:
    """A multilayer perceptron: no conv blocks, one FC-block per entry of ``units``.

    Examples
    --------
    >>> mlp(units=(32,)).conv
    ()
    """
    fc = _dense_stack(units, activation, batch_norm, dropout)
    return ArchSpec(fc=fc, n_outputs=n_outputs, task=task)
