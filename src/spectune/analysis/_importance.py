"""Hyperparameter importance of a finished study, grouped as in Shen & Viscarra Rossel (2021).

Optuna does the arithmetic (:func:`optuna.importance.get_param_importances`); this module
decides which trials and parameters each evaluator sees, says so in words, and draws the bars.

Conditional hyperparameters (``units_2`` exists only when ``n_fc >= 2``) need care:

- fANOVA (Hutter et al. 2014; Shen & Viscarra Rossel's figure 3) fits a random forest on trials
  that all carry the same parameters, so Optuna scores only the parameters present in every
  complete trial. Those are scored together over all trials (their shares sum to 1). Each
  conditional parameter is then scored over the trials where it exists, together with the other
  parameters present in all of those trials (Optuna's ``params=``); its value is its share there.
- PED-ANOVA (Optuna 5's conditional PED-ANOVA, Watanabe et al. 2023, 2026) scores every
  parameter over all trials, one regime (active / inactive) at a time; nothing extra to do.
"""

from __future__ import annotations

import re
import textwrap
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import optuna
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.search_space import intersection_search_space
from optuna.trial import FrozenTrial

from spectune.analysis._figures import save_figure
from spectune.analysis._study_trials import finished_trials, is_maximize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from spectune.tuning import SearchSpace

__all__ = ["GROUPS", "ImportanceInfo", "get_importance_info", "group_of", "plot_importance"]

#: Hyperparameter groups, in the order the bar chart's legend lists them.
GROUPS: tuple[str, ...] = ("training", "input", "conv", "fc", "other")

# Shen & Viscarra Rossel (2021), figure 3 groups importances by what a hyperparameter acts on.
# Names are looked up without their block index (``filters_2`` -> ``filters``), then by prefix.
_GROUP_OF_STEM: dict[str, str] = {
    **dict.fromkeys(("optimizer", "lr", "lr_min", "lr_mode", "l2", "l2_beta", "weight_decay",
                     "momentum", "batch_size", "epochs", "max_epochs", "early_stopping_patience",
                     "init", "pls_residual"), "training"),  # pls_residual: what is learnt
    **dict.fromkeys(("route", "standardise", "aug"), "input"),  # aug: Bjerrum augmentation
    **dict.fromkeys(("n_conv", "filters", "kernel_size", "stride", "padding", "conv_bn", "pool",
                     "pool_size", "pool_stride", "conv_dropout"), "conv"),
    # activation is shared by every block; as in the paper's figure it counts with the FC part
    **dict.fromkeys(("n_fc", "units", "fc_bn", "dropout", "activation", "arch", "n_dense",
                     "first_ratio", "next_ratio"), "fc"),
}
_GROUP_OF_PREFIX: tuple[tuple[str, str], ...] = (
    ("ch_", "input"), ("aug_", "input"), ("plateau_", "training"),
)
_INDEX = re.compile(r"_[0-9]+\Z")
_MIN_TRIALS = 2  # Optuna's evaluators return nothing useful below this


def group_of(name: str) -> str:
    """The group of a hyperparameter name (one of :data:`GROUPS`; unknown names are "other").

    Examples
    --------
    >>> [group_of(n) for n in ("lr", "ch_abs_d1", "filters_2", "units_3", "colour")]
    ['training', 'input', 'conv', 'fc', 'other']
    """
    stem = _INDEX.sub("", name)
    if stem in _GROUP_OF_STEM:
        return _GROUP_OF_STEM[stem]
    return next((group for prefix, group in _GROUP_OF_PREFIX if name.startswith(prefix)), "other")


class ImportanceInfo(NamedTuple):
    """Importances, most important first, and how they were obtained.

    Attributes
    ----------
    names, values, groups : tuple
        Parameter names, their importance (non-negative) and :func:`group_of` their name.
    evaluator : {"fanova", "ped_anova"}
    n_trials : int
        Complete trials with a finite objective value.
    note : str
        What was done, in words (conditional parameters, skipped ones, caveats).
    n_used : tuple of int
        The trials each value was computed over; fewer than ``n_trials`` for a conditional
        parameter scored by fANOVA over the trials where it exists.
    """

    names: tuple[str, ...]
    values: tuple[float, ...]
    groups: tuple[str, ...]
    evaluator: str
    n_trials: int
    note: str
    n_used: tuple[int, ...] = ()


def _degenerate(trials: Sequence[FrozenTrial], params: Sequence[str]) -> str | None:
    """Why nothing can be attributed over ``trials`` (None when something can)."""
    if len(trials) < _MIN_TRIALS:
        return f"{len(trials)} trial{'s' * (len(trials) != 1)} (at least {_MIN_TRIALS} needed)"
    if len({t.values[0] for t in trials}) == 1:
        return f"all {len(trials)} trials have the same value, {trials[0].values[0]:g}"
    if not any(len({repr(t.params[p]) for t in trials}) > 1 for p in params):
        return f"no parameter takes more than one value over these {len(trials)} trials"
    return None


