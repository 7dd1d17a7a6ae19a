"""The default `spectune tune` at the README budget against PLS and Ridge on the same split.

Run:  python bench/final_vs_linear.py [--seeds 0 1 2] [--trials 30] [--timeout 360] [--epochs 150]
Issue 14's "Done when": the command line a user types (nothing but the budget and the seed) on
every visible real regression set, a synthetic set, and fermentation on its full range
(recorded without a bar: its on-line test spectra lie outside the off-line calibration domain).
Each run writes its folder under bench/results/final_vs_linear/ and one JSON line to
final_vs_linear.jsonl, so an interrupted bench resumes. Prints the tables of bench/ACCURACY.md:
per seed the final model's test RMSE beside the better of PLS and Ridge, its out-of-fold
estimate, the coverage of its 0.9 interval, and the wall time of the search and of the final
stage.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spectune.data import make_synthetic

OUT = Path(__file__).parent / "results"
RUNS = OUT / "final_vs_linear"
DATA = RUNS / "data"

#: dataset -> the arguments after `spectune tune` (besides budget, seed and output)
DATASETS = {
    "spectrapepper": ["{data}/spectrapepper_train.csv", "--target", "y", "--id-column",
                      "sample", "--axis", "raman"],
    "fermentation 950-1550": ["{data}/fermentation_train.csv", "--test",
                              "{data}/fermentation_test.csv", "--target", "glucose",
                              "--range", "950:1550", "--axis", "wavenumber"],
    "synthetic (quadratic)": ["{data}/synthetic_train.csv", "--target", "y", "--id-column",
                              "sample"],
    "fermentation full range": ["{data}/fermentation_train.csv", "--test",
                                "{data}/fermentation_test.csv", "--target", "glucose",
                                "--axis", "wavenumber"],
}
#: Sets without a bar: the test spectra lie outside the calibration domain.
NO_BAR = ("fermentation full range",)


def export_data() -> None:
    for name in ("spectrapepper", "fermentation"):
        subprocess.run(["spectune", "data", name, "--out", str(DATA), "--overwrite"],
                       check=True, stdout=subprocess.DEVNULL)
    synthetic, _ = make_synthetic(240, 200, target_kind="quadratic", random_state=11)
    table = pd.DataFrame(synthetic.flat_X(), columns=[f"{w:.3f}" for w in synthetic.wavelengths])
    table.insert(0, "y", synthetic.y[:, 0])
    table.insert(0, "sample", synthetic.ids)
    table.to_csv(DATA / "synthetic_train.csv", index=False)


def run(name: str, seed: int, args: argparse.Namespace) -> dict:
    out = RUNS / f"{name.replace(' ', '_')}-seed{seed}"
    command = (["spectune", "tune"] + [a.format(data=DATA) for a in DATASETS[name]]
               + ["--trials", str(args.trials), "--timeout", str(args.timeout),
                  "--epochs", str(args.epochs), "--seed", str(seed), "--quiet",
                  "--out", str(out), "--overwrite"])
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    m = json.loads((out / "metrics.json").read_text())
    final, refs = m["final"], m["references"]
    interval = final.get("interval", {}).get("coverage", {})
    return {
        "dataset": name, "seed": seed, "final": final["test"]["rmse"],
        "oof": final["oof"]["rmse"], "pls": m["pls"]["test"]["rmse"],
        "ridge": refs["ridge"]["test"]["rmse"],
        "references": {k: v["test"]["rmse"] for k, v in refs.items()},
        "members": final["members"], "weights": final["weights"],
        "coverage_0.9": interval.get("0.9"), "n_test": final["test"]["n"],
        "outside_domain": m.get("domain", {}).get("test", {}).get("n_outside"),
        "trials": m["study"]["n_trials"], "final_s": final.get("wall_s"),
        "search_s": round(m["study"]["wall_s"] - final.get("wall_s", 0.0), 1),
        "wall_s": round(time.perf_counter() - start, 1),
        "command": shlex.join(command).replace(str(Path.cwd()) + "/", ""),
    }


def table(results: list[dict]) -> str:
    lines = ["| dataset | seed | final test RMSE | out-of-fold RMSE | PLS | Ridge | final / "
             "best linear | coverage 0.9 | members | trials | search s | final stage s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    summary = []
    for name in dict.fromkeys(r["dataset"] for r in results):
        runs = [r for r in results if r["dataset"] == name]
        for r in runs:
            best = min(r["pls"], r["ridge"])
            lines.append(
                f"| {name} | {r['seed']} | {r['final']:.4g} | {r['oof']:.4g} | {r['pls']:.4g} | "
                f"{r['ridge']:.4g} | {r['final'] / best:.3f} | {_fmt(r['coverage_0.9'])} | "
                f"{', '.join(r['members'])} | {r['trials']} | {r['search_s']} | "
                f"{r['final_s']} |")
        final = np.mean([r["final"] for r in runs])
        best = np.mean([min(r["pls"], r["ridge"]) for r in runs])
        worst = max(r["final"] / min(r["pls"], r["ridge"]) for r in runs)
        coverage = [r["coverage_0.9"] for r in runs if r["coverage_0.9"] is not None]
        bar = "no bar" if name in NO_BAR else (
            "pass" if final <= best and worst <= 1.05 else "FAIL")
        summary.append(f"| {name} | {final:.4g} | {best:.4g} | {final / best:.3f} | "
                       f"{worst:.3f} | {_fmt(np.mean(coverage) if coverage else None)} | "
                       f"{bar} |")
    return "\n".join([*lines, "", "| dataset | mean final | mean best linear (per seed) | "
                      "ratio of means | worst seed ratio | mean coverage 0.9 | bar |",
                      "|---|---:|---:|---:|---:|---:|---|", *summary])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


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
    done_file = OUT / "final_vs_linear.jsonl"
    if args.fresh and done_file.exists():
        done_file.unlink()
    results = [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []
    done = {(r["dataset"], r["seed"]) for r in results}
    DATA.mkdir(parents=True, exist_ok=True)
    export_data()
    for name in args.datasets:
        for seed in args.seeds:
            if (name, seed) in done:
                continue
            results.append(run(name, seed, args))
            with done_file.open("a") as handle:
                handle.write(json.dumps(results[-1]) + "\n")
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(table([r for r in results if r["dataset"] in args.datasets]))


if __name__ == "__main__":
    main()
