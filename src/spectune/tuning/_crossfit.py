"""Cross-fitting: out-of-fold predictions of every final candidate, on one split of the pool.

A few tens of spectra cannot both choose the networks and judge how to combine them. After the
search, every candidate (the best distinct trial configurations, PLS, Ridge) predicts each
calibration+tuning spectrum from a model that never saw it: one K-fold split of the pool
(grouped with ``--group-column``, stratified for classes; leave-one-group-out below
:data:`N_FOLDS` groups). A network in a fold trains on the fold's training rows for the epoch
count its trial stopped at in the search (an early-stopping point is one more setting of the
configuration the search chose), so it never sees, nor stops on, its own out-of-fold rows; the
linear models choose their route and complexity by an inner CV of the fold's training rows
(nested CV). These predictions choose the
stack's weights and calibrate its intervals (:mod:`spectune.tuning._final`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed
from optuna.trial import FrozenTrial
from threadpoolctl import threadpool_limits

from spectune.data import Spectra, cv_splitter
from spectune.exceptions import DataError, SpectuneError
from spectune.models import FittedBaseline, LinearModel, fit_baselines
from spectune.training import DivergedError, SpectralNetwork
from spectune.tuning._materialise import TrialPlan
from spectune.tuning._trial import Evaluation, TrialRunner, wants_pls_residual

__all__ = ["Candidate", "affordable", "check_cross_fitting", "final_folds", "linear_candidate", "linear_candidates",
           "network_candidates", "train_alone"]

log = logging.getLogger("spectune")

#: Folds of the cross-fitting and of the linear models' inner CV (fewer groups: one group out).
N_FOLDS = 5

Folds = list[tuple[np.ndarray, np.ndarray]]
Member = SpectralNetwork | LinearModel


@dataclass
class Candidate:
    """One model the final stack may use, with its out-of-fold predictions on the pool.

    Attributes
    ----------
    name : str
        "trial 12", "pls", "ridge" or "logistic".
    kind : {"network", "linear"}
    oof : ndarray of shape (n, n_outputs)
        Out-of-fold predictions (regression) or class probabilities (classification).
    member : SpectralNetwork or LinearModel
        The candidate fitted on every pool spectrum: what is saved if the stack weights it.
    info : dict
        What the report shows: the trial, its settings, its epoch count.
    """

    name: str
    kind: str
    oof: np.ndarray
    member: Member
    info: dict[str, Any] = field(default_factory=dict)


def final_folds(pool: Spectra, seed: int) -> Folds:
    """The one split of the pool every candidate is cross-fitted on."""
    return _folds(pool, seed)


def describe_folds(pool: Spectra, folds: Folds) -> str:
    """How the pool was cross-fitted, in words."""
    unit = "group" if pool.groups is not None else "spectrum"
    if all(len(np.unique(_units(pool, test))) == 1 for _, test in folds):
        return f"leave-one-{unit}-out ({len(folds)} folds)"
    return f"{len(folds)}-fold{' grouped' if pool.groups is not None else ''}"


def network_candidates(runner: TrialRunner, trials: Sequence[FrozenTrial], folds: Folds, *,
                       seed: int, n_jobs: int = 1) -> list[Candidate]:
    """The trials' configurations trained once per fold and once on the whole pool, all in
    ``n_jobs`` processes (the most work first, so the processes end together).

    Each network trains on one torch thread, wherever it runs (so the numbers do not depend on
    ``n_jobs``), for the trial's epoch count; a configuration that cannot be trained again (it
    diverges, or predicts NaN) is left out with a warning. Every refit is trained alongside the
    folds, before the stack says which it keeps: an idle process would cost as much. A
    PLS-residual network keeps, in every fold and in the refit, the PLS route and latent
    variables the search tuned it against (refitted on each fold's rows): a PLS chosen anew on
    other rows may take another route and leave the network residuals it never learned.
    """
    pool = runner.pool
    plans = [runner.plan(runner.space.resolve(t.params)) for t in trials]
    setting = runner.searched_pls_setting() \
        if any(wants_pls_residual(plan, pool) for plan in plans) else None
    epochs = [trial_epochs(t) for t in trials]
    splits = [*folds, (np.arange(pool.n_samples), None)]  # the folds, then the refit
    jobs = sorted(((c, f) for c in range(len(trials)) for f in range(len(splits))),
                  key=lambda job: -_work(trials[job[0]]) * len(splits[job[1]][0]))
    outputs = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(runner, plans[c], Evaluation(splits[f][0], np.arange(0)), splits[f][1],
                       seed, epochs[c], setting) for c, f in jobs)
    done = dict(zip(jobs, outputs, strict=True))
    candidates = []
    for c, (trial, plan, n) in enumerate(zip(trials, plans, epochs, strict=True)):
        results = [done[c, f] for f in range(len(folds))]
        member = done[c, len(folds)]
        failed = next((r for r in [*results, member] if isinstance(r, str)), None)
        oof = None if failed else _assemble(results, folds, pool.n_samples)
        if failed or not np.isfinite(oof).all():
            log.warning("trial %d is left out of the final stack: %s", trial.number,
                        failed or "a cross-fitted network predicts NaN or inf")
            continue
        candidates.append(Candidate(
            f"trial {trial.number}", "network", oof, member,
            {"trial": trial.number, "params": dict(trial.params), "epochs": n,
             "preprocessing": plan.preprocess.name, "n_params": plan.summary.n_params}))
    return candidates


def affordable(ranked: Sequence[FrozenTrial], k: int, budget: float, scale: float
               ) -> tuple[list[FrozenTrial], list[int]]:
    """The first ``k`` of the ``ranked`` trials whose cross-fitting fits in ``budget`` together,
    and the numbers of those passed over; the best trial is always taken.

    A trial's cross-fitting costs ``scale`` (folds x pool spectra / the trial's training
    spectra) times its recorded work per epoch times its epochs: the time budget's measure
    (multiply-adds x epochs x spectra), so the choice is the same on every machine. A trial
    without a recorded work costs nothing.
    """
    chosen: list[FrozenTrial] = []
    passed: list[int] = []
    spent = 0.0
    for trial in ranked:
        if len(chosen) == k:
            break
        cost = scale * _work(trial)
        if chosen and spent + cost > budget:
            passed.append(trial.number)
            log.info("trial %d is passed over for the final stack: cross-fitting it would "
                     "train %.1f times what the search trained", trial.number,
                     (spent + cost) / budget)
            continue
        chosen.append(trial)
        spent += cost
    return chosen, passed


def trial_epochs(trial: FrozenTrial) -> int:
    """The epochs a trial's configuration trains for outside the search: up to the best epoch
    of its early stopping (or, without one, as many as it trained)."""
    if "best_epoch" in trial.user_attrs:
        return int(trial.user_attrs["best_epoch"]) + 1
    return max(1, int(trial.user_attrs.get("epochs", 1)))


def train_alone(runner: TrialRunner, plan: TrialPlan, evaluation: Evaluation, seed: int,
                epochs: int | None = None, pls_setting: tuple[str, int] | None = None
                ) -> SpectralNetwork:
    """``runner.train`` on one torch (and BLAS) thread, as many such trainings run side by
    side."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return runner.train(plan, evaluation, seed, epochs=epochs, pls_setting=pls_setting)
    finally:
        torch.set_num_threads(threads)


