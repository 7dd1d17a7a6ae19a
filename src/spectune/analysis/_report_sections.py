"""Sections of the run report about the run as a whole: verdict, data, search, importance, and
how to reproduce it (the model and its explanations: :mod:`spectune.analysis._report_model`).

Each section is ``make(run, figures, section, seed)``: it reads the :class:`RunFolder`, draws
its figures with the analysis functions and adds escaped HTML to ``section``; what it cannot
show becomes a note.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from spectune.analysis._convergence import get_convergence_info, plot_convergence
from spectune.analysis._figures import save_figure
from spectune.analysis._importance import (
    GROUPS,
    ImportanceInfo,
    get_importance_info,
    plot_importance,
)
from spectune.analysis._lr_plot import plot_lr_range
from spectune.analysis._model_plots import get_spectra_info, plot_spectra
from spectune.analysis._parallel import get_parallel_info, plot_parallel
from spectune.analysis._report_html import Figures, Section, esc, fmt, kv_table, note, para, table
from spectune.analysis._search_plots import (
    get_history_info,
    get_slice_info,
    plot_history,
    plot_slices,
)
from spectune.analysis._study_trials import finished_trials, is_maximize
from spectune.metrics import REGRESSION_KEYS

if TYPE_CHECKING:
    from spectune.analysis._report import RunFolder

__all__ = ["cnn_members", "data", "importance", "reproduce", "search", "verdict"]

CLASS_KEYS = ("accuracy", "balanced_accuracy", "f1_macro")
#: Below this many test samples the verdict warns that small differences are noise.
SMALL_TEST = 30
TOP_TRIALS = 10
#: Trial attributes set by spectune's trials, in the order the top-trials table shows them.
TRIAL_ATTRS = ("cal_rmse", "tune_rmse", "cal_accuracy", "tune_accuracy", "epochs", "best_epoch",
               "wall_s", "n_params", "preprocessing")
LR_RANGE_FILE = "lr_range.json"


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
        numbers = f"({c:.4g} vs {p:.4g}, {n} test samples)"
        if abs(change) < 0.005:
            return f"The tuned CNN's test RMSE equals PLS's on the same split {numbers}.", True
        pct = f"{abs(change):.0%}" if abs(change) >= 0.01 else f"{abs(change):.1%}"
        if change < 0:
            return f"The tuned CNN's test RMSE is {pct} lower than PLS's on the same split " \
                f"{numbers}.", True
        return (f"The tuned CNN's test RMSE is {pct} higher than PLS's on the same split "
                f"{numbers}: PLS is the better model here.", False)
    c, p = float(cnn["accuracy"]), float(pls["accuracy"])
    gap = (c - p) * 100
    head = f"The tuned CNN's test accuracy is {c:.1%} against PLS-DA's {p:.1%} on the same " \
        f"split ({n} test samples"
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
        section.add(figures.draw(f"spectra_routes_{i}", lambda p, n=network: plot_spectra(
            get_spectra_info(X, preprocessing=n, wavelengths=wl, y=y, random_state=seed), p),
            caption=f"The same spectra through each preprocessing route of the final model "
                    f"(member {i}: {network.preprocessing.name}), before the column "
                    "standardisation"))
    if not seen:
        section.add(note(f"No model to show the preprocessing of: "
                         f"{run.missing.get('model', 'no network member')}."))


def cnn_members(run: RunFolder) -> list[Any]:
    """The networks of the final model without a PLS member added by the blend."""
    if run.model is None:
        return []
    info = run.model.info
    n = len(info.get("members", [])) * len(info.get("seeds", [])) or len(run.model.members)
    return list(run.model.members[:n])


# ---- 3. search ------------------------------------------------------------------------------

def search(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """How the search went: counts, figures of the study, the top trials, the failures."""
    study = run.study
    meta = run.metrics.get("study", {})
    settings = run.settings
    rows = {"sampler": meta.get("sampler"), "pruner": meta.get("pruner"),
            "objective": meta.get("objective"), "trials": meta.get("n_trials"),
            "complete": meta.get("n_complete"), "pruned": meta.get("n_pruned"),
            "failed": meta.get("n_failed"), "best trial": meta.get("best_trial"),
            "space": meta.get("space") if isinstance(meta.get("space"), str) else "custom (see "
            "section 7)", "wall time (s)": meta.get("wall_s")}
    if settings:
        rows["random start-up trials"] = settings.get("n_startup_trials") or "default"
        rows["max epochs"] = settings.get("max_epochs")
    section.add(kv_table(rows))
    if study is None:
        section.add(note(f"No study, so no search figures: {run.missing.get('study')}."))
        return
    if len(study.directions) > 1:
        section.add(note("Pareto study (error and parameter count minimised together): the "
                         "figures show the first objective, and the final model is the front's "
                         "trial with the lowest error."))
    objective = str(meta.get("objective", "objective"))
    trials = finished_trials(study)
    section.add(figures.draw("history", lambda p: plot_history(get_history_info(study), p,
                                                               ylabel=objective),
                             caption="Optimisation history: each complete trial and the best so "
                             "far; pruned and failed trials as ticks"))
    section.add(figures.draw("convergence", lambda p: plot_convergence(
        [get_convergence_info(study, "this study")], p, ylabel=objective),
        caption="Convergence: best objective value against trials"))
    if len(trials) < 2:
        section.add(note(f"{len(trials)} complete trial(s): no slice or parallel-coordinate "
                         "plots (they need at least 2)."))
    else:
        ranked = study_importance(run, "fanova", seed)
        section.add(figures.draw("slices", lambda p: plot_slices(get_slice_info(
            study, importance=ranked), p, ylabel=objective),
            caption="Slice plots: objective against the most important hyperparameters"))
        section.add(figures.draw("parallel", lambda p: plot_parallel(get_parallel_info(
            study, importance=ranked), p, ylabel=objective),
            caption="Parallel coordinates of the complete trials; the best one in red"))
    lr_file = run.path / LR_RANGE_FILE
    if lr_file.is_file():
        found = json.loads(lr_file.read_text())
        section.add(figures.draw("lr_range", lambda p: save_figure(plot_lr_range(found), p),
                                 caption="LR range test: LR_max (initial rate) and LR_min"))
    section.add(_top_trials(study, trials))
    section.add(*_failures(study))


def _top_trials(study: optuna.Study, trials: list[FrozenTrial]) -> str:
    if not trials:
        return note("No complete trial.")
    top = sorted(trials, key=lambda t: t.values[0], reverse=is_maximize(study))[:TOP_TRIALS]
    attrs = [a for a in TRIAL_ATTRS if any(a in t.user_attrs for t in top)]
    values = [f"value {i + 1}" for i in range(len(study.directions))] \
        if len(study.directions) > 1 else ["value"]
    rows = [(t.number, *t.values, *(t.user_attrs.get(a) for a in attrs), fmt(t.params))
            for t in top]
    return table(("trial", *values, *attrs, "parameters"), rows,
                 caption=f"The {len(top)} best of {len(trials)} complete trials")


def _failures(study: optuna.Study) -> list[str]:
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    out = []
    if pruned:
        steps = [t.last_step for t in pruned if t.last_step is not None]
        when = f", after {min(steps)} to {max(steps)} epochs" if steps else ""
        out.append(para(f"{len(pruned)} trial(s) were pruned by the pruner{when}."))
    if not failed:
        out.append(para("No trial failed."))
        return out
    reasons: Counter[str] = Counter()
    numbers: dict[str, list[int]] = {}
    for t in failed:
        reason = str(t.user_attrs.get("fail_reason", "no reason recorded"))[:300]
        reasons[reason] += 1
        numbers.setdefault(reason, []).append(t.number)
    out.append(table(("reason", "trials", "trial numbers"),
                     [(r, n, ", ".join(map(str, numbers[r][:20]))) for r, n in
                      reasons.most_common()], caption=f"{len(failed)} failed trial(s), by reason"))
    return out


# ---- 4. importance --------------------------------------------------------------------------

def study_importance(run: RunFolder, evaluator: str, seed: int) -> ImportanceInfo:
    """fANOVA or PED-ANOVA importance of ``run.study``, computed once per report."""
    key = f"importance_{evaluator}"
    if key not in run.cache:
        run.cache[key] = get_importance_info(run.study, evaluator=evaluator,  # type: ignore[arg-type]
                                             seed=seed, space=_space(run))
    return run.cache[key]


def _space(run: RunFolder) -> Any:
    from spectune.tuning import load_space

    try:
        return load_space(run.settings.get("space", "default"), task=run.task)
    except Exception:  # a YAML space moved since the run: conditions are then not named
        return None


def importance(run: RunFolder, figures: Figures, section: Section, seed: int) -> None:
    """fANOVA and PED-ANOVA bars coloured by group (training / input / conv / fc), in words."""
    if run.study is None:
        section.add(note(f"No study: {run.missing.get('study')}."))
        return
    section.add(para("Bars are coloured by what a hyperparameter acts on (Shen & Viscarra "
                     "Rossel 2021): training, input (preprocessing, augmentation), conv blocks, "
                     "dense (fc) blocks. Hatched bars are conditional parameters, scored only "
                     "over the trials where they exist."))
    for evaluator, title in (("fanova", "fANOVA"), ("ped_anova", "PED-ANOVA")):
        info = study_importance(run, evaluator, seed)
        section.add(f"<h3>{esc(title)}</h3>")
        if info.names:
            section.add(figures.draw(f"importance_{evaluator}", lambda p, i=info:
                                     plot_importance(i, p), caption=f"{title} importance"))
            section.add(_group_table(info))
        section.add(para(info.note, cls="note"))


def _group_table(info: ImportanceInfo) -> str:
    """Summed importance per group, over the parameters scored together on every trial."""
    rows = []
    everywhere = [u >= info.n_trials for u in info.n_used] if info.n_used else \
        [True] * len(info.names)
    for group in GROUPS:
        names = [n for n, g in zip(info.names, info.groups, strict=True) if g == group]
        if names:
            total = sum(v for v, g, e in zip(info.values, info.groups, everywhere, strict=True)
                        if g == group and e)
            rows.append((group, ", ".join(names), total))
    return table(("group", "parameters", "summed importance (parameters in every trial)"), rows)


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
        import platform

        return platform.python_version()
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"

