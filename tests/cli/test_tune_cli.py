"""``spectune tune`` end to end: files written, refusals in one line, and a study that survives
SIGKILL and ``--resume``s to its budget."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from spectune.cli import main
from spectune.data import make_synthetic
from spectune.tuning._study import INTERRUPTED, STOPPED, n_budget_trials

SPACE = {"parameters": {
    "units": {"type": "int", "low": 4, "high": 12},
    "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": 16,
}}
QUICK = ["--trials", "3", "--epochs", "4", "--pruner", "none", "--sampler", "random", "--quiet",
         "--routes", "raw", "--max-components", "4", "--jobs", "1"]


def _write_table(path: Path, *, seed: int = 0, n_samples: int = 60) -> Path:
    spectra = make_synthetic(n_samples=n_samples, n_points=40, random_state=seed)[0]
    frame = pd.DataFrame(spectra.flat_X(), columns=[f"{w:.2f}" for w in spectra.wavelengths])
    frame.insert(0, "y", spectra.y[:, 0])
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("tune_cli")
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return SimpleNamespace(table=_write_table(folder / "train.csv"),
                           other=_write_table(folder / "other.csv", seed=1),
                           space=folder / "space.yaml", folder=folder)


@pytest.fixture(scope="module", autouse=True)
def no_gc_after_trial() -> Iterator[None]:
    """In-process runs: no ``gc.collect`` after each trial (0.4 s); the subprocess run keeps it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("optuna.study._optimize.gc", SimpleNamespace(collect=lambda: 0))
        yield


def _tune(files: SimpleNamespace, out: Path, *extra: str, table: Path | None = None) -> int:
    return main(["tune", str(table or files.table), "--target", "y", "--space", str(files.space),
                 "--out", str(out), *QUICK, *extra])


@pytest.fixture(scope="module")
def finished(files: SimpleNamespace) -> Path:
    out = files.folder / "run"
    assert _tune(files, out) == 0
    return out


def test_tune_writes_metrics_model_and_study(finished: Path) -> None:
    metrics = json.loads((finished / "metrics.json").read_text())
    assert {"final", "candidates", "cnn", "pls", "study", "roles"} <= set(metrics)
    study = metrics["study"]
    assert {"n_trials", "n_complete", "n_pruned", "n_failed", "best_trial", "wall_s", "sampler",
            "pruner"} <= set(study)
    assert (study["n_trials"], study["n_complete"], study["sampler"], study["pruner"]) == (
        3, 3, "random", "none")
    assert {"rmse", "r2"} <= set(metrics["final"]["test"]) and "test" in metrics["pls"]
    loaded = optuna.load_study(study_name="spectune", storage=f"sqlite:///{finished / 'study.db'}")
    assert loaded.best_trial.number == study["best_trial"]
    assert (finished / "model").is_dir() and (finished / "trials.csv").is_file()
    # no --test: the command line held the test set out, and metrics.json says so
    split = metrics["data"]["split"]
    assert split["test"] == "held out" and metrics["data"]["test_split"]["method"] == "auto"
    assert metrics["command"].startswith("spectune tune ") and "--routes raw" in \
        metrics["command"]


def test_refuses_a_non_empty_out(files: SimpleNamespace, finished: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    before = (finished / "metrics.json").read_bytes()
    assert _tune(files, finished) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "folder exists and is not empty; choose another path or pass --overwrite" in err
    assert (finished / "metrics.json").read_bytes() == before


def test_resume_refuses_other_data(files: SimpleNamespace, finished: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    assert _tune(files, finished, "--resume", table=files.other) == 2
    err = capsys.readouterr().err
    assert err.startswith("spectune tune: error: --resume: study 'spectune' was run on other data")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--trials", "0"], "argument --trials: 0 is out of range; give an integer >= 1 "
                        "(see spectune tune --help)"),
    (["--cv-folds", "1"], "argument --cv-folds: 1 is out of range; give 0 or an integer >= 2 "
                          "(see spectune tune --help)"),
])
def test_bad_settings_are_one_line_errors(files: SimpleNamespace, tmp_path: Path,
                                          capsys: pytest.CaptureFixture, args: list[str],
                                          message: str) -> None:
    assert _tune(files, tmp_path / "run", *args) == 2
    assert capsys.readouterr().err == f"spectune tune: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_objective_cv_scores_trials_by_k_fold_rmse(files: SimpleNamespace,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _tune(files, out, "--objective", "cv", "--cv-folds", "3", "--trials", "1") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["study"]["objective"] == "rmse" and metrics["data"]["split"]["cv"] == 3


