"""Hotelling T2 against Q residuals for calibration, tuning and test spectra, with the limits.

The chemometrician's influence plot of the applicability domain: the lower-left box bounded by
the two limits is the domain; a spectrum right of it is extreme within the PCA model, one above
it has variation the calibration spectra never showed. :func:`get_domain_info` scores the sets,
:func:`plot_domain` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from spectune.analysis._figures import grid_figure, save_figure
from spectune.analysis._model_plots import SET_COLOURS
from spectune.models import ApplicabilityDomain

__all__ = ["DomainInfo", "get_domain_info", "plot_domain"]


class DomainInfo(NamedTuple):
    """T2, Q and the in-domain flag per set (arrays by set name), and the limits."""

    t2: dict[str, np.ndarray]
    q: dict[str, np.ndarray]
    in_domain: dict[str, np.ndarray]
    t2_limit: float
    q_limit: float
    confidence: float
    n_components: int
    preprocessing: str
    log_axes: bool  # every value and limit > 0: both axes logarithmic


def get_domain_info(
    domain: ApplicabilityDomain, sets: Mapping[str, npt.ArrayLike]
) -> DomainInfo:
    """``{"calibration": X_cal, "tuning": X_tune, "test": X_test}`` (any names, spectra on the
    domain's grid) -> the plot's data."""
    if not sets:
        raise ValueError("sets is empty; give at least one {name: spectra}.")
    scores = {name: domain.score(X) for name, X in sets.items()}
    t2 = {name: s.t2 for name, s in scores.items()}
    q = {name: s.q for name, s in scores.items()}
    values = np.concatenate([*t2.values(), *q.values(), [domain.t2_limit_, domain.q_limit_]])
    return DomainInfo(t2, q, {name: s.in_domain for name, s in scores.items()},
                      domain.t2_limit_, domain.q_limit_, float(domain.confidence),
                      int(domain.n_components_), domain.preprocessing_.name,
                      bool((values > 0).all()))


def plot_domain(info: DomainInfo, path: str | Path) -> list[Path]:
    """Q against T2 per set, the two limits dashed; outside spectra counted in the legend."""
    figure, axes = grid_figure(1, 1, 6.0, 4.6)
    ax = axes[0, 0]
    for k, (name, t2) in enumerate(info.t2.items()):
        outside = int((~info.in_domain[name]).sum())
        ax.scatter(t2, info.q[name], s=16, alpha=0.75, color=SET_COLOURS.get(name, f"C{k + 4}"),
                   label=f"{name} ({outside} of {len(t2)} outside)")
    level = f"{info.confidence:.0%}"
    ax.axvline(info.t2_limit, color="k", ls="--", lw=0.9, label=f"{level} limits")
    ax.axhline(info.q_limit, color="k", ls="--", lw=0.9)
    if info.log_axes:
        ax.set(xscale="log", yscale="log")
    ax.set(xlabel="Hotelling T2", ylabel="Q residual (SPE)",
           title=f"Applicability domain: PCA, {info.n_components} components, "
                 f"{info.preprocessing}")
    ax.legend(fontsize="small")
    return save_figure(figure, path)
