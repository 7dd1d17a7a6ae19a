"""``tune``: the whole flow of a tuning run, from spectra to a saved model and metrics.json.

split -> search space -> (LR range test) -> Optuna study (sampler, pruner, storage) ->
best trial -> refit on calibration+tuning -> test once -> PLS on the same splits -> files.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from spectune._json import write_json
from spectune.data import Spectra, cv_splitter, split_cal_tune, split_indices
from spectune.exceptions import SpectuneError
from spectune.training._files import load_model, save_model
from spectune.training._lr_find import find_learning_rates
from spectune.tuning._final import ensemble_size, finish
from spectune.tuning._objectives import Objective, default_objective
from spectune.tuning._progress import ProgressLine
from spectune.tuning._samplers import default_startup_trials, make_pruner, make_sampler
from spectune.tuning._space import load_space
from spectune.tuning._study import (
    data_checksum,
    n_budget_trials,
    open_study,
    recover_interrupted,
)
from spectune.tuning._trial import Evaluation, TrialRunner

__all__ = ["Search", "TuneResult", "TuneSettings", "search", "tune"]

log = logging.getLogger("spectune")


@dataclass(frozen=True)
class TuneSettings:
    """Every choice of a tuning run, saved with the study so that a run can be reproduced.

    Budget: ``n_trials`` (finished trials, resumed ones included) and/or ``timeout`` seconds.
    ``cv`` > 1 scores each trial by k-fold CV on calibration+tuning data instead of the hold-out
    tuning set; ``seeds`` > 1 trains each evaluation from that many initial seeds.
    """

    space: str = "default"
    objective: str | None = None
    objective_weights: tuple[float, float] = (0.5, 0.5)
    pareto: bool = False
    cv: int = 0
    seeds: int = 1
    sampler: str = "tpe"
    n_startup_trials: int | None = None
    pruner: str = "hyperband"
    min_resource: int = 10
    reduction_factor: int = 3
    n_trials: int | None = 30
    timeout: float | None = None
    storage: str | None = None
    study_name: str = "spectune"
    resume: bool = False
    seed: int = 0
    device: str = "cpu"
    max_epochs: int = 200
    patience: int = 30
    plateau_patience: int = 10
    lr_mode: str = "space"
    refit: str = "scratch"
    keep_top: int = 1
    ensemble_top: int | None = None
    ensemble_seeds: int = 1
    blend_pls: bool = True
    split: str = "auto"
    test_size: float = 0.2
    tune_size: float = 0.2
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout is None:
            raise ValueError("give a budget: --trials N and/or --timeout SECONDS.")
        if self.n_trials is not None and self.n_trials < 1:
            raise ValueError(f"--trials must be >= 1, got {self.n_trials}.")
        if self.cv == 1 or self.cv < 0:
            raise ValueError(f"--cv must be 0 (hold-out tuning set) or >= 2 folds, got {self.cv}.")
        if (self.ensemble_top is not None and self.ensemble_top < 1) or self.ensemble_seeds < 1:
            raise ValueError(f"--ensemble and --ensemble-seeds must be >= 1, got "
                             f"{self.ensemble_top} and {self.ensemble_seeds}.")
        if None not in (self.n_trials, self.ensemble_top) and self.ensemble_top > self.n_trials:
            raise ValueError(f"--ensemble {self.ensemble_top} is larger than the number of "
                             f"trials ({self.n_trials}); lower it or run more trials.")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}.")
        if self.refit not in ("scratch", "warm"):
            raise ValueError(f"--refit must be 'scratch' or 'warm', got {self.refit!r}.")
        if self.lr_mode not in ("space", "range-test"):
            raise ValueError(f"--lr-mode must be 'space' or 'range-test', got {self.lr_mode!r}.")
        if self.pruner == "hyperband" and not 1 <= self.min_resource < self.max_epochs:
            raise ValueError(f"--min-resource must lie in [1, --epochs={self.max_epochs}) for "
                             f"hyperband; got {self.min_resource}.")
        if self.refit == "warm" and self.pareto:
            raise ValueError("--refit warm does not go with --pareto: a Pareto study keeps no "
                             "single best trial's weights; use --refit scratch.")
        if self.refit == "warm" and self.cv:
            raise ValueError("--refit warm needs the hold-out tuning set (--cv 0): k-fold "
                             "trials keep no single set of weights.")


@dataclass
class TuneResult:
    """What ``tune`` returns: the study, the refitted model and the metrics written to disk."""

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


def tune(train: Spectra, out: Path, settings: TuneSettings, *, test: Spectra | None = None,
         data_info: dict[str, Any] | None = None) -> TuneResult:
    """Tune a network on ``train`` (split into calibration/tuning), test once on ``test``.

    Without ``test``, a test split is held out of ``train`` first (``settings.split``,
    ``test_size``; ``test_size=0``: no test). Files go to ``out``: study.db (default storage),
    model/, trials/, metrics.json, trials.csv.
    """
    started = time.perf_counter()
    found = search(train, Path(out), settings, test=test)
    metrics = finish(found, settings, Path(out))
    first = found.evaluations[0]
    metrics["data"] = {
        "n_cal": int(len(first.train)), "n_tune": int(len(first.val)),
        "n_pool": found.pool.n_samples, "n_test": 0 if found.test is None else found.test.n_samples,
        "n_points": found.pool.n_points, "split": found.split, "train_file": train.source,
        **(data_info or {}),
    }
    metrics["study"]["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(Path(out) / "metrics.json", metrics)
    found.study.trials_dataframe().to_csv(Path(out) / "trials.csv", index=False)
    return TuneResult(found.study, metrics, Path(out), Path(out) / "model", settings)


def search(train: Spectra, out: Path, settings: TuneSettings, *, test: Spectra | None = None
           ) -> Search:
    """Split, open the study on its storage and run trials until the budget is spent."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pool, evaluations, test, split = _split(train, test, settings)
    space = load_space(settings.space, task=pool.task)
    objective = Objective(settings.objective or default_objective(pool.task, pool.y),
                          tuple(settings.objective_weights), settings.pareto)
    if objective.task != pool.task:
        raise SpectuneError(f"--objective {objective.name} is for {objective.task}; the target "
                            f"is a {pool.task} target.")
    out.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.get_storage(settings.storage or f"sqlite:///{out / 'study.db'}")
    n_startup = settings.n_startup_trials
    if n_startup is None:
        n_startup = default_startup_trials(space.n_dimensions, settings.n_trials)
    # A resumed sampler must not replay the seed's first draws: offset it by the trials done.
    done = _n_existing_trials(storage, settings.study_name) if settings.resume else 0
    sampler = make_sampler(settings.sampler, seed=settings.seed + done, n_startup_trials=n_startup,
                           grid=space.grid() if settings.sampler == "grid" else None)
    pruner = make_pruner("none" if objective.pareto else settings.pruner,
                         max_epochs=settings.max_epochs, min_resource=settings.min_resource,
                         reduction_factor=settings.reduction_factor)
    study = open_study(
        storage, settings.study_name, directions=objective.directions, sampler=sampler,
        pruner=pruner, resume=settings.resume,
        checksum=data_checksum(pool, *([] if test is None else [test])),
        settings=dataclasses.asdict(settings),
    )
    if settings.resume:
        recovered = recover_interrupted(study, storage)
        if recovered:
            log.warning("--resume: %d interrupted trial(s) will be retried", recovered)
    runner = TrialRunner(
        space, pool, evaluations, objective,
        seeds=[settings.seed + i for i in range(settings.seeds)],
        train_defaults=_train_defaults(settings),
        lr_range=_lr_range(pool, evaluations[0], settings) if settings.lr_mode == "range-test"
        else None,
        prune=settings.pruner != "none",
    )
    _optimize(study, runner, settings, out)
    return Search(study, runner, pool, test, evaluations, objective, split)