def _raw_importances(study: optuna.Study, evaluator: optuna.importance.BaseImportanceEvaluator,
                     params: list[str] | None, target: Callable[[FrozenTrial], float] | None
                     ) -> dict[str, float]:
    """Optuna's unnormalised importances; we normalise, so an all-zero result stays zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*to achieve low `target` values.*")
        found = get_param_importances(study, evaluator=evaluator, params=params, target=target,
                                      normalize=False)
    return {name: float(value) for name, value in found.items()}


def _shares(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    return {name: (value / total if total > 0 else 0.0) for name, value in raw.items()}


def _conditions(space: SearchSpace | None) -> dict[str, str]:
    if space is None:
        return {}
    return {p.name: p.when.text for p in space.parameters if p.when is not None}


def _fanova(study: optuna.Study, trials: list[FrozenTrial], seed: int,
            target: Callable[[FrozenTrial], float] | None, conditions: dict[str, str],
            min_conditional_trials: int) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """fANOVA on the parameters present everywhere, then each conditional one on its trials."""
    everywhere = sorted(intersection_search_space(trials))
    values, used, notes = {}, {}, []
    why = _degenerate(trials, everywhere) if everywhere else "none is in every trial"
    if why is None:
        values = _shares(_raw_importances(study, FanovaImportanceEvaluator(seed=seed),
                                          everywhere, target))
        used = dict.fromkeys(values, len(trials))
        notes.append(f"{len(everywhere)} parameters present in every trial are scored together "
                     "(their importances sum to 1).")
    else:
        notes.append(f"Parameters present in every trial not scored: {why}.")
    seen = dict.fromkeys(name for t in trials for name in t.params)
    conditional = [name for name in seen if name not in everywhere]
    cache: dict[frozenset[int], dict[str, float]] = {}
    scored, skipped = [], []
    for name in conditional:
        subset = [t for t in trials if name in t.params]
        where = f"when {conditions[name]}, " if name in conditions else ""
        params = sorted(intersection_search_space(subset))
        why = (f"{len(subset)} trials, fewer than {min_conditional_trials}"
               if len(subset) < min_conditional_trials else _degenerate(subset, params))
        if why is not None or name not in params:  # name missing: its range changed mid-study
            skipped.append(f"{name} ({where}{why or 'its range differs between trials'})")
            continue
        key = frozenset(t.number for t in subset)
        if key not in cache:
            cache[key] = _shares(_raw_importances(study, FanovaImportanceEvaluator(seed=seed),
                                                  params, target))
        values[name], used[name] = cache[key][name], len(subset)
        scored.append(f"{name} ({where}{len(subset)} trials)")
    if scored:
        notes.append("Conditional parameters exist only in some trials; each is scored over the "
                     "trials where it exists, as its share among the parameters present in all of "
                     "them (comparable within its subset, not one-to-one with the others): "
                     + ", ".join(scored) + ".")
    if skipped:
        notes.append("Not scored: " + ", ".join(skipped) + ".")
    return values, used, notes


def _ped_anova(study: optuna.Study, trials: list[FrozenTrial],
               target: Callable[[FrozenTrial], float] | None, conditions: dict[str, str]
               ) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """PED-ANOVA over every parameter; conditional ones are handled by Optuna, by regime."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = _raw_importances(study, PedAnovaImportanceEvaluator(), None, target)
    used = {name: sum(name in t.params for t in trials) for name in raw}
    notes = []
    partial = [f"{n} ({'when ' + conditions[n] + ', ' if n in conditions else ''}"
               f"{used[n]} of {len(trials)} trials)" for n in raw if used[n] < len(trials)]
    if partial:
        notes.append("Conditional parameters are scored by Optuna's conditional PED-ANOVA, "
                     "within the trials where each is active, weighted by how many of the best "
                     "trials fall there: " + ", ".join(partial) + ".")
    if len(trials) < 50:
        notes.append(f"Only {len(trials)} trials: fewer than 5 in the top 10 % that PED-ANOVA "
                     "compares with the rest, so these importances are unstable.")
    sparse = sorted({m.group(1) for w in caught
                     for m in [re.search(r"parameter `(\w+)` have less than", str(w.message))] if m})
    if sparse:
        notes.append("Ignored, in a regime with under 2 trials: " + ", ".join(sparse) + ".")
    return _shares(raw), used, notes


