"""Model size tied to the data: what the default space's size rule costs or gains in accuracy.

Run:  python bench/model_size.py [--trials 20] [--epochs 100] [--timeout 600] [--seeds 0 1 2]

Rows (the default space with its size rule changed, nothing else):
  no rule        the space before issue 15: the Flatten takes every point of the last conv
                 block, and only the 20-million-parameter memory guard bounds a network
  flatten 32     at most 32 points per filter reach the first dense layer; no data budget
  rule (1000, >= 10k)   flatten 32 and at most 1000 parameters per calibration spectrum, or
                        10,000 if that is more
  rule (5000, >= 10k)   the same with 5000 per spectrum
  rule (1000, >= 100k)  1000 per spectrum, or 100,000 if that is more (the default space's rule)
Datasets: spectrapepper (20% held out), fermentation 950-1550 cm-1 (off-line calibration,
on-line test file). Each run is `tune` with the command line's defaults and the given budget
(the first trials enqueued, run settings winning, as in the default run); PLS is tuned by CV on
the same calibration+tuning data and scored on the same test set. Each run appends one line to
bench/results/model_size.jsonl (an interrupted bench resumes); prints the Markdown table of
bench/SEARCH.md: the final model's test RMSE (mean +- sd over seeds) and final/PLS, the largest
network any trial built, the best trial's network, trials and time. One torch
thread (bench/threads.py: two threads on a busy 2-core machine are several times slower).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from _records import record, recorded

from spectune.data import load_dataset
from spectune.tuning import TuneSettings, _materialise
from spectune.tuning._run import tune
from spectune.tuning._space import load_space

OUT = Path(__file__).parent / "results"
FLOOR = _materialise.MIN_PARAMS


def datasets():
    sp, _ = load_dataset("spectrapepper")
    yield "spectrapepper", sp, None
    ferm, ferm_test = load_dataset("fermentation")
    yield "fermentation", ferm.select_range(950, 1550), ferm_test.select_range(950, 1550)
ROWS = {"no rule": {}, "flatten 32": {"flatten_points": 32},
        "rule (1000, >= 10k)": {"flatten_points": 32, "params_per_spectrum": 1000,
                                "min_params": 10_000},
        "rule (5000, >= 10k)": {"flatten_points": 32, "params_per_spectrum": 5000,
                                "min_params": 10_000},
        "rule (1000, >= 100k)": {"flatten_points": 32, "params_per_spectrum": 1000,
                                 "min_params": 100_000}}


def space_file(folder: Path, row: str) -> Path:
    spec = copy.deepcopy(load_space("default").spec)
    params = spec["parameters"]
    for name in ("flatten_points", "params_per_spectrum"):
        params.pop(name, None)
    params.update({k: v for k, v in ROWS[row].items() if k != "min_params"})
    path = folder / f"space-{row.replace(' ', '_').strip('()')}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run(name, train, test, row, seed, args, folder: Path) -> dict:
    settings = TuneSettings(space=str(space_file(folder, row)), n_trials=args.trials,
                            timeout=args.timeout, max_epochs=args.epochs, seed=seed,
                            show_progress=False)
    _materialise.MIN_PARAMS = ROWS[row].get("min_params", FLOOR)  # the budget's floor
    start = time.perf_counter()
    out = folder / f"{name}-{row}-{seed}".replace(" ", "_")
    result = tune(train, out, settings, test=test)
    sizes = [t.user_attrs["n_params"] for t in result.study.trials if "n_params" in t.user_attrs]
    m = result.metrics
    return {"dataset": name, "row": row, "seed": seed, "final": m["final"]["test"]["rmse"],
            "pls": m["pls"]["test"]["rmse"], "trials": m["study"]["n_trials"],
            "largest": max(sizes), "chosen": m["cnn"]["n_params"],
            "wall_s": round(time.perf_counter() - start, 1)}


def table(results: list[dict]) -> str:
    """Per dataset and rule: the final model's test RMSE (mean +- sd over seeds) beside PLS's,
    the largest network any trial built, the best trial's network, trials and time."""
    lines = ["| dataset | size rule | final test RMSE | PLS test RMSE | final/PLS | largest "
             "network built | best trial's network (median) | trials (mean) | wall s (mean) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (name, row), runs in _by_row(results).items():
        final, pls = np.array([r["final"] for r in runs]), np.array([r["pls"] for r in runs])
        sd = (lambda v: v.std(ddof=1) if len(v) > 1 else 0.0)
        lines.append(f"| {name} | {row} | {final.mean():.4g} ± {sd(final):.2g} | "
                     f"{pls.mean():.4g} | {(final / pls).mean():.2f} ± {sd(final / pls):.2f} | "
                     f"{max(r['largest'] for r in runs):,} | "
                     f"{int(np.median([r['chosen'] for r in runs])):,} | "
                     f"{np.mean([r['trials'] for r in runs]):.0f} | "
                     f"{np.mean([r['wall_s'] for r in runs]):.0f} |")
    return "\n".join(lines)


def _by_row(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """The runs of each dataset and rule, in ROWS' order."""
    return {(name, row): runs for name in dict.fromkeys(r["dataset"] for r in results)
            for row in ROWS
            if (runs := [r for r in results if (r["dataset"], r["row"]) == (name, row)])}


def main() -> None:
    torch.set_num_threads(1)  # one trial on one thread, as the CLI's default runs its processes
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--datasets", nargs="+", default=["spectrapepper", "fermentation"])
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    done_file = OUT / "model_size.jsonl"
    results = recorded(done_file, fresh=args.fresh)
    done = {(r["dataset"], r["row"], r["seed"]) for r in results}
    with tempfile.TemporaryDirectory() as tmp:
        for name, train, test in datasets():
            if name not in args.datasets:
                continue
            for seed in args.seeds:
                for row in args.rows:
                    if (name, row, seed) not in done:
                        record(done_file, results, run(name, train, test, row, seed, args,
                                                       Path(tmp)))
    print(table(results))


if __name__ == "__main__":
    main()
