"""Synthetic spectra whose truth is known: Beer-Lambert mixtures of Gaussian bands.

Tests need data where the right answer is known: which wavelengths carry the signal, how the
target depends on the concentrations, how noisy the measurement is. Each pure component is one
Gaussian band; absorbance is ``C @ S`` (Beer-Lambert), then multiplicative scatter, a baseline
(offset + slope) and white noise spoil it as real instruments do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from spectune.data._spectra import Spectra

TargetKind = Literal["linear", "quadratic", "interaction"]
_MIDDLE = 0.55  # middle of the concentration range (0.1, 1.0): non-linear targets centre there
_SHIFT = 0.5  # classification: class k moves band 0 by k * _SHIFT band widths (sigma)


@dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """What generated the spectra, for tests that check what a model found.

    Attributes
    ----------
    pure_spectra : array (n_components, points)
        Unit-concentration absorbance of each component (band 0 unshifted for classes).
    centres, widths : array (n_components,)
        Band centre and Gaussian sigma of each component, in wavelength units.
    signal_mask : array (points,) of bool
        Points within 2 sigma of component 0's band (all its shifted positions for classes).
    concentrations : array (n_samples, n_components)
    target_kind : str
        How y follows from the concentrations (regression).
    class_shifts : array (n_classes,) or None
        Band-0 shift of each class, in wavelength units (classification).
    """

    wavelengths: np.ndarray
    pure_spectra: np.ndarray
    centres: np.ndarray
    widths: np.ndarray
    signal_mask: np.ndarray
    concentrations: np.ndarray
    target_kind: str
    class_shifts: np.ndarray | None


def make_synthetic(
    n_samples: int = 200,
    n_points: int = 300,
    *,
    task: Literal["regression", "classification"] = "regression",
    n_components: int = 3,
    n_targets: int = 1,
    target_kind: TargetKind = "linear",
    signal_band: tuple[float, float] | None = None,
    noise: float = 0.002,
    scatter: float = 0.05,
    baseline: float = 0.02,
    n_classes: int = 3,
    wavelength_range: tuple[float, float] = (1000.0, 2500.0),
    random_state: int | np.random.Generator | None = None,
) -> tuple[Spectra, SyntheticTruth]:
    """Spectra of random mixtures, with the truth that made them.

    Parameters
    ----------
    n_samples, n_points : int
        Samples, and points on the grid spanning ``wavelength_range`` (nm).
    task : {"regression", "classification"}
        Regression: y from the concentrations. Classification: class ``k`` shifts component 0's
        band by ``k * 0.5`` sigma, so the label lives in a band position, not an intensity.
    n_components : int
        Pure components, one Gaussian band each, centred in equal slots of the range.
    n_targets : int
        Regression targets: the concentrations of components ``0 .. n_targets-1`` ("linear").
    target_kind : {"linear", "quadratic", "interaction"}
        ``c0`` (Beer-Lambert linear), ``(c0 - 0.55)**2`` or ``(c0 - 0.55) * (c1 - 0.55)``; the
        last two are centred so that a linear model (PLS) finds almost nothing.
    signal_band : (low, high), optional
        Where component 0's band lies (centre = middle, sigma = a quarter of the width).
    noise, scatter, baseline : float
        Sd of the white noise, of the multiplicative scatter around 1, and of the baseline
        offset and slope (slope per unit of the range's half-width).
    n_classes : int
        Classes (classification), balanced.
    random_state : int, Generator or None
        Same value, same spectra.

    Examples
    --------
    >>> spectra, truth = make_synthetic(50, 120, random_state=0)
    >>> spectra.X.shape, bool((spectra.y[:, 0] == truth.concentrations[:, 0]).all())
    ((50, 1, 120), True)
    """
    _check(n_samples, n_points, task, n_components, n_targets, target_kind, n_classes,
           (noise, scatter, baseline))
    rng = np.random.default_rng(random_state)
    low, high = wavelength_range
    wl = np.linspace(low, high, n_points)
    span = high - low
    centres = low + (np.arange(n_components) + 0.5) * span / n_components
    widths = np.full(n_components, span / (8.0 * n_components))
    if signal_band is not None:
        centres[0], widths[0] = _band(signal_band, low, high)
    conc = rng.uniform(0.1, 1.0, size=(n_samples, n_components))
    pure = _gauss(wl, centres[:, None], widths[:, None])
    shifts, y = None, _target(conc, task, n_targets, target_kind)
    if task == "classification":
        y = rng.permutation(np.arange(n_samples) % n_classes)
        shifts = np.arange(n_classes) * _SHIFT * widths[0]
        band0 = _gauss(wl, centres[0] + shifts[y][:, None], widths[0])
        absorb = conc[:, :1] * band0 + conc[:, 1:] @ pure[1:]
    else:
        absorb = conc @ pure  # Beer-Lambert: A = C S
    x = (wl - (low + high) / 2) / (span / 2)  # -1 .. 1 across the range
    factor = 1.0 + scatter * rng.standard_normal((n_samples, 1))
    offset, slope = baseline * rng.standard_normal((2, n_samples, 1))
    X = absorb * factor + offset + slope * x + noise * rng.standard_normal(absorb.shape)
    reach = centres[0] + (shifts if shifts is not None else np.zeros(1))
    mask = (np.abs(wl[None, :] - reach[:, None]) <= 2 * widths[0]).any(axis=0)
    names = ("class",) if task == "classification" else _names(n_targets, target_kind)
    spectra = Spectra(X, wl, y, names, ids=np.asarray([f"syn-{i:04d}" for i in range(n_samples)]),
                      source="<synthetic>", task=task)
    truth = SyntheticTruth(wl, pure, centres, widths, mask, conc, target_kind, shifts)
    return spectra, truth


def _gauss(wl: np.ndarray, centre: np.ndarray | float, width: np.ndarray | float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / width) ** 2)


def _target(conc: np.ndarray, task: str, n_targets: int, kind: str) -> np.ndarray:
    if kind == "quadratic":
        return (conc[:, 0] - _MIDDLE) ** 2
    if kind == "interaction":
        return (conc[:, 0] - _MIDDLE) * (conc[:, 1] - _MIDDLE)
    return conc[:, 0] if n_targets == 1 else conc[:, :n_targets]


def _names(n_targets: int, kind: str) -> tuple[str, ...]:
    if kind != "linear" or n_targets == 1:
        return ("c0",) if kind == "linear" else (kind,)
    return tuple(f"c{i}" for i in range(n_targets))


def _band(band: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    a, b = sorted(float(v) for v in band)
    if not (low <= a < b <= high):
        raise ValueError(
            f"signal_band must be (low, high) inside the range {low:g}-{high:g}; got {band!r}."
        )
    return (a + b) / 2, (b - a) / 4


def _check(n_samples: int, n_points: int, task: str, n_components: int, n_targets: int,
           kind: str, n_classes: int, scales: tuple[float, float, float]) -> None:
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification'; got {task!r}.")
    if kind not in ("linear", "quadratic", "interaction"):
        raise ValueError(f"target_kind must be linear, quadratic or interaction; got {kind!r}.")
    minimum = 2 if kind == "interaction" else 1
    if n_components < max(minimum, n_targets):
        raise ValueError(
            f"n_components={n_components} is too few for n_targets={n_targets} and "
            f"target_kind={kind!r}; need at least {max(minimum, n_targets)}."
        )
    if n_targets < 1 or (n_targets > 1 and kind != "linear"):
        raise ValueError(f"n_targets={n_targets}: use 1, or more only with target_kind='linear'.")
    least = 2 * n_classes if task == "classification" else 2
    if n_points < 2 or n_samples < least:
        raise ValueError(
            f"need n_points >= 2 and n_samples >= {least} (2 per class for classes); got "
            f"n_points={n_points}, n_samples={n_samples}."
        )
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2; got {n_classes}.")
    if min(scales) < 0:
        raise ValueError(f"noise, scatter and baseline must be >= 0; got {scales}.")
