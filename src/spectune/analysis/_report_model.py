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
from spectune.analysis._explain import CAPTUM_INSTALL, explain_groups, get_pls_coefficients_info
from spectune.analysis._report_html import Figures, Section, fmt, kv_table, note, para, table
from spectune.analysis._report_sections import cnn_members
from spectune.exceptions import SpectuneError
from spectune.models import pls_pipeline, validate_arch
from spectune.training._conformal import coverage, predict_interval
from spectune.training._files import load_model

if TYPE_CHECKING:
    from spectune.analysis._report import RunFolder
    from spectune.training._network import SpectralNetwork

__all__ = ["explanations", "model"]

#: Nominal levels of the prediction-interval coverage table.
INTERVAL_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: At most this many regression targets are explained (one figure each).
MAX_EXPLAINED_TARGETS = 3
#: At most this many calibration+tuning spectra are explained (a random draw beyond).
MAX_EXPLAINED_SPECTRA = 1000
_SETS = (("calibration", ("cal",)), ("tuning", ("tune",)), ("test", ("test",)))


# ---- 5. model -------------------------------------------------------------------------------

def model(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Architecture, size, members, training curves, predictions, PLS beside it, intervals."""
    cnn = run.metrics["cnn"]
    members = cnn_members(run)
    section.add(kv_table({
        "best trial": run.metrics.get("study", {}).get("best_trial"),
        "preprocessing": members[0].preprocessing.name if members else None,
        "parameters (all members)": cnn.get("n_params"),
        "refit": cnn.get("refit"),
        "refit epochs" if _refitted(run) else "epochs": cnn.get("refit_epochs"),
        "best trial's parameters": fmt(cnn.get("params", {})),
    }))
    if not members:
        section.add(note(f"No model to describe: {run.missing.get('model', 'no member')}."))
    else:
        section.add(*_architecture(run, members[0]))
        section.add(*_members(run))
    section.add(*_curves(run, figures, members))
    section.add(*_predictions(run, figures))
    section.add(*_intervals(run))


def _architecture(run: RunFolder, network: SpectralNetwork) -> list[str]:
    arch = network.arch
    blocks: list[tuple[Any, ...]] = [
        (f"conv {i + 1}", b.filters, b.kernel_size, b.stride, b.padding, b.batch_norm,
         b.activation, b.pool or "none", b.dropout) for i, b in enumerate(arch.conv)]
    blocks += [(f"dense {i + 1}", b.units, None, None, None, b.batch_norm, b.activation, None,
                b.dropout) for i, b in enumerate(arch.fc)]
    out = [table(("block", "filters / units", "kernel", "stride", "padding", "batch norm",
                  "activation", "pooling", "dropout"), blocks,
                 caption=f"Architecture ({'1D-CNN' if arch.conv else 'MLP: no conv layer'}, "
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


def _members(run: RunFolder) -> list[str]:
    saved = run.model
    if saved is None or len(saved.members) < 2:
        return []
    info, n_cnn = saved.info, len(cnn_members(run))
    trials, seeds = info.get("members", []), info.get("seeds", [])
    rows = []
    for i, (network, weight) in enumerate(zip(saved.members, saved.weights, strict=True)):
        if i < n_cnn and trials and seeds:
            what = f"CNN, trial {trials[i // len(seeds)]}, seed {seeds[i % len(seeds)]}"
        else:
            what = "PLS (blend)"
        rows.append((i, what, float(weight), network.preprocessing.name, network.n_params))
    return [table(("member", "what", "weight", "preprocessing", "parameters"), rows,
                  caption="Members of the final model (predictions are weighted means)")]


def _refitted(run: RunFolder) -> bool:
    """Whether the final model was refitted on calibration+tuning (not ``--refit none``)."""
    return run.metrics.get("cnn", {}).get("refit") != "none"


def _curves(run: RunFolder, figures: Figures, members: list[SpectralNetwork]) -> list[str]:
    best = run.metrics.get("study", {}).get("best_trial")
    infos, notes = [], []
    folder = run.path / "trials" / str(best)
    if (folder / "model.json").is_file():
        trial = load_model(folder).members[0]
        infos.append(plots.get_training_curves_info(
            trial.history, name=f"best trial {best} (calibration data)",
            best_epoch=trial.best_epoch))
    else:
        notes.append(note(f"No kept network for trial {best} (trials/{best}/ is missing: a "
                          "k-fold or Pareto study keeps none), so no curves of the search."))
    refitted = _refitted(run)
    if members and len(members[0].history) and refitted:
        infos.append(plots.get_training_curves_info(
            members[0].history, name=f"final model ({run.metrics['cnn'].get('refit')})",
            best_epoch=members[0].best_epoch))
    if not infos:
        return notes
    caption = ("Training curves: loss per epoch and learning rate; the refit on "
               "calibration+tuning data has no tuning loss" if refitted else
               "Training curves: loss per epoch and learning rate; the final model keeps this "
               "calibration-only network (--refit none)")
    return [figures.draw("training_curves", lambda p: plots.plot_training_curves(infos, p),
                         caption=caption)] + notes


def _predictions(run: RunFolder, figures: Figures) -> list[str]:
    if run.predictions is None:
        return [note(f"No predictions: {run.missing.get('predictions')}.")]
    classes = run.task == "classification"
    out = []
    if not classes:
        found = {name: (true, pred) for name, s in _SETS
                 if (true := run.column("observed", s)) is not None
                 and (pred := run.column("cnn", s)) is not None}
        info = plots.get_pred_obs_info(found, target_names=run.target_names)
        out.append(figures.draw("pred_obs", partial(plots.plot_pred_obs, info, title="CNN"),
                                caption="CNN predicted vs observed (top) and residuals (bottom)"))
        out.append(note(
            "Calibration and tuning points were fitted by the final model (it is refit on both); "
            "only the test points are predictions of unseen spectra."
            if _refitted(run) else
            "Calibration points were fitted by the final model; tuning points were not, but chose "
            "it (and its ensemble and blend); only the test points are fully unseen."))
    observed, cnn, pls = (run.column(m, ("test",)) for m in ("observed", "cnn", "pls"))
    if observed is None or cnn is None or pls is None:
        return [*out, note("No test set: no confusion matrix and no PLS comparison.")]
    if classes:
        labels = [str(c) for c in run.classes] if run.classes else None
        for name, pred in (("CNN", cnn), ("PLS-DA", pls)):
            matrix = plots.get_confusion_info(observed, pred, labels=labels)
            out.append(figures.draw(f"confusion_{name.lower().replace('-', '')}",
                                    partial(plots.plot_confusion, matrix),
                                    caption=f"Confusion matrix of {name} on the test set"))
    task = "classification" if classes else "regression"
    side = plots.get_comparison_info(observed, {"CNN": cnn, "PLS": pls}, task=task,
                                     target_names=run.target_names)
    out.append(figures.draw("comparison", partial(plots.plot_comparison, side),
                            caption="PLS and the CNN side by side on the same test set"))
    return out


def _intervals(run: RunFolder) -> list[str]:
    found = run.metrics["cnn"].get("interval")
    if run.task != "regression":
        return []
    if not found:
        return [note("No prediction intervals (they need a hold-out tuning set and a kept "
                     "best trial).")]
    out = [para(f"Conformal prediction intervals (split conformal on the tuning set): test "
                f"coverage at the nominal {found.get('level', 0):.0%} level is "
                f"{fmt(found.get('coverage'))}." + (f" {found['note']}" if found.get("note")
                                                   else ""))]
    observed = run.column("observed", ("test",))
    if run.model is None or run.arrays is None or "test" not in run.arrays or observed is None:
        return out
    rows: list[tuple[Any, ...]] = []
    X = run.arrays["test"]
    for level in INTERVAL_LEVELS:
        try:
            _, lower, upper = predict_interval(run.model, X.reshape(len(X), -1), level)
        except SpectuneError as error:  # too few conformalization spectra for this level
            rows.append((f"{level:.0%}", None, None, str(error)))
            continue
        rows.append((f"{level:.0%}", coverage(observed, lower, upper),
                     float(np.mean(upper - lower)), ""))
    out.append(table(("nominal level", "test coverage", "mean width", "note"), rows,
                     caption="Prediction intervals on the test set"))
    return out


# ---- 6. explanations ------------------------------------------------------------------------

def explanations(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Grad-CAM (or attributions) of the final network per route, and PLS coefficients + VIP."""
    members = cnn_members(run)
    X, wl, y = (None if run.arrays is None else run.arrays["pool"]), run.wavelengths, \
        run.pool_labels()
    if X is None or wl is None or y is None or len(y) != len(X):
        section.add(note("No spectra or targets saved with the run, so nothing to explain: "
                         f"{run.missing.get('spectra') or run.missing.get('predictions')}."))
        return
    section.add("<h3>The CNN</h3>")
    if not members:
        section.add(note(f"No network: {run.missing.get('model', 'no member')}."))
    else:
        rows = np.arange(len(X))
        if len(X) > MAX_EXPLAINED_SPECTRA:  # the gradients of every spectrum at once
            rows = np.sort(np.random.default_rng(seed).choice(len(X), MAX_EXPLAINED_SPECTRA,
                                                              replace=False))
            section.add(note(f"Explained on {len(rows)} of the {len(X)} spectra, drawn at "
                             f"random (seed {seed})."))
        section.add(*_explain_network(run, figures, members[0], X[rows], y[rows], wl))
    section.add("<h3>PLS: coefficients and VIP</h3>")
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
    if len(cnn_members(run)) > 1:
        out.append(note("The final model has several members; the first is explained."))
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
        out.append(figures.draw(f"explanation_{target}", partial(plots.plot_explanation, groups),
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
    return figures.draw("pls_coefficients", lambda p: plots.plot_pls_coefficients(
        get_pls_coefficients_info(fitted, wavelengths=wl, target_names=names), p),
        caption=f"PLS{'-DA' if classes is not None else ''} ({n_components} LV, route "
                f"{route}) refitted on calibration+tuning: coefficients (of the "
                "preprocessed, centred spectra) and VIP; VIP > 1 marks above-average variables")
