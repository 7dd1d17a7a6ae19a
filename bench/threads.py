"""How trials share a 2-core CPU: one trial at a time on 2 torch threads, or 2 trials at once
on 1 thread each (two processes, as ``spectune tune --workers 2`` runs them).

Run:  python bench/threads.py [--configs 8] [--epochs 20] [--repeats 1]
      (rerun on a quiet machine: python bench/threads.py --append)

The work is fixed and identical in both layouts: ``--configs`` configurations drawn from the
default space (RandomSampler, seed 0; the spectrapepper data of the README's main job, its
calibration/tuning split), each trained for exactly ``--epochs`` epochs (early stopping off), so
only the layout differs. "1 x 2 threads": one process trains every configuration in turn with
``torch.set_num_threads(2)``. "2 x 1 thread": two processes with one thread each take the next
configuration from a shared queue (as two workers share a study). "1 x 1 thread" (for
reference): one process, one thread, every configuration in turn. Each layout runs quiet, and
again with one competing CPU-bound process (``python -c "while True: pass"``) started beside it.
The time is from the first configuration's start to the last one's end (process start-up and
data loading excluded: both layouts pay them once per process). Prints a Markdown table and
writes bench/results/threads.json; ``--append`` also appends the table to bench/SEARCH.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "results"


def _runner() -> Any:
    from spectune.data import load_dataset, split_cal_tune
    from spectune.tuning._objectives import Objective
    from spectune.tuning._space import load_space
    from spectune.tuning._trial import Evaluation, TrialRunner

    pool, _ = load_dataset("spectrapepper")
    parts = split_cal_tune(pool, tune_size=0.2, random_state=0)
    return TrialRunner(load_space("default"), pool, [Evaluation(parts.cal, parts.tune)],
                       Objective("rmse"), prune=False)


def draw_configs(n: int, max_params: int) -> list[dict[str, Any]]:
    """``n`` configurations of the default space that build within ``max_params``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    runner = _runner()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs: list[dict[str, Any]] = []
    while len(configs) < n:
        trial = study.ask()
        params = runner.space.sample(trial)
        try:
            plan = runner.plan(params)
        except Exception:  # noqa: BLE001 - a draw that cannot be built is not work
            continue
        if plan.summary.n_params <= max_params:
            configs.append(trial.params)
    return configs


def _train_all(threads: int, queue: Any, epochs: int, results: Any, ready: Any) -> None:
    """One process: once all are loaded, take configurations from ``queue`` and train each."""
    import queue as queue_module

    import torch
    from optuna.trial import FixedTrial

    torch.set_num_threads(threads)
    runner = _runner()
    evaluation = runner.evaluations[0]
    spans = []
    ready.wait()
    while True:
        try:
            params = queue.get_nowait()
        except queue_module.Empty:
            break
        plan = runner.plan(runner.space.resolve(params))
        plan = dataclasses.replace(plan, train=dataclasses.replace(
            plan.train, max_epochs=epochs, early_stopping_patience=None))
        start = time.time()
        runner.evaluate(FixedTrial(params), plan, evaluation, 0, report=False)
        spans.append((start, time.time()))
    results.put(spans)


def run_layout(configs: list[dict[str, Any]], processes: int, threads: int, epochs: int
               ) -> float:
    """Seconds from the first configuration's start to the last one's end."""
    context = mp.get_context("spawn")
    queue, results, ready = context.Queue(), context.Queue(), context.Barrier(processes)
    for params in configs:
        queue.put(params)
    time.sleep(0.5)  # the queue's feeder thread has written every item
    workers = [context.Process(target=_train_all, args=(threads, queue, epochs, results, ready))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    spans = [span for _ in workers for span in results.get()]
    for worker in workers:
        worker.join()
    if len(spans) != len(configs):
        raise RuntimeError(f"{len(spans)} of {len(configs)} configurations trained")
    return max(end for _, end in spans) - min(start for start, _ in spans)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-params", type=int, default=500_000,
                        help="skip larger draws (they would dominate the time)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--note", default="", help="a line about the machine's load")
    parser.add_argument("--append", action="store_true", help="append the table to SEARCH.md")
    args = parser.parse_args()
    configs = draw_configs(args.configs, args.max_params)
    rows = []
    for load in ("quiet", "1 competing process"):
        competitor = None
        if load != "quiet":
            competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for _ in range(args.repeats):
                one = run_layout(configs, 1, 2, args.epochs)
                two = run_layout(configs, 2, 1, args.epochs)
                single = run_layout(configs, 1, 1, args.epochs)
                rows.append({"load": load, "1x2_s": round(one, 1), "2x1_s": round(two, 1),
                             "1x1_s": round(single, 1), "speedup": round(one / two, 2)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            if competitor is not None:
                competitor.terminate()
                competitor.wait()
    header = (f"{args.configs} default-space configurations (<= {args.max_params:,} parameters) x "
              f"{args.epochs} epochs on spectrapepper; {os.cpu_count()} CPUs, "
              f"{platform.processor() or platform.machine()}, "
              f"{datetime.date.today().isoformat()}. {args.note}".strip())
    lines = [header, "", "| load | 1 trial x 2 threads (s) | 2 trials x 1 thread (s) | "
             "1 trial x 1 thread (s) | speed-up of 2 x 1 over 1 x 2 |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['load']} | {r['1x2_s']} | {r['2x1_s']} | {r['1x1_s']} | {r['speedup']} |"
              for r in rows]
    table = "\n".join(lines)
    print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "threads.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    if args.append:
        with (Path(__file__).parent / "SEARCH.md").open("a") as handle:
            handle.write("\n" + table + "\n")


if __name__ == "__main__":
    main()