def test_hyperband_with_too_few_epochs_is_a_one_line_error(
    files: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["tune", str(files.table), "--target", "y", "--space", str(files.space),
                 "--out", str(tmp_path / "run"), "--epochs", "4", "--trials", "2"])
    assert code == 2
    assert "--min-resource must lie in [1, --epochs=4) for hyperband; got 10" in capsys.readouterr().err


def test_resumed_study_does_not_repeat_earlier_draws(files: SimpleNamespace,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _tune(files, out, "--trials", "2") == 0
    assert _tune(files, out, "--trials", "4", "--resume") == 0
    study = optuna.load_study(study_name="spectune", storage=f"sqlite:///{out / 'study.db'}")
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(params) == 4 and len(set(params)) == 4


# --- SIGKILL during a study, then --resume -------------------------------------------------

SLOW_SPACE = {"parameters": {  # about a second a trial: 13 batches x 100 epochs
    "units": {"type": "int", "low": 16, "high": 32},
    "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-3, "log": True},
    "batch_size": 4,
}}
N_TRIALS = 4


def _states(db: Path) -> dict[int, tuple[str, int]]:
    """``{number: (state, n_params)}`` read straight from SQLite, without touching the schema."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            rows = con.execute(
                "SELECT t.number, t.state, COUNT(p.param_id) FROM trials t "
                "LEFT JOIN trial_params p ON p.trial_id = t.trial_id GROUP BY t.trial_id"
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet, or locked by the writer
        return {}
    return {number: (state, n) for number, state, n in rows}


def _spectune(*args: str, log: Path) -> subprocess.Popen:
    """``spectune tune`` in a child process that takes Ctrl-C as a terminal would, even when
    the tests themselves run in the background (where a shell starts them ignoring SIGINT, and
    a child inherits that)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as stream:
        return subprocess.Popen([sys.executable, "-m", "spectune.cli", "tune", *args],
                                stdout=stream, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _slow_run(tmp_path: Path, *extra: str) -> tuple[Path, Path, list[str], subprocess.Popen]:
    """A ``spectune tune`` process of N_TRIALS slow trials: its output, study file, arguments."""
    table = _write_table(tmp_path / "train.csv", n_samples=80)
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(SLOW_SPACE))
    out, db = tmp_path / "run", tmp_path / "run" / "study.db"
    args = [str(table), "--target", "y", "--space", str(tmp_path / "slow.yaml"), "--out",
            str(out), "--trials", str(N_TRIALS), "--epochs", "100", "--patience", "1000",
            "--pruner", "none", "--quiet", *extra]
    return out, db, args, _spectune(*args, log=tmp_path / "first.log")


def _wait_for_a_running_trial(process: subprocess.Popen, db: Path, log: Path) -> None:
    """Until >= 2 trials finished and one runs that has drawn its parameters."""
    deadline = time.monotonic() + 90
    while True:
        states = _states(db)
        finished = [n for n, (s, _) in states.items() if s in ("COMPLETE", "FAIL")]
        running = [n for n, (s, k) in states.items() if s == "RUNNING" and k == 2]
        if len(finished) >= 2 and running:
            return
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no running trial: {states}"
        time.sleep(0.05)


def _snapshot(study: optuna.Study) -> dict[int, tuple[Any, ...]]:
    return {t.number: (t.state, t.params, t.values, t.datetime_complete) for t in study.trials}


@pytest.mark.slow
def test_sigkill_then_resume_keeps_finished_trials_and_reaches_the_budget(
    tmp_path: Path,
) -> None:
    out, db, args, process = _slow_run(tmp_path)
    try:
        _wait_for_a_running_trial(process, db, tmp_path / "first.log")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    storage = f"sqlite:///{db}"
    killed = optuna.load_study(study_name="spectune", storage=storage)
    before = _snapshot(killed)
    interrupted = [t for t in killed.trials if t.state == TrialState.RUNNING]
    assert len(interrupted) == 1, before
    done = {n: v for n, v in before.items() if v[0].is_finished()}
    assert len(done) >= 2

    resumed = subprocess.run([sys.executable, "-m", "spectune.cli", "tune", *args, "--resume"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert "1 interrupted trial(s) will be retried" in resumed.stderr
    study = optuna.load_study(study_name="spectune", storage=storage)
    after = _snapshot(study)
    assert {n: after[n] for n in done} == done  # every finished trial kept, unchanged
    lost = study.trials[interrupted[0].number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["fail_reason"] == INTERRUPTED
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == lost.number]
    assert len(retry) == 1 and retry[0].params == interrupted[0].params
    assert retry[0].state == TrialState.COMPLETE
    assert n_budget_trials(study) == N_TRIALS
    assert len(study.trials) == N_TRIALS + 1
    assert all(t.state.is_finished() for t in study.trials)
    metrics = json.loads((out / "metrics.json").read_text())
    counts = metrics["study"]["trials"]  # the interrupted trial is not counted, its retry is
    assert metrics["study"]["n_trials"] == N_TRIALS and metrics["study"]["n_failed"] == 0
    assert counts["interrupted"] == 1 and counts["complete"] == N_TRIALS


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_so_far_and_resume_retries_the_interrupted_trial(
    tmp_path: Path,
) -> None:
    out, db, args, process = _slow_run(tmp_path, "--no-report")
    _wait_for_a_running_trial(process, db, tmp_path / "first.log")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()
    log = (tmp_path / "first.log").read_text()
    study = optuna.load_study(study_name="spectune", storage=f"sqlite:///{db}")
    stopped = [t for t in study.trials if t.user_attrs.get("fail_reason") == STOPPED]
    assert len(stopped) == 1 and stopped[0].state == TrialState.FAIL
    n_done = n_budget_trials(study)
    assert f"stopped by Ctrl-C: {n_done} of {N_TRIALS} trials ran before Ctrl-C" in log
    metrics = json.loads((out / "metrics.json").read_text())  # the model of the best so far
    assert metrics["study"]["n_trials"] == n_done and metrics["study"]["n_failed"] == 0
    assert metrics["study"]["trials"]["interrupted"] == 1
    assert metrics["study"]["trials"]["stopped"] == "ctrl-c"

    resumed = subprocess.run([sys.executable, "-m", "spectune.cli", "tune", *args, "--resume"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    study = optuna.load_study(study_name="spectune", storage=f"sqlite:///{db}")
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == stopped[0].number]
    assert len(retry) == 1 and retry[0].params == stopped[0].params
    assert retry[0].state == TrialState.COMPLETE
    assert n_budget_trials(study) == N_TRIALS and len(study.trials) == N_TRIALS + 1


@pytest.mark.report
def test_tune_ends_with_a_self_contained_report(files: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _tune(files, out, "--trials", "2") == 0
    html = (out / "report.html").read_text()
    assert "<img" in html and "http://" not in html and "https://" not in html
    assert (out / "figures").is_dir() and any((out / "figures").glob("*.svg"))


# --- the CPU default: one trial per core for a --timeout run ---------------------------------

def test_trial_processes_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from argparse import Namespace

    from spectune.cli._tune import trial_processes

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    base = dict(workers=None, storage=None, out=tmp_path / "run", resume=False, timeout=None,
                population=None, device="cpu")
    assert trial_processes(Namespace(**base)) == (None, False)  # --trials alone: reproducible
    assert trial_processes(Namespace(**{**base, "timeout": 60})) == (2, True)  # journal in OUT
    assert trial_processes(Namespace(**{**base, "timeout": 60, "workers": 1})) == (1, False)
    assert trial_processes(Namespace(**{**base, "timeout": 60, "population": 4})) \
        == (None, False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert trial_processes(Namespace(**{**base, "timeout": 60})) == (None, False)
    assert trial_processes(Namespace(**{**base, "resume": True})) == (None, False)  # study.db
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "study.log").write_text("")
    assert trial_processes(Namespace(**{**base, "resume": True})) == (None, True)


@pytest.mark.slow
def test_a_timeout_run_trains_a_trial_per_core_on_one_thread_each(
    files: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from spectune.tuning._storage import open_storage

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    threads = torch.get_num_threads()
    out = tmp_path / "run"
    try:
        assert _tune(files, out, "--trials", "6", "--timeout", "300", "--no-report") == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert (out / "study.log").is_file() and not (out / "study.db").exists()
    study = optuna.load_study(study_name="spectune",
                              storage=open_storage(f"journal://{out.resolve()}/study.log"))
    assert n_budget_trials(study) == 6
    assert all("worker" in t.user_attrs for t in study.trials)  # host:pid of its process
    # the other process joined the study (tiny trials may all be done before it starts)
    assert "study 'spectune': 6/6 finished" in (out / "workers" / "worker-1.log").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["study"]["n_trials"] == 6
