"""The Optuna study on its storage: create or resume, check the data, recover killed trials.

The default storage is an SQLite file in the output folder, so a run survives a crash and
``--resume`` continues it. A resumed study must train on the same data: its checksum is stored
with the study and compared. Trials left RUNNING by a killed process are marked FAIL with the
reason "interrupted" and their parameters are enqueued again, so no finished trial is lost and
the budget (finished trials, interrupted ones not counted) is still reached. On a server database
several workers share the study: a dead worker's trial is found by its stale heartbeat and
retried by Optuna (``_storage``); the retried trial, not the stale one, counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from spectune.data import Spectra
from spectune.exceptions import SpectuneError
from spectune.tuning._storage import public_url

__all__ = [
    "BudgetState",
    "budget_state",
    "check_same_data",
    "check_same_split",
    "data_checksum",
    "data_summary",
    "n_budget_trials",
    "open_study",
    "record_stop",
    "recover_interrupted",
    "split_checksum",
    "study_attrs",
    "trial_counts",
    "uncounted",
    "within_budget",
]

INTERRUPTED = "interrupted: the process ended during this trial; its parameters were retried"
STOPPED = "interrupted by Ctrl-C: not counted; --resume retries its parameters"
OVER_BUDGET = ("over budget: other workers started the study's last trials at the same moment; "
               "not run, not counted")
#: The start of the reason of a trial not started for lack of time (the rest says why).
NOT_STARTED = "not started: "
#: The start of the reason of a draw over the data's parameter budget: never trained, recorded
#: PRUNED (so that TPE learns to avoid such draws) and not counted; the next draw takes its place.
TOO_LARGE = "too large for the data: "
#: Why the last run of trials stopped (the study's user attribute ``STOP_ATTR``).
STOP_REASONS = ("trials", "timeout", "no time", "ctrl-c", "max trials", "no draw fits")
STOP_ATTR = "stop"


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
    attrs: Mapping[str, Any] | None = None,
) -> optuna.Study:
    """Create study ``name``, or with ``resume`` load it after checking it is the same run.

    A new study stores ``checksum``, ``settings`` and ``attrs`` (what workers need to join it)
    in its user attributes.
    """
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
        for key, value in (attrs or {}).items():
            study.set_user_attr(key, value)
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
        retry(study, trial)
        recovered += 1
    return recovered


def retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue the parameters of an interrupted trial, so the study's next ask runs them first."""
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def uncounted(trial: optuna.trial.FrozenTrial) -> str | None:
    """Why a finished trial does not count towards the budget, or None when it counts.

    "interrupted" (a killed process or Ctrl-C: its parameters are retried), "over budget" (lost
    the race for the study's last place), "not started" (it would not have finished in the time
    left), "too large" (a draw over the data's parameter budget: never trained, drawn again).
    """
    reason = str(trial.user_attrs.get("fail_reason", ""))
    if reason in (INTERRUPTED, STOPPED):
        return "interrupted"
    if reason == OVER_BUDGET:
        return "over budget"
    if reason.startswith(TOO_LARGE):
        return "too large"
    return "not started" if reason.startswith(NOT_STARTED) else None


def n_budget_trials(study: optuna.Study) -> int:
    """Finished trials that count towards the budget (complete, pruned, failed on their own).

    Not counted: a trial interrupted by a killed process, or failed by its stale heartbeat and
    queued again (``retry_history`` of its retry): its retry counts instead; a trial started
    past the budget by a race between workers (``OVER_BUDGET``).
    """
    return budget_state(study).counted


@dataclass(frozen=True)
class BudgetState:
    """Where a shared study stands against its trial budget, read before each ask."""

    counted: int
    running: int
    waiting: int

    def spent(self, n_trials: int | None) -> bool:
        return n_trials is not None and self.counted >= n_trials

    def may_ask(self, n_trials: int | None) -> bool:
        """A queued trial (a retry) may always run; a new one only while the budget is open.

        Running and queued trials are counted as spent, so several workers do not overshoot
        the budget (only two asks in the same instant can).
        """
        return (n_trials is None or self.waiting > 0
                or self.counted + self.running + self.waiting < n_trials)


