"""Ablation of the accuracy levers: which of them make the tuned CNN beat PLS on real data.

Run:  python bench/ablation.py [--trials 30] [--epochs 150] [--timeout 360] [--seeds 0 1 2]
      (the README demo's budget and the CLI's pruner and patience defaults; the first, reduced
      ablation ran --trials 8 --epochs 40 --timeout 45 --min-resource 5 --patience 15)
Rows (each adds one lever to "none"; "all" is the default `spectune tune`):
  none           best trial's calibration-only network; no augmentation, no PLS-residual,
                 no ensemble, no PLS blend
  +refit         the best configuration refitted on calibration+tuning
  +augmentation  + Bjerrum et al. augmentation switch and magnitudes in the space
  +ensemble      + mean of up to 3 top trials (size chosen on the tuning set)
  +PLS-residual  + the PLS-residual switch in the space and the CNN+PLS blend
  all            everything (the default)
  all - refit, all - augmentation   (--rows) everything but one lever
Datasets: fermentation 950-1550 cm-1 (off-line calibration, on-line test), spectrapepper
(20% held out), a synthetic non-linear set. PLS is tuned by CV on the same calibration+tuning
data and scored on the same test set in every run. Writes bench/results/ablation.json and
prints the Markdown table of bench/ACCURACY.md (test RMSE mean +- sd over seeds; CNN/PLS).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from spectune.data import load_dataset, make_synthetic
from spectune.tuning._run import TuneSettings, tune
from spectune.tuning._space import load_space

OUT = Path(__file__).parent / "results"
ROWS = ("none", "+refit", "+augmentation", "+ensemble", "+PLS-residual", "all",
        "all - refit", "all - augmentation")


def datasets():
    sp, _ = load_dataset("spectrapepper")
    yield "spectrapepper", sp, None
    ferm, ferm_test = load_dataset("fermentation")
    yield "fermentation", ferm.select_range(950, 1550), ferm_test.select_range(950, 1550)
    synthetic, _ = make_synthetic(240, 200, target_kind="quadratic", random_state=11)
    yield "synthetic (quadratic)", synthetic, None


def space_file(folder: Path, *, augmentation: bool, residual: bool) -> Path:
    """The default space with the augmentation / PLS-residual switches fixed off if asked."""
    spec = copy.deepcopy(load_space("default").spec)
    params = spec["parameters"]
    if not augmentation:
        for name in [n for n in params if n.startswith("aug")]:
            del params[name]
    if not residual:
        params["pls_residual"] = False
    path = folder / f"space-aug{int(augmentation)}-res{int(residual)}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def row_settings(row: str, folder: Path, base: dict) -> TuneSettings:
    levers = {
        "none": dict(refit="none", aug=False, res=False, top=1, blend=False),
        "+refit": dict(refit="scratch", aug=False, res=False, top=1, blend=False),
        "+augmentation": dict(refit="scratch", aug=True, res=False, top=1, blend=False),
        "+ensemble": dict(refit="scratch", aug=False, res=False, top=None, blend=False),
        "+PLS-residual": dict(refit="scratch", aug=False, res=True, top=1, blend=True),
        "all": dict(refit="scratch", aug=True, res=True, top=None, blend=True),
        "all - refit": dict(refit="none", aug=True, res=True, top=None, blend=True),
        "all - augmentation": dict(refit="scratch", aug=False, res=True, top=None, blend=True),
    }[row]
    space = space_file(folder, augmentation=levers["aug"], residual=levers["res"])
    return TuneSettings(space=str(space), refit=levers["refit"], ensemble_top=levers["top"],
                        blend_pls=levers["blend"], show_progress=False, **base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--timeout", type=float, default=360)
    parser.add_argument("--min-resource", type=int, default=TuneSettings.min_resource)
    parser.add_argument("--patience", type=int, default=TuneSettings.patience)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=list(ROWS[:6]), choices=ROWS)
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="names to run (default: all three)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    OUT.mkdir(exist_ok=True)
    done_file = OUT / "ablation.jsonl"  # one line a run, so an interrupted ablation resumes
    budget = budget_name(args.trials, args.epochs, args.timeout, args.min_resource, args.patience)
    results = [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []
    done = {(r["dataset"], r["row"], r["seed"], r.get("budget", REDUCED)) for r in results}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, train, test in datasets():
            if args.datasets and name not in args.datasets:
                continue
            for row in args.rows:
                for seed in args.seeds:
                    if (name, row, seed, budget) in done:
                        continue
                    base = dict(n_trials=args.trials, max_epochs=args.epochs, timeout=args.timeout,
                                seed=seed, min_resource=args.min_resource, patience=args.patience)
                    out = folder / f"{name}-{row}-{seed}".replace(" ", "_")
                    start = time.perf_counter()
                    m = tune(train, out, row_settings(row, folder, base), test=test).metrics
                    results.append({"dataset": name, "row": row, "seed": seed, "budget": budget,
                                    "cnn": m["cnn"]["test"]["rmse"], "pls": m["pls"]["test"]["rmse"],
                                    "trials": m["study"]["n_trials"],
                                    "wall_s": round(time.perf_counter() - start, 1)})
                    with done_file.open("a") as handle:
                        handle.write(json.dumps(results[-1]) + "\n")
                    print(json.dumps(results[-1]), flush=True)
    (OUT / "ablation.json").write_text(json.dumps({"settings": vars(args), "runs": results},
                                                  indent=1) + "\n")
    print(table([r for r in results if r.get("budget", REDUCED) == budget]))


def budget_name(trials: int, epochs: int, timeout: float, min_resource: int, patience: int) -> str:
    return (f"{trials} trials/{epochs} epochs/{timeout:g} s, min-resource {min_resource}, "
            f"patience {patience}")


#: the budget of the runs recorded before the budget was part of a record
REDUCED = budget_name(8, 40, 45, 5, 15)


def table(results: list[dict], rows: tuple[str, ...] = ROWS, what: str = "lever") -> str:
    """Test RMSE mean +- sd over seeds and the mean CNN/PLS ratio, a row per dataset and lever."""
    lines = [f"| dataset | {what} | CNN test RMSE | PLS test RMSE | CNN/PLS |",
             "|---|---|---:|---:|---:|"]
    for name in dict.fromkeys(r["dataset"] for r in results):
        for row in rows:
            runs = [r for r in results if r["dataset"] == name and r["row"] == row]
            if not runs:
                continue
            cnn, pls = np.array([r["cnn"] for r in runs]), np.array([r["pls"] for r in runs])
            ratio = cnn / pls
            lines.append(f"| {name} | {row} | {cnn.mean():.4g} ± {cnn.std(ddof=1) if len(runs) > 1 else 0:.2g} "
                         f"| {pls.mean():.4g} | {ratio.mean():.2f} ± "
                         f"{ratio.std(ddof=1) if len(runs) > 1 else 0:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
