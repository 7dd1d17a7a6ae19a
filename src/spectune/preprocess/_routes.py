"""Preprocessing routes by name ("snv+sg1") and the two published presets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from spectune.preprocess._absorbance import Absorbance
from spectune.preprocess._baseline import BaselineCorrection
from spectune.preprocess._concatenate import ConcatenateRoutes
from spectune.preprocess._detrend import Detrend
from spectune.preprocess._identity import Identity
from spectune.preprocess._msc import MultiplicativeScatterCorrection
from spectune.preprocess._savgol import SavitzkyGolay
from spectune.preprocess._snv import StandardNormalVariate
from spectune.preprocess._stack import StackRoutes

__all__ = ["make_route", "passos_concat", "route_names", "shen_channels"]

# Passos & Mishra (2022): raw, SNV, SG D1, SG D2, SNV+D1, SNV+D2 concatenated.
PASSOS_ROUTES = ("raw", "snv", "sg1", "sg2", "snv+sg1", "snv+sg2")
# Shen & Viscarra Rossel (2021): reflectance, absorbance, ABS+D1, ABS+D2, ABS+SNV as channels.
SHEN_CHANNELS = ("refl", "abs", "abs+sg1", "abs+sg2", "abs+snv")

# token -> estimator class (or partial); None means "no step" (the spectra as measured).
_TOKENS: dict[str, Callable[..., BaseEstimator] | None] = {
    "raw": None,
    "refl": None,
    "abs": Absorbance,
    "snv": StandardNormalVariate,
    "msc": MultiplicativeScatterCorrection,
    "sg": partial(SavitzkyGolay, deriv=0),
    "sg1": partial(SavitzkyGolay, deriv=1),
    "sg2": partial(SavitzkyGolay, deriv=2),
    "detrend": Detrend,
    **{
        method: partial(BaselineCorrection, method)
        for method in ("asls", "arpls", "airpls", "modpoly")
    },
}
_SAVGOL_TOKENS = ("sg", "sg1", "sg2")  # these take make_route's window_length and polyorder


def route_names() -> tuple[str, ...]:
    """Return the tokens that ``make_route`` understands ("raw" and "refl" are the same)."""
    return tuple(_TOKENS)


def make_route(name: str, *, window_length: int = 11, polyorder: int = 2) -> BaseEstimator:
    """Build the preprocessing route ``name``: tokens joined by "+", applied left to right.

    Parameters
    ----------
    name : str
        E.g. ``"snv+sg1"`` (SNV, then the Savitzky-Golay 1st derivative) or ``"abs+snv"``.
        ``"sg"`` smooths, ``"sg1"``/``"sg2"`` differentiate; see ``route_names()``.
    window_length, polyorder : int
        Savitzky-Golay settings of every "sg" token in the route.

    Returns
    -------
    Pipeline or Identity
        A ``Pipeline`` whose steps are named after the tokens, or ``Identity()`` when the route
        is the raw spectra.

    Examples
    --------
    >>> from spectune.preprocess import make_route
    >>> [step for step, _ in make_route("snv+sg1").steps]
    ['snv', 'sg1']
    """
    tokens = [token.strip().lower() for token in str(name).split("+")]
    unknown = [token for token in tokens if token not in _TOKENS]
    if unknown:
        raise ValueError(
            f"Unknown preprocessing token(s) {unknown} in route {name!r}; valid tokens are "
            f"{', '.join(route_names())}, joined by '+' (e.g. 'snv+sg1')."
        )
    steps: list[tuple[str, BaseEstimator]] = []
    seen: Counter[str] = Counter()
    for token in tokens:
        build = _TOKENS[token]
        if build is None:  # "raw" adds no step
            continue
        step = build(window_length, polyorder=polyorder) if token in _SAVGOL_TOKENS else build()
        seen[token] += 1  # a repeated token gets a numbered step name
        steps.append((token if seen[token] == 1 else f"{token}-{seen[token]}", step))
    return Pipeline(steps) if steps else Identity()


def passos_concat(*, window_length: int = 11, polyorder: int = 2) -> ConcatenateRoutes:
    """Passos & Mishra (2022): raw, SNV, D1, D2, SNV+D1, SNV+D2 concatenated along the points.

    Follow it with ``ColumnStandardizer`` to standardise column-wise on the calibration set, as
    the paper does.

    Examples
    --------
    >>> from spectune.preprocess import passos_concat
    >>> passos_concat().routes[4][0]
    'snv+sg1'
    """
    return ConcatenateRoutes(
        [
            (n, make_route(n, window_length=window_length, polyorder=polyorder))
            for n in PASSOS_ROUTES
        ]
    )


def shen_channels(
    names: Sequence[str] = SHEN_CHANNELS, *, window_length: int = 11, polyorder: int = 2
) -> StackRoutes:
    """Shen & Viscarra Rossel (2021): routes stacked as channels of a CNN input.

    For reflectance-like data ("refl" is the raw spectra, "abs" is log10(1/R)); pass a subset of
    ``names`` to switch channels off, as their channel hyperparameters do.

    Examples
    --------
    >>> from spectune.preprocess import shen_channels
    >>> [name for name, _ in shen_channels(("refl", "abs")).routes]
    ['refl', 'abs']
    """
    if isinstance(names, str) or not names:
        raise ValueError(
            f"shen_channels needs a non-empty sequence of route names, got {names!r}; e.g. "
            f"{SHEN_CHANNELS}."
        )
    return StackRoutes(
        [(n, make_route(n, window_length=window_length, polyorder=polyorder)) for n in names]
    )
