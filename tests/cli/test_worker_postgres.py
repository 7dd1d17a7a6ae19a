"""``spectune worker`` processes on a real PostgreSQL server: four share one budget exactly, a
SIGKILLed worker's trial is retried by the heartbeat, a worker with other data is refused.

Needs ``SPECTUNE_TEST_POSTGRES_URL`` (``eval "$(scripts/postgres.sh)"``); skipped without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from spectune.cli import main
from spectune.tuning._storage import open_storage
from spectune.tuning._study import OVER_BUDGET, n_budget_trials

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _create(files: SimpleNamespace, url: str, *, trials: int, epochs: int,
            table: Path | None = None) -> str:
    """A new study for workers (in this process: no trial runs); returns its name."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    code = main(["tune", str(table or files.train), "--target", "y", "--space", str(files.space),
                 "--out", str(files.folder / name), "--storage", url, "--study", name,
                 "--workers", "0", "--trials", str(trials), "--epochs", str(epochs),
                 "--patience", "1000", "--pruner", "none", "--sampler", "random", "--quiet"])
    assert code == 0
    return name


def _worker(url: str, name: str, log: Path, *extra: str) -> subprocess.Popen:
    with log.open("w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "spectune.cli", "worker", "--storage", url, "--study", name,
             "--quiet", "--threads", "1", *extra],
            stdout=stream, stderr=subprocess.STDOUT, env=ENV)


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


@pytest.mark.slow
def test_four_workers_share_one_budget_exactly(
    postgres_url: str, study_files: SimpleNamespace, tmp_path: Path
) -> None:
    name = _create(study_files, postgres_url, trials=100, epochs=4)
    workers = [_worker(postgres_url, name, tmp_path / f"w{i}.log") for i in range(4)]
    for i, process in enumerate(workers):
        assert process.wait(timeout=240) == 0, (tmp_path / f"w{i}.log").read_text()
    study = _study(postgres_url, name)
    trials = study.get_trials(deepcopy=False)
    raced = [t for t in trials if t.user_attrs.get("fail_reason") == OVER_BUDGET]
    ran = [t for t in trials if t not in raced]
    assert n_budget_trials(study) == 100
    assert len(ran) == 100 and all(t.state == TrialState.COMPLETE for t in ran)
    assert len(raced) <= 3  # at most one per other worker, stopped before training
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # no duplicates, no gaps
    per_worker = Counter(t.user_attrs["worker"] for t in ran)
    assert len(per_worker) >= 2 and sum(per_worker.values()) == 100  # shared (a slow start
    # under load may leave a worker nothing to do)
    for i in range(4):  # each reports the study's count, not its own
        assert f"study '{name}': 100/100 finished" in (tmp_path / f"w{i}.log").read_text()


@pytest.mark.slow
def test_a_killed_workers_trial_is_retried_and_the_budget_is_reached(
    postgres_url: str, study_files: SimpleNamespace, tmp_path: Path
) -> None:
    # about a second a trial, so that a trial can be killed mid-run
    name = _create(study_files, postgres_url, trials=6, epochs=150)
    beat = ["--heartbeat", "2"]  # a trial silent for 4 s is stale
    victim = _worker(postgres_url, name, tmp_path / "victim.log", *beat)
    study = _study(postgres_url, name)
    deadline = time.monotonic() + 90
    try:
        while True:  # the victim has finished a trial and runs another with its parameters
            trials = study.get_trials(deepcopy=False)
            mine = [t for t in trials if t.user_attrs.get("worker", "").endswith(f":{victim.pid}")]
            running = [t for t in mine if t.state == TrialState.RUNNING and len(t.params) == 2]
            if running and any(t.state == TrialState.COMPLETE for t in mine):
                break
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()
            assert time.monotonic() < deadline, f"no running trial to kill: {trials}"
            time.sleep(0.05)
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    killed = running[0]
    survivor = _worker(postgres_url, name, tmp_path / "survivor.log", *beat)
    assert survivor.wait(timeout=120) == 0, (tmp_path / "survivor.log").read_text()

    trials = _study(postgres_url, name).get_trials()
    assert all(t.state.is_finished() for t in trials)
    lost = trials[killed.number]
    assert lost.state == TrialState.FAIL and lost.params == killed.params
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert retries[0].user_attrs["worker"].endswith(f":{survivor.pid}")
    assert n_budget_trials(_study(postgres_url, name)) == 6
    assert len(trials) == 7  # the killed trial and its retry, nothing else lost or added


def test_a_worker_with_other_data_is_refused(
    postgres_url: str, study_files: SimpleNamespace
) -> None:
    name = _create(study_files, postgres_url, trials=2, epochs=4)
    refused = subprocess.run(
        [sys.executable, "-m", "spectune.cli", "worker", "--storage", postgres_url, "--study",
         name, "--train", str(study_files.other)],
        capture_output=True, text=True, timeout=120, env=ENV, check=False)
    assert refused.returncode == 2
    error = [line for line in refused.stderr.splitlines() if "error" in line]
    assert error == [(f"spectune worker: error: study '{name}' was created on other data: the "
                      f"training data {study_files.other} has 46 spectra here, 48 in the study; "
                      "use the same files (--train/--test say where they are on this machine).")]
    assert _study(postgres_url, name).trials == []
