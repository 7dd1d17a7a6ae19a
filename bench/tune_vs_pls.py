"""Tuned CNN against PLS on real data, and TPE against random search at equal budget.

Run:  python bench/tune_vs_pls.py [--trials 30] [--timeout 360] [--epochs 150] [--seed 0]
Writes bench/results/tune_vs_pls.json and prints a Markdown table. Each dataset is tuned with
the README's main-job budget; PLS is tuned by CV on the same calibration+tuning data and scored
on the same test set. Then TPE and random search run on spectrapepper with the same budget and
seed (``compare_samplers``), and the best value after each trial is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from spectune.analysis._convergence import summarize_convergence
from spectune.data import load_dataset
from spectune.tuning import TuneSettings
from spectune.tuning._compare import compare_samplers
from spectune.tuning._run import tune

OUT = Path(__file__).parent / "results"


def datasets():
    sp, _ = load_dataset("spectrapepper")
    ferm_train, ferm_test = load_dataset("fermentation")
    yield "spectrapepper (196 Raman, 20% test held out)", sp, None
    yield ("fermentation 950-1550 cm-1 (21 off-line cal, 34 on-line test)",
           ferm_train.select_range(950, 1550), ferm_test.select_range(950, 1550))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=360)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-trials", type=int, default=20,
                        help="trials per sampler in TPE vs random (no timeout: equal budgets)")
    parser.add_argument("--skip-samplers", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = TuneSettings(n_trials=args.trials, timeout=args.timeout, max_epochs=args.epochs,
                            seed=args.seed, show_progress=False)
    rows = []
    for name, train, test in datasets():
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = tune(train, Path(tmp), settings, test=test)
            m = result.metrics
            rows.append({
                "dataset": name, "cnn_rmse": m["final"]["test"]["rmse"],
                "pls_rmse": m["pls"]["test"]["rmse"], "cnn_r2": m["final"]["test"]["r2"],
                "pls_r2": m["pls"]["test"]["r2"], "trials": m["study"]["n_trials"],
                "wall_s": round(time.perf_counter() - start, 1),
                "best_params": m["cnn"]["params"],
            })
    report: dict = {"settings": vars(args), "cnn_vs_pls": rows}
    if not args.skip_samplers:
        sp, _ = load_dataset("spectrapepper")
        with tempfile.TemporaryDirectory() as tmp:
            equal = dataclasses.replace(settings, n_trials=args.compare_trials, timeout=None)
            studies = compare_samplers(sp, Path(tmp), equal)
            report["tpe_vs_random"] = summarize_convergence(studies, Path(tmp), objective="rmse")
    OUT.mkdir(exist_ok=True)
    (OUT / "tune_vs_pls.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print("| dataset | CNN test RMSE | PLS test RMSE | CNN/PLS | CNN R2 | PLS R2 | trials | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['cnn_rmse']:.4g} | {r['pls_rmse']:.4g} | "
              f"{r['cnn_rmse'] / r['pls_rmse']:.2f} | {r['cnn_r2']:.3f} | {r['pls_r2']:.3f} | "
              f"{r['trials']} | {r['wall_s']} |")
    for name, curve in report.get("tpe_vs_random", {}).get("samplers", {}).items():
        print(f"{name}: best {curve['best']:.4g} at trial {curve['best_trial']}; "
              f"best-so-far {['%.4g' % v for v in curve['best_so_far']]}")


if __name__ == "__main__":
    main()
