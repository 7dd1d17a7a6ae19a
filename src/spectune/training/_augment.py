"""Sample-space augmentation of training batches (Bjerrum, Glahder & Skov 2017, arXiv:1710.01927).

Bjerrum et al. made CNNs robust to the nuisance variation of NIR spectra by perturbing each
training spectrum, every time it is seen, with a random baseline offset, a random linear slope and
a random multiplicative scaling, with magnitudes tied to the training set's standard deviation.
:class:`SpectralAugmenter` does this on the device, per mini-batch, inside the training loop's
``augment`` hook (training batches only: validation, tuning and test data never pass through it),
and adds two optional effects: white Gaussian noise and a shift of a few points along the axis
(a wavelength-calibration error).

It works on the network's input, i.e. the *preprocessed* calibration spectra, so ``fit`` must see
what the network sees (``fit_network``'s transformed training spectra), not the raw spectra.

Search-space parameters (``TrialPlan.extra``), mapped by :func:`augmenter_from_params`
-----------------------------------------------------------------------------------------
==============  =======  ===============================================  ====================
name            type     meaning                                          recommended range
==============  =======  ===============================================  ====================
``aug``         bool     switch; absent or false: no augmentation         ``[false, true]``
``aug_offset``  float    offset ``U(-m, m) * spread``                     0.0 - 0.2 (0.1)
``aug_slope``   float    slope: edge-to-edge change ``U(-m, m) * spread``  0.0 - 0.1 (0.05)
``aug_scale``   float    factor ``1 + U(-m, m)`` (dimensionless)          0.0 - 0.1 (0.05)
``aug_noise``   float    white noise, sd ``m * spread``                   0.0 - 0.05 (0.0)
``aug_shift``   int      shift by ``U{-m..m}`` points, edges repeated     0 - 3 (0)
==============  =======  ===============================================  ====================

An absent magnitude is 0 (that effect off); ``aug: true`` with every magnitude 0 also gives no
augmenter. Values in brackets are the defaults of :class:`SpectralAugmenter`, close to
Bjerrum et al.'s choices (offset 0.1 sd, slope and scaling of a few per cent). In YAML::

    aug: {type: categorical, choices: [false, true]}
    aug_offset: {type: float, low: 0.0, high: 0.2, when: "aug"}
    aug_slope: {type: float, low: 0.0, high: 0.1, when: "aug"}
    aug_scale: {type: float, low: 0.0, high: 0.1, when: "aug"}

Noise and shift are better left out of the default space (0): derivative routes amplify noise,
and a shift blurs narrow bands, so they help only some data sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from sklearn.base import BaseEstimator

from spectune.exceptions import DataError
from spectune.preprocess._base import check_fitted, validate_spectra

__all__ = ["AUGMENT_PARAMS", "SpectralAugmenter", "augmenter_from_params"]

# space parameter -> SpectralAugmenter parameter
AUGMENT_PARAMS = {
    "aug_offset": "offset",
    "aug_slope": "slope",
    "aug_scale": "scale",
    "aug_noise": "noise",
    "aug_shift": "shift",
}


def _check_magnitudes(values: Mapping[str, Any], *, prefix: str) -> None:
    """Raise ValueError naming ``prefix + name`` for a negative, non-finite or wrong-type value."""
    for name, value in values.items():
        label = f"{prefix}{name}"
        integer = name == "shift"
        number = isinstance(value, Integral if integer else Real) and not isinstance(value, bool)
        if not number or not (math.isfinite(value) and value >= 0):
            rule = ">= 0" if number else ("an int" if integer else "a number") + " >= 0"
            raise ValueError(f"{label} must be {rule}, got {value!r}; 0 switches it off.")
    if values.get("scale", 0) >= 1:
        raise ValueError(
            f"{prefix}scale must be < 1 (a factor 1 + U(-scale, scale) must stay positive), "
            f"got {values['scale']!r}."
        )


class SpectralAugmenter(BaseEstimator):
    """Random offset, slope, scaling, noise and shift of each training spectrum, per batch.

    For a spectrum ``x`` of channel ``c`` with points ``t`` spaced evenly in ``[0, 1]``::

        x' = (1 + u_s) * shift(x, k) + (u_o + u_b * (t - 0.5) + eps) * spread_[c]

    with ``u_s ~ U(-scale, scale)``, ``u_o ~ U(-offset, offset)``, ``u_b ~ U(-slope, slope)``,
    ``eps ~ N(0, noise**2)`` per point and ``k ~ U{-shift..shift}``. ``u_s, u_o, u_b`` are drawn
    per spectrum and channel: channels are different preprocessing routes, on which a physical
    offset or scatter lands differently. ``k`` is drawn per spectrum and shared by its channels,
    since an axis error moves every channel alike. A shift repeats the edge values.

    Parameters
    ----------
    offset : float
        Additive offset, in units of ``spread_`` (Bjerrum et al.: 0.1 standard deviation).
    slope : float
        Linear baseline: change from the first to the last point, in units of ``spread_``.
    scale : float
        Multiplicative factor ``1 + U(-scale, scale)``, in [0, 1); dimensionless, as scatter is.
    noise : float
        Standard deviation of white Gaussian noise, in units of ``spread_``.
    shift : int
        Largest shift along the axis, in points.

    Attributes
    ----------
    spread_ : ndarray of shape (n_channels,)
        Per channel, the mean over points of the standard deviation over calibration spectra.
        This is the between-sample variation the network must already cope with, so magnitudes
        read as fractions of it, as in Bjerrum et al.; it is exactly 1 after column
        standardisation, and unlike the spread of each spectrum's mean level it does not vanish
        after SNV or a derivative (whose spectra all have a mean near 0).
    n_features_in_, n_channels_in_, n_points_in_ : int, int or None, int
        Layout seen in ``fit`` (``n_channels_in_`` is None for 2-D input).

    Examples
    --------
    >>> import numpy as np, torch
    >>> X = np.random.default_rng(0).normal(size=(20, 1, 50)).astype("float32")
    >>> augment = SpectralAugmenter(offset=0.1, slope=0.0, scale=0.0).fit(X)
    >>> batch = torch.as_tensor(X[:4])
    >>> out = augment(batch, torch.Generator().manual_seed(0))
    >>> diff = (out - batch).numpy()
    >>> bool(np.allclose(diff, diff[..., :1], atol=1e-6))  # one offset per spectrum
    True
    """

    def __init__(
        self,
        offset: float = 0.1,
        slope: float = 0.05,
        scale: float = 0.05,
        noise: float = 0.0,
        shift: int = 0,
    ) -> None:
        self.offset = offset
        self.slope = slope
        self.scale = scale
        self.noise = noise
        self.shift = shift

    def fit(self, X: npt.ArrayLike, y: Any = None) -> SpectralAugmenter:
        """Check the parameters and measure the calibration spectra's spread.

        Parameters
        ----------
        X : array-like of shape (n, points) or (n, channels, points)
            The network's input for the calibration spectra (already preprocessed).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        _check_magnitudes(self.get_params(), prefix=f"{type(self).__name__}: ")
        X = validate_spectra(self, X, reset=True)
        if len(X) < 2:
            raise DataError(
                f"{type(self).__name__}.fit needs at least 2 spectra to measure their spread, "
                f"got {len(X)}; fit it on the calibration set."
            )
        X3 = np.asarray(X, dtype=np.float64).reshape(len(X), -1, X.shape[-1])
        self.spread_ = X3.std(axis=0).mean(axis=1)
        self._on_device: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        return self

    def __call__(self, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return an augmented copy of the batch ``X``; ``X`` itself is left unchanged.

        Parameters
        ----------
        X : torch.Tensor of shape (n, points) or (n, channels, points)
            A training batch, on the device of ``generator``.
        generator : torch.Generator
            The loop's seeded generator; the same state gives the same output.

        Returns
        -------
        torch.Tensor of the shape, dtype and device of ``X``
        """
        check_fitted(self)
        x = X.reshape(len(X), -1, X.shape[-1])
        if x.shape[1:] != (len(self.spread_), self.n_points_in_):
            raise DataError(
                f"{type(self).__name__} was fitted on spectra of {len(self.spread_)} channel(s) "
                f"x {self.n_points_in_} points but got a batch of shape {tuple(X.shape)}; fit "
                "it on the network's input (the preprocessed calibration spectra)."
            )
        n, channels, points = x.shape
        device, dtype = X.device, X.dtype

        def uniform(magnitude: float) -> torch.Tensor:  # U(-magnitude, magnitude), [n, C, 1]
            u = torch.rand(n, channels, 1, generator=generator, device=device, dtype=dtype)
            return magnitude * (2 * u - 1)

        out = x
        if self.shift:
            k = torch.randint(
                -self.shift, self.shift + 1, (n, 1), generator=generator, device=device
            )
            # out[..., i] = x[..., i - k], clamped at the edges: the content moves right by k
            idx = (torch.arange(points, device=device) - k).clamp_(0, points - 1)
            out = torch.gather(out, 2, idx[:, None, :].expand(n, channels, points))
        if self.scale:
            out = out * (1 + uniform(self.scale))
        baseline: torch.Tensor | float = 0.0  # offset + slope + noise, in units of spread_
        if self.offset:
            baseline = baseline + uniform(self.offset)
        if self.slope:
            t = torch.linspace(-0.5, 0.5, points, device=device, dtype=dtype)
            baseline = baseline + uniform(self.slope) * t
        if self.noise:
            baseline = baseline + self.noise * torch.randn(
                n, channels, points, generator=generator, device=device, dtype=dtype
            )
        if self.offset or self.slope or self.noise:
            out = out + baseline * self._spread(device, dtype)
        return (out.clone() if out is x else out).reshape(X.shape)

    def _spread(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``spread_`` as a ``[C, 1]`` tensor, copied to each device once, not once per batch."""
        key = (device, dtype)
        if key not in self._on_device:
            self._on_device[key] = torch.as_tensor(self.spread_, dtype=dtype, device=device)[
                :, None
            ]
        return self._on_device[key]


def augmenter_from_params(extra: Mapping[str, Any]) -> SpectralAugmenter | None:
    """The (unfitted) augmenter a trial's parameters ask for, or None for no augmentation.

    Parameters
    ----------
    extra : mapping
        ``TrialPlan.extra``: ``aug`` (switch) and the ``aug_*`` magnitudes of this module's
        table; other keys (``lr_mode``, ``extra_*``) are ignored.

    Returns
    -------
    SpectralAugmenter or None
        None when ``aug`` is absent or false, or every magnitude is 0. Fit it on the network's
        input before training.

    Raises
    ------
    ValueError
        An unknown ``aug_*`` name (a typo in the space) or a negative magnitude.
    """
    unknown = sorted(k for k in extra if k.startswith("aug_") and k not in AUGMENT_PARAMS)
    if unknown:
        raise ValueError(
            f"unknown augmentation parameter {unknown[0]!r}; known: {sorted(AUGMENT_PARAMS)}."
        )
    values = {param: extra.get(name, 0) for name, param in AUGMENT_PARAMS.items()}
    _check_magnitudes(values, prefix="aug_")
    if not extra.get("aug", False) or not any(values.values()):
        return None
    values["shift"] = int(values["shift"])
    return SpectralAugmenter(**values)
