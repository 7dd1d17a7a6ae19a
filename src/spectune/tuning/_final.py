"""After the study: the final model, the single look at the test set, PLS on the same splits.

best trial (+ top-k distinct trials, + N seeds, each choice made on the tuning set) -> their
calibration-only networks kept (``--refit auto`` with a tuning set) or refitted on
calibration+tuning -> one model folder (ensemble members averaged; the best trial's
calibration-only network and the tuning set kept for conformal intervals) -> test set scored
once -> PLS tuned by CV on the same calibration+tuning data and scored on the same test set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from spectune.exceptions import DataError, SpectuneError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.models import run_baselines
from spectune.training._conformal import conformal_data, coverage, predict_interval
from spectune.training._files import load_model, save_model
from spectune.training._network import SpectralNetwork, fit_network
from spectune.training._residual import pls_only_network
from spectune.tuning._artifacts import write_predictions, write_spectra
from spectune.tuning._ensemble import (
    choose_ensemble_size,
    choose_seed_count,
    kept_networks,
    mean_prediction,
    member_predictions,
    member_weights,
    refit_members,
    select_top_trials,
    stacking_weights,
)
from spectune.tuning._objectives import _rmse
from spectune.tuning._refit import refit
from spectune.tuning._study import trial_counts
from spectune.tuning._trial import wants_pls_residual

if TYPE_CHECKING:
    from spectune.tuning._run import Search, TuneSettings


__all__ = ["DEFAULT_ENSEMBLE_TOP", "ensemble_size", "finish"]

INTERVAL_LEVEL = 0.9
#: At most this many trials in the ensemble unless --ensemble asks otherwise.
DEFAULT_ENSEMBLE_TOP = 3


def ensemble_size(settings: TuneSettings) -> int:
    """How many top trials the ensemble may take (the tuning set picks how many it does)."""
    return DEFAULT_ENSEMBLE_TOP if settings.ensemble_top is None else settings.ensemble_top


def finish(found: Search, settings: TuneSettings, out: Path) -> dict[str, Any]:
    """Build, save and score the final model; returns metrics.json without its data section."""
    study, pool, test = found.study, found.pool, found.test
    best = best_trial(found)
    holdout = settings.cv == 0
    chosen, seeds, choice = [best], [settings.seed], {}
    if holdout and not found.objective.pareto:
        chosen, seeds, choice = _choose_members(found, settings, out, best)
    plans = [found.runner.plan(found.runner.space.resolve(t.params)) for t in chosen]
    mode, warm = _refit_mode(settings, out, chosen), None
    if mode == "warm":
        warm = [load_model(out / "trials" / str(t.number)).members[0].model.state_dict()
                for t in chosen]
    if mode == "none":  # the calibration-only networks of the chosen trials
        seeds = seeds[:1]
        members = kept_networks(out / "trials", chosen)[1]
    else:
        members = refit_members(plans, chosen, pool, seeds=seeds, mode=mode,
                                refit_fn=refit, warm_states=warm)
    weights = member_weights(len(chosen), len(seeds))
    blend = {}
    if holdout and settings.blend_pls and pool.task == "regression" and pool.n_channels == 1:
        members, weights, blend = _blend_with_pls(found, settings, out, chosen, members, weights)
    conformal, interval_members = None, None
    if holdout and pool.task == "regression" and (out / "trials" / str(best.number)).is_dir():
        tune_set = pool[found.evaluations[0].val]
        conformal = conformal_data(tune_set, f"tuning set ({tune_set.n_samples} spectra), never "
                                   f"fitted by trial {best.number}'s calibration-only network")
        interval_members = [load_model(out / "trials" / str(best.number)).members[0]]
    save_model(out / "model", members, wavelengths=pool.wavelengths,
               target_names=list(pool.target_names),
               weights=weights,
               info={"best_trial": best.number, "members": [t.number for t in chosen],
                     "seeds": seeds, "params": best.params},
               conformal=conformal, interval_members=interval_members)
    model = load_model(out / "model")
    metrics = run_baselines(pool, test, random_state=settings.seed)
    metrics["cnn"] = _cnn_section(found, settings, best, plans[0], members, choice)
    metrics["cnn"]["refit"] = mode
    metrics["cnn"]["blend"] = blend
    write_predictions(out, pool, test, found.evaluations[0], model, metrics["pls"])
    write_spectra(out, pool, test)
    if test is not None:  # the one and only look at the test set
        metrics["cnn"]["test"] = _score(pool, test, model.predict(test.flat_X()))
        if len(members) > 1:
            metrics["cnn"]["ensemble"]["test_single"] = _score(
                pool, test, members[0].predict(test.flat_X()))
        if conformal is not None:
            metrics["cnn"]["interval"] = _interval_coverage(model, test)
    metrics["study"] = _study_section(study, best, settings, found.objective.name)
    return metrics


def _refit_mode(settings: TuneSettings, out: Path, chosen: list[FrozenTrial]) -> str:
    """``settings.refit_mode``; "auto" refits from scratch where the chosen networks were not
    kept here (trials run by workers on other machines, or by a population on a GPU)."""
    mode = settings.refit_mode
    if mode in ("none", "warm") and not all(
            (out / "trials" / str(t.number) / "model.json").is_file() for t in chosen):
        if settings.refit != "auto":
            raise SpectuneError(
                f"--refit {settings.refit} needs the chosen trials' networks in {out / 'trials'}"
                f" (trials {[t.number for t in chosen]}); they were kept elsewhere or not at all: "
                "use --refit scratch.")
        return "scratch"
    return mode


def _interval_coverage(model: Any, test: Any) -> dict[str, Any]:
    """Empirical coverage of the conformal intervals on the test set, beside the nominal level."""
    try:
        _, lower, upper = predict_interval(model, test.flat_X(), INTERVAL_LEVEL)
    except DataError as error:  # too few tuning spectra for this level
        return {"level": INTERVAL_LEVEL, "coverage": None, "note": str(error)}
    return {"level": INTERVAL_LEVEL, "coverage": coverage(test.y, lower, upper)}


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


def _choose_members(found: Search, settings: TuneSettings, out: Path, best: FrozenTrial
                    ) -> tuple[list[FrozenTrial], list[int], dict[str, Any]]:
    """Top-k trials and N seeds, each count chosen by the ensemble's tuning-set error."""
    pool, evaluation = found.pool, found.evaluations[0]
    cal, tune = pool[evaluation.train], pool[evaluation.val]
    classes = pool.classes if pool.task == "classification" else None
    wanted = ensemble_size(settings)
    candidates = select_top_trials(found.study, wanted)
    if settings.ensemble_top is not None and len(candidates) < settings.ensemble_top:
        raise SpectuneError(
            f"--ensemble {settings.ensemble_top} is larger than the {len(candidates)} completed "
            "trials with distinct parameters; lower --ensemble or run more trials (--resume)."
        )
    top, networks = kept_networks(out / "trials", candidates)
    if not top or top[0].number != best.number:
        return [best], [settings.seed], {}
    size = choose_ensemble_size(member_predictions(networks, tune.flat_X()), tune.y,
                                task=pool.task, classes=classes)
    seeds = [settings.seed]
    seed_choice = None
    if settings.ensemble_seeds > 1:
        plan = found.runner.plan(found.runner.space.resolve(best.params))
        extra = [_seed_network(found, plan, cal, tune, settings.seed + i)
                 for i in range(1, settings.ensemble_seeds)]
        seed_choice = choose_seed_count(member_predictions([networks[0], *extra], tune.flat_X()),
                                        tune.y, task=pool.task, classes=classes)
        seeds = [settings.seed + i for i in range(seed_choice.k)]
    choice = {"trials": [t.number for t in top[: size.k]], "seeds": seeds,
              "tune_top": size.as_dict(),
              "tune_seeds": None if seed_choice is None else seed_choice.as_dict()}
    return top[: size.k], seeds, choice


