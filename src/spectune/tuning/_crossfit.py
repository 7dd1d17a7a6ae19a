"""Cross-fitting: out-of-fold predictions of every final candidate, on one split of the pool.

A few tens of spectra cannot both choose the networks and judge how to combine them. After the
search, every candidate (the best distinct trial configurations, PLS, Ridge) predicts each
calibration+tuning spectrum from a model that never saw it: one K-fold split of the pool
(grouped with ``--group-column``, stratified for classes; leave-one-out, or leave-one-group-out,
below :data:`SMALL_POOL` units). A network in a fold stops early on an inner split of the fold's
training rows, never on its own out-of-fold rows; the linear models choose their route and
complexity by an inner CV of the fold's training rows (nested CV). These predictions choose the
stack's weights and calibrate its intervals (:mod:`spectune.tuning._final`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed
from optuna.trial import FrozenTrial
from sklearn.model_selection import LeaveOneGroupOut, LeaveOneOut
from threadpoolctl import threadpool_limits

from spectune.data import Spectra, cv_splitter, split_cal_tune
from spectune.exceptions import SpectuneError
from spectune.models import FittedBaseline, LinearModel, fit_baselines
from spectune.training import DivergedError
from spectune.training._network import SpectralNetwork
from spectune.tuning._materialise import TrialPlan
from spectune.tuning._trial import Evaluation, TrialRunner, wants_pls_residual

__all__ = ["SMALL_POOL", "Candidate", "final_folds", "linear_candidate", "network_candidates",
           "train_alone"]

log = logging.getLogger("spectune")

#: Below this many spectra (or groups) the pool is cross-fitted leave-one-out.
SMALL_POOL = 30
#: Folds of the cross-fitting above SMALL_POOL, and of the linear models' inner CV.
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
    refit : callable
        Fits the candidate on every pool spectrum and returns the member to save.
    info : dict
        What the report shows: the trial, its settings, the refit's epoch count.
    """

    name: str
    kind: str
    oof: np.ndarray
    refit: Callable[[], Member]
    info: dict[str, Any] = field(default_factory=dict)


def final_folds(pool: Spectra, seed: int) -> Folds:
    """The one split of the pool every candidate is cross-fitted on."""
    units = len(np.unique(pool.groups)) if pool.groups is not None else pool.n_samples
    X = pool.flat_X().reshape(pool.n_samples, -1)
    if units < SMALL_POOL:
        splitter = LeaveOneGroupOut() if pool.groups is not None else LeaveOneOut()
        return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, groups=pool.groups)]
    splitter = cv_splitter(pool, n_splits=N_FOLDS, random_state=seed)
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, pool.y, pool.groups)]


def describe_folds(pool: Spectra, folds: Folds) -> str:
    """How the pool was cross-fitted, in words."""
    unit = "group" if pool.groups is not None else "spectrum"
    if all(len(np.unique(_units(pool, test))) == 1 for _, test in folds):
        return f"leave-one-{unit}-out ({len(folds)} folds)"
    return f"{len(folds)}-fold{' grouped' if pool.groups is not None else ''}"


def network_candidates(runner: TrialRunner, trials: Sequence[FrozenTrial], folds: Folds, *,
                       seed: int, tune_size: float, n_jobs: int = 1) -> list[Candidate]:
    """The trials' configurations trained once per fold, in ``n_jobs`` processes.

    Each network trains on one torch thread, wherever it runs (so the numbers do not depend on
    ``n_jobs``); a configuration that cannot be trained again (it diverges, or predicts NaN) is
    left out with a warning. The refit trains for the median epoch count of its folds. A
    PLS-residual network keeps, in every fold and in the refit, the PLS route and latent
    variables the search tuned it against (refitted on each fold's rows): a PLS chosen anew on
    other rows may take another route and leave the network residuals it never learned.
    """
    pool = runner.pool
    plans = [runner.plan(runner.space.resolve(t.params)) for t in trials]
    setting = runner.searched_pls_setting() \
        if any(wants_pls_residual(plan, pool) for plan in plans) else None
    inner = []
    for train, _ in folds:
        part = split_cal_tune(pool[train], tune_size=tune_size, random_state=seed)
        inner.append(Evaluation(train[part.cal], train[part.tune]))
    done = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(runner, plan, inner[f], folds[f][1], seed, setting)
        for plan in plans for f in range(len(folds)))
    everything = Evaluation(np.arange(pool.n_samples), np.arange(0))
    candidates = []
    for c, (trial, plan) in enumerate(zip(trials, plans, strict=True)):
        results = done[c * len(folds):(c + 1) * len(folds)]
        failed = next((r for r in results if isinstance(r, str)), None)
        oof = None if failed else _assemble([r[0] for r in results], folds, pool.n_samples)
        if failed or not np.isfinite(oof).all():
            log.warning("trial %d is left out of the final stack: %s", trial.number,
                        failed or "a cross-fitted network predicts NaN or inf")
            continue
        epochs = [r[1] for r in results]
        refit_epochs = max(1, int(np.median(epochs)))
        candidates.append(Candidate(
            f"trial {trial.number}", "network", oof,
            partial(train_alone, runner, plan, everything, seed, refit_epochs, setting),
            {"trial": trial.number, "params": dict(trial.params), "refit_epochs": refit_epochs,
             "fold_epochs": epochs, "preprocessing": plan.preprocess.name,
             "n_params": plan.summary.n_params}))
    return candidates


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


def _fold(runner: TrialRunner, plan: TrialPlan, evaluation: Evaluation, test: np.ndarray,
          seed: int, pls_setting: tuple[str, int] | None) -> tuple[np.ndarray, int] | str:
    """One fold's out-of-fold outputs and its early-stopping epoch, or why it failed."""
    try:
        network = train_alone(runner, plan, evaluation, seed, pls_setting=pls_setting)
    except (SpectuneError, DivergedError, ValueError, RuntimeError) as error:
        return f"{type(error).__name__}: {error}"
    epochs = len(network.history) if network.best_epoch is None else network.best_epoch + 1
    return _outputs(network, runner.pool[test]), epochs


def linear_candidate(name: str, pool: Spectra, folds: Folds, fitted: FittedBaseline, *,
                     seed: int, **search: Any) -> Candidate:
    """PLS, Ridge or logistic regression: nested out-of-fold predictions, refit = ``fitted``.

    In each fold the route and complexity are chosen again by an inner CV of the fold's
    training rows, so the out-of-fold error is honest; ``fitted`` is the same choice made on
    the whole pool (the baseline). ``search``: ``routes``, ``max_components``.
    """
    outputs = []
    for train, test in folds:
        part = pool[train]
        inner = _inner_folds(part, seed)
        model = fit_baselines(part, inner, names=[name], random_state=seed, **search)[name]
        outputs.append(_proba_or_predict(model.model, pool[test], pool))
    oof = _assemble(outputs, folds, pool.n_samples)
    estimator = fitted.model.pipeline_.named_steps["pls"] if name == "pls" \
        else fitted.model.named_steps["model"]
    return Candidate(
        name, "linear", oof,
        partial(LinearModel.from_fitted, name, fitted.route, estimator, pool.X,
                settings=fitted.settings),
        {"settings": dict(fitted.settings), "preprocessing": fitted.route})


def _inner_folds(part: Spectra, seed: int) -> Folds:
    units = len(np.unique(part.groups)) if part.groups is not None else part.n_samples
    splitter = cv_splitter(part, n_splits=min(N_FOLDS, units), random_state=seed)
    X = part.X.reshape(part.n_samples, -1)
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, part.y, part.groups)]


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