def _fold(runner: TrialRunner, plan: TrialPlan, evaluation: Evaluation,
          test: np.ndarray | None, seed: int, epochs: int,
          pls_setting: tuple[str, int] | None) -> np.ndarray | SpectralNetwork | str:
    """One fold's out-of-fold outputs (the network itself for the refit, ``test`` None), or
    why it failed."""
    try:
        network = train_alone(runner, plan, evaluation, seed, epochs, pls_setting)
    except (SpectuneError, DivergedError, ValueError, RuntimeError) as error:
        return f"{type(error).__name__}: {error}"
    return network if test is None else _outputs(network, runner.pool[test])


def _work(trial: FrozenTrial) -> float:
    """The work of training ``trial``'s configuration once on its training spectra."""
    return float(trial.user_attrs.get("work", 0.0)) * trial_epochs(trial)


def linear_candidates(pool: Spectra, folds: Folds, names: Sequence[str], *, seed: int,
                      **search: Any) -> tuple[dict[str, FittedBaseline], list[Candidate]]:
    """PLS and the ``names`` models (the linear bars, chosen by CV on ``folds``), and the
    ``names`` as nested cross-fitted candidates."""
    baselines = fit_baselines(pool, folds, random_state=seed,
                              names=list(dict.fromkeys(["pls", *names])), **search)
    return baselines, [linear_candidate(name, pool, folds, baselines[name], seed=seed, **search)
                       for name in names]