def _blend_with_pls(found: Search, settings: TuneSettings, out: Path, chosen: list[FrozenTrial],
                    members: list[SpectralNetwork], weights: Any
                    ) -> tuple[list[SpectralNetwork], Any, dict[str, Any]]:
    """Stack the CNN (ensemble) with PLS, weights chosen on the tuning set (never the test set).

    The tuning-set predictions come from models fitted on calibration data only: the kept
    networks of the chosen trials, and PLS chosen by CV on calibration data. Where PLS gets
    weight, a PLS member (refitted on calibration+tuning) joins the saved model.
    """
    pool, evaluation = found.pool, found.evaluations[0]
    tune = pool[evaluation.val]
    _, networks = kept_networks(out / "trials", chosen)
    if len(networks) != len(chosen):
        return members, weights, {}
    cnn_tune = mean_prediction(member_predictions(networks, tune.flat_X()),
                               member_weights(len(chosen), 1))
    pls_tune = found.runner.pls_baseline(evaluation).linear.predict(tune.flat_X())
    w_cnn, w_pls = stacking_weights([cnn_tune, pls_tune], tune.y)
    blended = w_cnn * cnn_tune + w_pls * pls_tune
    info = {"weights": {"cnn": float(w_cnn), "pls": float(w_pls)},
            "tune_rmse": {name: _rmse(tune.y, p) for name, p in
                          (("cnn", cnn_tune), ("pls", pls_tune), ("blend", blended))}}
    if w_pls <= 0:
        return members, weights, info
    pls = pls_only_network(pool.flat_X(), pool.y, seed=settings.seed)
    return [*members, pls], [*(w_cnn * np.asarray(weights)), w_pls], info