def get_importance_info(
    study: optuna.Study,
    *,
    evaluator: Literal["fanova", "ped_anova"] = "fanova",
    seed: int = 0,
    space: SearchSpace | None = None,
    min_conditional_trials: int = 5,
) -> ImportanceInfo:
    """Importance of each hyperparameter for the (first) objective, over the complete trials.

    Parameters
    ----------
    study : optuna.Study
        Pruned and failed trials are left out; a multi-objective (Pareto) study is scored on its
        first objective.
    evaluator : {"fanova", "ped_anova"}
        fANOVA (Shen & Viscarra Rossel 2021) explains the variance of the objective over the
        whole search; PED-ANOVA what sets the best 10 % of trials apart (and needs ~50 trials).
    seed : int
        The fANOVA forest's seed (PED-ANOVA is deterministic).
    space : SearchSpace, optional
        Only to name each conditional parameter's ``when`` condition in the note.
    min_conditional_trials : int
        fANOVA scores a conditional parameter only over at least this many trials.

    Returns
    -------
    ImportanceInfo
        Empty, with the reason in ``note``, when fewer than 2 complete trials are left, all
        values are equal, or no parameter varies.

    Examples
    --------
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    >>> study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2 + t.suggest_float("y", 0, 1e-3),
    ...                n_trials=20)
    >>> get_importance_info(study).names
    ('x', 'y')
    """
    if evaluator not in ("fanova", "ped_anova"):
        raise ValueError(f"evaluator must be 'fanova' or 'ped_anova', got evaluator={evaluator!r}")
    if min_conditional_trials < _MIN_TRIALS:
        raise ValueError(f"min_conditional_trials must be at least {_MIN_TRIALS}, got "
                         f"min_conditional_trials={min_conditional_trials}")
    trials = finished_trials(study)
    why = _degenerate(trials, list(dict.fromkeys(n for t in trials for n in t.params)))
    if why is not None:
        return ImportanceInfo((), (), (), evaluator, len(trials),
                              f"No importance: {why} among the complete trials.")
    target: Callable[[FrozenTrial], float] | None = None
    method = "fANOVA" if evaluator == "fanova" else "PED-ANOVA"
    header = [f"{method} (Optuna) over {len(trials)} complete trials."]
    if len(study.directions) > 1:
        sign = -1.0 if evaluator == "ped_anova" and is_maximize(study) else 1.0  # PED: lower=better
        target = lambda t: sign * t.values[0]
        header.append(f"Multi-objective study: importance for its first objective only "
                      f"({study.directions[0].name.lower()}).")
    if evaluator == "fanova":
        values, used, notes = _fanova(study, trials, seed, target, _conditions(space),
                                      min_conditional_trials)
    else:
        values, used, notes = _ped_anova(study, trials, target, _conditions(space))
    ranked = sorted(values, key=lambda n: -values[n])  # stable: ties keep the trial order
    return ImportanceInfo(tuple(ranked), tuple(values[n] for n in ranked),
                          tuple(group_of(n) for n in ranked), evaluator, len(trials),
                          " ".join(header + notes), tuple(used[n] for n in ranked))


_GROUP_COLOURS = dict(zip(GROUPS, ("C0", "C2", "C1", "C4", "0.6"), strict=True))


def importance_figure(info: ImportanceInfo) -> Figure:
    """Horizontal bars, most important on top, coloured by group; conditional ones hatched."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    n = len(info.names)
    figure = Figure(figsize=(6.5, 1.6 + 0.32 * max(n, 2)), layout="constrained")
    ax = figure.add_subplot()
    title = f"Hyperparameter importance ({info.evaluator}, {info.n_trials} trials)"
    ax.set_title(title, fontsize="medium")
    if n == 0:
        ax.set_axis_off()
        ax.text(0.5, 0.5, textwrap.fill(info.note, 60), ha="center", va="center",
                transform=ax.transAxes)
        return figure
    rows = np.arange(n)[::-1]
    partial = [used < info.n_trials for used in info.n_used] if info.n_used else [False] * n
    ax.barh(rows, info.values, color=[_GROUP_COLOURS[g] for g in info.groups],
            hatch=["//" if p else "" for p in partial], edgecolor="white")
    for row, value, used, part in zip(rows, info.values, info.n_used or [0] * n, partial,
                                      strict=True):
        ax.text(value, row, f" {value:.3f}" + (f" (n={used})" if part else ""), va="center",
                fontsize="small")
    ax.set_yticks(rows, info.names)
    ax.set_xlim(0, max(max(info.values), 1e-12) * 1.3)
    ax.set_xlabel("importance")
    shown = [g for g in GROUPS if g in info.groups]
    handles = [Patch(color=_GROUP_COLOURS[g], label=g) for g in shown]
    if any(partial):
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//",
                             label="conditional (n trials)"))
    ax.legend(handles=handles, loc="best", fontsize="small")
    return figure


def plot_importance(info: ImportanceInfo, path: str | Path) -> list[Path]:
    """Draw the importances into ``path`` as PNG and SVG; returns the files written."""
    return save_figure(importance_figure(info), path)