def linear_candidate(name: str, pool: Spectra, folds: Folds, fitted: FittedBaseline, *,
                     seed: int, **search: Any) -> Candidate:
    """PLS, Ridge or logistic regression: nested out-of-fold predictions; its member is
    ``fitted``, the same choice made on the whole pool (the baseline).

    In each fold the route and complexity are chosen again by an inner CV of the fold's
    training rows, so the out-of-fold error is honest. ``search``: ``routes``,
    ``max_components``.
    """
    outputs = []
    for train, test in folds:
        part = pool[train]
        inner = _folds(part, seed)
        model = fit_baselines(part, inner, names=[name], random_state=seed, **search)[name]
        outputs.append(_proba_or_predict(model.model, pool[test], pool))
    oof = _assemble(outputs, folds, pool.n_samples)
    estimator = fitted.model.pipeline_.named_steps["pls"] if name == "pls" \
        else fitted.model.named_steps["model"]
    member = LinearModel.from_fitted(name, fitted.route, estimator, pool.X,
                                     settings=fitted.settings)
    return Candidate(name, "linear", oof, member,
                     {"settings": dict(fitted.settings), "preprocessing": fitted.route})


def check_cross_fitting(pool: Spectra) -> None:
    """Refuse, before the search, a pool too small to cross-fit: the final model needs 3 units
    (spectra, groups, or spectra of the rarest class), 2 in each fold's training part for the
    linear models' inner CV."""
    units, what = _units_of(pool)
    if units < 3:
        raise DataError(
            f"{pool.source}: the final model is cross-fitted on the calibration+tuning spectra "
            f"and needs at least 3 {what} there; found {units}. Give more spectra"
            + (" or groups." if pool.groups is not None else "."))


def _folds(spectra: Spectra, seed: int) -> Folds:
    units, _ = _units_of(spectra)
    splitter = cv_splitter(spectra, n_splits=min(N_FOLDS, units), random_state=seed)
    X = spectra.X.reshape(spectra.n_samples, -1)
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, spectra.y, spectra.groups)]


def _units_of(spectra: Spectra) -> tuple[int, str]:
    """What the folds split: groups, the rarest class's spectra (stratified), or spectra."""
    if spectra.groups is not None:
        return len(np.unique(spectra.groups)), "groups (--group-column)"
    if spectra.task == "classification":
        labels, counts = np.unique(np.asarray(spectra.y).ravel(), return_counts=True)
        rarest = labels[np.argmin(counts)]
        rarest = rarest.item() if isinstance(rarest, np.generic) else rarest
        return int(counts.min()), f"spectra of every class (the rarest: {rarest!r})"
    return spectra.n_samples, "spectra"


def _outputs(member: Member, spectra: Spectra) -> np.ndarray:
    """Predictions ``[n, targets]`` (regression) or probabilities ``[n, classes]``."""
    X = spectra.flat_X()
    if spectra.task == "classification":
        return np.asarray(member.predict_proba(X), dtype=np.float64)
    return np.asarray(member.predict(X), dtype=np.float64).reshape(len(X), -1)


def _proba_or_predict(model: Any, spectra: Spectra, pool: Spectra) -> np.ndarray:
    """A scikit-learn model's outputs; probabilities in the pool's class order (a class the
    fold's training rows lacked gets probability 0)."""
    X = spectra.X.reshape(spectra.n_samples, -1)
    if spectra.task != "classification":
        return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    out = np.zeros((len(X), len(pool.classes)))
    for j, label in enumerate(model.classes_):
        out[:, list(pool.classes).index(label)] = proba[:, j]
    return out


def _assemble(outputs: list[np.ndarray], folds: Folds, n: int) -> np.ndarray:
    oof = np.full((n, outputs[0].shape[1]), np.nan)
    for (_, test), values in zip(folds, outputs, strict=True):
        oof[test] = values
    return oof


def _units(pool: Spectra, rows: np.ndarray) -> np.ndarray:
    return rows if pool.groups is None else pool.groups[rows]
