"""Calibration transfer on a simulated second instrument: the CV's choice against recalibration.

Run:  python bench/transfer.py [--seeds 0 1 2] [--standards 10 20 30] [--proxy-seeds 0 1 2]
                               [--one-se] [--out bench/results/transfer.json]
Issue 17's "Done when". The same samples are measured on instrument A (the model's) and on a
simulated instrument B (wavelength shift, band broadening, gain, offset, curved baseline, more
noise: spectune.data.make_instrument_pair). The model is spectune's PLS baseline (route and
latent variables chosen by 5-fold CV) on A's calibration spectra; the standards are chosen
among them by Kennard-Stone (as a lab picks them) and measured on both instruments; the
transfer method and its settings are chosen by `spectune.transfer.transfer_model` (5-fold CV
over the standards, A's calibration data given for recalibration). The yardstick is the same
PLS baseline trained from scratch on the full calibration set measured on B. Every RMSE is on
B's test spectra, which no choice saw. Each method's row is that method with its CV-best setting
refitted on all the standards. A real-data proxy moves a PLS model of spectrapepper (Raman) to a
simulated second instrument the same way (its own noise stays in both).
Writes --out (JSON, one row per run) and prints the tables of bench/TRANSFER.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from spectune.data import (
    InstrumentResponse,
    Spectra,
    kennard_stone,
    load_dataset,
    make_instrument_pair,
    simulate_instrument,
)
from spectune.training._files import SavedModel
from spectune.training._residual import fit_pls_baseline
from spectune.transfer import METHODS, Context, match_standards, transfer_model

OUT = Path(__file__).parent / "results" / "transfer.json"
#: Instrument B of the simulator (1000-2500 nm, 300 points: 5 nm steps, bands of sd 62 nm).
SECOND = InstrumentResponse(shift=8.0, broadening=15.0, gain=1.1, offset=0.05, baseline=0.03,
                            noise=0.004)
SAMPLES = {"scatter": 0.01, "baseline": 0.01}  # sample-to-sample effects, on both instruments
N_CAL, N_TEST, POINTS = 200, 100, 300


def pls_model(spectra: Spectra, seed: int) -> SavedModel:
    """spectune's PLS baseline as a model (what `tune` stores as its PLS member)."""
    pls = fit_pls_baseline(spectra.flat_X(), spectra.y, random_state=seed).linear
    return SavedModel([pls], np.ones(1), spectra.wavelengths, list(spectra.target_names))


def rmse(model: SavedModel, spectra: Spectra) -> float:
    pred = np.asarray(model.predict(spectra.flat_X())).reshape(spectra.y.shape)
    return float(np.sqrt(np.mean((pred - spectra.y) ** 2)))


def transfer_rows(a: Spectra, b: Spectra, cal: np.ndarray, test: np.ndarray, seed: int,
                  standards: list[int], label: str, one_se: bool) -> list[dict]:
    """One row per number of standards: the choice, every method, the yardsticks."""
    start = time.perf_counter()
    master, scratch = pls_model(a[cal], seed), pls_model(b[cal], seed)
    yardstick = {"scratch_on_b": rmse(scratch, b[test]), "master_on_a": rmse(master, a[test]),
                 "none_on_b": rmse(master, b[test])}
    rows = []
    for n in standards:
        chosen = cal[kennard_stone(a.flat_X()[cal], n)]
        pairs = match_standards(a[chosen], b[chosen])
        result = transfer_model(master, pairs, calibration=a[cal], random_state=seed,
                                one_se=one_se)
        context = Context(master, a[cal], seed)
        methods = {}
        for row in result.best_per_method():
            entry = {"status": row["status"], "reason": row.get("reason")}
            if row["status"] == "ok":
                moved = METHODS[row["method"]]().fit(context, pairs, row["setting"])
                entry.update(setting=row["setting"], cv_rmse=row["cv_rmse"],
                             test_rmse=rmse(moved, b[test]))
            methods[row["method"]] = entry
        rows.append({"data": label, "seed": seed, "standards": n, "method": result.method,
                     "setting": result.setting, "test_rmse": rmse(result.model, b[test]),
                     **yardstick, "methods": methods})
        print(f"{label} seed {seed} n={n}: {result.method} {result.setting} "
              f"{rows[-1]['test_rmse']:.4g} vs scratch {yardstick['scratch_on_b']:.4g}, "
              f"none {yardstick['none_on_b']:.4g}", file=sys.stderr)
    for row in rows:
        row["wall_s"] = round((time.perf_counter() - start) / len(rows), 1)
    return rows


