"""Training data on the device, once: tensors, standardised targets and seeded batch indices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from spectune.exceptions import DataError


@dataclass(frozen=True)
class TrainingData:
    """Tensors of one run, all on ``device``.

    Regression targets are standardised with the training targets' mean and standard deviation
    (``y_mean``, ``y_std``, float64 NumPy arrays of shape (n_targets,)); validation targets use
    the same statistics, so no information flows from validation to training. Classification
    targets are int64 class codes and ``y_mean``/``y_std`` are None.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor | None
    y_val: torch.Tensor | None
    y_mean: np.ndarray | None
    y_std: np.ndarray | None
    n_classes: int | None


def prepare_data(
    X_train: npt.ArrayLike,
    y_train: npt.ArrayLike,
    X_val: npt.ArrayLike | None,
    y_val: npt.ArrayLike | None,
    *,
    task: str,
    device: torch.device,
) -> TrainingData:
    """Check the arrays, standardise regression targets and move everything to ``device``."""
    if (X_val is None) != (y_val is None):
        raise ValueError("Give both X_val and y_val, or neither.")
    Xt = as_features(X_train, "X_train")
    yt = _targets(y_train, "y_train", len(Xt), task)
    if task == "regression":
        y_mean = yt.mean(axis=0)
        y_std = yt.std(axis=0)
        y_std[y_std == 0] = 1.0  # a constant target: keep it centred, do not divide by zero
    else:
        y_mean = y_std = None
    n_classes = int(yt.max()) + 1 if task == "classification" else None
    val = None
    if X_val is not None and y_val is not None:
        Xv = as_features(X_val, "X_val")
        val = (Xv, _targets(y_val, "y_val", len(Xv), task))

    def to_device(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if task == "regression":
            y = (y - y_mean) / y_std
            return _tensor(X, device), _tensor(y, device)
        return _tensor(X, device), torch.as_tensor(y, dtype=torch.int64, device=device)

    X_train_t, y_train_t = to_device(Xt, yt)
    X_val_t, y_val_t = to_device(*val) if val is not None else (None, None)
    return TrainingData(X_train_t, y_train_t, X_val_t, y_val_t, y_mean, y_std, n_classes)


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """One epoch of mini-batch indices from a seeded permutation made on the device.

    A last batch of a single sample is dropped for this epoch (BatchNorm cannot normalise one
    sample in training mode); the permutation changes every epoch, so no sample is left out for
    good.
    """
    perm = torch.randperm(n, generator=generator, device=device)
    stop = n - 1 if n > 1 and n % batch_size == 1 else n
    for start in range(0, stop, batch_size):
        yield perm[start : min(start + batch_size, stop)]


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(array, dtype=torch.float32).to(device)


def as_features(X: npt.ArrayLike, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or len(X) == 0:
        raise DataError(
            f"{name} must have shape (n, features) or (n, channels, points) with n >= 1, "
            f"got shape {X.shape}."
        )
    _check_finite(X, name)
    return X


def _targets(y: npt.ArrayLike, name: str, n: int, task: str) -> np.ndarray:
    y = np.asarray(y)
    if len(y) != n:
        raise DataError(
            f"{name} has {len(y)} rows but its X has {n}; give one target row per spectrum."
        )
    if task == "classification":
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError(
                f"{name} must hold class codes 0..K-1 in a 1-D integer array, got dtype "
                f"{y.dtype}, shape {y.shape}; encode labels first (e.g. sklearn LabelEncoder)."
            )
        return y.astype(np.int64)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2):
        raise DataError(f"{name} must have shape (n,) or (n, n_targets), got shape {y.shape}.")
    _check_finite(y, name)
    return y.reshape(n, -1)


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    if bad.any():
        raise DataError(
            f"{name} holds NaN or inf in row {int(np.flatnonzero(bad)[0])} "
            f"({int(bad.sum())} rows in all); impute or drop those rows before training."
        )
