"""Where a study lives: a storage URL -> an Optuna storage, crash-safe for several workers.

Three kinds, each for one scale (we build no scheduler: the workers share Optuna's storage):

- ``sqlite:///OUT/study.db`` (the default): one process. SQLite locks the whole file for every
  write, so several processes writing one file fail with "database is locked" (and on network
  file systems the locks are unreliable); ``spectune worker`` refuses it.
- ``postgresql://user@host/db`` (or any SQLAlchemy URL of a server, e.g. MySQL): many workers
  on many machines. Each running trial records a heartbeat every ``heartbeat`` seconds; a trial
  whose heartbeat is older than twice that (its worker was killed, or lost its machine) is marked
  FAIL by the next worker that looks, and Optuna's ``RetryHeartbeatStaleTrialCallback`` queues
  its parameters again (up to ``MAX_RETRY`` times), so the trial is retried, not lost.
  ``postgresql://`` uses psycopg 3 (``pip install spectune[postgres]``) when psycopg2 is absent.
- ``journal:///path/study.log``: several processes on one machine without a server, through
  Optuna's JournalStorage (an append-only log guarded by a lock file). It has no heartbeat: a
  killed worker's trial stays RUNNING until ``spectune tune ... --resume`` (run when no worker
  runs) retries it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

from spectune.exceptions import SpectuneError

__all__ = [
    "DEFAULT_HEARTBEAT",
    "HEARTBEAT_ENV",
    "MAX_RETRY",
    "check_shared",
    "has_heartbeat",
    "heartbeat_of",
    "open_storage",
    "public_url",
    "sqlite_path",
]

#: Seconds between two heartbeats of a running trial; a trial is stale after twice that.
DEFAULT_HEARTBEAT = 30
#: Environment variable that overrides the heartbeat (tests use 1 second).
HEARTBEAT_ENV = "SPECTUNE_HEARTBEAT"
#: How many times the parameters of a trial whose worker died are tried again.
MAX_RETRY = 3

_JOURNAL = "journal://"


def open_storage(url: str, *, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """The Optuna storage behind ``url`` (see the module docstring for the three kinds).

    ``heartbeat`` (seconds; default ``$SPECTUNE_HEARTBEAT`` or ``DEFAULT_HEARTBEAT``) applies to
    server databases only. A URL that cannot be parsed, a server that cannot be reached or a
    file that cannot be opened is one :class:`SpectuneError` naming the URL (password hidden).
    """
    if url.startswith(_JOURNAL):
        path = Path(url[len(_JOURNAL):]).expanduser()
        if not path.parent.is_dir():
            raise SpectuneError(f"--storage {url}: folder {path.parent} does not exist; create "
                                "it or choose another path.")
    elif "://" not in url:
        raise SpectuneError(f"--storage {public_url(url)}: not a storage URL; write "
                            "sqlite:///PATH/study.db, postgresql://USER@HOST/DB or "
                            "journal:///PATH/study.log.")
    interval = heartbeat if heartbeat is not None else int(
        os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT))
    if interval < 1 and not url.startswith(_JOURNAL) and not _is_sqlite(url):
        raise ValueError(f"--heartbeat must be >= 1 second, got {interval}.")
    try:
        return _open(url, interval)
    except SpectuneError:
        raise
    except Exception as error:  # SQLAlchemy and the drivers raise many types, on many lines
        reason = " ".join(str(error).split("\n")[0].split())[:160] or type(error).__name__
        raise SpectuneError(
            f"--storage {public_url(url)}: cannot be opened ({type(error).__name__}: {reason}); "
            "check the URL, and that the server runs and this machine may reach it."
        ) from None


def _open(url: str, interval: int) -> optuna.storages.BaseStorage:
    if url.startswith(_JOURNAL):
        path = Path(url[len(_JOURNAL):]).expanduser()
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if _is_sqlite(url):
        return optuna.storages.get_storage(url)
    with warnings.catch_warnings():  # heartbeat_interval is marked experimental; we rely on it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            _with_driver(url), heartbeat_interval=interval, grace_period=2 * interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRY),
            engine_kwargs={"pool_pre_ping": True},
        )
    return optuna.storages.get_storage(storage)  # the cached wrapper, as Optuna uses it


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other storages)."""
    if not _is_sqlite(url):
        return None
    return Path(url.partition("://")[2].removeprefix("/"))


def heartbeat_of(storage: optuna.storages.BaseStorage) -> int | None:
    """Seconds between heartbeats of ``storage``'s running trials; None: no heartbeat."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return None if interval is None else interval()


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    """Whether dead workers' trials are detected (and retried) while other workers run."""
    return heartbeat_of(storage) is not None


def check_shared(url: str | None, what: str) -> None:
    """Refuse a storage that several processes cannot share safely, with what to use instead."""
    if url is None or _is_sqlite(url):
        where = url or "the default sqlite:///OUT/study.db"
        raise SpectuneError(
            f"{what} needs a storage that several processes can write at once, not {where} "
            "(SQLite locks the whole file: workers fail with 'database is locked'); use "
            "--storage postgresql://USER@HOST/DB for several machines, or --storage "
            "journal:///PATH/study.log for several processes on one machine."
        )


def public_url(url: str) -> str:
    """``url`` with its password hidden, for messages and the settings saved with the study."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _is_sqlite(url: str) -> bool:
    return url.partition("://")[0].split("+")[0] == "sqlite"


def _with_driver(url: str) -> str:
    """``postgresql://`` through psycopg 3 when psycopg2 (SQLAlchemy's default) is absent."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg2") is None:
        if importlib.util.find_spec("psycopg") is None:
            raise SpectuneError(f"--storage {public_url(url)}: no PostgreSQL driver; install "
                                "one: pip install 'spectune[postgres]' (psycopg 3).")
        return f"postgresql+psycopg{sep}{rest}"
    return url
