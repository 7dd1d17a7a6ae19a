"""Figures of the spectra themselves: raw or per preprocessing route, and a network's
explanation (grad-CAM or integrated gradients) over the mean spectrum.

Same pattern as :mod:`spectune.analysis._model_plots`: a tested ``get_<plot>_info`` returning
arrays, and a thin ``plot_<plot>(info, path)`` writing PNG and SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from spectune.analysis._explain import GradCamInfo, _raw, split_routes
from spectune.analysis._figures import grid_figure, save_figure
from spectune.data import Spectra
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import SpectralNetwork, as_3d

__all__ = ["SpectraInfo", "get_spectra_info", "plot_explanation", "plot_spectra"]


class SpectraInfo(NamedTuple):
    """Spectra per panel (raw channel, or preprocessing route): mean, sd and sampled curves.

    ``curves`` ``[panels, k, P]`` are the same ``k`` samples in every panel, coloured by
    ``colour_values`` (their target or class; None without y).
    """

    wavelengths: np.ndarray
    panel_names: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray
    curves: np.ndarray
    colour_values: np.ndarray | None
    colour_kind: str | None  # "continuous", "classes" or None
    title: str


def get_spectra_info(
    X: Spectra | npt.ArrayLike,
    *,
    preprocessing: PreprocessingSpec | SpectralNetwork | None = None,
    wavelengths: npt.ArrayLike | None = None,
    y: npt.ArrayLike | None = None,
    target: int = 0,
    n_curves: int = 20,
    random_state: int | None = 0,
) -> SpectraInfo:
    """The spectra against the wavelengths: one panel per raw channel, or per route.

    Without ``preprocessing``: the raw spectra. With it: each preprocessing route (each route
    and raw channel), before the column standardisation, which would make every point mean 0
    and sd 1. A network's fitted routes are used as they are; a :class:`PreprocessingSpec` is
    fitted on ``X`` (give the calibration set, as training does). ``y`` (default ``X.y``)
    colours ``n_curves`` sampled curves; string or integer labels are taken as classes.
    """
    X3, wl = _raw(X, wavelengths)
    if preprocessing is None:
        names = tuple(X.channel_names) if isinstance(X, Spectra) and X.channel_names else \
            tuple(["raw"] if X3.shape[1] == 1 else [f"channel {c}" for c in range(X3.shape[1])])
        return _spectra_info(np.moveaxis(X3, 1, 0), wl, names, X, y, target, n_curves,
                             random_state, "Raw spectra")
    layout = X3[:, 0, :] if X3.shape[1] == 1 else X3  # as the routes were fitted
    if isinstance(preprocessing, SpectralNetwork):
        spec = preprocessing.preprocessing
        out = preprocessing.transformer.named_steps["routes"].transform(layout)
    else:
        spec = preprocessing
        out = spec.build().named_steps["routes"].fit_transform(layout)
    routes, split = split_routes(as_3d(out), spec.routes, spec.combine, len(wl))  # [R, n, C, P]
    channels = split.shape[2]
    names = tuple(r if channels == 1 else f"{r}/channel {c}" for r in routes
                  for c in range(channels))
    panels = np.moveaxis(split, 2, 1).reshape(len(names), len(X3), len(wl))
    return _spectra_info(panels, wl, names, X, y, target, n_curves, random_state,
                         f"Preprocessing routes ({spec.combine})" if len(routes) > 1
                         else f"Preprocessing: {routes[0]}")


def plot_spectra(info: SpectraInfo, path: str | Path, *, xlabel: str = "wavelength"
                 ) -> list[Path]:
    """One panel per raw channel or route: mean ± sd and the sampled curves, by target/class."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    figure, axes = grid_figure(len(info.panel_names), 1, 7.0, 2.6)
    values = np.asarray([] if info.colour_values is None else info.colour_values)
    norm = None
    if info.colour_kind == "continuous":
        norm = Normalize(float(np.min(values)), float(np.max(values)))
    classes = np.unique(values).tolist() if info.colour_kind == "classes" else []
    for r, name in enumerate(info.panel_names):
        ax = axes[r, 0]
        for i, curve in enumerate(info.curves[r]):
            colour: Any
            if norm is not None:
                colour = colormaps["viridis"](norm(values[i]))
            else:
                colour = f"C{classes.index(values[i]) % 10}" if classes else "0.6"
            ax.plot(info.wavelengths, curve, color=colour, lw=0.7, alpha=0.8)
        ax.plot(info.wavelengths, info.mean[r], color="k", lw=1.5, label="mean")
        ax.fill_between(info.wavelengths, info.mean[r] - info.sd[r], info.mean[r] + info.sd[r],
                        color="k", alpha=0.15, label="mean ± sd")
        ax.set(title=f"{info.title}: {name}" if len(info.panel_names) > 1 else info.title,
               ylabel=name)
        ax.legend(fontsize="small", loc="upper right")
    axes[-1, 0].set_xlabel(xlabel)
    if norm is not None:
        from matplotlib.cm import ScalarMappable

        figure.colorbar(ScalarMappable(norm, "viridis"), ax=axes[:, 0].tolist(), label="y")
    elif classes:
        handles = [axes[0, 0].plot([], [], color=f"C{k % 10}")[0] for k in range(len(classes))]
        axes[0, 0].legend(handles, [str(c) for c in classes], fontsize="small", title="class")
    return save_figure(figure, path)


