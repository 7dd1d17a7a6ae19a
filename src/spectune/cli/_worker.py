"""``spectune worker``: join a shared study from any machine and run trials until its budget.

A study made for workers (``spectune tune ... --storage URL --workers 0``) stores what a worker
needs: the settings, the search space, a data reference (the absolute paths of TRAIN and
--test and the options that read and split them) and a summary of the data with checksums. A
worker reads the reference, loads the same data (``--train``/``--test`` say where the files are
on this machine), is refused if the data differ, and runs trials until the study's budget is
spent; ``spectune finish`` then refits and tests once.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from spectune.cli._common import Dataset, load_dataset
from spectune.cli._options import integer
from spectune.exceptions import SpectuneError
from spectune.tuning import TuneSettings, settings_from_study
from spectune.tuning._run import Search, prepare, run_trials, worker_name
from spectune.tuning._space import SearchSpace
from spectune.tuning._storage import check_shared, open_storage, public_url
from spectune.tuning._study import n_budget_trials, study_attrs

log = logging.getLogger("spectune")

#: The options of ``add_data_arguments`` that ``load_dataset`` reads: the data reference.
DATA_OPTIONS = ("train", "test", "targets", "sheet", "target", "task", "id_column",
                "group_column", "wl_range", "resample", "split", "test_size", "seed")
_PATHS = ("test", "targets")  # options holding one path (TRAIN holds one or several)


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run trials of a study created by 'spectune tune ... --storage URL --workers 0' until "
        "its budget is spent; start as many workers as you like, on any machine that reaches "
        "the database and the data. Then 'spectune finish' refits and tests once.")
    add_join_arguments(parser)
    parser.add_argument("--max-trials", type=integer(1), help="stop after N trials of this worker")
    parser.add_argument("--threads", type=integer(1),
                        help="torch CPU threads (several workers on one machine: cores / workers)")
    parser.set_defaults(func=run)


def add_join_arguments(parser: argparse.ArgumentParser) -> None:
    """The study (storage and name) and where its data lie on this machine: worker and finish."""
    parser.add_argument("--storage", required=True,
                        help="Optuna storage URL: postgresql://USER@HOST/DB or journal:///PATH")
    parser.add_argument("--study", required=True, help="the study's name")
    parser.add_argument("--train", type=Path, nargs="+",
                        help="TRAIN on this machine: a table, or a folder, a quoted glob or "
                        "several instrument files (default: the paths the study was created "
                        "with)")
    parser.add_argument("--test", type=Path, help="--test on this machine (same default)")
    parser.add_argument("--targets", type=Path, metavar="FILE",
                        help="--targets on this machine (same default)")
    parser.add_argument("--device", help="cpu, cuda or auto (default: the study's)")
    parser.add_argument("--heartbeat", type=integer(1),
                        help="seconds between heartbeats of a trial a worker runs on a server "
                        "database; a trial silent for twice that is retried (default "
                        "$SPECTUNE_HEARTBEAT or 30; no effect on finish, which runs no trials)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress line of the trials a worker runs (no effect on "
                        "finish, which runs none)")


def data_reference(args: argparse.Namespace) -> dict[str, Any]:
    """What ``load_dataset`` read, with absolute paths: stored with a study for its workers."""
    ref = {name: getattr(args, name, None) for name in DATA_OPTIONS}
    ref["train"] = [str(Path(p).resolve()) for p in ref["train"]]
    for name in _PATHS:
        ref[name] = None if ref[name] is None else str(Path(ref[name]).resolve())
    return ref


def join_study(args: argparse.Namespace) -> tuple[Search, TuneSettings, Dataset, dict[str, Any]]:
    """Open study ``args.study``, load its data as it was loaded at creation, check it, and
    build the trial runner; returns the search, the settings, the data and the reference."""
    storage = open_storage(args.storage, heartbeat=args.heartbeat)
    attrs = study_attrs(storage, args.study)
    if "data" not in attrs or "space" not in attrs:
        raise SpectuneError(
            f"study {args.study!r} holds no data reference: workers join studies created by "
            f"'spectune tune ... --storage {public_url(args.storage)} --workers 0'."
        )
    ref = {name: None for name in DATA_OPTIONS} | dict(attrs["data"])
    if ref["test"] is None and args.test is not None:
        raise SpectuneError(f"--test {args.test}: study {args.study!r} was created without "
                            "--test (its test set is held out of TRAIN); drop --test.")
    for name in ("train", *_PATHS):
        if getattr(args, name) is not None:
            given = getattr(args, name)
            ref[name] = [str(p) for p in given] if name == "train" else str(given)
    train = ref["train"] if isinstance(ref["train"], list) else [ref["train"]]  # older studies
    namespace = argparse.Namespace(**{
        **ref, "train": [Path(p) for p in train],
        **{name: None if ref[name] is None else Path(ref[name]) for name in _PATHS},
    })
    data = load_dataset(namespace)
    changes: dict[str, Any] = {"storage": args.storage, "study_name": args.study,
                               "resume": True, "show_progress": not args.quiet}
    if args.device:
        changes["device"] = args.device
    settings = settings_from_study(attrs, **changes)
    space = SearchSpace.from_dict(attrs["space"], source=f"study {args.study}")
    found = prepare(data.train, settings, test=data.test, storage=storage, space=space, join=True)
    return found, settings, data, ref


def run(args: argparse.Namespace) -> int:
    check_shared(args.storage, "spectune worker")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    found, settings, _, _ = join_study(args)
    name = worker_name()
    ran = run_trials(found, settings, None, max_trials=args.max_trials, worker=name)
    budget = "" if settings.n_trials is None else f"/{settings.n_trials}"
    print(f"worker {name}: ran {ran} trial(s); study {args.study!r}: "
          f"{n_budget_trials(found.study)}{budget} finished")
    return 0


@contextmanager
def local_workers(n: int, *, storage: str, study: str, logs: Path, threads: int,
                  device: str | None = None, heartbeat: int | None = None) -> Iterator[None]:
    """``n`` ``spectune worker`` processes on this machine, waited for when the block ends.

    Their output goes to ``logs/worker-<i>.log``; a worker that fails is reported, the study
    goes on with the others. Ctrl-C or an error in the block stops them.
    """
    command = [sys.executable, "-m", "spectune.cli", "worker", "--storage", storage,
               "--study", study, "--quiet", "--threads", str(threads)]
    command += ["--device", device] if device else []
    command += ["--heartbeat", str(heartbeat)] if heartbeat else []
    if n:
        logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    processes = []
    for i in range(n):
        with (logs / f"worker-{i + 1}.log").open("w") as stream:
            processes.append(subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT,
                                              env=env))
    try:
        yield
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    finally:
        for i, process in enumerate(processes):
            if process.wait() != 0:
                log.warning("worker %d exited with status %d; see %s", i + 1, process.returncode,
                            logs / f"worker-{i + 1}.log")
