"""Storage URLs -> Optuna storages: which kind, which may be shared, passwords kept out of view."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pytest

from spectune.exceptions import SpectuneError
from spectune.tuning import _storage
from spectune.tuning._storage import check_shared, has_heartbeat, open_storage, public_url


def test_journal_and_sqlite_urls(tmp_path: Path) -> None:
    journal = open_storage(f"journal:///{tmp_path / 'study.log'}")
    assert isinstance(journal, optuna.storages.JournalStorage) and not has_heartbeat(journal)
    optuna.create_study(storage=journal, study_name="s").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert (tmp_path / "study.log").stat().st_size > 0  # the log is the study
    sqlite = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert not has_heartbeat(sqlite)  # one process: --resume recovers instead
    with pytest.raises(SpectuneError, match=r"--storage journal:///nowhere/s.log: folder "
                                            r"/nowhere does not exist"):
        open_storage("journal:///nowhere/s.log")


def test_server_urls_get_a_heartbeat_and_retries(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    made = {}

    class Recorder:  # RDBStorage would connect to the server at once
        def __init__(self, url: str, **kwargs: object) -> None:
            made.update(url=url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Recorder)
    monkeypatch.setattr(optuna.storages, "get_storage", lambda storage: storage)
    monkeypatch.setenv(_storage.HEARTBEAT_ENV, "7")
    open_storage("mysql+pymysql://u@host/db")
    assert (made["url"], made["heartbeat_interval"], made["grace_period"]) == (
        "mysql+pymysql://u@host/db", 7, 14)
    callback = made["heartbeat_stale_trial_callback"]
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert callback._max_retry == _storage.MAX_RETRY
    open_storage("mysql+pymysql://u@host/db", heartbeat=2)
    assert (made["heartbeat_interval"], made["grace_period"]) == (2, 4)
    with pytest.raises(ValueError, match="--heartbeat must be >= 1 second, got 0"):
        open_storage("mysql+pymysql://u@host/db", heartbeat=0)


def test_postgresql_goes_through_psycopg3_without_psycopg2(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    installed = {"psycopg"}
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: object() if name in installed else None)
    assert _storage._with_driver("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert _storage._with_driver("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert _storage._with_driver("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    installed.add("psycopg2")  # SQLAlchemy's default driver: the URL stays as given
    assert _storage._with_driver("postgresql://u@h/db") == "postgresql://u@h/db"
    installed.clear()
    with pytest.raises(SpectuneError, match=r"postgresql://u:\*\*\*@h/db: no PostgreSQL driver; "
                                            r"install one: pip install 'spectune\[postgres\]'"):
        _storage._with_driver("postgresql://u:secret@h/db")


def test_sqlite_is_refused_for_workers() -> None:
    for url in (None, "sqlite:///a.db", "sqlite+pysqlite:///a.db"):
        with pytest.raises(SpectuneError, match=r"spectune worker needs a storage that several "
                                                r"processes can write at once, not .*database is "
                                                r"locked.*postgresql://.*journal:///"):
            check_shared(url, "spectune worker")
    check_shared("postgresql://u@h/db", "spectune worker")
    check_shared("journal:///tmp/s.log", "spectune worker")


def test_public_url_hides_the_password_only() -> None:
    assert public_url("postgresql+psycopg://me:s3cr:et@db.lab:5432/x") == \
        "postgresql+psycopg://me:***@db.lab:5432/x"
    assert public_url("postgresql://me@db.lab/x") == "postgresql://me@db.lab/x"
    assert public_url("journal:///tmp/a:b@c.log") == "journal:///tmp/a:b@c.log"
