"""Sections of the run report about the final model: what it is, how it trained, how it
predicts, and which wavelengths it (and PLS) uses. Same contract as
:mod:`spectune.analysis._report_sections`: ``make(run, figures, section, seed)``.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from spectune.analysis import _model_plots as plots
from spectune.analysis import _pls_plots as pls_plots
from spectune.analysis._explain import CAPTUM_INSTALL, explain_groups
from spectune.analysis._pls_plots import get_pls_coefficients_info
from spectune.analysis._report_html import Figures, Section, fmt, kv_table, note, para, table
from spectune.analysis._report_sections import network_members
from spectune.analysis._spectra_plots import plot_explanation
from spectune.models import pls_pipeline, validate_arch

if TYPE_CHECKING:
    from spectune.analysis._report import RunFolder
    from spectune.training import SpectralNetwork

__all__ = ["explanations", "model"]

#: At most this many regression targets are explained (one figure each).
MAX_EXPLAINED_TARGETS = 3
#: At most this many calibration+tuning spectra are explained (a random draw beyond).
MAX_EXPLAINED_SPECTRA = 1000
_SETS = (("calibration (out of fold)", ("cal",)), ("tuning (out of fold)", ("tune",)),
         ("test", ("test",)))


# ---- 5. model -------------------------------------------------------------------------------

def model(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Members, the heaviest network's architecture, its refit, predictions, intervals."""
    search = run.metrics.get("cnn", {})
    members = network_members(run)
    section.add(*_members(run))
    section.add(kv_table({
        "search's best trial": search.get("best_trial"),
        "its hyperparameters": fmt(search.get("params", {})),
        "its network weights": search.get("n_params"),
        "parameters of the final model (all members)": run.metrics["final"].get("n_params"),
    }))
    if not members:
        section.add(note(f"The final model holds no network: "
                         f"{run.missing.get('model', 'the stack gave the networks no weight')}."))
    else:
        section.add(*_architecture(run, members[0]))
        section.add(*_curves(figures, members[0]))
    section.add(*_predictions(run, figures))
    section.add(*_intervals(run))


def _members(run: RunFolder) -> list[str]:
    saved = run.model
    if saved is None:
        return [note(f"No model folder: {run.missing.get('model')}.")]
    names = saved.info.get("members") or [str(i) for i in range(len(saved.members))]
    weights = np.asarray(saved.weights, dtype=float).reshape(len(saved.members), -1)
    rows = [(name, "network" if hasattr(member, "arch") else "linear",
             ", ".join(f"{w:.3g}" for w in weight), member.preprocessing.name, member.n_params)
            for name, member, weight in zip(names, saved.members, weights, strict=True)]
    return [table(("member", "kind", "weight", "preprocessing", "parameters"), rows,
                  caption="Members of the final model, each refitted on calibration + tuning "
                          "(the prediction is their weighted sum)")]


def _architecture(run: RunFolder, network: SpectralNetwork) -> list[str]:
    arch = network.arch
    blocks: list[tuple[Any, ...]] = [
        (f"conv {i + 1}", b.filters, b.kernel_size, b.stride, b.padding, b.batch_norm,
         b.activation, b.pool or "none", b.dropout) for i, b in enumerate(arch.conv)]
    blocks += [(f"dense {i + 1}", b.units, None, None, None, b.batch_norm, b.activation, None,
                b.dropout) for i, b in enumerate(arch.fc)]
    out = [table(("block", "filters / units", "kernel", "stride", "padding", "batch norm",
                  "activation", "pooling", "dropout"), blocks,
                 caption=f"Architecture of the heaviest network member "
                         f"({'1D-CNN' if arch.conv else 'MLP: no conv layer'}, "
                         f"{arch.n_outputs} output(s), {arch.init} init)")]
    if run.arrays is not None:
        channels, length = network.transform(run.arrays["pool"][:1]).shape[1:]
        summary = validate_arch(arch, channels, length, max_params=None)
        out.append(table(("layer", "output shape", "parameters"),
                         [(lay.name, str(lay.out_shape), lay.n_params) for lay in summary.layers]
                         + [("total", "", summary.n_params)],
                         caption=f"Layers for the network's input of {channels} x {length}"))
    if network.linear is not None:
        out.append(note("PLS-residual network: it learns y minus PLS's prediction; its output "
                        "is added to that PLS part."))
    return out


