"""After the study: the final model, chosen honestly, and the single look at the test set.

candidates (the best distinct trial configurations, PLS, Ridge; logistic regression for classes)
-> out-of-fold predictions on one split of the pool (:mod:`spectune.tuning._crossfit`)
-> stack weights fitted on them (:mod:`spectune.tuning._stack`; the stack may be purely linear)
-> the members with weight (every candidate is also fitted on the whole pool) -> prediction
intervals from the
stack's out-of-fold residuals, and the calibration domain (PCA, Hotelling T2 and Q of the pool
after PLS's chosen route) -> one model folder -> the test set scored once, through that
folder, after every choice. Nothing here reads the test targets before that last step.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState
from threadpoolctl import threadpool_limits

from spectune.data import Spectra
from spectune.exceptions import SpectuneError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.models import ApplicabilityDomain, fit_baselines, pls_cv_curve, score_baseline
from spectune.training import ConformalSet, coverage, load_model, predict_interval, save_model
from spectune.tuning._artifacts import write_predictions, write_spectra
from spectune.tuning._crossfit import (
    Candidate,
    affordable,
    describe_folds,
    final_folds,
    linear_candidates,
    network_candidates,
)
from spectune.tuning._stack import combine, select_top_trials, stack_weights
from spectune.tuning._study import trial_counts
from spectune.tuning._time_budget import search_work

if TYPE_CHECKING:
    from spectune.tuning._run import Search
    from spectune.tuning._settings import TuneSettings

__all__ = ["INTERVAL_LEVELS", "best_trial", "finish"]

log = logging.getLogger("spectune")

#: Nominal levels whose test coverage metrics.json and the report give.
INTERVAL_LEVELS = (0.8, 0.9, 0.95)
#: The linear candidates (and bars) of each task.
LINEAR = {"regression": ("pls", "ridge"), "classification": ("logistic",)}
#: The models the report sets beside them, fitted in a second thread (a forest's grid over the
#: routes takes as long as the linear models' nested CV).
REFERENCES = ("knn", "random_forest")


@threadpool_limits.wrap(limits=1, user_api="blas")  # many small fits: see fit_baselines
def finish(found: Search, settings: TuneSettings, out: Path) -> dict[str, Any]:
    """Build, save and score the final model; returns metrics.json without its data section.

    The networks of the cross-fitting and their refits train in ``settings.jobs`` processes
    (default: one per core), each on one thread, while two threads of this process fit the
    linear candidates and the references. They train at most what the search trained
    (``affordable``): the final stage costs about what the search did, whichever trial won.
    """
    began = time.perf_counter()
    n_jobs = settings.jobs or os.cpu_count() or 1
    pool, test = found.pool, found.test
    best = best_trial(found)
    folds = final_folds(pool, settings.seed)
    search = {"routes": settings.linear_routes, "max_components": settings.max_components}
    scale = len(folds) * pool.n_samples / len(found.evaluations[0].train)
    trials, passed_over = affordable(select_top_trials(found.study, len(found.study.trials)),
                                     settings.candidates, search_work(found.study), scale)
    with ThreadPoolExecutor(max_workers=2) as side:  # beside the networks' processes
        linear = side.submit(linear_candidates, pool, folds, LINEAR[pool.task],
                             seed=settings.seed, **search)
        references = side.submit(fit_baselines, pool, folds, names=REFERENCES,
                                 random_state=settings.seed, **search)
        networks = network_candidates(found.runner, trials, folds, seed=settings.seed,
                                      n_jobs=n_jobs)
        baselines, linears = linear.result()
        baselines |= references.result()
    candidates = networks + linears
    classes = pool.classes if pool.task == "classification" else None
    weights = stack_weights([c.oof for c in candidates], pool.y, task=pool.task,
                            classes=classes)
    stack_oof = combine([c.oof for c in candidates], weights)
    used = [i for i in range(len(candidates)) if np.any(weights[i] > 0)]
    members = [candidates[i].member for i in used]
    cv = describe_folds(pool, folds)
    conformal = None if classes is not None else ConformalSet(
        stack_oof, pool.y, f"out-of-fold predictions of the stack ({cv}, {pool.n_samples} "
                           "calibration+tuning spectra)")
    route = baselines["pls"].route  # linear_candidates always fits PLS (PLS-DA for classes)
    domain = ApplicabilityDomain(route, random_state=settings.seed).fit(pool.X)
    save_model(out / "model", members, weights=weights[used], wavelengths=pool.wavelengths,
               target_names=list(pool.target_names), conformal=conformal, domain=domain,
               info={"best_trial": best.number,
                     "members": [candidates[i].name for i in used]})
    model = load_model(out / "model")  # what is scored is what was saved
    metrics: dict[str, Any] = {"task": pool.task, "target": _target(pool), "cv_folds": len(folds),
                               "references": {}}
    for name, baseline in baselines.items():
        scores = score_baseline(baseline, pool, test)
        if name == "pls":
            metrics["pls"] = {"n_components": baseline.settings["n_components"],
                              "preprocessing": baseline.route, "one_se": False,
                              "cv_curve": pls_cv_curve(baseline), **scores}
        else:
            metrics["references"][name] = {**baseline.settings, **scores}
    metrics["candidates"] = [_candidate_row(pool, c, weights[i]) for i, c in enumerate(candidates)]
    metrics["final"] = _final_section(pool, candidates, weights, used, stack_oof, cv, model)
    metrics["final"]["passed_over"] = passed_over
    metrics["cnn"] = _search_section(found, best)
    metrics["roles"] = data_roles(found, cv, test)
    metrics["domain"] = {"preprocessing": route, "pool": domain.summary(pool.X),
                         **({} if test is None else {"test": domain.summary(test.X)})}
    if found.screening is not None:
        metrics["screening"] = found.screening
    write_predictions(out, pool, test, _sets(found), stack_oof, model, baselines)
    write_spectra(out, pool, test)
    metrics["final"]["wall_s"] = round(time.perf_counter() - began, 1)
    if test is not None:  # the one and only look at the test set
        _score_test(metrics, pool, test, model, members, used)
    metrics["study"] = _study_section(found, best, settings)
    return metrics


def best_trial(found: Search) -> FrozenTrial:
    """The best trial; on a Pareto front, the one with the lowest error."""
    study = found.study
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        reasons = {t.user_attrs.get("fail_reason", "pruned") for t in study.trials}
        raise SpectuneError(f"every trial failed or was pruned ({len(study.trials)} trials); "
                            f"reasons: {'; '.join(sorted(reasons))[:400]}")
    if not found.objective.pareto:
        return study.best_trial
    sign = 1 if found.objective.direction == "minimize" else -1
    return min(study.best_trials, key=lambda t: sign * t.values[0])


def data_roles(found: Search, cv: str, test: Spectra | None) -> list[dict[str, Any]]:
    """Which spectra were used for what: the table of metrics.json and the report."""
    first, pool = found.evaluations[0], found.pool
    if len(found.evaluations) > 1:
        search = [("search: fit each trial's network and preprocessing, early stopping, "
                   f"pruning, the trial's score ({len(found.evaluations)}-fold CV)",
                   "calibration + tuning", pool.n_samples)]
    else:
        search = [("search: fit each trial's network and preprocessing", "calibration",
                   len(first.train)),
                  ("search: early stopping, LR plateau, pruning, the trial's score", "tuning",
                   len(first.val))]
    crossfit = f"calibration + tuning, out of fold ({cv})"
    rows = [*search,
            ("candidates' out-of-fold predictions (each network trains on its fold's other "
             "rows for the epochs its trial stopped at)", crossfit, pool.n_samples),
            ("stack weights", crossfit, pool.n_samples),
            ("prediction intervals (conformal)", crossfit, pool.n_samples),
            ("final fit of every member", "calibration + tuning", pool.n_samples),
            ("test: scored once, after every choice", "test",
             0 if test is None else test.n_samples)]
    return [{"role": role, "spectra": spectra, "n": int(n)} for role, spectra, n in rows]


def _scores(pool: Spectra, y: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    """Metrics of outputs (predictions, or probabilities whose argmax is the class)."""
    if pool.task == "regression":
        return regression_metrics(y, outputs, target_names=list(pool.target_names))
    return classification_metrics(y, pool.classes[np.argmax(outputs, axis=1)],
                                  labels=pool.classes)


def _candidate_row(pool: Spectra, candidate: Candidate, weight: np.ndarray) -> dict[str, Any]:
    return {"name": candidate.name, "kind": candidate.kind,
            "weight": np.atleast_1d(np.asarray(weight, dtype=float)).round(6).tolist(),
            "oof": _scores(pool, pool.y, candidate.oof), **candidate.info}


def _final_section(pool: Spectra, candidates: list[Candidate], weights: np.ndarray,
                   used: list[int], stack_oof: np.ndarray, cv: str, model: Any
                   ) -> dict[str, Any]:
    names = [candidates[i].name for i in used]
    kinds = {candidates[i].kind for i in used}
    what = ("a network" if kinds == {"network"} and len(used) == 1 else
            f"purely {names[0]}" if kinds == {"linear"} and len(used) == 1 else
            "purely linear" if kinds == {"linear"} else "a stack")
    section: dict[str, Any] = {
        "description": what, "members": names, "cv": cv,
        "weights": {candidates[i].name: np.atleast_1d(weights[i]).round(6).tolist()
                    for i in used},
        "oof": _scores(pool, pool.y, stack_oof),
        "n_params": int(sum(m.n_params for m in model.members)),
    }
    if model.conformal is not None:
        section["interval"] = {"method": "cross-conformal on the stack's out-of-fold residuals",
                               "half_width": {f"{level:g}": model.conformal.half_widths(level)
                                              .tolist() for level in _levels(model)}}
    return section


def _score_test(metrics: dict[str, Any], pool: Spectra, test: Spectra, model: Any,
                members: list[Any], used: list[int]) -> None:
    final = metrics["final"]
    final["test"] = _score_metrics(pool, test, model.predict(test.flat_X()))
    for row, member in zip((metrics["candidates"][i] for i in used), members, strict=True):
        row["test"] = _score_metrics(pool, test, member.predict(test.flat_X()))
    if "interval" in final:
        final["interval"]["coverage"] = {
            f"{level:g}": coverage(test.y, *predict_interval(model, test.flat_X(), level)[1:])
            for level in _levels(model)}


def _levels(model: Any) -> list[float]:
    """The report's levels that the number of out-of-fold residuals supports."""
    n = model.conformal.n_samples
    return [level for level in INTERVAL_LEVELS if n >= max(1 / level, 1 / (1 - level))]


