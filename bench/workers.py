"""Trials per minute with 1, 2 and 4 ``spectune worker`` processes on one PostgreSQL study.

Run (from the repository root, package installed with the ``postgres`` extra):

    eval "$(scripts/postgres.sh)"          # a throwaway server; exports its URL
    python bench/workers.py --append       # prints a Markdown table, appends it to RESULTS.md

Each worker count gets a new study with the same fixed budget of identical small trials (one
dense layer of fixed width, a fixed number of epochs with early stopping off, only the learning
rate drawn, so every trial does the same work). Workers are started together, each with one torch
thread. Two rates: over the trials' span (first trial start to last trial end: the steady rate of
the study) and over the wall time from launch to the last worker's exit (start-up included: each
process imports torch and reads the data).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import pandas as pd
import torch
import yaml

from spectune.cli import main as spectune
from spectune.data import make_synthetic
from spectune.tuning._storage import open_storage, public_url

SPACE = {"name": "fixed-work", "parameters": {
    "units": 64,
    "lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True},
    "batch_size": 32,
}}


def write_data(folder: Path, n_samples: int, n_points: int) -> tuple[Path, Path]:
    spectra = make_synthetic(n_samples=n_samples, n_points=n_points, random_state=0)[0]
    frame = pd.DataFrame(spectra.flat_X(), columns=[f"{w:.2f}" for w in spectra.wavelengths])
    frame.insert(0, "y", spectra.y[:, 0])
    frame.to_csv(folder / "train.csv", index=False)
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return folder / "train.csv", folder / "space.yaml"


def run_study(url: str, n_workers: int, trials: int, epochs: int, table: Path, space: Path,
              folder: Path) -> dict[str, float]:
    name = f"bench-workers-{n_workers}-{uuid.uuid4().hex[:8]}"
    with contextlib.redirect_stdout(io.StringIO()):  # the "created study" lines
        code = spectune(["tune", str(table), "--target", "y", "--space", str(space), "--out",
                         str(folder / name), "--storage", url, "--study", name, "--workers",
                         "0", "--trials", str(trials), "--epochs", str(epochs), "--patience",
                         "100000", "--pruner", "none", "--sampler", "random", "--quiet"])
    if code != 0:
        raise SystemExit(f"could not create study {name}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "spectune.cli", "worker", "--storage", url, "--study", name,
               "--quiet", "--threads", "1"]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env) for _ in range(n_workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err.decode()[-2000:]}")
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    done = [t for t in study.trials if t.state.is_finished()]
    span = (max(t.datetime_complete for t in done)
            - min(t.datetime_start for t in done)).total_seconds()
    train_s = sum(t.user_attrs.get("wall_s", 0.0) for t in done) / len(done)
    return {"workers": n_workers, "trials": len(done), "span_s": span, "wall_s": wall,
            "per_min_span": 60 * len(done) / span, "per_min_wall": 60 * len(done) / wall,
            "train_s": train_s}


def markdown(rows: list[dict[str, float]], args: argparse.Namespace, url: str,
             load: tuple[float, float]) -> str:
    base = rows[0]["per_min_span"]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    lines = [
        "",
        "## `workers.py`: trials per minute with 1, 2 and 4 workers on one PostgreSQL study",
        "",
        (f"What: {args.trials} identical trials per study (dense layer of 64 units, "
         f"{args.epochs} epochs, early stopping off, batch 32, on {args.samples} synthetic "
         f"spectra of {args.points} points, 20 % held out as test, 20 % of the rest as tuning "
         "set), random sampler, `spectune worker` processes with one torch thread each, started "
         "together; the study on a local PostgreSQL (`scripts/postgres.sh`, fsync off)."),
        "",
        (f"Machine: {os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, optuna "
         f"{optuna.__version__}, Python {platform.python_version()}. Date: "
         f"{datetime.date.today().isoformat()}. Load average before / after: {load[0]:.1f} / "
         f"{load[1]:.1f}."),
        "",
        "Command: `eval \"$(scripts/postgres.sh)\" && python bench/workers.py --append`",
        "",
        ("| workers | trials | span s | trials/min (span) | speed-up | wall s (with start-up) "
         "| trials/min (wall) | s training / trial |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['workers']} | {row['trials']} | {row['span_s']:.1f} | "
            f"{row['per_min_span']:.0f} | {row['per_min_span'] / base:.2f} | "
            f"{row['wall_s']:.1f} | {row['per_min_wall']:.0f} | {row['train_s']:.2f} |")
    cores = os.cpu_count() or 1
    lines += ["", (f"On {cores} cores, more than {cores} workers oversubscribe the CPU: they "
                   "share the cores (the training time per trial grows as workers are added) "
                   "rather than add capacity; the database work per trial (about ten small "
                   "queries) is not the limit. Workers pay off with cores or GPUs to spare, one "
                   "worker per GPU or per few cores.")]
    if max(load) > cores:
        lines += [(f"This run shared the machine with other jobs (load average above {cores}): "
                   "the workers competed with them for the cores, so these rates measure a busy "
                   "machine; rerun on a quiet one to see what a second worker adds.")]
    lines += [f"Storage: {public_url(url)}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("SPECTUNE_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $SPECTUNE_TEST_POSTGRES_URL)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--append", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()
    if not args.storage:
        raise SystemExit("no storage: run eval \"$(scripts/postgres.sh)\" or pass --storage URL")
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        table, space = write_data(Path(tmp), args.samples, args.points)
        rows = []
        for n in args.workers:
            rows.append(run_study(args.storage, n, args.trials, args.epochs, table, space,
                                  Path(tmp)))
            print(rows[-1], file=sys.stderr)
    text = markdown(rows, args, args.storage, (load_before, os.getloadavg()[0]))
    print(text)
    if args.append:
        with (Path(__file__).parent / "RESULTS.md").open("a") as stream:
            stream.write(text)


if __name__ == "__main__":
    main()
