"""The Optuna study on its storage: create or resume, check the data, recover killed trials.

The default storage is an SQLite file in the output folder, so a run survives a crash and
``--resume`` continues it. A resumed study must train on the same data: its checksum is stored
with the study and compared. Trials left RUNNING by a killed process are marked FAIL with the
reason "interrupted" and their parameters are enqueued again, so no finished trial is lost and
the budget (finished trials, interrupted ones not counted) is still reached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from spectune.data import Spectra
from spectune.exceptions import SpectuneError

__all__ = ["data_checksum", "n_budget_trials", "open_study", "recover_interrupted"]

INTERRUPTED = "interrupted: the process ended during this trial; its parameters were retried"


def data_checksum(*parts: Spectra) -> str:
    """SHA-256 of spectra, wavelengths and targets, so every run of a study sees the same data."""
    digest = hashlib.sha256()
    for spectra in parts:
        for array in (spectra.X, spectra.wavelengths, spectra.y):
            array = np.ascontiguousarray(array if array.dtype != object else array.astype(str))
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    *,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    resume: bool,
    checksum: str,
    settings: dict[str, Any],
) -> optuna.Study:
    """Create study ``name``, or with ``resume`` load it after checking it is the same run."""
    exists = name in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not resume:
        raise SpectuneError(
            f"study {name!r} already exists in {_label(storage)}; pass --resume to continue it "
            "or --study NAME for a new one."
        )
    if resume and not exists:
        raise SpectuneError(f"--resume: no study {name!r} in {_label(storage)} to continue.")
    study = optuna.create_study(
        storage=storage, study_name=name, directions=list(directions), sampler=sampler,
        pruner=pruner, load_if_exists=resume,
    )
    if not resume:
        study.set_user_attr("data_sha256", checksum)
        study.set_user_attr("settings", settings)
        return study
    if study.user_attrs.get("data_sha256") != checksum:
        raise SpectuneError(
            f"--resume: study {name!r} was run on other data (checksum "
            f"{str(study.user_attrs.get('data_sha256'))[:12]}..., this data {checksum[:12]}...); "
            "use the same files, --range and split, or start a new study."
        )
    stored = study.user_attrs.get("settings", {})
    changed = [k for k in _SAME_ON_RESUME if k in stored and stored[k] != _plain(settings.get(k))]
    if changed or [d.name.lower() for d in study.directions] != [d.lower() for d in directions]:
        what = ", ".join(changed) or "objective directions"
        raise SpectuneError(
            f"--resume: study {name!r} was run with other settings ({what}); resume with the "
            "same ones, or start a new study."
        )
    return study


# Settings whose change would make old and new trial values incomparable.
_SAME_ON_RESUME = ("space", "objective", "objective_weights", "pareto", "cv", "seeds",
                   "max_epochs", "lr_mode", "split", "tune_size", "test_size")


def _plain(value: Any) -> Any:
    """What a value looks like after a JSON round trip in the study's attributes."""
    return list(value) if isinstance(value, tuple) else value


def recover_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """Mark trials left RUNNING by a killed process FAIL and enqueue their parameters again.

    Only for a study that no other process is running (the single-process SQLite case; several
    workers rely on Optuna's heartbeat instead). Returns how many trials were recovered.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    recovered = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "fail_reason", INTERRUPTED)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        recovered += 1
    return recovered


def n_budget_trials(study: optuna.Study) -> int:
    """Finished trials that count towards the budget (complete, pruned, failed on their own)."""
    return sum(
        1 for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.user_attrs.get("fail_reason") != INTERRUPTED
    )


def _label(storage: optuna.storages.BaseStorage) -> str:
    # optuna.storages.get_storage wraps an RDBStorage (which has the URL) in a _CachedStorage
    url = getattr(getattr(storage, "_backend", storage), "url", None)
    return str(url) if url else type(storage).__name__