def _score_metrics(pool: Spectra, test: Spectra, prediction: np.ndarray) -> dict[str, Any]:
    if pool.task == "regression":
        return regression_metrics(test.y, prediction, target_names=list(pool.target_names))
    return classification_metrics(test.y, prediction, labels=pool.classes)


def _search_section(found: Search, best: FrozenTrial) -> dict[str, Any]:
    """The search's best trial (a candidate of the stack, not necessarily in it)."""
    plan = found.runner.plan(found.runner.space.resolve(best.params))
    metric = "rmse" if found.pool.task == "regression" else "accuracy"
    return {"best_trial": best.number,
            "tune": {metric: best.user_attrs.get(f"tune_{metric}"), "objective": best.values[0]},
            "cal": {metric: best.user_attrs.get(f"cal_{metric}")},
            "params": best.params, "preprocessing": plan.preprocess.to_dict(),
            "arch": plan.arch.to_dict(), "n_params": plan.summary.n_params,
            "epochs": best.user_attrs.get("epochs"),
            "best_epoch": best.user_attrs.get("best_epoch")}


def _sets(found: Search) -> np.ndarray:
    """"cal" / "tune" of each pool spectrum, as the search used them."""
    sets = np.full(found.pool.n_samples, "cal", dtype=object)
    if len(found.evaluations) == 1:
        sets[found.evaluations[0].val] = "tune"
    return sets


def _target(pool: Spectra) -> Any:
    names = list(pool.target_names)
    return names[0] if len(names) == 1 else names


def _study_section(found: Search, best: FrozenTrial, settings: TuneSettings) -> dict[str, Any]:
    """The study's numbers (``trial_counts``: counted trials only) and what ran it."""
    counts = trial_counts(found.study, settings.n_trials)
    return {
        "name": found.study.study_name, "n_trials": counts["finished"],
        "n_complete": counts["complete"], "n_pruned": counts["pruned"],
        "n_failed": counts["failed"], "trials": counts,
        "best_trial": best.number, "sampler": settings.sampler, "pruner": settings.pruner,
        "objective": found.objective.name, "space": settings.space,
    }