def _curves(figures: Figures, network: SpectralNetwork) -> list[str]:
    """The refit of the heaviest network member: no tuning set is left, so training loss."""
    if not len(network.history):
        return []
    info = plots.get_training_curves_info(
        network.history, name="heaviest network, refitted on calibration + tuning")
    return [figures.draw("training_curves", lambda p: plots.plot_training_curves([info], p),
                         caption="Training curve of the final refit: loss per epoch and learning "
                                 "rate, for a fixed number of epochs, as in the cross-fitting: "
                                 "its trial's best early-stopping epoch + 1 in the search "
                                 "(without early stopping, the epochs the trial trained); the "
                                 "search's curves are in the search section")]


def _predictions(run: RunFolder, figures: Figures) -> list[str]:
    if run.predictions is None:
        return [note(f"No predictions: {run.missing.get('predictions')}.")]
    classes = run.task == "classification"
    out = []
    if not classes:
        found = {name: (true, pred) for name, s in _SETS
                 if (true := run.column("observed", s)) is not None
                 and (pred := run.column("final", s)) is not None}
        info = plots.get_pred_obs_info(found, target_names=run.target_names)
        out.append(figures.draw("pred_obs", partial(plots.plot_pred_obs, info,
                                                    title="final model"),
                                caption="Final model: predicted vs observed (top) and residuals "
                                        "against predicted values (bottom)"))
        out.append(note("Calibration and tuning points are out-of-fold predictions (each "
                        "spectrum predicted by models that never saw it); the test points are "
                        "the saved model's predictions of spectra nothing was chosen on."))
    observed, final, pls = (run.column(m, ("test",)) for m in ("observed", "final", "pls"))
    if observed is None or final is None or pls is None:
        return [*out, note("No test set: no confusion matrix and no PLS comparison.")]
    if classes:
        labels = [str(c) for c in run.classes] if run.classes else None
        for name, pred in (("final model", final), ("PLS-DA", pls)):
            matrix = plots.get_confusion_info(observed, pred, labels=labels)
            out.append(figures.draw(f"confusion_{name.split()[0].lower().replace('-', '')}",
                                    partial(plots.plot_confusion, matrix),
                                    caption=f"Confusion matrix of the {name} on the test set"))
    task = "classification" if classes else "regression"
    side = plots.get_comparison_info(observed, {"final": final, "PLS": pls}, task=task,
                                     target_names=run.target_names)
    out.append(figures.draw("comparison", partial(plots.plot_comparison, side),
                            caption="PLS and the final model side by side on the same test set"))
    return out


def _pls_curve(run: RunFolder, figures: Figures) -> str:
    info = pls_plots.get_pls_curve_info(run.metrics["pls"])
    return figures.draw("pls_cv_curve", partial(pls_plots.plot_pls_curve, info),
                        caption=f"PLS: the CV figure against latent variables per route, on the "
                                f"calibration + tuning folds; chosen: {info.chosen_components} "
                                f"LV, route {info.chosen_route}")


def _intervals(run: RunFolder) -> list[str]:
    if run.task != "regression":
        return []
    found = run.metrics["final"].get("interval")
    if not found:
        return [note("No prediction intervals.")]
    coverage, widths = found.get("coverage", {}), found.get("half_width", {})
    rows = [(f"{float(level):.0%}", coverage.get(level), ", ".join(fmt(w) for w in width))
            for level, width in widths.items()]
    return [para(f"Prediction intervals of the final model ({found.get('method')}): the "
                 "saved prediction plus or minus the conformal quantile of its out-of-fold "
                 "absolute residuals, per target; the prediction lies inside by construction."),
            table(("nominal level", "test coverage", "half width per target"), rows,
                  caption="Prediction intervals on the test set")]


# ---- 6. explanations ------------------------------------------------------------------------

