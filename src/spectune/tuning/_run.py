"""``tune``: the whole flow of a tuning run, from spectra to a saved model and metrics.json.

split -> search space -> (LR range test) -> Optuna study (sampler, pruner, storage) ->
the final model cross-fitted and stacked with PLS and Ridge -> test once -> files.

Three steps that one process runs in turn (``tune``) or several share (``spectune worker``):
``prepare`` (split, create/resume/join the study, build the trial runner), ``run_trials`` (ask
for trials until the study's budget is spent, whoever runs the others) and ``finish_run`` (the
final model, test once, files: once, in one process). The report is written by the faces (the
command line, ``spectune.tune``), from the files.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from spectune._json import write_json
from spectune.data import Spectra, cv_splitter, split_cal_tune, split_indices
from spectune.exceptions import SpectuneError
from spectune.models import screen_outliers
from spectune.training import find_learning_rates, load_model
from spectune.tuning._crossfit import check_cross_fitting
from spectune.tuning._execute import run_trials, uses_population, worker_name
from spectune.tuning._final import finish
from spectune.tuning._first_trials import first_trials
from spectune.tuning._materialise import check_names
from spectune.tuning._objectives import Objective, default_objective, metric_names
from spectune.tuning._overrides import BUILT_IN, resolve_run_settings
from spectune.tuning._progress import one_line_trial_failures
from spectune.tuning._samplers import default_startup_trials, make_pruner, make_sampler
from spectune.tuning._settings import TuneSettings, stored_settings
from spectune.tuning._space import SearchSpace, load_space
from spectune.tuning._storage import has_heartbeat, open_storage
from spectune.tuning._study import (
    budget_state,
    check_same_data,
    check_same_split,
    data_checksum,
    data_summary,
    open_study,
    recover_interrupted,
    split_checksum,
    study_attrs,
)
from spectune.tuning._trial import Evaluation, TrialRunner

__all__ = [
    "Search",
    "TuneResult",
    "finish_run",
    "prepare",
    "run_trials",
    "search",
    "tune",
    "uses_population",
    "worker_name",
]

log = logging.getLogger("spectune")


@dataclass
class TuneResult:
    """What ``tune`` returns: the study, the final model's folder and the metrics on disk."""

    study: optuna.Study
    metrics: dict[str, Any]
    out: Path
    model_dir: Path
    settings: TuneSettings = field(default_factory=TuneSettings)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.metrics["cnn"]["params"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return load_model(self.model_dir).predict(X)


@dataclass
class Search:
    """A finished (or stopped) study with what it searched over: the input of the refit."""

    study: optuna.Study
    runner: TrialRunner
    pool: Spectra
    test: Spectra | None
    evaluations: list[Evaluation]
    objective: Objective
    split: dict[str, Any]
    screening: dict[str, Any] | None = None
    settings: TuneSettings | None = None  # the run's settings, resolved against the space


def tune(train: Spectra, out: Path, settings: TuneSettings, *, test: Spectra | None = None,
         data_info: dict[str, Any] | None = None) -> TuneResult:
    """Tune a network on ``train`` (split into calibration/tuning), test once on ``test``.

    Without ``test``, a test split is held out of ``train`` first (``settings.split``,
    ``test_size``; ``test_size=0``: no test). Files go to ``out``: study.db (default storage),
    model/, metrics.json, trials.csv, predictions.csv, spectra.safetensors.
    """
    started = time.perf_counter()
    found = search(train, Path(out), settings, test=test)
    return finish_run(found, settings, Path(out), data_info=data_info, started=started)


def search(train: Spectra, out: Path, settings: TuneSettings, *, test: Spectra | None = None
           ) -> Search:
    """Split, open the study on its storage and run trials until the budget is spent."""
    found = prepare(train, settings, test=test, out=out)
    run_trials(found, settings, out)
    return found


def prepare(train: Spectra, settings: TuneSettings, *, test: Spectra | None = None,
            out: Path | None = None, storage: optuna.storages.BaseStorage | None = None,
            data_ref: dict[str, Any] | None = None, space: SearchSpace | None = None,
            join: bool = False) -> Search:
    """Split, create (or resume, or ``join``) the study and build its trial runner; no trial runs.

    ``storage`` defaults to ``settings.storage``, else ``out/study.db``. A new study stores what a
    worker needs to join it: the settings, the resolved search space, ``data_ref`` (how to read
    the data again) and a summary of the data. ``join`` (a worker, or the final refit of a shared
    study): the study must exist and hold the same data; nothing else is recovered or reseeded.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    one_line_trial_failures()
    pool, evaluations, test, split, screening = _split(train, test, settings)
    check_cross_fitting(pool)
    space = space if space is not None else load_space(settings.space, task=pool.task)
    check_names(space)  # a misspelt parameter fails here, not in every trial
    space, settings = _resolve(space, settings)
    objective = Objective(settings.objective or default_objective(pool.task, pool.y),
                          tuple(settings.objective_weights), settings.pareto)
    if objective.task != pool.task:
        raise SpectuneError(f"--objective {objective.name} is for {objective.task}; the target "
                            f"is a {pool.task} target.")
    if storage is None:
        if out is None:
            raise ValueError("prepare needs a storage or an output folder for study.db.")
        out.mkdir(parents=True, exist_ok=True)
        storage = open_storage(settings.storage or f"sqlite:///{out / 'study.db'}")
    summary = data_summary(training=pool, test=test)
    if join:
        check_same_data(study_attrs(storage, settings.study_name), settings.study_name, summary,
                        {"training": pool.source, "test": None if test is None else test.source})
    n_startup = settings.n_startup_trials
    if n_startup is None:
        n_startup = default_startup_trials(space.n_dimensions, settings.n_trials)
    # A resumed sampler must not replay the seed's first draws: offset it by the trials done.
    # Workers share the study: each draws its own seed, or all would propose the same points.
    done = _n_existing_trials(storage, settings.study_name) if settings.resume and not join \
        else 0
    sampler = make_sampler(settings.sampler, seed=None if join else settings.seed + done,
                           n_startup_trials=n_startup,
                           grid=space.grid() if settings.sampler == "grid" else None)
    pruner = make_pruner("none" if objective.pareto else settings.pruner,
                         max_epochs=settings.max_epochs, min_resource=settings.min_resource,
                         reduction_factor=settings.reduction_factor)
    split_sha = split_checksum(*(rows for e in evaluations for rows in (e.train, e.val)))
    if settings.resume or join:
        check_same_split(study_attrs(storage, settings.study_name), settings.study_name,
                         split_sha, settings.seed)
    study = open_study(
        storage, settings.study_name, directions=objective.directions, sampler=sampler,
        pruner=pruner, resume=settings.resume or join,
        checksum=data_checksum(pool, *([] if test is None else [test])),
        settings=stored_settings(settings),
        attrs={"space": space.spec, "data_parts": summary, "split_sha256": split_sha,
               **({"data": data_ref} if data_ref else {})},
    )
    # With a heartbeat, other workers may be running the RUNNING trials: Optuna retries the
    # dead ones; without one, a resumed study is run by this process alone.
    if settings.resume and not join and not has_heartbeat(storage):
        recovered = recover_interrupted(study, storage)
        if recovered:
            log.warning("--resume: %d interrupted trial(s) will be retried", recovered)
    runner = TrialRunner(
        space, pool, evaluations, objective,
        seeds=[settings.seed + i for i in range(settings.seeds)],
        train_defaults=_train_defaults(settings),
        lr_range=_lr_range(study, pool, evaluations[0], settings)
        if settings.lr_mode == "range-test" else None,
        prune=settings.pruner != "none",
    )
    if not (settings.resume or join):  # a new study: name its values, queue the first trials
        with warnings.catch_warnings():  # experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names(objective, settings.cv))
        if settings.sampler != "grid":
            for name, params in first_trials(space, runner):
                study.enqueue_trial(params, user_attrs={"first_trial": name})
    return Search(study, runner, pool, test, evaluations, objective, split, screening,
                  settings)


def _resolve(space: SearchSpace, settings: TuneSettings) -> tuple[SearchSpace, TuneSettings]:
    """The space and settings with the run's epochs, patience and LR mode resolved."""
    space, resolved = resolve_run_settings(
        space, {name: getattr(settings, name) for name in BUILT_IN})
    try:
        return space, dataclasses.replace(settings, **resolved)
    except ValueError as error:
        raise SpectuneError(str(error)) from None


def finish_run(found: Search, settings: TuneSettings, out: Path, *,
               data_info: dict[str, Any] | None = None, started: float | None = None
               ) -> TuneResult:
    """The final model, the test scored once, metrics.json and trials.csv in ``out``: once a
    study.

    ``started`` (``time.perf_counter()`` at the start of this run) gives ``wall_s``; without
    it (a study run by workers), ``wall_s`` is the trials' span plus this refit.
    """
    began = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    running = budget_state(found.study).running
    if running:
        log.warning("%d trial(s) still running in study %r are left out of the refit",
                    running, found.study.study_name)
    metrics = finish(found, settings, out)
    first = found.evaluations[0]
    split = dict(found.split)
    info = dict(data_info or {})
    if info.get("test_split", {}).get("method", "file") != "file":
        split["test"] = "held out"  # by the command line, before the study (see test_split)
    if info.get("command"):
        metrics["command"] = info.pop("command")
    metrics["data"] = {
        "n_cal": len(first.train), "n_tune": len(first.val),
        "n_pool": found.pool.n_samples, "n_test": 0 if found.test is None else found.test.n_samples,
        "n_points": found.pool.n_points, "split": split, "train_file": found.pool.source, **info,
    }
    wall = time.perf_counter() - (began if started is None else started)
    metrics["study"]["wall_s"] = round(wall + (_span(found.study) if started is None else 0), 1)
    write_json(out / "metrics.json", metrics)
    found.study.trials_dataframe().to_csv(out / "trials.csv", index=False)
    return TuneResult(found.study, metrics, out, out / "model", settings)


def _span(study: optuna.Study) -> float:
    """Seconds from the first trial's start to the last trial's end."""
    ends = [(t.datetime_start or t.datetime_complete, t.datetime_complete)
            for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    if not ends:
        return 0.0
    return (max(end for _, end in ends) - min(start for start, _ in ends)).total_seconds()


def _n_existing_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    return summaries[name].n_trials if name in summaries else 0


def _split(train: Spectra, test: Spectra | None, settings: TuneSettings
           ) -> tuple[Spectra, list[Evaluation], Spectra | None, dict[str, Any],
                      dict[str, Any] | None]:
    """Pool (calibration+tuning), the evaluations over it, the test set (None: no test) and,
    with ``screen_outliers``, the screening report (decided on the pool alone)."""
    common = dict(method=settings.split, random_state=settings.seed)
    if test is None and settings.test_size == 0:
        split = {"test": "none", "seed": settings.seed, "method": settings.split}
    elif test is None:
        parts = split_indices(train, test_size=settings.test_size, tune_size=0, **common)
        test, train = train[parts.test], train[parts.cal]
        split = {"test": "held out", "test_size": settings.test_size, "seed": settings.seed,
                 "method": settings.split}
    else:
        split = {"test": "file", "seed": settings.seed, "method": settings.split}
    screening = None
    if settings.screen_outliers:
        train, screening = _screened(train, settings.seed)
    if settings.cv:
        folds = cv_splitter(train, n_splits=settings.cv, random_state=settings.seed)
        evaluations = [Evaluation(np.asarray(a), np.asarray(b))
                       for a, b in folds.split(train.flat_X(), train.y, train.groups)]
        split["cv"] = settings.cv
        return train, evaluations, test, split, screening
    parts = split_cal_tune(train, tune_size=settings.tune_size, **common)
    split["tune_size"] = settings.tune_size
    return train, [Evaluation(parts.cal, parts.tune)], test, split, screening


def _screened(pool: Spectra, seed: int) -> tuple[Spectra, dict[str, Any]]:
    """The pool without the spectra :func:`spectune.models.screen_outliers` flags (T2, Q and a
    cross-validated PLS residual beyond robust limits), and its report; the test set is never
    screened: it is scored as it comes."""
    y = pool.y if pool.task == "regression" else None
    outliers, report = screen_outliers(pool.flat_X(), y, random_state=seed)
    if pool.ids is not None:
        report["outlier_ids"] = [str(i) for i in pool.ids[outliers]]
    if outliers.any():
        log.warning("outlier screening left out %d of %d calibration spectra", outliers.sum(),
                    pool.n_samples)
    return pool[~outliers], report


def _train_defaults(settings: TuneSettings) -> dict[str, Any]:
    return {
        "max_epochs": settings.max_epochs, "early_stopping_patience": settings.patience or None,
        "plateau_patience": settings.plateau_patience or None, "lr_min": 1e-6,
        "device": settings.device, "seed": settings.seed,
    }


def _lr_range(study: optuna.Study, pool: Spectra, evaluation: Evaluation,
              settings: TuneSettings) -> tuple[float, float]:
    """LR_min and LR_max from the LR range test on the base architecture (Passos & Mishra).

    Run once per study and stored with it: workers and the final refit read the same rates.
    """
    if "lr_range" in study.user_attrs:
        lr_min, lr_max = study.user_attrs["lr_range"]
        return float(lr_min), float(lr_max)
    train, val = pool[evaluation.train], pool[evaluation.val]
    result = find_learning_rates(train, val, seed=settings.seed, device=settings.device)
    log.warning("LR range test: lr_min %.3g, lr_max %.3g", result.lr_min, result.lr_max)
    study.set_user_attr("lr_range", [result.lr_min, result.lr_max])
    return result.lr_min, result.lr_max
