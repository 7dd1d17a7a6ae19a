"""Seconds per epoch per trial: one trial at a time (eager) vs K trials in lockstep (issue 6).

Model: Passos & Mishra's base CNN (``PassosCNN()``: one conv layer, 1 filter, kernel 5, "same"
padding, a dense funnel of three ELU layers), Adam with their L2, batch 256, training pass only
(no validation data), on synthetic spectra at two scales: "mango" (10,000 x 618, 39 steps per
epoch) and "small" (400 x 600). One warm-up epoch, then ``--epochs`` timed epochs. "eager" is
:func:`spectune.training.train` (one trial); "population K" is
:class:`~spectune.training._population.PopulationTrainer` with K members (different seeds) and
reports the epoch's wall time divided by K. The arithmetic floor: the GFLOP column (forward +
backward ~ 3 x 2 x multiply-adds) divided by the card's float32 rate.

``--study`` times a whole study instead: TPE (constant liar) + Hyperband on the built-in
"passos" space (kernel width, L2, batch size; passos_concat input), ``--trials`` trials of at
most ``--max-epochs`` epochs, through ``run_population_study`` (``--study-population K``) or
``study.optimize`` one trial at a time (``--study-population 0``); Optuna included.

    python bench/gpu_throughput.py --device cuda                      # both scales, K 1..512
    python bench/gpu_throughput.py --device cuda --study              # 500 trials x 450 epochs
    python bench/gpu_throughput.py --device cpu --scales small --population 1,8 --epochs 2

Record the output in bench/RESULTS_GPU.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from importlib import resources
from typing import Any

import numpy as np
import optuna
import torch
import yaml

from spectune.data import make_synthetic, split_cal_tune
from spectune.models import PASSOS_L2_BETA, PassosCNN, build_model, validate_arch
from spectune.training import TrainConfig, train
from spectune.training._population import PopulationTrainer
from spectune.tuning import make_pruner, make_sampler
from spectune.tuning._objectives import Objective
from spectune.tuning._population_runner import run_population_study
from spectune.tuning._space import load_space
from spectune.tuning._trial import Evaluation, TrialRunner

SCALES = {"mango": (10_000, 618), "small": (400, 600)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--scales", default="mango,small", help="mango and/or small")
    parser.add_argument("--population", default="1,8,32,128,512", help="K values to time")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs after a warm-up")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    parser.add_argument("--study", action="store_true", help="time a whole study instead")
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--max-epochs", type=int, default=450)
    parser.add_argument("--study-population", type=int, default=128,
                        help="members in flight; 0: one trial at a time (study.optimize)")
    parser.add_argument("--study-n", type=int, default=10_000, help="spectra in the study")
    parser.add_argument("--study-points", type=int, default=103,
                        help="raw points (the passos route concatenates 6 variants)")
    return parser.parse_args(argv)


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gflop_per_epoch(n: int, points: int) -> float:
    """Training FLOPs of one epoch of one trial: 3 passes x 2 FLOP per multiply-add."""
    summary = validate_arch(PassosCNN().spec(1, points, task="regression", n_outputs=1), 1,
                            points)
    macs = sum(layer.n_params for layer in summary.layers if layer.name != "conv block 1")
    macs += points * 5  # the conv layer: 5 multiply-adds per output point
    return 6 * macs * n / 1e9


def config(args: argparse.Namespace, seed: int, epochs: int) -> TrainConfig:
    return TrainConfig(lr=1e-3, l2=PASSOS_L2_BETA / 2, batch_size=args.batch_size,
                       max_epochs=epochs, seed=seed, device=args.device)


def eager(X: np.ndarray, y: np.ndarray, points: int, args: argparse.Namespace) -> list[float]:
    spec = PassosCNN().spec(1, points, task="regression", n_outputs=1)
    result = train(build_model(spec, 1, points, seed=0), X, y,
                   config=config(args, 0, 1 + args.epochs))
    return result.history.column("time")[1:]


def lockstep(X: np.ndarray, y: np.ndarray, points: int, k: int, args: argparse.Namespace
             ) -> list[float]:
    """Wall seconds of each timed epoch of K members (``step`` syncs once per epoch)."""
    spec = PassosCNN().spec(1, points, task="regression", n_outputs=1)
    population = PopulationTrainer(X, y, device=args.device)
    for seed in range(k):
        population.add(build_model(spec, 1, points, seed=seed), config(args, seed, 10_000))
    population.step()  # warm-up
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        population.step()
        times.append(time.perf_counter() - start)
    return times


def throughput(args: argparse.Namespace) -> None:
    print("| scale | n x points | GFLOP/epoch/trial | mode | K | s/epoch (all K) | "
          "s/epoch/trial | x eager |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for scale in args.scales.split(","):
        n, points = SCALES[scale]
        spectra, _ = make_synthetic(n, points, random_state=0)
        X, y = spectra.X, np.asarray(spectra.y)
        head = f"| {scale} | {n} x {points} | {gflop_per_epoch(n, points):.2f}"
        base = statistics.fmean(eager(X, y, points, args))
        print(f"{head} | eager | 1 | {base:.4f} | {base:.5f} | 1.0 |", flush=True)
        for k in (int(v) for v in args.population.split(",")):
            try:
                wall = statistics.fmean(lockstep(X, y, points, k, args))
            except torch.cuda.OutOfMemoryError:
                print(f"{head} | population | {k} | out of memory | | |", flush=True)
                torch.cuda.empty_cache()
                continue
            print(f"{head} | population | {k} | {wall:.4f} | {wall / k:.6f} | "
                  f"{base / (wall / k):.1f} |", flush=True)


def passos_space(max_epochs: int) -> dict[str, Any]:
    """The built-in passos space with ``max_epochs`` (patience scaled for short check runs)."""
    ref = resources.files("spectune.tuning").joinpath("spaces", "passos.yaml")
    space = yaml.safe_load(ref.read_text())
    params = space["parameters"]
    if max_epochs != params["max_epochs"]:
        scale = max_epochs / params["max_epochs"]
        params["max_epochs"] = max_epochs
        for name in ("early_stopping_patience", "plateau_patience"):
            params[name] = max(1, round(params[name] * scale))
    return space


def study(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pool, _ = make_synthetic(args.study_n, args.study_points, random_state=0)
    parts = split_cal_tune(pool, tune_size=0.2, random_state=0)
    space = load_space(passos_space(args.max_epochs))
    runner = TrialRunner(space, pool, [Evaluation(parts.cal, parts.tune)], Objective("rmse"),
                         train_defaults={"device": args.device})
    sampler = make_sampler("tpe", seed=0, n_startup_trials=max(5, min(30, args.trials // 3)))
    pruner = make_pruner("hyperband", max_epochs=args.max_epochs,
                         min_resource=max(1, min(10, args.max_epochs // 4)), reduction_factor=3)
    found = optuna.create_study(sampler=sampler, pruner=pruner, study_name="bench")
    start = time.perf_counter()
    if args.study_population:
        run_population_study(found, runner, population=args.study_population,
                             n_trials=args.trials)
    else:
        found.optimize(runner, n_trials=args.trials, catch=(Exception,))
    wall = time.perf_counter() - start
    states = [t.state.name for t in found.trials]
    epochs = sum(len(t.intermediate_values) for t in found.trials)
    mode = f"population {args.study_population}" if args.study_population else "one at a time"
    print("| trials | max epochs | n x raw points | mode | wall s | complete | pruned | failed |"
          " epochs reported | best tuning RMSE |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.trials} | {args.max_epochs} | {args.study_n} x {args.study_points} | {mode} "
          f"| {wall:.1f} | {states.count('COMPLETE')} | {states.count('PRUNED')} | "
          f"{states.count('FAIL')} | {epochs} | {found.best_value:.4g} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {' '.join(['python', *sys.argv])}")
    print(f"# {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, optuna "
          f"{optuna.__version__}, {device_name(args.device)}, device {args.device}, "
          f"{args.threads} CPU thread(s), load average {os.getloadavg()[0]:.2f} before the run")
    if args.study:
        study(args)
    else:
        throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