def _n_existing_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    return summaries[name].n_trials if name in summaries else 0


def _split(train: Spectra, test: Spectra | None, settings: TuneSettings
           ) -> tuple[Spectra, list[Evaluation], Spectra | None, dict[str, Any]]:
    """Pool (calibration+tuning), the evaluations over it, and the test set (None: no test)."""
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
    if settings.cv:
        folds = cv_splitter(train, n_splits=settings.cv, random_state=settings.seed)
        evaluations = [Evaluation(np.asarray(a), np.asarray(b))
                       for a, b in folds.split(train.flat_X(), train.y, train.groups)]
        split["cv"] = settings.cv
        return train, evaluations, test, split
    parts = split_cal_tune(train, tune_size=settings.tune_size, **common)
    split["tune_size"] = settings.tune_size
    return train, [Evaluation(parts.cal, parts.tune)], test, split


def _train_defaults(settings: TuneSettings) -> dict[str, Any]:
    return {
        "max_epochs": settings.max_epochs, "early_stopping_patience": settings.patience,
        "plateau_patience": settings.plateau_patience, "lr_min": 1e-6,
        "device": settings.device, "seed": settings.seed,
    }


def _lr_range(pool: Spectra, evaluation: Evaluation, settings: TuneSettings
              ) -> tuple[float, float]:
    """LR_min and LR_max from the LR range test on the base architecture (Passos & Mishra)."""
    train, val = pool[evaluation.train], pool[evaluation.val]
    result = find_learning_rates(train, val, seed=settings.seed, device=settings.device)
    log.warning("LR range test: lr_min %.3g, lr_max %.3g", result.lr_min, result.lr_max)
    return result.lr_min, result.lr_max