def explanations(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Grad-CAM (or attributions) of the final network per route, and PLS coefficients + VIP."""
    members = network_members(run)
    X, wl, y = (None if run.arrays is None else run.arrays["pool"]), run.wavelengths, \
        run.pool_labels()
    if X is None or wl is None or y is None or len(y) != len(X):
        section.add(note("No spectra or targets saved with the run, so nothing to explain: "
                         f"{run.missing.get('spectra') or run.missing.get('predictions')}."))
        return
    section.add("<h3>The network</h3>")
    if not members:
        section.add(note(f"The final model holds no network: "
                         f"{run.missing.get('model', 'the stack is linear')}."))
    else:
        rows = np.arange(len(X))
        if len(X) > MAX_EXPLAINED_SPECTRA:  # the gradients of every spectrum at once
            rows = np.sort(np.random.default_rng(seed).choice(len(X), MAX_EXPLAINED_SPECTRA,
                                                              replace=False))
            section.add(note(f"Explained on {len(rows)} of the {len(X)} spectra, drawn at "
                             f"random (seed {seed})."))
        section.add(*_explain_network(run, figures, members[0], X[rows], y[rows], wl))
    section.add("<h3>PLS: the choice of latent variables, coefficients and VIP</h3>")
    if run.metrics["pls"].get("cv_curve"):
        section.add(_pls_curve(run, figures))
    if X.shape[1] > 1:
        section.add(note("PLS sees the channels side by side, so its coefficients have no "
                         "single wavelength axis to draw on."))
    else:
        section.add(_pls_explained(run, figures, X, y, wl))


def _explain_network(run: RunFolder, figures: Figures, network: SpectralNetwork,
                     X: np.ndarray, y: np.ndarray, wl: np.ndarray) -> list[str]:
    conv = getattr(network.model, "last_conv", None) is not None
    words = ("HiResCAM (element-wise grad-CAM) of the last conv block" if conv else
             "integrated gradients (the network is an MLP, without the conv layers grad-CAM "
             "needs)")
    out = [para(f"Method: {words}, averaged over the calibration and tuning spectra of each "
                f"{'class' if run.task == 'classification' else 'target tertile'}, mapped "
                "back to the wavelengths of each preprocessing route and laid over the mean "
                "raw spectrum. 1 marks the most relevant point over all routes.")]
    if len(run.model.members if run.model else []) > 1:
        out.append(note("The final model has several members; its heaviest network is "
                        "explained (PLS's share is its coefficients below)."))
    if network.linear is not None:
        out.append(note("PLS-residual network: this explains its correction to PLS; PLS's own "
                        "share is its coefficients below."))
    targets = [0] if run.task == "classification" else \
        list(range(min(len(run.target_names), MAX_EXPLAINED_TARGETS)))
    for target in targets:
        try:
            groups = explain_groups(network, X, y, target=target, wavelengths=wl)
        except ImportError:
            return [*out, note(f"Attributions of an MLP need captum ({CAPTUM_INSTALL}); it is "
                               "not installed, so the network is not explained.")]
        name = "" if run.task == "classification" else f", target {run.target_names[target]}"
        out.append(figures.draw(f"explanation_{target}",
                                partial(plot_explanation, groups, xlabel=run.axis_label),
                                caption=f"Where the final network looks{name}: relevance "
                                        "(shaded) over the mean spectrum, per group and route"))
    return out


def _pls_explained(run: RunFolder, figures: Figures, X: np.ndarray, y: np.ndarray,
                   wl: np.ndarray) -> str:
    """The chosen PLS pipeline refitted on the pool, as the baseline was, and its coefficients."""
    pls = run.metrics["pls"]
    route, n_components = pls.get("preprocessing"), pls.get("n_components")
    if route is None or n_components is None:
        return note("metrics.json does not name the chosen PLS route and components.")
    classes = None
    target = np.asarray(y, dtype=float) if run.task == "regression" else None
    if target is None:
        classes = np.asarray(run.classes if run.classes is not None else np.unique(y),
                             dtype=object)
        target = (np.asarray(y, dtype=object)[:, None] == classes[None]).astype(float)
    pipeline = pls_pipeline(route, int(n_components)).fit(X.reshape(len(X), -1), target)
    names = run.target_names if classes is None else [str(c) for c in classes]
    fitted = SimpleNamespace(pipeline_=pipeline, preprocessing_=route)
    return figures.draw("pls_coefficients", lambda p: pls_plots.plot_pls_coefficients(
        get_pls_coefficients_info(fitted, wavelengths=wl, target_names=names,
                                  axis=run.axis_label), p),
        caption=f"PLS{'-DA' if classes is not None else ''} ({n_components} LV, route "
                f"{route}) refitted on calibration+tuning: coefficients (of the "
                "preprocessed, centred spectra) and VIP; VIP > 1 marks above-average variables")
