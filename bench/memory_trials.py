"""Memory stays flat across trials: RSS after 20 and after 200 small trials of one study.

Run:  python bench/memory_trials.py
Prints the resident set size (from /proc/self/status) after each block of trials. A leak (models,
autograd graphs or CUDA caches kept alive by the runner) would grow with the trial count.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

import optuna
import torch

from spectune.data import make_synthetic, split_cal_tune
from spectune.tuning._objectives import Objective
from spectune.tuning._space import SearchSpace
from spectune.tuning._trial import Evaluation, TrialRunner

SPACE = {
    "name": "memory",
    "parameters": {
        "route": {"type": "categorical", "choices": ["raw", "snv", "sg1"]},
        "standardise": True,
        "n_conv": {"type": "int", "low": 0, "high": 1},
        "filters_{i}": {"type": "int", "low": 2, "high": 8, "repeat": {"i": [1, 1]},
                        "when": "n_conv >= {i}"},
        "kernel_size": {"type": "int", "low": 3, "high": 9, "step": 2, "when": "n_conv >= 1"},
        "padding": "same",
        "n_fc": 1,
        "units_1": {"type": "int", "low": 4, "high": 32, "log": True},
        "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        "batch_size": 32,
        "max_epochs": 5,
    },
}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spectra, _ = make_synthetic(120, 200, random_state=0)
    parts = split_cal_tune(spectra, tune_size=0.25, random_state=0)
    runner = TrialRunner(SearchSpace.from_dict(SPACE), spectra,
                         [Evaluation(parts.cal, parts.tune)], Objective("rmse"), prune=False)
    with tempfile.TemporaryDirectory() as tmp:
        study = optuna.create_study(storage=f"sqlite:///{tmp}/study.db",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        rows = []
        for target in (20, 50, 100, 200):
            study.optimize(runner, n_trials=target - len(study.trials), gc_after_trial=True)
            gc.collect()
            rows.append((target, rss_mib(), time.perf_counter() - start))
    print("| trials | RSS (MiB) | elapsed (s) |\n|---:|---:|---:|")
    for target, rss, elapsed in rows:
        print(f"| {target} | {rss:.1f} | {elapsed:.1f} |")
    print(f"growth 20 -> 200 trials: {rows[-1][1] - rows[0][1]:+.1f} MiB")


if __name__ == "__main__":
    main()
