"""A second instrument, simulated: the same samples seen through another spectrometer's response.

Calibration transfer needs data where the truth is known: which differences separate two
instruments, and what the samples really are. :class:`InstrumentResponse` describes how an
instrument distorts the light it measures, in the order physics applies it: a wider line shape
(band broadening), a miscalibrated wavelength axis (shift), a detector gain and offset, a smooth
baseline, and its own white noise. :func:`make_instrument_pair` measures the same noise-free
samples of :func:`~spectune.data.make_synthetic` on two such instruments;
:func:`simulate_instrument` measures given spectra (e.g. a real data set) on one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from spectune.data._spectra import Spectra
from spectune.data._synthetic import SyntheticTruth, make_synthetic


@dataclass(frozen=True)
class InstrumentResponse:
    """How an instrument turns a sample's true spectrum into its measurement.

    Attributes
    ----------
    shift : float
        Wavelength-axis error, in wavelength units: the value reported at ``wl`` is the
        spectrum's value at ``wl + shift``.
    broadening : float
        Sd of the Gaussian line shape convolved with the spectrum, in wavelength units.
    gain, offset : float
        Detector response: ``gain * spectrum + offset``.
    baseline : float
        Height of a curved baseline ``baseline * x**2`` (``x`` from -1 to 1 across the range).
    noise : float
        Sd of the instrument's white noise.

    Examples
    --------
    >>> response = InstrumentResponse(offset=0.1, noise=0.0)
    >>> response.measure(np.array([1.0, 2.0, 3.0]), np.zeros((1, 3)), 0).tolist()
    [[0.1, 0.1, 0.1]]
    """

    shift: float = 0.0
    broadening: float = 0.0
    gain: float = 1.0
    offset: float = 0.0
    baseline: float = 0.0
    noise: float = 0.002

    def __post_init__(self) -> None:
        if self.broadening < 0 or self.noise < 0:
            raise ValueError(f"broadening and noise must be >= 0; got {self.broadening}, "
                             f"{self.noise}.")

    def measure(self, wavelengths: np.ndarray, spectra: np.ndarray,
                random_state: int | np.random.Generator | None = None) -> np.ndarray:
        """``spectra`` ``[..., points]`` on the grid ``wavelengths`` as this instrument reads them.

        The grid must be evenly spaced when ``broadening`` > 0 (the line shape is a filter in
        points); the shifted spectrum is interpolated linearly and held constant past the ends.
        """
        wl = np.asarray(wavelengths, dtype=np.float64)
        X = np.asarray(spectra, dtype=np.float64)
        if self.broadening > 0:
            step = float(np.mean(np.abs(np.diff(wl))))
            X = gaussian_filter1d(X, self.broadening / step, axis=-1, mode="nearest")
        if self.shift:
            order = np.argsort(wl)
            flat = X.reshape(-1, wl.size)[:, order]
            X = np.stack([np.interp(wl + self.shift, wl[order], row) for row in flat])
            X = X.reshape(np.shape(spectra))
        x = (wl - (wl.min() + wl.max()) / 2) / ((wl.max() - wl.min()) / 2)
        X = self.gain * X + self.offset + self.baseline * x**2
        rng = np.random.default_rng(random_state)
        return X + self.noise * rng.standard_normal(X.shape)


def simulate_instrument(spectra: Spectra, response: InstrumentResponse, *,
                        random_state: int | np.random.Generator | None = None,
                        source: str = "<second instrument>") -> Spectra:
    """The same samples (ids, targets, grid) as ``response`` would measure them.

    Given measured spectra (a real data set), the result keeps their noise and adds the
    instrument's: a proxy of a second instrument, not a clean simulation.
    """
    X = response.measure(spectra.wavelengths, spectra.X, random_state)
    return replace(spectra, X=X, source=source)


def make_instrument_pair(
    n_samples: int = 200,
    n_points: int = 300,
    *,
    second: InstrumentResponse,
    first: InstrumentResponse | None = None,
    random_state: int | None = None,
    **synthetic: Any,
) -> tuple[Spectra, Spectra, SyntheticTruth]:
    """The same synthetic samples measured on two instruments: ``(first, second, truth)``.

    The samples (concentrations, scatter, sample baselines) come from
    :func:`~spectune.data.make_synthetic` without noise (``synthetic`` are its other
    arguments); each instrument then applies its response and its own noise. ``first``
    defaults to a plain instrument with noise 0.002 (``make_synthetic``'s default).

    Examples
    --------
    >>> a, b, truth = make_instrument_pair(20, 50, second=InstrumentResponse(offset=0.05),
    ...                                    random_state=0)
    >>> bool((a.ids == b.ids).all() and (a.y == b.y).all()), round(float((b.X - a.X).mean()), 2)
    (True, 0.05)
    """
    if "noise" in synthetic:
        raise TypeError("noise belongs to each instrument: set InstrumentResponse(noise=...).")
    first = InstrumentResponse() if first is None else first
    samples, truth = make_synthetic(n_samples, n_points, noise=0.0, random_state=random_state,
                                    **synthetic)
    rng = np.random.default_rng(random_state).spawn(2)
    measured = [simulate_instrument(samples, response, random_state=r, source=name)
                for response, r, name in ((first, rng[0], "<instrument A>"),
                                          (second, rng[1], "<instrument B>"))]
    return measured[0], measured[1], truth
