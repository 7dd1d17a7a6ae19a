"""Sections of the run report about the search: how it went, and which hyperparameters
mattered. Same contract as :mod:`spectune.analysis._report_sections`:
``make(run, figures, section, seed)``.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

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
from spectune.analysis._parallel import get_parallel_info, plot_parallel
from spectune.analysis._report_html import Figures, Section, esc, fmt, kv_table, note, para, table
from spectune.analysis._search_plots import (
    get_history_info,
    get_slice_info,
    plot_history,
    plot_slices,
)
from spectune.analysis._study_trials import finished_trials, is_maximize

if TYPE_CHECKING:
    from spectune.analysis._report import RunFolder

__all__ = ["importance", "search", "study_importance"]

Evaluator = Literal["fanova", "ped_anova"]
TOP_TRIALS = 10
#: Trial attributes set by spectune's trials, in the order the top-trials table shows them.
TRIAL_ATTRS = ("cal_rmse", "tune_rmse", "cal_accuracy", "tune_accuracy", "epochs", "best_epoch",
               "wall_s", "n_params", "preprocessing", "worker")
#: The LR range test's result (``LRRangeResult.as_dict()``), drawn when a run saved it.
LR_RANGE_FILE = "lr_range.json"


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
    if study is not None and "lr_range" in study.user_attrs:
        rows["LR range test: LR_min, LR_max"] = study.user_attrs["lr_range"]
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

def study_importance(run: RunFolder, evaluator: Evaluator, seed: int) -> ImportanceInfo:
    """fANOVA or PED-ANOVA importance of ``run.study``, computed once per report."""
    key = f"importance_{evaluator}"
    if run.study is None:
        raise ValueError(f"no study to compute importance on: {run.missing.get('study')}")
    if key not in run.cache:
        run.cache[key] = get_importance_info(run.study, evaluator=evaluator, seed=seed,
                                             space=_space(run))
    return run.cache[key]


def _space(run: RunFolder) -> Any:
    from spectune.tuning import load_space

    try:
        return load_space(run.settings.get("space", "default"), task=run.task)
    except Exception:  # noqa: BLE001 - a YAML space moved since the run: conditions unnamed
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
    evaluators: tuple[tuple[Evaluator, str], ...] = (("fanova", "fANOVA"),
                                                     ("ped_anova", "PED-ANOVA"))
    for evaluator, title in evaluators:
        info = study_importance(run, evaluator, seed)
        section.add(f"<h3>{esc(title)}</h3>")
        if info.names:
            section.add(figures.draw(f"importance_{evaluator}", partial(plot_importance, info),
                                     caption=f"{title} importance"))
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
