"""PLS figures: RMSECV against latent variables per route, and coefficients with VIP.

What a chemometrician checks first about the PLS beside the final model: that the number of
latent variables sits where the CV curve flattens, and which wavelengths carry the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from spectune.analysis._explain import PLSCoefficientsInfo
from spectune.analysis._figures import save_figure
from spectune.analysis._model_plots import _figure

__all__ = ["PLSCurveInfo", "get_pls_curve_info", "plot_pls_coefficients", "plot_pls_curve"]


class PLSCurveInfo(NamedTuple):
    """CV figure per route against the latent variables, and the chosen setting."""

    metric: str
    curves: dict[str, np.ndarray]
    chosen_route: str
    chosen_components: int


def get_pls_curve_info(pls: Mapping[str, Any]) -> PLSCurveInfo:
    """From metrics.json's ``pls`` section (its ``cv_curve``, ``preprocessing``,
    ``n_components``)."""
    curve = pls.get("cv_curve")
    if not curve or not curve.get("routes"):
        raise ValueError("the pls section has no cv_curve (a run of an older spectune).")
    curves = {route: np.asarray(values, dtype=float) for route, values in curve["routes"].items()}
    return PLSCurveInfo(str(curve["metric"]), curves, str(pls["preprocessing"]),
                        int(pls["n_components"]))


def plot_pls_curve(info: PLSCurveInfo, path: str | Path) -> list[Path]:
    """One line per route; the chosen setting circled."""
    figure, axes = _figure(1, 1, 6.0, 3.8)
    ax = axes[0, 0]
    for route, values in info.curves.items():
        lvs = np.arange(1, len(values) + 1)
        ax.plot(lvs, values, marker=".", lw=1.0, label=route)
        if route == info.chosen_route and info.chosen_components <= len(values):
            ax.scatter([info.chosen_components], [values[info.chosen_components - 1]], s=120,
                       facecolors="none", edgecolors="k", zorder=3, label="chosen")
    label = "RMSECV" if info.metric == "rmse" else "CV balanced accuracy"
    ax.set(xlabel="latent variables", ylabel=label, title=f"PLS: {label} per route")
    ax.legend(fontsize="small", ncols=2)
    return save_figure(figure, path)


def plot_pls_coefficients(info: PLSCoefficientsInfo, path: str | Path) -> list[Path]:
    """Regression coefficients (left) and VIP with the VIP = 1 line (right), per route."""
    figure, axes = _figure(len(info.route_names), 2, 5.0, 3.0)
    for r, route in enumerate(info.route_names):
        for t, target in enumerate(info.target_names):
            axes[r, 0].plot(info.wavelengths, info.coef[t, r], lw=1.0, label=target)
        axes[r, 0].axhline(0.0, color="k", lw=0.6)
        axes[r, 0].set(title=f"PLS coefficients ({info.n_components} LV), route {route}",
                       xlabel=info.axis_label, ylabel="coefficient")
        axes[r, 0].legend(fontsize="small")
        axes[r, 1].plot(info.wavelengths, info.vip[r], color="C2")
        axes[r, 1].axhline(1.0, color="k", ls="--", lw=0.8)
        axes[r, 1].set(title=f"VIP, route {route}", xlabel=info.axis_label, ylabel="VIP")
    return save_figure(figure, path)