def budget_state(study: optuna.Study, up_to: int | None = None) -> BudgetState:
    """Counted, running and queued trials of ``study``, in one read of its trials.

    ``up_to``: running and queued trials numbered up to it only.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    counted = sum(1 for t in trials if t.state.is_finished() and t.number not in retried
                  and uncounted(t) is None)
    states = [t.state for t in trials if up_to is None or t.number <= up_to]
    return BudgetState(counted, states.count(TrialState.RUNNING), states.count(TrialState.WAITING))


def within_budget(study: optuna.Study, number: int, n_trials: int | None) -> bool:
    """Whether trial ``number``, just started, fits the budget.

    Two workers that read the budget at the same moment may both start a trial for its last
    place. Optuna numbers trials in the order they are created, so the earlier one keeps the
    place: the counted trials plus the trials in flight numbered up to this one must fit.
    """
    if n_trials is None:
        return True
    state = budget_state(study, up_to=number)
    return state.counted + state.running + state.waiting <= n_trials


def record_stop(study: optuna.Study, reason: str, timeout: float | None) -> None:
    """Store why the trials stopped (one of ``STOP_REASONS``), for the log and metrics.json."""
    if reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {reason!r}; one of {STOP_REASONS}")
    study.set_user_attr(STOP_ATTR, {"reason": reason, "timeout": timeout})


def trial_counts(study: optuna.Study, n_asked: int | None) -> dict[str, Any]:
    """What the study's trials amount to, in one read: the numbers the log and metrics.json give.

    ``finished`` counts towards the budget (= ``complete + pruned + failed``); ``interrupted``
    (by a kill or Ctrl-C; retried), ``not_started`` (no time left), ``too_large`` (draws over the
    data's parameter budget) and ``over_budget`` (placeholders of a race between workers) are
    not counted. ``stopped`` is why the last run of
    trials ended (``STOP_REASONS``; None if unknown), ``summary`` the sentence that says it.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    counts = dict.fromkeys(("complete", "pruned", "failed", "interrupted", "not_started",
                            "too_large", "over_budget", "running", "waiting"), 0)
    for t in trials:
        why = uncounted(t) or ("interrupted" if t.number in retried else None)
        if why is not None:
            counts[why.replace(" ", "_")] += 1
        elif t.state in _STATE_KEYS:
            counts[_STATE_KEYS[t.state]] += 1
    finished = counts["complete"] + counts["pruned"] + counts["failed"]
    stop = study.user_attrs.get(STOP_ATTR) or {}
    return {"asked": n_asked, "finished": finished, **counts, "stopped": stop.get("reason"),
            "timeout": stop.get("timeout"),
            "summary": _summary(finished, n_asked, stop.get("reason"), stop.get("timeout"),
                                counts)}


_STATE_KEYS = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}


def _summary(finished: int, asked: int | None, reason: str | None, timeout: float | None,
             counts: Mapping[str, int]) -> str:
    """"12 of 30 trials ran before the 360 s timeout (10 complete, 2 pruned, 0 failed)"."""
    ran = f"{finished} of {asked} trials ran" if asked is not None else f"{finished} trials ran"
    if reason in ("timeout", "no time") and timeout is not None:
        ran += f" before the {timeout:g} s timeout" if asked is None or finished < asked \
            else f" within the {timeout:g} s timeout"
    elif reason == "ctrl-c":
        ran += " before Ctrl-C stopped the study (--resume continues it)"
    elif reason == "max trials":
        ran += "; this process stopped at --max-trials"
    elif reason == "no draw fits":
        ran += "; the space's last draws were all too large for the data"
    detail = f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed"
    for key, what in (("interrupted", "interrupted"), ("too_large", "too large for the data")):
        if counts[key]:
            detail += f", {counts[key]} {what} (not counted)"
    return f"{ran} ({detail})"