def _seed_network(found: Search, plan: Any, cal: Any, tune: Any, seed: int) -> SpectralNetwork:
    """The best configuration trained on calibration data from another initial seed."""
    residual = found.runner.pls_baseline(found.evaluations[0]) \
        if wants_pls_residual(plan, found.pool) else False
    classes = found.pool.classes if found.pool.task == "classification" else None
    return fit_network(cal.flat_X(), cal.y, preprocessing=plan.preprocess, arch=plan.arch,
                       config=dataclasses.replace(plan.train, seed=seed), task=found.pool.task,
                       X_val=tune.flat_X(), y_val=tune.y, classes=classes, pls_residual=residual)


def _cnn_section(found: Search, settings: TuneSettings, best: FrozenTrial, plan: Any,
                 members: list[SpectralNetwork], choice: dict[str, Any]) -> dict[str, Any]:
    metric = "rmse" if found.pool.task == "regression" else "accuracy"
    return {
        "tune": {metric: best.user_attrs.get(f"tune_{metric}"), "objective": best.values[0]},
        "cal": {metric: best.user_attrs.get(f"cal_{metric}")},
        "params": best.params,
        "preprocessing": plan.preprocess.to_dict(),
        "arch": plan.arch.to_dict(),
        "n_params": sum(m.n_params for m in members),
        "refit_epochs": len(members[0].history),
        "ensemble": {"n_members": len(members), **choice},
    }


def _score(pool: Any, test: Any, prediction: Any) -> dict[str, Any]:
    if pool.task == "regression":
        return regression_metrics(test.y, prediction, target_names=list(pool.target_names))
    return classification_metrics(test.y, prediction, labels=pool.classes)


def _study_section(study: optuna.Study, best: FrozenTrial, settings: TuneSettings,
                   objective: str) -> dict[str, Any]:
    """The study's numbers (``trial_counts``: counted trials only) and what ran it."""
    counts = trial_counts(study, settings.n_trials)
    return {
        "name": study.study_name, "n_trials": counts["finished"],
        "n_complete": counts["complete"], "n_pruned": counts["pruned"],
        "n_failed": counts["failed"], "trials": counts,
        "best_trial": best.number, "sampler": settings.sampler, "pruner": settings.pruner,
        "objective": objective, "space": settings.space,
    }
