"""Wavelength grids: check that new spectra lie on the training grid, or interpolate onto it.

A model's input is a fixed list of wavelengths. Spectra from another instrument or export
setting lie elsewhere; silently feeding them would give wrong predictions, so a mismatch is an
error unless the user asks for linear interpolation, which never extrapolates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from spectune.data._spectra import Spectra
from spectune.exceptions import GridMismatchError

_RTOL = 1e-6  # two grids this close are the same grid written with another float precision


def describe_grid(wavelengths: np.ndarray) -> str:
    """'1047 points 428-1833', for messages."""
    return f"{wavelengths.size} points {wavelengths.min():g}-{wavelengths.max():g}"


def same_grid(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=_RTOL, atol=0.0))


def interpolate(
    x: np.ndarray, values: np.ndarray, target: np.ndarray, source: str
) -> np.ndarray:
    """Linear interpolation of ``values[..., points]`` from grid ``x`` onto grid ``target``.

    Refuses any target wavelength outside ``x``'s range: extrapolated absorbances are invented.
    """
    low, high = x.min(), x.max()
    tol = _RTOL * max(abs(low), abs(high))
    if target.min() < low - tol or target.max() > high + tol:
        raise GridMismatchError(
            f"{source}: cannot resample: the training grid spans "
            f"{target.min():g}-{target.max():g} but this data only {low:g}-{high:g}, and "
            f"spectune does not extrapolate; measure the full range or train on a narrower "
            f"--range."
        )
    order = np.argsort(x)  # np.interp needs an increasing axis
    xs = x[order]
    flat = values.reshape(-1, x.size)[:, order]
    out = np.stack([np.interp(target, xs, row) for row in flat])
    return out.reshape(*values.shape[:-1], target.size)


def align_to_grid(spectra: Spectra, wavelengths: np.ndarray, *, resample: bool = False) -> Spectra:
    """Spectra on the training grid ``wavelengths``: unchanged, interpolated, or refused.

    Parameters
    ----------
    spectra : Spectra
        New spectra, e.g. read for prediction.
    wavelengths : array of shape (points,)
        The grid the model was trained on.
    resample : bool, default=False
        Interpolate linearly (``np.interp``) onto ``wavelengths`` when the grids differ.
        Not needed when every training wavelength is a point of this grid (the model was
        trained on a ``--range`` cut of it): those points are selected.

    Raises
    ------
    GridMismatchError
        When the grids differ and ``resample`` is False, or when resampling would extrapolate.
    """
    target = np.asarray(wavelengths, dtype=np.float64).ravel()
    if same_grid(spectra.wavelengths, target):
        if np.array_equal(spectra.wavelengths, target):
            return spectra
        return replace(spectra, wavelengths=target)
    points = _points_of(spectra.wavelengths, target)
    if points is not None:  # training grid cut from this one (--range): select, no interpolation
        return replace(spectra, X=spectra.X[:, :, points], wavelengths=target)
    if not resample:
        raise GridMismatchError(
            f"{spectra.source}: the model was trained on {describe_grid(target)}; this file has "
            f"{describe_grid(spectra.wavelengths)}; pass --resample (resample=True) to "
            f"interpolate onto the training grid."
        )
    X = interpolate(spectra.wavelengths, spectra.X.astype(np.float64), target, spectra.source)
    return replace(spectra, X=X, wavelengths=target)


def _points_of(grid: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Indices in ``grid`` of each ``target`` wavelength, or None when one is missing."""
    order = np.argsort(grid)
    pos = np.clip(np.searchsorted(grid[order], target), 1, grid.size - 1)
    left, right = order[pos - 1], order[pos]
    nearest = np.where(np.abs(grid[left] - target) <= np.abs(grid[right] - target), left, right)
    if np.allclose(grid[nearest], target, rtol=_RTOL, atol=0.0):
        return nearest
    return None


def parse_range(text: str) -> tuple[float, float]:
    """``"950:1550"`` -> ``(950.0, 1550.0)``; an empty side is open (``"950:"`` -> to the end).

    The two ends may come in either order (wavenumber axes often run downwards); the result is
    ``(low, high)``.

    Examples
    --------
    >>> parse_range("1550:950")
    (950.0, 1550.0)
    """
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ValueError(
            f"range must look like LOW:HIGH (e.g. 950:1550), with one ':'; got {text!r}."
        )
    ends = []
    for part, open_end in zip(parts, (-np.inf, np.inf), strict=True):
        part = part.strip()
        try:
            ends.append(float(part) if part else open_end)
        except ValueError:
            raise ValueError(
                f"range {text!r}: {part!r} is not a number; write it like 950:1550."
            ) from None
    low, high = min(ends), max(ends)
    if low == high or np.isnan([low, high]).any():
        raise ValueError(f"range {text!r} is empty; give two different ends, like 950:1550.")
    return float(low), float(high)
