"""A shared study on one machine (journal storage, in-process): create with ``--workers 0``, two
``spectune worker`` runs share the budget, ``spectune finish`` refits once; the refusals."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from spectune.cli import main
from spectune.tuning._run import worker_name
from spectune.tuning._study import n_budget_trials

pytestmark = pytest.mark.usefixtures("quick_refit")

QUICK = ["--trials", "5", "--epochs", "4", "--pruner", "none", "--sampler", "random", "--quiet",
         "--routes", "raw", "--max-components", "4", "--jobs", "1"]


def _create(files: SimpleNamespace, storage: str, out: Path, *extra: str) -> int:
    return main(["tune", str(files.train), "--target", "y", "--space", str(files.space),
                 "--out", str(out), "--storage", storage, "--study", "shared", *QUICK, *extra])


@pytest.fixture(scope="module")
def journal(study_files: SimpleNamespace) -> str:
    storage = f"journal:///{study_files.folder / 'study.log'}"
    assert _create(study_files, storage, study_files.folder / "unused", "--workers", "0") == 0
    assert optuna.load_study(study_name="shared", storage=_journal(storage)).trials == []
    return storage


def test_create_stores_what_a_worker_needs(
    study_files: SimpleNamespace, journal: str, capsys: pytest.CaptureFixture
) -> None:
    attrs = optuna.load_study(study_name="shared", storage=_journal(journal)).user_attrs
    assert attrs["data"]["train"] == [str(study_files.train.resolve())]
    assert (attrs["data"]["target"], attrs["data"]["test"], attrs["data"]["seed"]) == (["y"], None,
                                                                                      0)
    assert attrs["settings"]["n_trials"] == 5 and attrs["space"]["parameters"]["batch_size"] == 16
    assert attrs["data_parts"]["training"]["n_samples"] == 48  # 60 less the held-out 20 %
    assert attrs["data_parts"]["test"]["n_samples"] == 12
    assert not (study_files.folder / "unused").exists()


def test_workers_share_the_budget_then_finish_refits_once(
    study_files: SimpleNamespace, journal: str, capsys: pytest.CaptureFixture
) -> None:
    join = ["--storage", journal, "--study", "shared", "--quiet"]
    assert main(["worker", *join, "--max-trials", "2"]) == 0
    assert capsys.readouterr().out.endswith("ran 2 trial(s); study 'shared': 2/5 finished\n")
    assert main(["worker", *join]) == 0  # the rest of the budget, not 5 more
    assert capsys.readouterr().out.endswith("ran 3 trial(s); study 'shared': 5/5 finished\n")
    assert main(["worker", *join]) == 0  # nothing left
    assert "ran 0 trial(s)" in capsys.readouterr().out
    study = optuna.load_study(study_name="shared", storage=_journal(journal))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert {t.user_attrs["worker"] for t in study.trials} == {worker_name()}  # host:pid

    out = study_files.folder / "final"
    assert main(["finish", *join, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["study"]["n_trials"] == 5 == n_budget_trials(study)
    assert metrics["cnn"]["params"] == study.best_trial.params
    assert metrics["data"]["n_test"] == 12 and "rmse" in metrics["final"]["test"]
    # the final stage cross-fits the best trials here, whoever ran them: no weights travel
    assert not (out / "trials").exists()
    assert metrics["candidates"][0]["name"] == f"trial {study.best_trial.number}"


def test_a_worker_with_other_data_is_refused_in_one_line(
    study_files: SimpleNamespace, journal: str, capsys: pytest.CaptureFixture
) -> None:
    code = main(["worker", "--storage", journal, "--study", "shared", "--train",
                 str(study_files.other)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"spectune worker: error: study 'shared' was created on other data: the "
                          f"training data {study_files.other} has 46 spectra here, 48 in the "
                          "study; use the same files")


@pytest.mark.parametrize(("args", "message"), [
    (["worker", "--storage", "sqlite:///x.db", "--study", "s"],
     ("spectune worker needs a storage that several processes can write at once, not "
      "sqlite:///x.db (SQLite locks the whole file: workers fail with 'database is locked'); use "
      "--storage postgresql://USER@HOST/DB for several machines, or --storage "
      "journal:///PATH/study.log for several processes on one machine.")),
    (["worker", "--storage", "journal:///{folder}/study.log", "--study", "nope"],
     ("no study 'nope' in JournalStorage; create it first with spectune tune ... --storage URL "
      "--study nope --workers 0.")),
    (["worker", "--storage", "journal:///{folder}/study.log", "--study", "shared",
      "--max-trials", "0"], ("argument --max-trials: 0 is out of range; give an integer >= 1 "
                             "(see spectune worker --help)")),
])
def test_worker_refusals(study_files: SimpleNamespace, journal: str,
                         capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    args = [a.format(folder=study_files.folder) for a in args]
    assert main(args) == 2
    assert capsys.readouterr().err == f"spectune worker: error: {message}\n"


def test_tune_with_local_workers_runs_them_then_refits_once(
    study_files: SimpleNamespace, tmp_path: Path
) -> None:
    storage, out = f"journal:///{tmp_path / 'local.log'}", tmp_path / "run"
    assert _create(study_files, storage, out, "--workers", "2") == 0
    log = (out / "workers" / "worker-1.log").read_text()  # the other process, waited for
    assert "study 'shared': 5/5 finished" in log, log
    study = optuna.load_study(study_name="shared", storage=_journal(storage))
    assert n_budget_trials(study) == 5 == len(study.trials)
    assert worker_name() in {t.user_attrs["worker"] for t in study.trials}  # this process ran
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["study"]["n_trials"] == 5 and metrics["cnn"]["params"] == study.best_params


def test_tune_refuses_workers_on_sqlite(study_files: SimpleNamespace, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["tune", str(study_files.train), "--target", "y", "--out", str(out),
                 "--workers", "0", *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spectune tune: error: --workers 0 needs a storage that several "
                          "processes can write at once, not the default sqlite:///OUT/study.db")
    assert not out.exists()


def _journal(url: str) -> optuna.storages.BaseStorage:
    path = url[len("journal://"):]
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