def study_attrs(storage: optuna.storages.BaseStorage, name: str) -> dict[str, Any]:
    """The user attributes of study ``name`` (settings, data reference, checksums)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        raise SpectuneError(
            f"no study {name!r} in {_label(storage)}; create it first with spectune tune ... "
            f"--storage URL --study {name} --workers 0."
        ) from None
    return dict(storage.get_study_user_attrs(study_id))


def data_summary(**parts: Spectra | None) -> dict[str, dict[str, Any] | None]:
    """Per part (training, test): size, wavelength grid, targets and checksum.

    Stored with a study so that a worker with other data is told what differs.
    """
    return {
        name: None if spectra is None else {
            "n_samples": spectra.n_samples, "n_points": spectra.n_points,
            "wavelengths": [float(spectra.wavelengths.min()), float(spectra.wavelengths.max())],
            "targets": list(spectra.target_names), "sha256": data_checksum(spectra),
        }
        for name, spectra in parts.items()
    }


def check_same_data(attrs: Mapping[str, Any], name: str,
                    summary: Mapping[str, dict[str, Any] | None],
                    files: Mapping[str, str | None]) -> None:
    """Refuse, in one line naming what differs, data other than the study was created on."""
    stored = attrs.get("data_parts") or {}
    for part, here in summary.items():
        there = stored.get(part)
        if (here or {}).get("sha256") == (there or {}).get("sha256"):
            continue
        where = f"{part} data" + (f" {files[part]}" if files.get(part) else "")
        if here is None or there is None:
            what = "is missing here" if here is None else "is not part of the study"
        else:
            what = _difference(here, there)
        raise SpectuneError(
            f"study {name!r} was created on other data: the {where} {what}; use the same files "
            "(--train/--test say where they are on this machine)."
        )


def split_checksum(*index_arrays: np.ndarray) -> str:
    """SHA-256 of the calibration/tuning (or fold) indices a study scores its trials on."""
    digest = hashlib.sha256()
    for rows in index_arrays:
        rows = np.ascontiguousarray(np.asarray(rows, dtype=np.int64))
        digest.update(str(rows.shape).encode())
        digest.update(rows.tobytes())
    return digest.hexdigest()


def check_same_split(attrs: Mapping[str, Any], name: str, checksum: str, seed: int) -> None:
    """Refuse a run that would split the pool otherwise than the study did (its trials and
    the final cross-fitting would then mix up calibration and tuning spectra)."""
    stored = attrs.get("split_sha256")
    if stored is None or stored == checksum:
        return
    there = (attrs.get("settings") or {}).get("seed")
    why = f"--seed {seed} here, {there} in the study" if there is not None and there != seed \
        else "the split settings or the spectra's order differ"
    raise SpectuneError(
        f"study {name!r} split its calibration and tuning spectra differently ({why}); use the "
        "study's settings, or start a new study (--out or --study)."
    )


def _difference(here: Mapping[str, Any], there: Mapping[str, Any]) -> str:
    for key, phrase in (("n_samples", "has {} spectra"), ("n_points", "has {} wavelengths"),
                        ("wavelengths", "covers {}"), ("targets", "has target(s) {}")):
        if here[key] != there[key]:
            return f"{phrase.format(_show(here[key]))} here, {_show(there[key])} in the study"
    return (f"holds other values (checksum {here['sha256'][:12]}... here, "
            f"{there['sha256'][:12]}... in the study)")


def _show(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]:g}-{value[1]:g}"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _label(storage: optuna.storages.BaseStorage) -> str:
    # optuna.storages.get_storage wraps an RDBStorage (which has the URL) in a _CachedStorage
    url = getattr(getattr(storage, "_backend", storage), "url", None)
    return public_url(str(url)) if url else type(storage).__name__
