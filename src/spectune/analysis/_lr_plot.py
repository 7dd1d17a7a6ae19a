"""The LR range test's curve: loss against learning rate, with LR_min and LR_max marked.

What to draw is computed (and tested) apart from the drawing, as in Optuna's visualisation
modules: :func:`_get_lr_range_info` turns a result into plain arrays, and
:func:`plot_lr_range` only hands them to matplotlib. The figure is made without pyplot, on
matplotlib's Agg canvas, so it needs no display and leaves pyplot's state alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from spectune.training import LRRangeResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LRRangeInfo", "plot_lr_range"]


class LRRangeInfo(NamedTuple):
    """What the LR range plot shows.

    Attributes
    ----------
    lrs, losses : ndarray of shape (n_recorded,)
        Every recorded step; a non-finite loss (the diverged step) is NaN, so it is not drawn.
    smoothed_lrs, smoothed : ndarray of shape (n_used,)
        The smoothed curve over the steps before divergence, on which the rates were picked.
    markers : tuple of (label, lr)
        The vertical lines: LR_min (floor of the plateau schedule) and LR_max (initial rate).
    diverged_at : float or None
    y_limits : (low, high)
        Loss axis limits: the recorded range, capped so a diverged step does not flatten the
        useful part of the curve (at most 4 times the largest smoothed loss).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_lrs: np.ndarray
    smoothed: np.ndarray
    markers: tuple[tuple[str, float], ...]
    diverged_at: float | None
    y_limits: tuple[float, float]


def _get_lr_range_info(result: LRRangeResult | Mapping[str, Any]) -> LRRangeInfo:
    """The plot's data, from an :class:`LRRangeResult` or its ``as_dict()`` (from JSON)."""
    data: Mapping[str, Any] = result.as_dict() if isinstance(result, LRRangeResult) else result
    lrs = np.asarray(data["lrs"], dtype=float)
    losses = np.array([math.nan if v is None else v for v in data["losses"]], dtype=float)
    losses[~np.isfinite(losses)] = math.nan
    smoothed = np.asarray(data["smoothed"], dtype=float)
    if lrs.shape != losses.shape or len(smoothed) > len(lrs):
        raise ValueError(
            f"LR range result has {len(lrs)} lrs, {len(losses)} losses and {len(smoothed)} "
            "smoothed values; expected as many lrs as losses and no more smoothed values."
        )
    lr_min, lr_max = float(data["lr_min"]), float(data["lr_max"])
    markers = ((f"LR_min = {lr_min:.3g}", lr_min), (f"LR_max = {lr_max:.3g}", lr_max))
    finite = losses[np.isfinite(losses)]
    low = float(min(finite.min(), smoothed.min()))
    high = float(min(finite.max(), 4.0 * smoothed.max()))
    diverged = data.get("diverged_at")
    return LRRangeInfo(
        lrs,
        losses,
        lrs[: len(smoothed)],
        smoothed,
        markers,
        None if diverged is None else float(diverged),
        (low, max(high, low)),
    )


def plot_lr_range(
    result: LRRangeResult | Mapping[str, Any], *, ylabel: str = "validation loss"
) -> Figure:
    """A figure of the LR range test: loss vs LR (log axes), LR_min and LR_max as labelled lines.

    Save it with ``figure.savefig("lr_range.png")`` (or ``.svg``); no display is needed.

    Examples
    --------
    >>> found = LRRangeResult(np.geomspace(1e-5, 1, 5), np.array([1.0, 0.9, 0.5, 0.3, 9.0]),
    ...                       np.array([1.0, 0.85, 0.55, 0.35]), 1e-4, 1e-2, 1.0)
    >>> [line.get_label() for line in plot_lr_range(found).axes[0].lines][-2:]
    ['LR_min = 0.0001', 'LR_max = 0.01']
    """
    from matplotlib.figure import Figure

    info = _get_lr_range_info(result)
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.add_subplot()
    ax.plot(info.lrs, info.losses, ".", color="0.6", markersize=3, label="loss per step")
    ax.plot(info.smoothed_lrs, info.smoothed, "-", color="C0", label="smoothed")
    for (label, lr), colour in zip(info.markers, ("C2", "C3"), strict=True):
        ax.axvline(lr, color=colour, linestyle="--", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    low, high = info.y_limits
    if high > low > 0:
        ax.set_ylim(low / 1.2, high * 1.2)
    ax.set_xlabel("learning rate")
    ax.set_ylabel(ylabel)
    ax.set_title("LR range test")
    ax.legend(loc="best", fontsize="small")
    return figure
