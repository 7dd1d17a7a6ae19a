"""Seconds per training epoch of Passos & Mishra's base CNN at "mango scale".

Passos & Mishra (2022) tune on the mango dry-matter set: about 10,000 NIR spectra of 103 points,
which their 6-variant concatenation makes 618 points long. This benchmark trains the
``PassosCNN()`` preset (one conv layer, 1 filter, kernel 5, "same" padding, a dense funnel of
three ELU layers) on 10,000 synthetic spectra of 618 points, batch 256, Adam with their L2, and
reports the wall time of each epoch after one warm-up epoch (the first epoch pays for
allocations and kernel selection). Run it on an idle machine:

    python bench/cpu_epoch.py                          # torch threads 2 and 1, 5 epochs each
    python bench/cpu_epoch.py --threads 16 --device cuda   # on a GPU machine

Record the output in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

from spectune.data import make_synthetic
from spectune.models import PASSOS_L2_BETA, PassosCNN, build_model
from spectune.training import TrainConfig, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="2,1", help="torch thread counts to try (2,1)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs after the warm-up")
    parser.add_argument("--n", type=int, default=10_000, help="training spectra (10000)")
    parser.add_argument("--points", type=int, default=618, help="points per spectrum (618)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    return parser.parse_args(argv)


def epoch_times(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> list[float]:
    """Wall seconds of each epoch (training pass only, no validation data) after the warm-up."""
    spec = PassosCNN().spec(1, args.points, task="regression", n_outputs=1)
    model = build_model(spec, 1, args.points, seed=0)
    config = TrainConfig(lr=1e-3, l2=PASSOS_L2_BETA / 2, batch_size=args.batch_size,
                         max_epochs=1 + args.epochs, seed=0, device=args.device)
    result = train(model, X, y, config=config)
    return result.history.column("time")[1:]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spectra, _ = make_synthetic(args.n, args.points, random_state=0)
    X, y = spectra.X, np.asarray(spectra.y)
    spec = PassosCNN().spec(1, args.points, task="regression", n_outputs=1)
    n_params = sum(p.numel() for p in build_model(spec, 1, args.points, seed=0).parameters())
    print(f"# {' '.join(['python', *sys.argv])}")
    print(f"# {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {cpu_name()} ({os.cpu_count()} cores), device "
          f"{args.device}, load average {os.getloadavg()[0]:.2f} before the run")
    print(f"# PassosCNN() on {args.points} points: dense {[b.units for b in spec.fc]}, "
          f"{n_params} parameters; {args.n} spectra, batch {args.batch_size}, "
          f"{args.epochs} timed epochs after 1 warm-up")
    print("| torch threads | s/epoch (mean) | min | max | spectra/s |")
    print("|---:|---:|---:|---:|---:|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        times = epoch_times(X, y, args)
        mean = statistics.fmean(times)
        print(f"| {threads} | {mean:.3f} | {min(times):.3f} | {max(times):.3f} | "
              f"{args.n / mean:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
