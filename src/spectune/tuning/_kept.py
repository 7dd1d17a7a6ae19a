"""The best trials' calibration-only networks, kept on disk while the study runs.

The final stage needs them: the ensemble's choice and the CNN+PLS blend are made on the tuning
set from networks trained on calibration data only, a warm refit starts from their weights, and
the conformal intervals use the best one. Trials run by workers on other machines are retrained
here from the same plan, split and seed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import optuna
from optuna.trial import TrialState

from spectune.training._files import save_model
from spectune.tuning._final import ensemble_size
from spectune.tuning._trial import TrialRunner

if TYPE_CHECKING:
    from spectune.tuning._run import Search, TuneSettings

__all__ = ["KeepTopModels", "keep_count", "ranked_trials", "restore_kept"]

log = logging.getLogger("spectune")


def keep_count(settings: TuneSettings) -> int:
    """How many trials' calibration-only weights to keep: for a warm refit, the ensemble's
    choice on the tuning set and the conformal intervals (a spare one in case of duplicate
    parameters); none with k-fold CV."""
    top = ensemble_size(settings)
    return 0 if settings.cv else max(settings.keep_top, top + 1 if top > 1 else 1)


class KeepTopModels:
    """Study callback keeping the weights of the best ``k`` trials in ``folder/<number>``."""

    def __init__(self, runner: TrialRunner, folder: Path | None, k: int) -> None:
        self.runner, self.folder, self.k = runner, folder, k

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        network, self.runner.last_network = self.runner.last_network, None
        if self.k == 0 or self.folder is None or network is None \
                or trial.state != TrialState.COMPLETE:
            return
        if len(study.directions) > 1:
            return
        ranked = ranked_trials(study)[: self.k]
        if trial.number in {t.number for t in ranked}:
            self.save(trial, network)
        keep = {str(t.number) for t in ranked}
        for path in self.folder.glob("*") if self.folder.exists() else []:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def save(self, trial: optuna.trial.FrozenTrial, network: Any) -> None:
        save_model(Path(self.folder or ".") / str(trial.number), [network],
                   wavelengths=self.runner.pool.wavelengths,
                   target_names=list(self.runner.pool.target_names),
                   info={"trial": trial.number, "value": trial.value})


def restore_kept(found: Search, settings: TuneSettings, out: Path) -> None:
    """Retrain the best trials' calibration-only networks that no callback here kept.

    Trials run by other workers left their weights on other machines; the same plan, split and
    seed train the same network again, for the ensemble's choice, a warm refit and intervals.
    """
    keeper = KeepTopModels(found.runner, out / "trials", keep_count(settings))
    if keeper.k == 0 or len(found.study.directions) > 1:
        return
    for trial in ranked_trials(found.study)[: keeper.k]:
        if (out / "trials" / str(trial.number)).is_dir():
            continue
        log.warning("retraining trial %d on the calibration set (its weights are not in %s)",
                    trial.number, out / "trials")
        plan = found.runner.plan(found.runner.space.resolve(trial.params))
        fixed = cast(optuna.Trial, optuna.trial.FixedTrial(trial.params))  # never reported to
        network, _ = found.runner.evaluate(fixed, plan, found.evaluations[0],
                                           found.runner.seeds[0], report=False)
        keeper.save(trial, network)


def ranked_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: t.value, reverse=reverse)
