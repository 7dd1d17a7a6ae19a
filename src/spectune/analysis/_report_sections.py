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

import numpy as np

from spectune.analysis._domain_plot import get_domain_info, plot_domain
from spectune.analysis._report_html import Figures, Section, esc, fmt, kv_table, note, para, table
from spectune.analysis._spectra_plots import get_spectra_info, plot_spectra
from spectune.metrics import REGRESSION_KEYS

if TYPE_CHECKING:
    from pathlib import Path

    from spectune.analysis._report import RunFolder
    from spectune.training import SpectralNetwork

__all__ = [
    "data", "network_members", "reproduce", "table_models", "verdict", "verdict_sentence",
]

CLASS_KEYS = ("accuracy", "balanced_accuracy", "f1_macro")
#: Below this many test samples the verdict warns that small differences are noise.
SMALL_TEST = 30


# ---- 1. verdict -----------------------------------------------------------------------------

def verdict(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """The final model against the best model of the table, the stack, and the data roles."""
    metrics, regression = run.metrics, run.task == "regression"
    keys = REGRESSION_KEYS if regression else CLASS_KEYS
    names = ("RMSE", "R²", "bias", "SEP", "RPD", "n") if regression else \
        ("accuracy", "balanced accuracy", "macro F1", "n")
    key = "rmse" if regression else "accuracy"
    final = metrics["final"]
    if "test" not in final:
        section.add(note("No test set was held out, so there is no verdict; the out-of-fold "
                         "figures below are the honest estimate."))
    else:
        text, good = verdict_sentence(metrics)
        section.add(f'<p class="verdict{"" if good else " worse"}">{esc(text)}</p>')
        rows = [(label, *_values(scores["test"], keys)) for label, scores in table_models(metrics)
                if "test" in scores]
        section.add(table(("model", *names), rows, caption="Test set, scored once after every "
                          "choice was made; every model was fitted on the same calibration + "
                          "tuning spectra"))
        outside = metrics.get("domain", {}).get("test", {})
        if outside.get("n_outside"):
            section.add(note(
                f"{outside['n_outside']} of {outside['n']} test spectra lie outside the "
                f"calibration domain (Hotelling T2 or Q above their {outside['confidence']:.0%} "
                "limits; section 2): their predictions extrapolate, and no cross-validation on "
                "the calibration spectra could foresee how well."))
        n = final["test"].get("n")
        if isinstance(n, int) and n < SMALL_TEST:
            section.add(note(f"With only {n} test spectra, differences of a few percent are "
                             "within chance: the out-of-fold figures below weigh more."))
    section.add(*_stack(run, key))
    section.add(*_per_target(metrics))
    roles = metrics.get("roles")
    if roles:
        section.add(table(("what", "spectra", "n"),
                          [(r["role"], r["spectra"], r["n"]) for r in roles],
                          caption="Data roles: which spectra were used for what"))


def table_models(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, scores with "test" and "oof"/"cv") of the final model, PLS and the references."""
    final, pls = metrics["final"], metrics["pls"]
    linear = "PLS" if metrics["task"] == "regression" else "PLS-DA"
    rows = [(f"final model ({final['description']})", final),
            (f"{linear} ({pls.get('n_components')} LV, {pls.get('preprocessing')})", pls)]
    for name, ref in metrics.get("references", {}).items():
        rows.append((f"{name.replace('_', ' ')} ({ref.get('preprocessing', 'snv')})", ref))
    return rows


def verdict_sentence(metrics: dict[str, Any]) -> tuple[str, bool]:
    """The plain verdict, naming the best model of the table, and whether the final model is
    (within half a percent) that best model."""
    regression = metrics["task"] == "regression"
    key, word = ("rmse", "RMSE") if regression else ("accuracy", "accuracy")
    sign = 1.0 if regression else -1.0  # lower RMSE, higher accuracy is better
    models = [(label, float(s["test"][key])) for label, s in table_models(metrics)
              if s.get("test", {}).get(key) is not None]
    (final_label, final), others = models[0], models[1:]
    best_label, best = min(others, key=lambda m: sign * m[1])
    n = metrics["final"]["test"].get("n")
    if sign * (final - best) <= 0.005 * abs(best):
        gap = abs(final - best) / abs(best) if best else 0.0
        if sign * (final - best) < 0:
            how = f"{gap:.0%} {'lower' if regression else 'higher'} than" if gap >= 0.01 \
                else "just ahead of"
        else:
            how = "level with"
        return (f"The {final_label} has the best test {word} of the table: {final:.4g}, "
                f"{how} the best other model, {best_label} ({best:.4g}), on {n} test spectra.",
                True)
    gap = abs(final - best) / abs(final) if final else 0.0
    return (f"{best_label[0].upper()}{best_label[1:]} beat the final model on the test set: "
            f"{word} {best:.4g} against {final:.4g} ({gap:.0%} "
            f"{'lower' if regression else 'higher'}), on {n} test spectra. The final model "
            "was chosen out of fold before the test was looked at; the test set says this "
            "reference would have done better here.", False)


def _stack(run: RunFolder, key: str) -> list[str]:
    """What the final model is, each candidate's out-of-fold score, weight and test score."""
    final, candidates = run.metrics["final"], run.metrics.get("candidates", [])
    label = "RMSE" if key == "rmse" else "accuracy"
    oof = final.get("oof", {}).get(key)
    out = [para(
        f"The final model is {final['description']}"
        + (f" ({', '.join(final.get('members', []))})" if final.get("members") else "")
        + f". Its weights were fitted on out-of-fold predictions of the calibration + tuning "
          f"spectra ({final.get('cv')}), where no model predicts a spectrum it was trained on, "
          "and never on the test set. The networks' configurations and epoch counts were "
          "chosen in the search on the tuning spectra, which are among these rows, so their "
          f"out-of-fold figures lean optimistic. Out of fold, its {label} is {fmt(oof)}: the "
          "estimate to quote for new spectra like these, which the test set, read once, "
          "checks.")]
    if final.get("description", "").startswith("purely"):
        out.append(note("The networks added nothing out of fold, so the final model is linear: "
                        "on these data the search's networks did not beat "
                        f"{', '.join(final.get('members', []))}."))
    if final.get("passed_over"):
        passed = ", ".join(f"trial {n}" for n in final["passed_over"])
        out.append(note(f"Passed over: {passed}. Cross-fitting them as well would have trained "
                        "more than the whole search did; the next best trials took their "
                        "place."))
    rows = [(c["name"], c["kind"], c.get("preprocessing"), c["oof"].get(key),
             ", ".join(f"{w:.3g}" for w in c["weight"]), c.get("test", {}).get(key))
            for c in candidates]
    if rows:
        out.append(table(("candidate", "kind", "preprocessing", f"out-of-fold {label}",
                          "weight", f"test {label} (members only)"), rows,
                         caption="Candidates of the final stack: out-of-fold scores choose "
                                 "the weights; the test column is read once, afterwards"))
    return out


def _values(scores: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
    return [scores.get(k) for k in keys] + [scores.get("n")]


def _per_target(metrics: dict[str, Any]) -> list[str]:
    final, pls = metrics["final"].get("test", {}), metrics["pls"].get("test", {})
    if "per_target" not in final or "per_target" not in pls:
        return []
    rows = [(name, m.get("rmse"), pls["per_target"][name].get("rmse"), m.get("r2"),
             pls["per_target"][name].get("r2"))
            for name, m in final["per_target"].items() if name in pls["per_target"]]
    return [table(("target", "final RMSE", "PLS RMSE", "final R²", "PLS R²"), rows,
                  caption="Per target on the test set (the table above averages over targets)")]


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
    screening = run.metrics.get("screening")
    if screening:
        left = screening.get("outlier_ids") or screening.get("outliers") or []
        rows["outlier screening (calibration only)"] = (
            f"{screening['n_outliers']} of {screening['n']} spectra left out"
            + (f": {', '.join(map(str, left[:10]))}{' ...' if len(left) > 10 else ''}"
               if left else ""))
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
        X, wavelengths=wl, y=y, random_state=seed), p, xlabel=run.axis_label),
        caption="Calibration and tuning spectra, raw: mean ± sd and 20 samples coloured by y"))
    seen: set[str] = set()
    for i, network in enumerate(network_members(run)):
        key = json.dumps(network.preprocessing.to_dict(), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        section.add(figures.draw(f"spectra_routes_{i}",
                                 partial(_routes, X, network, wl, y, seed, run.axis_label),
            caption=f"The same spectra through each preprocessing route of the final model "
                    f"(member {i}: {network.preprocessing.name}), before the column "
                    "standardisation"))
    if not seen:
        section.add(note(f"No network to show the preprocessing of: "
                         f"{run.missing.get('model', 'the final model is linear')}."))
    section.add(*_domain(run, figures, X))


def _domain(run: RunFolder, figures: Figures, pool: np.ndarray) -> list[str]:
    """The calibration domain: how many spectra lie outside, and T2 against Q per set."""
    domain = None if run.model is None else run.model.domain
    summary = run.metrics.get("domain")
    if domain is None or not summary or run.predictions is None:
        return [note("No calibration domain to show (a model folder of an older spectune).")]
    sets = run.predictions.loc[run.predictions["set"] != "test", "set"].to_numpy()
    spectra = {"calibration": pool[sets == "cal"], "tuning": pool[sets == "tune"]}
    if run.arrays is not None and "test" in run.arrays:
        spectra["test"] = run.arrays["test"]
    spectra = {name: X for name, X in spectra.items() if len(X)}
    info = get_domain_info(domain, spectra)
    rows = [(name, part["n"], part["n_outside"], part["fraction_outside"])
            for name, part in (("calibration + tuning", summary.get("pool")),
                               ("test", summary.get("test"))) if part]
    return [para(f"Calibration domain: a PCA of the calibration + tuning spectra after the "
                 f"route {summary.get('preprocessing')} ({info.n_components} components) with "
                 f"Hotelling T2 and Q residual limits at {info.confidence:.0%}; a spectrum "
                 "outside either limit is unlike the calibration spectra. spectune predict "
                 "flags each spectrum (t2, q, in_domain)."),
            table(("spectra", "n", "outside", "fraction outside"), rows),
            figures.draw("domain", partial(plot_domain, info),
                         caption="Hotelling T2 against Q residual per set, the limits dashed")]


def _routes(X: np.ndarray, network: SpectralNetwork, wl: np.ndarray, y: np.ndarray | None,
            seed: int, axis: str, path: Path) -> list[Path]:
    return plot_spectra(get_spectra_info(X, preprocessing=network, wavelengths=wl, y=y,
                                         random_state=seed), path, xlabel=axis)


def network_members(run: RunFolder) -> list[SpectralNetwork]:
    """The networks of the final model (its linear members left out), heaviest first."""
    if run.model is None:
        return []
    weights = np.asarray(run.model.weights, dtype=float).reshape(len(run.model.members), -1)
    order = np.argsort(-weights.sum(axis=1), kind="stable")
    return [run.model.members[i] for i in order if hasattr(run.model.members[i], "arch")]


# ---- 7. reproduce ---------------------------------------------------------------------------

def reproduce(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """The exact command (or Python call), the settings, storage and library versions."""
    settings = run.settings
    command = run.metrics.get("command")
    if command:
        where = "In Python:" if command.startswith("spectune.tune(") else "Command line:"
        section.add(para(f"{where} (the same files, the same numbers on a CPU)"),
                    f"<pre>{esc(command)}</pre>")
    else:
        section.add(note("The command was not recorded (the run was made by an older spectune "
                         "or by another program); the settings below are the complete "
                         "settings of the run, for spectune.tune(..., **settings)."))
    if settings:
        plain = {k: (json.dumps(v) if isinstance(v, dict | list) else v)
                 for k, v in settings.items()}
        section.add(kv_table(plain, caption="Settings (stored with the study)"))
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


def _version(package: str) -> str:
    if package == "python":
        return platform.python_version()
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"

