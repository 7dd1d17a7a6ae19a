"""One Optuna trial: sample, build, train on each evaluation split, score; never halt the study.

A trial trains the sampled configuration on every evaluation (the hold-out tuning set, or the
k folds of the CV, times N seeds) and returns the mean objective. Whatever goes wrong inside one
trial (an impossible architecture, a diverged loss, a CUDA out-of-memory, any exception) is
recorded as the trial's ``fail_reason`` and re-raised for Optuna to mark the trial FAIL; the
study catches it and goes on.

Pruning with k folds or several seeds: only the first evaluation (fold 1, first seed) reports
its per-epoch tuning metric to the pruner, so Hyperband compares trials on the same footing;
a trial that survives runs its other evaluations unpruned.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import optuna
import torch

from spectune.data import Spectra
from spectune.training import (
    Callback,
    PLSBaseline,
    ReportCallback,
    SpectralNetwork,
    TrainingPruned,
    augmenter_from_params,
    fit_network,
    fit_pls_baseline,
)
from spectune.tuning._materialise import TooLargeError, TrialPlan, materialise
from spectune.tuning._objectives import Objective
from spectune.tuning._space import SearchSpace
from spectune.tuning._time_budget import NotStarted, TimeBudget, work_per_epoch

__all__ = ["Evaluation", "TrialProgress", "TrialRunner"]


class TrialProgress(Protocol):
    """What shows a trial's epochs as they train (``_progress.StudyProgress``)."""

    def start_trial(self, number: int, epochs: int) -> None: ...

    def epoch(self, value: float, epoch: int) -> None: ...

    def end_trial(self) -> None: ...


@dataclass(frozen=True)
class Evaluation:
    """Indices into the pool of training spectra: fit on ``train``, score on ``val``."""

    train: np.ndarray
    val: np.ndarray


