"""Which wavelengths a network uses: 1-D grad-CAM and input attributions, per route.

Every explanation ends as one curve per preprocessing route against the wavelength axis, so a
chemometrician can lay it over the spectra: a network fed ``R`` concatenated routes sees an
input of ``R * P`` points, and route ``r`` fills points ``r*P .. (r+1)*P`` (Passos & Mishra
2022); stacked routes are channels of one ``P``-point input (Shen & Viscarra Rossel 2021).
:func:`split_routes` does that mapping once for every explanation and figure (PLS's
coefficients and VIP too: :mod:`spectune.analysis._pls_plots`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from spectune.data import Spectra

if TYPE_CHECKING:
    from spectune.training import SpectralNetwork

__all__ = [
    "GradCamInfo",
    "explain",
    "explain_groups",
    "grad_cam",
    "input_attribution",
    "split_routes",
]

Method = Literal["auto", "grad_cam", "hires_cam", "integrated_gradients", "gradient_x_input"]
CAPTUM_INSTALL = "pip install captum"


class GradCamInfo(NamedTuple):
    """Where a network looks, per route, averaged over the explained samples.

    Attributes
    ----------
    wavelengths : ndarray of shape (P,)
    cam : ndarray of shape (R, P)
        Relevance in [0, 1] (1 at the most relevant point over all routes, so routes compare).
        Grad-CAM cannot tell stacked channels apart (the first conv mixes them): for a stack it
        has one row, named after all the channels.
    mean_spectrum : ndarray of shape (C, P)
        Mean raw spectrum of the explained samples (one row per raw channel), to draw under it.
    route_names : tuple of str
        One label per row of ``cam``.
    method : str
        "grad_cam", "hires_cam", "integrated_gradients" or "gradient_x_input".
    target : int
        The explained output: target column (regression) or class code (classification).
    n_samples : int
    """

    wavelengths: np.ndarray
    cam: np.ndarray
    mean_spectrum: np.ndarray
    route_names: tuple[str, ...]
    method: str
    target: int
    n_samples: int


def split_routes(
    values: np.ndarray, routes: Sequence[str], combine: str, n_points: int
) -> tuple[tuple[str, ...], np.ndarray]:
    """Cut a network-input-shaped array ``[..., C_net, L]`` into routes: ``[R, ..., C, P]``.

    Concatenated routes (``combine="concat"``) lie one after the other along ``L = R * P``;
    stacked routes (``"stack"``) are blocks of ``C`` channels, route by route as
    ``StackRoutes`` orders them, with ``L = P``. ``routes`` and ``combine`` are those of the
    :class:`~spectune.preprocess.PreprocessingSpec` that made the input.
    """
    values = np.asarray(values)
    routes = tuple(routes)
    *lead, channels, length = values.shape
    if len(routes) == 1:
        if length != n_points:
            raise ValueError(f"input of {length} points for route {routes[0]!r}; expected "
                             f"{n_points}, the number of wavelengths.")
        return routes, values[None]
    k = len(routes)
    if combine == "concat" and length == k * n_points:
        return routes, np.moveaxis(values.reshape(*lead, channels, k, n_points), -2, 0)
    if combine == "stack" and length == n_points and channels % k == 0:
        return routes, np.moveaxis(values.reshape(*lead, k, channels // k, n_points), -3, 0)
    raise ValueError(
        f"input of shape [{channels}, {length}] does not split into {k} "
        f"{'concatenated' if combine == 'concat' else 'stacked'} "
        f"routes of {n_points} points; pass the wavelengths of the raw spectra."
    )


def grad_cam(
    network: SpectralNetwork,
    X: Spectra | npt.ArrayLike,
    *,
    target: int = 0,
    weighting: Literal["mean", "elementwise"] = "mean",
    wavelengths: npt.ArrayLike | None = None,
) -> GradCamInfo:
    """1-D grad-CAM (Selvaraju et al. 2017; Passos & Mishra 2022, section 3.3), per route.

    The last conv block's activations ``A`` [n, K, L'] and the gradients ``G`` of the output
    (the predicted target, or the class logit) with respect to them are hooked. With
    ``weighting="mean"`` (grad-CAM) ``w_k = mean over L' of G_k`` and
    ``cam = ReLU(sum_k w_k A_k)``; with ``"elementwise"`` (HiResCAM, Draelos & Carin 2020)
    ``cam = ReLU(sum_k G_k * A_k)``. The cam is averaged over the samples, linearly
    interpolated to the input length ``L``, divided by its maximum and mapped back to the
    wavelengths of each route.

    Averaging the gradients over positions throws away *where* a flatten + dense head uses a
    filter, so grad-CAM can light up wherever a filter fires (band-free baseline regions
    included); the element-wise product keeps it, and is what :func:`explain` uses by default.

    Raises
    ------
    ValueError
        For a network without conv layers (use :func:`input_attribution`), a bad ``target``
        or ``weighting``.
    """
    layer = getattr(network.model, "last_conv", None)
    if layer is None:
        raise ValueError("grad_cam needs a network with conv layers; this one has none (an "
                         "MLP): use input_attribution(network, X) instead.")
    if weighting not in ("mean", "elementwise"):
        raise ValueError(f"weighting must be 'mean' or 'elementwise'; got {weighting!r}.")
    X3, wl, index = _prepare(network, X, wavelengths, target)
    inputs = _inputs(network, X3)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        with _evaluating(network.model):
            output = network.model(inputs)[:, index].sum()
            (grads,) = torch.autograd.grad(output, captured[0])
    finally:
        handle.remove()
    if weighting == "mean":
        grads = grads.mean(dim=2, keepdim=True)  # w_k: gradients averaged over L'
    cam = torch.relu((grads * captured[0].detach()).sum(dim=1)).mean(dim=0)  # [L']
    cam = F.interpolate(cam[None, None], size=inputs.shape[-1], mode="linear",
                        align_corners=False)
    mean_cam = _unit(cam[0].cpu().numpy())  # [1, L]
    spec = network.preprocessing
    names: tuple[str, ...]
    if len(spec.routes) > 1 and spec.combine == "stack":
        names, rows = (f"all channels: {', '.join(spec.routes)}",), mean_cam
    else:
        names, split = split_routes(mean_cam, spec.routes, spec.combine, len(wl))
        rows = split[:, 0]
    method = "grad_cam" if weighting == "mean" else "hires_cam"
    return GradCamInfo(wl, rows, X3.mean(axis=0), names, method, index, len(X3))


def input_attribution(
    network: SpectralNetwork,
    X: Spectra | npt.ArrayLike,
    *,
    target: int = 0,
    method: Literal["integrated_gradients", "gradient_x_input"] = "integrated_gradients",
    wavelengths: npt.ArrayLike | None = None,
    n_steps: int = 50,
) -> GradCamInfo:
    """Input attributions for any network (an MLP too), with captum, shaped as grad-CAM's.

    Integrated gradients (Sundararajan et al. 2017) from a zero baseline, which is the
    calibration mean spectrum when the preprocessing standardises; or gradient x input. The
    absolute attributions are averaged over samples, summed over the channels of each route
    and divided by their maximum.
    """
    try:
        from captum.attr import InputXGradient, IntegratedGradients
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"input_attribution needs captum: {CAPTUM_INSTALL}") from exc

    if method not in ("integrated_gradients", "gradient_x_input"):
        raise ValueError(f"method must be 'integrated_gradients' or 'gradient_x_input'; got "
                         f"{method!r}.")
    X3, wl, index = _prepare(network, X, wavelengths, target)
    inputs = _inputs(network, X3).requires_grad_()
    with _evaluating(network.model):
        if method == "integrated_gradients":
            attr = IntegratedGradients(network.model).attribute(inputs, target=index,
                                                                n_steps=n_steps)
        else:
            attr = InputXGradient(network.model).attribute(inputs, target=index)
    mean_abs = np.abs(attr.detach().cpu().numpy()).mean(axis=0)  # [C_net, L]
    spec = network.preprocessing
    names, rows = split_routes(mean_abs, spec.routes, spec.combine, len(wl))
    return GradCamInfo(wl, _unit(rows.sum(axis=1)), X3.mean(axis=0), names, method, index,
                       len(X3))


def explain(
    network: SpectralNetwork,
    X: Spectra | npt.ArrayLike,
    *,
    target: int = 0,
    method: Method = "auto",
    wavelengths: npt.ArrayLike | None = None,
) -> GradCamInfo:
    """One explanation: "auto" is HiResCAM for a CNN, integrated gradients for an MLP.

    ``method`` may also name one: "grad_cam" (mean-weighted, as Passos & Mishra), "hires_cam"
    (element-wise, see :func:`grad_cam`), "integrated_gradients", "gradient_x_input". For a
    PLS-residual network (``network.linear`` set) the network's output is its correction to
    PLS, so that correction is what every method explains; PLS's share is its coefficients.
    """
    if method == "auto":
        method = "hires_cam" if getattr(network.model, "last_conv", None) is not None \
            else "integrated_gradients"
    if method == "grad_cam" or method == "hires_cam":
        weighting: Literal["mean", "elementwise"] = "mean" if method == "grad_cam" \
            else "elementwise"
        return grad_cam(network, X, target=target, weighting=weighting, wavelengths=wavelengths)
    if method == "integrated_gradients" or method == "gradient_x_input":
        return input_attribution(network, X, target=target, method=method,
                                 wavelengths=wavelengths)
    raise ValueError(f"method must be one of {list(get_args(Method))}; got {method!r}.")


def explain_groups(
    network: SpectralNetwork,
    X: Spectra | npt.ArrayLike,
    y: npt.ArrayLike | None = None,
    *,
    target: int = 0,
    n_groups: int = 3,
    method: Method = "auto",
    wavelengths: npt.ArrayLike | None = None,
) -> list[tuple[str, GradCamInfo]]:
    """One explanation per class (its own logit) or per quantile group of the target.

    Regression: samples are cut into ``n_groups`` quantile groups of ``y[:, target]`` (tertiles
    by default: low / mid / high). Classification: one group per class present in ``y``,
    explained through that class's logit. ``y`` defaults to ``X.y`` for :class:`Spectra`.
    """
    if y is None:
        if not isinstance(X, Spectra):
            raise ValueError("explain_groups needs y (or X given as Spectra, which carry y).")
        y = X.y
    X3, wl = _raw(X, wavelengths)
    y = np.asarray(y)
    if len(y) != len(X3):
        raise ValueError(f"y has {len(y)} values for {len(X3)} spectra; give one per spectrum.")
    groups: list[tuple[str, np.ndarray, int]] = []
    if network.task == "classification":
        for code, label in enumerate(np.asarray(network.classes).tolist()):
            members = np.flatnonzero(y == label)
            if len(members):
                groups.append((f"class {label}", members, code))
    else:
        values = y.reshape(len(y), -1)[:, target].astype(float)
        if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
            raise ValueError(f"n_groups must be a positive integer; got {n_groups!r}.")
        edges = np.quantile(values, np.linspace(0, 1, n_groups + 1))
        codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_groups - 1)
        for g in range(n_groups):
            members = np.flatnonzero(codes == g)
            if len(members):
                label = f"{_group_word(g, n_groups)} y ({edges[g]:.3g} to {edges[g + 1]:.3g})"
                groups.append((label, members, target))
    return [(label, explain(network, X3[members], target=code, method=method, wavelengths=wl))
            for label, members, code in groups]


def _prepare(network: SpectralNetwork, X: Any, wavelengths: Any, target: int
             ) -> tuple[np.ndarray, np.ndarray, int]:
    X3, wl = _raw(X, wavelengths)
    n_outputs = network.arch.n_outputs
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) \
            or not 0 <= target < n_outputs:
        what = "class code (position in network.classes)" if network.task == "classification" \
            else "target column"
        raise ValueError(f"target must be a {what} in [0, {n_outputs - 1}]; got {target!r}.")
    return X3, wl, int(target)


def _raw(X: Any, wavelengths: Any) -> tuple[np.ndarray, np.ndarray]:
    """Spectra as float32 ``[n, C, P]`` and their wavelengths (point indices by default)."""
    if isinstance(X, Spectra):
        wavelengths = X.wavelengths if wavelengths is None else wavelengths
        X = X.X
    X = np.asarray(X, dtype=np.float32)
    X = X[:, None, :] if X.ndim == 2 else X
    if X.ndim != 3 or len(X) == 0:
        raise ValueError(f"X must hold spectra as [n, points] or [n, channels, points] with "
                         f"n >= 1; got shape {X.shape}.")
    wl = np.arange(X.shape[-1], dtype=float) if wavelengths is None \
        else np.asarray(wavelengths, dtype=float)
    if wl.shape != (X.shape[-1],):
        raise ValueError(f"wavelengths has {wl.size} values for spectra of {X.shape[-1]} points.")
    return X, wl


def _inputs(network: SpectralNetwork, X3: np.ndarray) -> torch.Tensor:
    """The network's input as a tensor on the model's device."""
    device = next(network.model.parameters()).device
    return torch.as_tensor(network.transform(X3), device=device)


@contextmanager
def _evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Evaluation mode (batch-norm statistics, no dropout) with gradients, then as it was."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            yield
    finally:
        model.train(was_training)


def _unit(values: np.ndarray) -> np.ndarray:
    """Divide by the maximum, so 0 stays "no evidence"; all zeros stay zeros."""
    top = float(np.max(values))
    return values / top if top > 0 else np.zeros_like(values, dtype=float)


def _group_word(g: int, n: int) -> str:
    words = {1: ("all",), 2: ("low", "high"), 3: ("low", "mid", "high")}
    return words[n][g] if n in words else f"group {g + 1}/{n}"
