"""Model size tied to the data: what the default space's size rule costs or gains in accuracy.

Run:  python bench/model_size.py [--trials 20] [--epochs 100] [--timeout 600] [--seeds 0 1 2]

Rows (the default space with its size rule changed, nothing else):
  no rule        the space before issue 15: the Flatten takes every point of the last conv
                 block, and only the 20-million-parameter memory guard bounds a network
  flatten 32     at most 32 points per filter reach the first dense layer; no data budget
  rule (1000)    flatten 32 and at most 1000 parameters per calibration spectrum (the default)
  rule (5000)    flatten 32 and at most 5000 parameters per calibration spectrum
Datasets: spectrapepper (20% held out), fermentation 950-1550 cm-1 (off-line calibration,
on-line test file). Each run is `tune` with the command line's defaults and the given budget
(the first trials enqueued, run settings winning, as in the default run); PLS is tuned by CV on
the same calibration+tuning data and scored on the same test set. Each run appends one line to
bench/results/model_size.jsonl (an interrupted bench resumes); prints the Markdown table of
bench/SEARCH.md: test RMSE mean +- sd over seeds, CNN/PLS, the largest network any trial built,
the chosen network's size, and trials.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from spectune.data import load_dataset
from spectune.tuning._run import TuneSettings, tune
from spectune.tuning._space import load_space

OUT = Path(__file__).parent / "results"
ROWS = {"no rule": {}, "flatten 32": {"flatten_points": 32},
        "rule (1000)": {"flatten_points": 32, "params_per_spectrum": 1000},
        "rule (5000)": {"flatten_points": 32, "params_per_spectrum": 5000}}


def datasets():
    sp, _ = load_dataset("spectrapepper")
    yield "spectrapepper", sp, None
    ferm, ferm_test = load_dataset("fermentation")
    yield "fermentation 950-1550", ferm.select_range(950, 1550), ferm_test.select_range(950, 1550)


def space_file(folder: Path, row: str) -> Path:
    spec = copy.deepcopy(load_space("default").spec)
    params = spec["parameters"]
    for name in ("flatten_points", "params_per_spectrum"):
        params.pop(name, None)
    params.update(ROWS[row])
    path = folder / f"space-{row.replace(' ', '_').strip('()')}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run(name, train, test, row, seed, args, folder: Path) -> dict:
    settings = TuneSettings(space=str(space_file(folder, row)), n_trials=args.trials,
                            timeout=args.timeout, max_epochs=args.epochs, seed=seed,
                            show_progress=False, report=False)
    start = time.perf_counter()
    result = tune(train, folder / f"{name.split()[0]}-{row}-{seed}", settings, test=test)
    sizes = [t.user_attrs["n_params"] for t in result.study.trials if "n_params" in t.user_attrs]
    m = result.metrics
    return {"dataset": name, "row": row, "seed": seed, "cnn": m["cnn"]["test"]["rmse"],
            "pls": m["pls"]["test"]["rmse"], "trials": m["study"]["n_trials"],
            "largest": max(sizes), "chosen": m["cnn"]["n_params"],
            "wall_s": round(time.perf_counter() - start, 1)}


def table(results: list[dict]) -> str:
    lines = ["| dataset | size rule | CNN test RMSE | PLS test RMSE | CNN/PLS | largest network "
             "built | chosen network | trials | wall s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["dataset"] for r in results):
        for row in ROWS:
            runs = [r for r in results if r["dataset"] == name and r["row"] == row]
            if not runs:
                continue
            cnn, pls = np.array([r["cnn"] for r in runs]), np.array([r["pls"] for r in runs])
            ratio = cnn / pls
            sd = ratio.std(ddof=1) if len(runs) > 1 else 0.0
            lines.append(
                f"| {name} | {row} | {cnn.mean():.4g} ± {cnn.std(ddof=1) if len(runs) > 1 else 0:.2g}"
                f" | {pls.mean():.4g} | {ratio.mean():.3f} ± {sd:.3f} | "
                f"{max(r['largest'] for r in runs):,} | "
                f"{int(np.median([r['chosen'] for r in runs])):,} (median) | "
                f"{np.mean([r['trials'] for r in runs]):.0f} | "
                f"{np.mean([r['wall_s'] for r in runs]):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    done_file = OUT / "model_size.jsonl"
    if args.fresh and done_file.exists():
        done_file.unlink()
    results = [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []
    done = {(r["dataset"], r["row"], r["seed"]) for r in results}
    with tempfile.TemporaryDirectory() as tmp:
        for name, train, test in datasets():
            for seed in args.seeds:
                for row in args.rows:
                    if (name, row, seed) in done:
                        continue
                    results.append(run(name, train, test, row, seed, args, Path(tmp)))
                    with done_file.open("a") as handle:
                        handle.write(json.dumps(results[-1]) + "\n")
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