class TrialRunner:
    """The objective function handed to ``study.optimize``.

    Parameters
    ----------
    space : SearchSpace
    pool : Spectra
        Calibration and tuning spectra together (never the test set).
    evaluations : sequence of Evaluation
        One hold-out split, or the folds of a CV.
    objective : Objective
    seeds : sequence of int
        Each evaluation is trained once per seed (the multi-seed mean).
    train_defaults : dict
        TrainConfig fields the space does not set (device, epochs, patience, ...).
    lr_range : (lr_min, lr_max) or None
        Learning rates from the LR range test; they replace the space's ``lr`` and ``lr_min``.
    prune : bool
        Report per-epoch tuning metrics to Optuna's pruner.

    Attributes set by the code that runs the trials (``_execute``): ``time_budget`` fits each
    trial to the time left (fewer epochs, or not started); ``progress`` shows its epochs.
    """

    def __init__(
        self,
        space: SearchSpace,
        pool: Spectra,
        evaluations: Sequence[Evaluation],
        objective: Objective,
        *,
        seeds: Sequence[int] = (0,),
        train_defaults: dict[str, Any] | None = None,
        lr_range: tuple[float, float] | None = None,
        prune: bool = True,
    ) -> None:
        self.space = space
        self.pool = pool
        self.evaluations = list(evaluations)
        self.objective = objective
        self.seeds = list(seeds)
        self.train_defaults = dict(train_defaults or {})
        self.lr_range = lr_range
        self.prune = prune and not objective.pareto
        self.time_budget: TimeBudget | None = None
        self.progress: TrialProgress | None = None
        self._pls_cache: dict[tuple[bytes, tuple[str, int] | None], PLSBaseline] = {}

    @property
    def n_runs(self) -> int:
        """Trainings per trial: seeds x evaluations."""
        return len(self.seeds) * len(self.evaluations)

    def start(self, trial: optuna.Trial) -> TrialPlan:
        """Sample and plan ``trial``, record what it is, fit it to the time left."""
        plan = self.plan(self.space.sample(trial))
        trial.set_user_attr("n_params", plan.summary.n_params)
        trial.set_user_attr("preprocessing", plan.preprocess.name)
        if self.lr_range is not None:  # not a parameter: the LR range test set it
            trial.set_user_attr("lr", plan.train.lr)
        trial.set_user_attr("work", work_per_epoch(plan.summary, len(self.evaluations[0].train),
                                                   plan.train.batch_size))
        if self.time_budget is not None:
            plan = self.time_budget.fit(trial, plan, self.n_runs)
        return plan

    def plan(self, params: dict[str, Any]) -> TrialPlan:
        """The preprocessing, architecture and training settings of ``params``."""
        n_outputs = (len(self.pool.classes) if self.pool.task == "classification"
                     else self.pool.y.shape[1])
        plan = materialise(
            params, task=self.pool.task, n_outputs=n_outputs, n_channels=self.pool.n_channels,
            length=self.pool.n_points, train_defaults=self.train_defaults,
            n_spectra=len(self.evaluations[0].train),
        )
        if self.lr_range is not None:
            lr_min, lr_max = self.lr_range
            plan = dataclasses.replace(
                plan, train=dataclasses.replace(plan.train, lr=lr_max, lr_min=min(lr_min, lr_max))
            )
        return plan

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        start = time.perf_counter()
        epochs: list[int] = []
        try:
            plan = self.start(trial)
            if self.progress is not None:
                self.progress.start_trial(trial.number, plan.train.max_epochs)
            values, cal_errors, tune_errors = [], [], []
            trained_s = 0.0
            for run, (seed, evaluation) in enumerate(
                (s, e) for s in self.seeds for e in self.evaluations
            ):
                network, scores = self.evaluate(trial, plan, evaluation, seed, report=run == 0)
                values.append(scores["value"])
                trained_s += scores["train_s"]
                cal_errors.append(scores["cal"])
                tune_errors.append(scores["tune"])
                epochs.append(len(network.history))
                if run == 0 and network.best_epoch is not None:
                    trial.set_user_attr("best_epoch", int(network.best_epoch))
            _record(trial, cal_errors, tune_errors, epochs, self.pool.task, start)
            trial.set_user_attr("train_s", round(trained_s, 3))  # for the time budget
            value = float(np.mean(values))
            if not np.isfinite(value):
                trial.set_user_attr("fail_reason", "objective is not finite")
            return (value, float(plan.summary.n_params)) if self.objective.pareto else value
        except TooLargeError as error:  # never trained; PRUNED, so TPE learns to avoid it
            trial.set_user_attr("fail_reason", str(error)[:500])
            raise optuna.TrialPruned(str(error)) from None
        except TrainingPruned as pruned:
            trained = sum(epochs) + len(pruned.history or ())
            trial.set_user_attr("epochs_trained", trained)
            trial.set_user_attr("wall_s", round(time.perf_counter() - start, 3))
            raise optuna.TrialPruned(str(pruned)) from None
        except Exception as error:
            reason = str(error) if isinstance(error, NotStarted) else \
                f"{type(error).__name__}: {error}"
            trial.set_user_attr("fail_reason", reason[:500])
            trial.set_user_attr("wall_s", round(time.perf_counter() - start, 3))
            if isinstance(error, torch.cuda.OutOfMemoryError):
                gc.collect()
                torch.cuda.empty_cache()
            raise
        finally:
            if self.progress is not None:
                self.progress.end_trial()

    def evaluate(
        self, trial: optuna.Trial, plan: TrialPlan, evaluation: Evaluation, seed: int, *,
        report: bool,
    ) -> tuple[SpectralNetwork, dict[str, float]]:
        """Fit on ``evaluation.train``, score on ``evaluation.val``."""
        callbacks = []
        if report and self.prune:  # Hyperband's resource: the epochs trained (1-based)
            callbacks.append(ReportCallback(lambda value, epoch: trial.report(value, epoch + 1),
                                            trial.should_prune))
        if report and self.progress is not None:
            callbacks.append(ReportCallback(self.progress.epoch))
        began = time.perf_counter()
        network = self.train(plan, evaluation, seed, callbacks=callbacks)
        trained_s = time.perf_counter() - began
        train, val = self.pool[evaluation.train], self.pool[evaluation.val]
        pred_cal, pred_val = network.predict(train.flat_X()), network.predict(val.flat_X())
        value = self.objective.score(train.y, pred_cal, val.y, pred_val)
        if self.pool.task == "regression":
            cal, tune = (self.objective_rmse(train.y, pred_cal),
                         self.objective_rmse(val.y, pred_val))
        else:
            cal, tune = float(np.mean(pred_cal == train.y)), float(np.mean(pred_val == val.y))
        return network, {"value": value, "cal": cal, "tune": tune, "train_s": trained_s}

    def train(self, plan: TrialPlan, evaluation: Evaluation, seed: int, *,
              callbacks: Sequence[Callback] = (), epochs: int | None = None,
              pls_setting: tuple[str, int] | None = None) -> SpectralNetwork:
        """The one way a configuration is trained: on the pool's ``evaluation.train`` rows,
        stopping early on its ``evaluation.val`` rows; without val rows, for ``epochs``
        epochs (a refit). Everything fitted (preprocessing, scalers, the PLS of a residual
        network) sees the training rows only; ``pls_setting`` fixes that PLS's route and
        latent variables (the final stage keeps the ones the search tuned against)."""
        train = self.pool[evaluation.train]
        config = dataclasses.replace(plan.train, seed=seed)
        val = None
        if len(evaluation.val):
            val = self.pool[evaluation.val]
        else:
            config = dataclasses.replace(config, early_stopping_patience=None,
                                         max_epochs=max(1, int(epochs or config.max_epochs)))
        residual = self.pls_baseline(evaluation.train, pls_setting) \
            if wants_pls_residual(plan, self.pool) else False
        return fit_network(
            train.flat_X(), train.y, preprocessing=plan.preprocess, arch=plan.arch,
            config=config, task=self.pool.task, X_val=None if val is None else val.flat_X(),
            y_val=None if val is None else val.y, classes=_classes(self.pool),
            callbacks=callbacks, augment=augmenter_from_params(plan.extra),
            pls_residual=residual,
        )

    def pls_baseline(self, rows: np.ndarray, setting: tuple[str, int] | None = None
                     ) -> PLSBaseline:
        """PLS chosen by (grouped) CV on these pool rows (or of the fixed ``setting``),
        fitted once for all trials."""
        key = (np.asarray(rows).tobytes(), setting)
        if key not in self._pls_cache:
            train = self.pool[rows]
            self._pls_cache[key] = fit_pls_baseline(train.flat_X(), train.y, groups=train.groups,
                                                    random_state=self.seeds[0], setting=setting)
        return self._pls_cache[key]

    def searched_pls_setting(self) -> tuple[str, int]:
        """The PLS setting the search's residual networks learned against: the one chosen on
        the first evaluation's training rows (the calibration set)."""
        return self.pls_baseline(self.evaluations[0].train).setting

    @staticmethod
    def objective_rmse(y: np.ndarray, pred: np.ndarray) -> float:
        return Objective("rmse").score(y, pred, y, pred)


def wants_pls_residual(plan: TrialPlan, pool: Spectra) -> bool:
    """The space's ``pls_residual`` switch; regression on one-channel spectra only (else off)."""
    return bool(plan.extra.get("pls_residual")) and pool.task == "regression" and \
        pool.n_channels == 1


def _classes(pool: Spectra) -> np.ndarray | None:
    return pool.classes if pool.task == "classification" else None


def _record(
    trial: optuna.Trial, cal: list[float], tune: list[float], epochs: list[int], task: str,
    start: float,
) -> None:
    """Trial attributes that the dashboard and the report read."""
    metric = "rmse" if task == "regression" else "accuracy"
    trial.set_user_attr(f"cal_{metric}", float(np.mean(cal)))
    trial.set_user_attr(f"tune_{metric}", float(np.mean(tune)))
    trial.set_user_attr("epochs", int(round(np.mean(epochs))))
    trial.set_user_attr("epochs_trained", int(np.sum(epochs)))
    trial.set_user_attr("wall_s", round(time.perf_counter() - start, 3))
