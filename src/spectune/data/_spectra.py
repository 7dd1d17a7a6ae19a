"""The Spectra container: spectra, their wavelength axis, targets and sample labels together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from spectune.exceptions import DataError

Task = Literal["regression", "classification"]


@dataclass(frozen=True, eq=False)
class Spectra:
    """Spectra of ``n`` samples with what belongs to them, kept aligned through every subset.

    Parameters
    ----------
    X : array of shape (n, points) or (n, channels, points)
        Stored as float32 ``[n, channels, points]``.
    wavelengths : array of shape (points,)
        Wavelengths or wavenumbers, strictly increasing or strictly decreasing.
    y : array of shape (n,) or (n, n_targets), optional
        Float targets (regression, stored ``[n, n_targets]``) or class labels (stored ``[n]``).
    target_names : sequence of str
        One name per target column (regression) or the single label column's name.
    ids, groups : array of shape (n,), optional
        Sample identifiers and a grouping (batch, season) that splits must keep together.
    channel_names : sequence of str
        One name per channel, e.g. ``("raw",)``.
    source : str
        Where the spectra came from (a file name), used in error messages.
    task : {"regression", "classification"}, optional
        Inferred from ``y`` when not given: numeric targets mean regression.
    """

    X: np.ndarray
    wavelengths: np.ndarray
    y: np.ndarray | None = None
    target_names: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    groups: np.ndarray | None = None
    channel_names: tuple[str, ...] = ()
    source: str = "<array>"
    task: Task | None = field(default=None)

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float32)
        if X.ndim == 2:
            X = X[:, None, :]
        if X.ndim != 3:
            raise DataError(
                f"{self.source}: X must have shape (n, points) or (n, channels, points), "
                f"got {X.ndim} dimensions."
            )
        n, c, p = X.shape
        wl = np.asarray(self.wavelengths, dtype=np.float64).ravel()
        if wl.shape != (p,):
            raise DataError(f"{self.source}: {wl.size} wavelengths for {p} spectral points.")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "wavelengths", wl)
        object.__setattr__(self, "channel_names", tuple(self.channel_names) or _default_channels(c))
        if len(self.channel_names) != c:
            raise DataError(f"{self.source}: {len(self.channel_names)} channel names for {c} channels.")
        for name in ("ids", "groups"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value)
                if value.shape != (n,):
                    raise DataError(f"{self.source}: {name} has shape {value.shape}, expected ({n},).")
                object.__setattr__(self, name, value)
        self._set_targets(n)

    def _set_targets(self, n: int) -> None:
        if self.y is None:
            object.__setattr__(self, "target_names", tuple(self.target_names))
            return
        y = np.asarray(self.y)
        task = self.task or ("regression" if np.issubdtype(y.dtype, np.number) else "classification")
        if task == "regression":
            y = y.astype(np.float64)
            y = y[:, None] if y.ndim == 1 else y
        elif y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape[0] != n:
            raise DataError(f"{self.source}: {y.shape[0]} target rows for {n} spectra.")
        n_targets = y.shape[1] if task == "regression" else 1
        names = tuple(self.target_names) or tuple(f"y{i}" for i in range(n_targets))
        if len(names) != n_targets:
            raise DataError(f"{self.source}: {len(names)} target names for {n_targets} targets.")
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "task", task)
        object.__setattr__(self, "target_names", names)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_channels(self) -> int:
        return self.X.shape[1]

    @property
    def n_points(self) -> int:
        return self.X.shape[2]

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Spectra:
        """Rows ``index`` of every per-sample array, as a new Spectra."""
        index = np.atleast_1d(np.arange(self.n_samples)[index])
        return replace(
            self,
            X=self.X[index],
            y=None if self.y is None else self.y[index],
            ids=None if self.ids is None else self.ids[index],
            groups=None if self.groups is None else self.groups[index],
        )

    def flat_X(self) -> np.ndarray:
        """X as ``[n, points]`` when there is one channel, ``[n, channels, points]`` otherwise."""
        return self.X[:, 0, :] if self.n_channels == 1 else self.X

    def select_range(self, low: float, high: float) -> Spectra:
        """Keep the points whose wavelength lies in ``[low, high]`` (either axis direction)."""
        low, high = min(low, high), max(low, high)
        keep = (self.wavelengths >= low) & (self.wavelengths <= high)
        if keep.sum() < 2:
            raise DataError(
                f"{self.source}: range {low:g}:{high:g} keeps {int(keep.sum())} points; the data "
                f"span {self.wavelengths.min():g} to {self.wavelengths.max():g}. Widen --range."
            )
        return replace(self, X=self.X[:, :, keep], wavelengths=self.wavelengths[keep])

    def concat(self, other: Spectra) -> Spectra:
        """Samples of ``self`` then of ``other`` (same grid, channels and targets)."""
        if not np.array_equal(self.wavelengths, other.wavelengths):
            raise DataError(f"{other.source}: wavelength grid differs from {self.source}.")

        def join(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else np.concatenate([a, b])

        return replace(
            self,
            X=np.concatenate([self.X, other.X]),
            y=join(self.y, other.y),
            ids=join(self.ids, other.ids),
            groups=join(self.groups, other.groups),
            source=f"{self.source}+{other.source}",
        )

    @property
    def classes(self) -> np.ndarray:
        """Sorted class labels (classification only)."""
        if self.task != "classification" or self.y is None:
            raise DataError(f"{self.source}: classes exist only for a classification target.")
        return np.unique(self.y)


def _default_channels(n_channels: int) -> tuple[str, ...]:
    return ("raw",) if n_channels == 1 else tuple(f"ch{i}" for i in range(n_channels))