def plot_explanation(
    explanations: GradCamInfo | Sequence[tuple[str, GradCamInfo]], path: str | Path, *,
    xlabel: str = "wavelength",
) -> list[Path]:
    """The relevance (shaded, right axis) over the mean raw spectrum; rows are groups (classes
    or target tertiles), columns are the preprocessing routes the network was fed."""
    groups = [("all samples", explanations)] if isinstance(explanations, GradCamInfo) \
        else list(explanations)
    routes = groups[0][1].route_names
    figure, axes = grid_figure(len(groups), len(routes), 4.6, 2.8)
    for g, (label, info) in enumerate(groups):
        for r, route in enumerate(info.route_names):
            ax = axes[g, r]
            for spectrum in info.mean_spectrum:
                ax.plot(info.wavelengths, spectrum, color="k", lw=1.0)
            cam_ax = ax.twinx()
            cam_ax.fill_between(info.wavelengths, 0.0, info.cam[r], color="C3", alpha=0.35)
            cam_ax.set_ylim(0.0, 1.05)
            ax.set_title(f"{label} (n={info.n_samples}), route {route}", fontsize="medium")
            ax.set(xlabel=xlabel, ylabel="mean spectrum")
            cam_ax.set_ylabel(info.method.replace("_", " "))
    return save_figure(figure, path)


def _spectra_info(panels: np.ndarray, wl: np.ndarray, names: tuple[str, ...], X: Any,
                  y: Any, target: int, n_curves: int, random_state: int | None,
                  title: str) -> SpectraInfo:
    """Mean, sd and ``n_curves`` sampled curves of ``panels`` ``[R, n, P]``."""
    n = panels.shape[1]
    if isinstance(n_curves, bool) or not isinstance(n_curves, int) or n_curves < 0:
        raise ValueError(f"n_curves must be an integer >= 0; got {n_curves!r}.")
    chosen = np.sort(np.random.default_rng(random_state).choice(n, min(n_curves, n),
                                                                replace=False))
    kind = None
    if y is None and isinstance(X, Spectra):
        y = X.y
    if y is not None and len(chosen):
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} values for {n} spectra; give one per spectrum.")
        classes = y.dtype.kind not in "fc" or (isinstance(X, Spectra)
                                                and X.task == "classification")
        y = y if classes else y.reshape(n, -1)[:, target]
        y, kind = y[chosen], "classes" if classes else "continuous"
    else:
        y = None  # no curve to colour
    sd = panels.std(axis=1, ddof=1) if n > 1 else np.zeros_like(panels[:, 0])
    return SpectraInfo(wl, names, panels.mean(axis=1), sd, panels[:, chosen], y, kind, title)
