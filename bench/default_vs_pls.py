"""The default `spectune tune` at the README budget against PLS on the same split, over seeds.

Run:  python bench/default_vs_pls.py [--seeds 0 1 2] [--trials 30] [--timeout 360] [--epochs 150]
This is issue 9's "Done when": the command line a user types (nothing but the budget and the seed
set), on every visible real regression set, and on the coffee classes (balanced accuracy and
macro-F1 beside PLS-DA). Each run writes its own folder under
bench/results/default_vs_pls/ and one line to default_vs_pls.jsonl, so an interrupted bench resumes.
Prints the Markdown table of bench/ACCURACY.md (per seed, then mean +- sd of the CNN/PLS ratio).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import time
from pathlib import Path

import numpy as np
from _records import record, recorded

OUT = Path(__file__).parent / "results"
RUNS = OUT / "default_vs_pls"
DATA = RUNS / "data"

#: dataset name -> the arguments after `spectune tune` (besides budget, seed and output)
DATASETS = {
    "spectrapepper": ["{data}/spectrapepper_train.csv", "--target", "y", "--id-column", "sample"],
    "fermentation 950-1550": ["{data}/fermentation_train.csv", "--test", "{data}/fermentation_test.csv",
                              "--target", "glucose", "--range", "950:1550"],
    "coffee (3 classes)": ["{data}/coffee_train.csv", "--target", "labels", "--id-column", "sample"],
}


def export_data() -> None:
    for name in ("spectrapepper", "fermentation", "coffee"):
        subprocess.run(["spectune", "data", name, "--out", str(DATA), "--overwrite"], check=True,
                       stdout=subprocess.DEVNULL)


def run(name: str, seed: int, args: argparse.Namespace) -> dict:
    out = RUNS / f"{name.split()[0]}-seed{seed}"
    command = (["spectune", "tune"] + [a.format(data=DATA) for a in DATASETS[name]]
               + ["--trials", str(args.trials), "--timeout", str(args.timeout),
                  "--epochs", str(args.epochs), "--seed", str(seed), "--quiet",
                  "--out", str(out), "--overwrite"])
    start = time.perf_counter()
    subprocess.run(command, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    cnn, pls = metrics["cnn"], metrics["pls"]
    row = {"dataset": name, "seed": seed, "task": metrics["task"],
           "trials": metrics["study"]["n_trials"], "members": cnn["ensemble"]["n_members"],
           "blend": cnn.get("blend", {}).get("weights"),
           "wall_s": round(time.perf_counter() - start, 1),
           "command": shlex.join(command).replace(str(Path.cwd()) + "/", "")}
    if metrics["task"] == "regression":
        return {**row, "cnn": cnn["test"]["rmse"], "pls": pls["test"]["rmse"]}
    return {**row, **{f"{model}_{key}": section["test"][key] for model, section in
                      (("cnn", cnn), ("pls", pls)) for key in ("balanced_accuracy", "f1_macro")}}


def table(results: list[dict]) -> str:
    """Regression: test RMSE and CNN/PLS per seed, then the mean ratio; classification below."""
    regression = [r for r in results if r.get("task", "regression") == "regression"]
    lines = ["| dataset | seed | CNN test RMSE | PLS test RMSE | CNN/PLS | trials | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["dataset"] for r in regression):
        runs = [r for r in results if r["dataset"] == name]
        for r in runs:
            lines.append(f"| {name} | {r['seed']} | {r['cnn']:.4g} | {r['pls']:.4g} | "
                         f"{r['cnn'] / r['pls']:.3f} | {r['trials']} | {r['wall_s']} |")
        cnn, pls = np.array([r["cnn"] for r in runs]), np.array([r["pls"] for r in runs])
        ratio = cnn / pls
        sd = ratio.std(ddof=1) if len(runs) > 1 else 0.0
        lines.append(f"| **{name}** | mean of {len(runs)} | {cnn.mean():.4g} | {pls.mean():.4g} | "
                     f"**{ratio.mean():.3f} ± {sd:.3f}** | | |")
    classification = [r for r in results if r.get("task") == "classification"]
    if classification:
        lines += ["", ("| dataset | seed | CNN balanced accuracy | PLS-DA balanced accuracy | "
                       "CNN macro-F1 | PLS-DA macro-F1 | trials | wall s |"),
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in classification:
            lines.append(f"| {r['dataset']} | {r['seed']} | {r['cnn_balanced_accuracy']:.3f} | "
                         f"{r['pls_balanced_accuracy']:.3f} | {r['cnn_f1_macro']:.3f} | "
                         f"{r['pls_f1_macro']:.3f} | {r['trials']} | {r['wall_s']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=360)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--fresh", action="store_true", help="forget the recorded runs")
    args = parser.parse_args()
    RUNS.mkdir(parents=True, exist_ok=True)
    done_file = OUT / "default_vs_pls.jsonl"
    results = recorded(done_file, fresh=args.fresh)
    done = {(r["dataset"], r["seed"]) for r in results}
    export_data()
    for name in args.datasets:
        for seed in args.seeds:
            if (name, seed) not in done:
                record(done_file, results, run(name, seed, args))
    print(table(results))


if __name__ == "__main__":
    main()
