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
from spectune.tuning._study import INTERRUPTED, n_budget_trials

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
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as stream:
        return subprocess.Popen([sys.executable, "-m", "spectune.cli", "tune", *args],
                                stdout=stream, stderr=subprocess.STDOUT, env=env)


def _snapshot(study: optuna.Study) -> dict[int, tuple[Any, ...]]:
    return {t.number: (t.state, t.params, t.values, t.datetime_complete) for t in study.trials}


@pytest.mark.slow
def test_sigkill_then_resume_keeps_finished_trials_and_reaches_the_budget(
    tmp_path: Path,
) -> None:
    table = _write_table(tmp_path / "train.csv", n_samples=80)
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(SLOW_SPACE))
    out, db = tmp_path / "run", tmp_path / "run" / "study.db"
    args = [str(table), "--target", "y", "--space", str(tmp_path / "slow.yaml"), "--out",
            str(out), "--trials", str(N_TRIALS), "--epochs", "100", "--patience", "1000",
            "--pruner", "none", "--quiet"]
    process = _spectune(*args, log=tmp_path / "first.log")
    deadline = time.monotonic() + 90
    try:
        while True:  # >= 2 finished trials and one running that has drawn its parameters
            states = _states(db)
            finished = [n for n, (s, _) in states.items() if s in ("COMPLETE", "FAIL")]
            running = [n for n, (s, k) in states.items() if s == "RUNNING" and k == 2]
            if len(finished) >= 2 and running:
                break
            assert process.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, f"no running trial to kill: {states}"
            time.sleep(0.05)
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
    assert metrics["study"]["n_trials"] == N_TRIALS + 1 and metrics["study"]["n_failed"] == 1


@pytest.mark.report
def test_tune_ends_with_a_self_contained_report(files: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _tune(files, out, "--trials", "2") == 0
    html = (out / "report.html").read_text()
    assert "<img" in html and "http://" not in html and "https://" not in html
    assert (out / "figures").is_dir() and any((out / "figures").glob("*.svg"))
