"""Sections of the run report about the run as a whole: the verdict, the data, and how to
reproduce it (the search: :mod:`spectune.analysis._report_search`; the model and its
explanations: :mod:`spectune.analysis._report_model`).

Each section is ``make(run, figures, section, seed)``: it reads the :class:`RunFolder`, draws
its figures with the analysis functions and adds escaped HTML to ``section``; what it cannot
show becomes a note.
"""

from __future__ import annotations

import json
import platform
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from spectune.analysis._model_plots import get_spectra_info, plot_spectra
from spectune.analysis._report_html import Figures, Section, esc, fmt, kv_table, note, para, table
from spectune.metrics import REGRESSION_KEYS

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from spectune.analysis._report import RunFolder
    from spectune.training._network import SpectralNetwork

__all__ = ["cnn_members", "data", "reproduce", "verdict"]

CLASS_KEYS = ("accuracy", "balanced_accuracy", "f1_macro")
#: Below this many test samples the verdict warns that small differences are noise.
SMALL_TEST = 30


# ---- 1. verdict -----------------------------------------------------------------------------

def verdict(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """The CNN against PLS on the test set: one sentence, the numbers, and their ratio."""
    cnn, pls = run.metrics["cnn"], run.metrics["pls"]
    regression = run.task == "regression"
    linear = "PLS" if regression else "PLS-DA"
    if "test" not in cnn or "test" not in pls:
        section.add(note("No test set was held out, so there is no verdict: the tuning-set and "
                         "cross-validation figures below chose the models and flatter them."))
        key = "rmse" if regression else "accuracy"
        section.add(table(("model", f"{key} (data it was chosen on)"), [
            ("CNN, best trial on the tuning set", cnn.get("tune", {}).get(key)),
            (f"{linear}, cross-validation on calibration data", pls.get("cv", {}).get(key)),
        ]))
        return
    sentence, better = _sentence(regression, cnn["test"], pls["test"])
    section.add(f'<p class="verdict{"" if better else " worse"}">{esc(sentence)}</p>')
    keys = REGRESSION_KEYS if regression else CLASS_KEYS
    rows = [("CNN (final model)", *_values(cnn["test"], keys))]
    single = cnn.get("ensemble", {}).get("test_single")
    if single:
        rows.append(("CNN, first member alone", *_values(single, keys)))
    rows.append((f"{linear} ({pls.get('n_components')} LV, {pls.get('preprocessing')})",
                 *_values(pls["test"], keys)))
    for name, ref in run.metrics.get("references", {}).items():
        if "test" in ref:
            rows.append((f"{name.replace('_', ' ')} (reference)", *_values(ref["test"], keys)))
    rows.append((f"ratio CNN / {linear}", *_ratios(cnn["test"], pls["test"], keys)))
    names = ("RMSE", "R²", "bias", "SEP", "RPD", "n") if regression else \
        ("accuracy", "balanced accuracy", "macro F1", "n")
    section.add(table(("model", *names), rows, caption="Test set, scored once after every "
                      "choice was made"))
    section.add(*_per_target(cnn["test"], pls["test"], linear))
    section.add(*_verdict_notes(run, cnn, linear))


def _sentence(regression: bool, cnn: dict[str, Any], pls: dict[str, Any]) -> tuple[str, bool]:
    """The plain verdict and whether the CNN did at least as well as PLS."""
    n = cnn.get("n")
    if regression:
        c, p = float(cnn["rmse"]), float(pls["rmse"])
        change = (c - p) / p if p > 0 else 0.0
        numbers = f"on the same split ({c:.4g} vs {p:.4g}, {n} test samples)"
        if abs(change) < 0.005:
            return f"The tuned CNN's test RMSE equals PLS's {numbers}.", True
        pct = f"{abs(change):.0%}" if abs(change) >= 0.01 else f"{abs(change):.1%}"
        word, tail = ("lower", ".") if change < 0 else \
            ("higher", ": PLS is the better model here.")
        return f"The tuned CNN's test RMSE is {pct} {word} than PLS's {numbers}{tail}", change < 0
    c, p = float(cnn["accuracy"]), float(pls["accuracy"])
    gap = (c - p) * 100
    head = (f"The tuned CNN's test accuracy is {c:.1%} against PLS-DA's {p:.1%} on the same "
            f"split ({n} test samples")
    if abs(gap) < 0.05:
        return f"{head}): the same.", True
    if gap > 0:
        return f"{head}; {gap:.1f} points higher).", True
    return f"{head}; {-gap:.1f} points lower): PLS-DA is the better model here.", False


def _values(scores: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
    return [scores.get(k) for k in keys] + [scores.get("n")]


def _ratios(cnn: dict[str, Any], pls: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
    """CNN / PLS per figure of merit (not for the bias, whose sign makes a ratio meaningless)."""
    out: list[Any] = []
    for key in keys:
        c, p = cnn.get(key), pls.get(key)
        out.append(None if key == "bias" or c is None or not p else float(c) / float(p))
    return [*out, None]


def _per_target(cnn: dict[str, Any], pls: dict[str, Any], linear: str) -> list[str]:
    if "per_target" not in cnn or "per_target" not in pls:
        return []
    rows = [(name, m.get("rmse"), pls["per_target"][name].get("rmse"),
             m.get("rmse") / pls["per_target"][name]["rmse"], m.get("r2"),
             pls["per_target"][name].get("r2"))
            for name, m in cnn["per_target"].items() if name in pls["per_target"]]
    return [table(("target", "CNN RMSE", f"{linear} RMSE", "ratio", "CNN R²", f"{linear} R²"),
                  rows, caption="Per target (the table above averages over targets)")]


def _verdict_notes(run: RunFolder, cnn: dict[str, Any], linear: str) -> list[str]:
    notes = []
    blend = cnn.get("blend") or {}
    weights = blend.get("weights", {})
    if weights.get("pls", 0) > 0:
        notes.append(note(
            f"The final model blends the CNN with PLS (weights: CNN {weights.get('cnn', 0):.3g}"
            f", PLS {weights['pls']:.3g}), stacking weights chosen on the tuning set, never on "
            "the test set; 'first member alone' is the CNN without PLS."))
    members = cnn.get("ensemble", {})
    if len(members.get("trials", [])) > 1 or len(members.get("seeds", [])) > 1:
        notes.append(note(f"The CNN is an ensemble of trials {members.get('trials')} with seeds "
                          f"{members.get('seeds')}, chosen on the tuning set."))
    n = cnn["test"].get("n")
    if isinstance(n, int) and n < SMALL_TEST:
        notes.append(note(f"With only {n} test samples, differences of a few percent are within "
                          "chance: read the figures of the model section too."))
    notes.append(note(f"The CNN and {linear} were trained on the same calibration data, and the "
                      "test set was touched once, after every choice."))
    return notes


# ---- 2. data --------------------------------------------------------------------------------

def data(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Sample counts, wavelength range, split, and the spectra raw and as the model sees them."""
    info = dict(run.metrics.get("data", {}))
    rows: dict[str, Any] = {"task": run.task, "target": ", ".join(run.target_names)}
    for key, label in (("n_cal", "calibration samples"), ("n_tune", "tuning samples"),
                       ("n_test", "test samples"), ("n_points", "points per spectrum")):
        rows[label] = info.get(key)
    wl = run.wavelengths
    if wl is not None:
        rows["wavelength range"] = f"{fmt(float(wl.min()), 6)} to {fmt(float(wl.max()), 6)}"
    if run.arrays is not None:
        rows["channels"] = int(run.arrays["pool"].shape[1])
    rows["split"] = fmt(info.get("split", {}))
    rows["training file"] = info.get("train_file")
    if info.get("range"):
        rows["--range"] = info["range"]
    if run.study is not None and "data_sha256" in run.study.user_attrs:
        rows["data checksum (SHA-256)"] = str(run.study.user_attrs["data_sha256"])[:16] + "…"
    section.add(kv_table(rows))
    if run.task == "classification" and run.predictions is not None:
        counts = run.predictions.groupby(["observed", "set"]).size().unstack(fill_value=0)
        counts = counts[[s for s in ("cal", "tune", "test") if s in counts.columns]]
        section.add(table(("class", *counts.columns), [(label, *(int(v) for v in row))
                                                      for label, row in counts.iterrows()],
                          caption="Samples per class and set"))
    if run.arrays is None or wl is None:
        section.add(note(f"No spectra to draw: {run.missing.get('spectra', 'none saved')}."))
        return
    X, y = run.arrays["pool"], run.pool_labels()
    if y is not None and len(y) != len(X):
        y = None
    section.add(figures.draw("spectra_raw", lambda p: plot_spectra(get_spectra_info(
        X, wavelengths=wl, y=y, random_state=seed), p),
        caption="Calibration and tuning spectra, raw: mean ± sd and 20 samples coloured by y"))
    seen: set[str] = set()
    for i, network in enumerate(cnn_members(run)):
        key = json.dumps(network.preprocessing.to_dict(), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        section.add(figures.draw(f"spectra_routes_{i}", partial(_routes, X, network, wl, y, seed),
            caption=f"The same spectra through each preprocessing route of the final model "
                    f"(member {i}: {network.preprocessing.name}), before the column "
                    "standardisation"))
    if not seen:
        section.add(note(f"No model to show the preprocessing of: "
                         f"{run.missing.get('model', 'no network member')}."))


def _routes(X: np.ndarray, network: SpectralNetwork, wl: np.ndarray, y: np.ndarray | None,
            seed: int, path: Path) -> list[Path]:
    return plot_spectra(get_spectra_info(X, preprocessing=network, wavelengths=wl, y=y,
                                         random_state=seed), path)


def cnn_members(run: RunFolder) -> list[SpectralNetwork]:
    """The networks of the final model without a PLS member added by the blend."""
    if run.model is None:
        return []
    info = run.model.info
    n = len(info.get("members", [])) * len(info.get("seeds", [])) or len(run.model.members)
    return list(run.model.members[:n])


# ---- 7. reproduce ---------------------------------------------------------------------------

def reproduce(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """Settings, command line, storage and library versions that reproduce the run."""
    settings = run.settings
    command = run.metrics.get("command") or (run.study.user_attrs.get("command")
                                             if run.study else None)
    if command:
        text = command if isinstance(command, str) else " ".join(map(str, command))
        section.add(para("Command line:"), f"<pre>{esc(text)}</pre>")
    else:
        section.add(note("The command line was not recorded; the settings below are the "
                         "complete TuneSettings of the run."))
    if settings:
        plain = {k: (json.dumps(v) if isinstance(v, dict | list) else v)
                 for k, v in settings.items()}
        section.add(kv_table(plain, caption="TuneSettings (stored with the study)"))
        section.add(para("In Python, with the same spectra:"), "<pre>" + esc(
            "from pathlib import Path\nfrom spectune.tuning._run import TuneSettings, tune\n"
            f"settings = TuneSettings(**{_python(settings)})\n"
            f"tune(spectra, Path({str(run.path)!r}), settings)") + "</pre>")
    else:
        section.add(note(f"No settings: {run.missing.get('study', 'none stored')}."))
    if run.storage:
        target = run.storage.removeprefix("journal://") if run.storage.startswith("journal://") \
            else run.storage
        section.add(para("Browse the study live or afterwards with optuna-dashboard (pip install "
                         "optuna-dashboard); each trial's attributes (calibration and tuning "
                         "error, epochs, best epoch, wall time, parameter count, preprocessing, "
                         "failure reason) are shown there:"),
                    f"<pre>{esc('optuna-dashboard ' + target)}</pre>")
    versions = (run.model_meta or {}).get("versions", {})
    names = list(dict.fromkeys([*versions, "spectune", "torch", "numpy", "scikit-learn",
                                "scipy", "optuna", "matplotlib"]))
    section.add(table(("package", "version at the run", "version of this report"),
                      [(name, versions.get(name), _version(name)) for name in names]))


def _python(settings: dict[str, Any]) -> str:
    """The settings as Python keyword values (tuples where TuneSettings has them)."""
    kept = {k: (tuple(v) if k == "objective_weights" and isinstance(v, list) else v)
            for k, v in settings.items()}
    return repr(kept)


def _version(package: str) -> str:
    if package == "python":
        return platform.python_version()
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"

