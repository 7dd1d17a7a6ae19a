"""PLS figures: RMSECV against latent variables per route, and coefficients with VIP.

What a chemometrician checks first about the PLS beside the final model: that the number of
latent variables sits where the CV curve flattens, and which wavelengths carry the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sklearn.cross_decomposition import PLSRegression
from sklearn.pipeline import Pipeline

from spectune.analysis._explain import split_routes
from spectune.analysis._figures import grid_figure, save_figure
from spectune.preprocess import ConcatenateRoutes

__all__ = ["PLSCoefficientsInfo", "PLSCurveInfo", "get_pls_coefficients_info", "get_pls_curve_info",
           "plot_pls_coefficients", "plot_pls_curve", "vip_scores"]


class PLSCoefficientsInfo(NamedTuple):
    """PLS regression coefficients and VIP scores against the (preprocessed) wavelength axis.

    Attributes
    ----------
    wavelengths : ndarray of shape (P,)
    coef : ndarray of shape (n_targets, R, P)
        ``coef_`` of the PLSRegression (one row per target, or per class for PLS-DA), split per
        route; they multiply the *preprocessed*, mean-centred spectra.
    vip : ndarray of shape (R, P)
        Wold's VIP; the mean of VIP² is 1, so VIP > 1 marks an above-average variable.
    route_names, target_names : tuple of str
    axis_label : str
        Says when the axis is that of preprocessed spectra (derivatives, SNV...).
    n_components : int
    """

    wavelengths: np.ndarray
    coef: np.ndarray
    vip: np.ndarray
    route_names: tuple[str, ...]
    target_names: tuple[str, ...]
    axis_label: str
    n_components: int


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
    figure, axes = grid_figure(1, 1, 6.0, 3.8)
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
    figure, axes = grid_figure(len(info.route_names), 2, 5.0, 3.0)
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


def vip_scores(pls: PLSRegression) -> np.ndarray:
    """Wold's variable importance in projection of a fitted :class:`PLSRegression`.

    ``VIP_j = sqrt(p * sum_a SS_a (w_ja / ||w_a||)^2 / sum_a SS_a)`` with
    ``SS_a = ||q_a||^2 ||t_a||^2``, the part of Y's sum of squares component ``a`` explains
    (w: ``x_weights_``, t: ``x_scores_``, q: ``y_loadings_``; Wold et al. 2001).
    """
    w, t, q = pls.x_weights_, pls.x_scores_, pls.y_loadings_
    ss = (q**2).sum(axis=0) * (t**2).sum(axis=0)  # [A]
    w_norm = w / np.linalg.norm(w, axis=0, keepdims=True)
    return np.sqrt(w.shape[0] * (w_norm**2 @ ss) / ss.sum())


def get_pls_coefficients_info(
    model: Any,
    *,
    wavelengths: npt.ArrayLike | None = None,
    target_names: Sequence[str] | None = None,
    axis: str = "wavelength",
) -> PLSCoefficientsInfo:
    """Coefficients and VIP of a fitted PLS baseline, per route, against the wavelengths
    (``axis`` names them: "wavenumber (cm-1)", ...).

    ``model`` is a fitted ``PLSRegressionCV`` / ``PLSDAClassifierCV`` (their ``pipeline_``), a
    Pipeline ending in ``PLSRegression``, or a ``PLSRegression``.
    """
    pipeline = getattr(model, "pipeline_", model)
    pls = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    if not isinstance(pls, PLSRegression) or not hasattr(pls, "coef_"):
        raise ValueError(f"expected a fitted PLS model or a Pipeline ending in PLSRegression; "
                         f"got {type(model).__name__}.")
    coef = np.asarray(pls.coef_)  # [n_targets, n_features]
    wl = np.arange(coef.shape[1], dtype=float) if wavelengths is None \
        else np.asarray(wavelengths, dtype=float)
    combiner = next((step for _, step in getattr(pipeline, "steps", ())
                     if isinstance(step, ConcatenateRoutes)), None)
    if combiner is not None:
        routes = tuple(combiner.route_names_)
    else:
        routes = (getattr(model, "preprocessing_", "raw" if pipeline is pls else "preprocessed"),)
    names, coefs = split_routes(coef[:, None, :], routes, "concat", len(wl))  # [R, T, 1, P]
    _, vip = split_routes(vip_scores(pls)[None], routes, "concat", len(wl))  # [R, 1, P]
    classes = getattr(model, "classes_", None)
    if target_names is None:
        target_names = [str(c) for c in classes] if classes is not None \
            else [f"y{j}" for j in range(len(coef))]
    preprocessed = any(name not in ("raw", "refl") for name in names)
    axis = f"{axis} (preprocessed spectra)" if preprocessed else axis
    return PLSCoefficientsInfo(wl, np.moveaxis(coefs[:, :, 0], 0, 1), vip[:, 0], names,
                               tuple(target_names), axis, int(pls.n_components))