def simulated(seed: int, standards: list[int], one_se: bool) -> list[dict]:
    a, b, _ = make_instrument_pair(N_CAL + N_TEST, POINTS, second=SECOND, random_state=seed,
                                   **SAMPLES)
    order = np.random.default_rng(seed).permutation(N_CAL + N_TEST)
    return transfer_rows(a, b, order[:N_CAL], order[N_CAL:], seed, standards, "simulated",
                         one_se)


def proxy(seed: int, standards: list[int], one_se: bool) -> list[dict]:
    """spectrapepper as instrument A, a simulated instrument B (scaled to its grid and values)."""
    a, _ = load_dataset("spectrapepper")
    step = float(np.mean(np.abs(np.diff(a.wavelengths))))
    spread = float(a.X.std())
    response = InstrumentResponse(shift=1.5 * step, broadening=1.5 * step, gain=1.1,
                                  offset=0.05 * spread, baseline=0.05 * spread,
                                  noise=0.005 * spread)
    b = simulate_instrument(a, response, random_state=seed)
    order = np.random.default_rng(seed).permutation(a.n_samples)
    n_cal = round(0.67 * a.n_samples)
    return transfer_rows(a, b, order[:n_cal], order[n_cal:], seed, standards, "spectrapepper",
                         one_se)


def tables(rows: list[dict]) -> str:
    """The Markdown tables of bench/TRANSFER.md: every run, a summary, then every method."""
    out = [("| data | seed | standards | chosen (setting) | test RMSE | scratch on B | ratio | "
            "none on B | none ratio |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        setting = ", ".join(f"{k}={v}" for k, v in r["setting"].items())
        out.append(f"| {r['data']} | {r['seed']} | {r['standards']} | {r['method']}"
                   f"{f' ({setting})' if setting else ''} | {r['test_rmse']:.4g} | "
                   f"{r['scratch_on_b']:.4g} | {r['test_rmse'] / r['scratch_on_b']:.2f} | "
                   f"{r['none_on_b']:.4g} | {r['none_on_b'] / r['scratch_on_b']:.2f} |")
    out += ["", ("| data | standards | runs | chosen / scratch: mean | max | runs within 1.25x "
                 "| none / scratch: mean |"), "|---|---|---|---|---|---|---|"]
    groups = dict.fromkeys((r["data"], r["standards"]) for r in rows)
    for data, n in groups:
        ratios = np.array([r["test_rmse"] / r["scratch_on_b"] for r in rows
                           if (r["data"], r["standards"]) == (data, n)])
        none = np.mean([r["none_on_b"] / r["scratch_on_b"] for r in rows
                        if (r["data"], r["standards"]) == (data, n)])
        out.append(f"| {data} | {n} | {ratios.size} | {ratios.mean():.2f} | {ratios.max():.2f} "
                   f"| {(ratios <= 1.25).sum()} | {none:.2f} |")
    for data in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == data]
        counts = sorted({r["standards"] for r in mine})
        out += ["", (f"**{data}**: each method with its CV-best setting, test RMSE on B / "
                     "scratch on B (mean over seeds; mean CV RMSE on the standards in brackets)"),
                "", "| method | " + " | ".join(f"{n} standards" for n in counts) + " |",
                "|---|" + "---|" * len(counts)]
        for method in METHODS:
            cells = []
            for n in counts:
                entries = [(r["methods"][method], r["scratch_on_b"]) for r in mine
                           if r["standards"] == n]
                ok = [(e, s) for e, s in entries if e["status"] == "ok"]
                if not ok:
                    cells.append(f"skipped: {entries[0][0]['reason']}")
                    continue
                ratio = np.mean([e["test_rmse"] / s for e, s in ok])
                cv = np.mean([e["cv_rmse"] for e, _ in ok])
                cells.append(f"{ratio:.2f} ({cv:.3g})")
            out.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--standards", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--proxy-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--proxy-standards", type=int, nargs="+", default=[20])
    parser.add_argument("--one-se", action="store_true", help="transfer's one-SE rule")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--tables", type=Path, help="only print the tables of this JSON file")
    args = parser.parse_args()
    if args.tables is not None:
        print(tables(json.loads(args.tables.read_text())))
        return
    rows = [row for seed in args.seeds for row in simulated(seed, args.standards, args.one_se)]
    rows += [row for seed in args.proxy_seeds
             for row in proxy(seed, args.proxy_standards, args.one_se)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(tables(rows))


if __name__ == "__main__":
    main()