def _optimize(study: optuna.Study, runner: TrialRunner, settings: TuneSettings, out: Path
              ) -> None:
    """Run trials until the budget is spent; failures are recorded, Ctrl-C keeps what finished."""
    remaining = None
    if settings.n_trials is not None:
        remaining = settings.n_trials - n_budget_trials(study)
        if remaining <= 0:
            return
    progress = ProgressLine(settings.n_trials, settings.timeout) if settings.show_progress else None
    # the best trials' calibration-only weights: for a warm refit, the ensemble's choice on the
    # tuning set and the conformal intervals (a spare one in case of duplicate parameters)
    top = ensemble_size(settings)
    keep = max(settings.keep_top, top + 1 if top > 1 else 1)
    keeper = KeepTopModels(runner, out / "trials", keep if settings.cv == 0 else 0)
    callbacks = [keeper] + ([progress] if progress else [])
    try:
        study.optimize(runner, n_trials=remaining, timeout=settings.timeout,
                       catch=(Exception,), callbacks=callbacks, gc_after_trial=True)
    except KeyboardInterrupt:
        log.warning("\nstopped by Ctrl-C: %d finished trials kept in the study; refitting the "
                    "best (Ctrl-C again to quit; --resume continues the study)",
                    n_budget_trials(study))
    finally:
        if progress:
            progress.close()


class KeepTopModels:
    """Study callback keeping the weights of the best ``k`` trials in ``folder/<number>``."""

    def __init__(self, runner: TrialRunner, folder: Path, k: int) -> None:
        self.runner, self.folder, self.k = runner, folder, k

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        network, self.runner.last_network = self.runner.last_network, None
        if self.k == 0 or network is None or trial.state != TrialState.COMPLETE:
            return
        if len(study.directions) > 1:
            return
        ranked = _ranked(study)[: self.k]
        if trial.number in {t.number for t in ranked}:
            save_model(self.folder / str(trial.number), [network],
                       wavelengths=self.runner.pool.wavelengths,
                       target_names=list(self.runner.pool.target_names),
                       info={"trial": trial.number, "value": trial.value})
        keep = {str(t.number) for t in ranked}
        for path in self.folder.glob("*") if self.folder.exists() else []:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _ranked(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: t.value, reverse=reverse)
