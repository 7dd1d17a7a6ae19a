"""Reading a wide table: spectune's validating reader beside ``pandas.read_csv`` of one file.

Run:  python bench/read_wide.py [--rows 200] [--points 100000] [--repeats 2]

Writes a CSV of ``rows`` spectra x ``points`` wavelengths (plus a sample id and a target
column, 0.4 GB at the defaults) to a temporary folder, then times, in turn and each in a fresh
process (so that neither profits from the other's memory), ``pandas.read_csv(path)`` and
``spectune.data.read_table(path, target="y", id_column="sample")``, which also checks every
line's field count, every cell and the wavelength axis. Prints seconds, peak resident memory
and the warnings each reader printed; the ratio compares the fastest run of each.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def write_table(path: Path, rows: int, points: int) -> None:
    """``sample``, ``y``, then one column per wavelength, written line by line (little memory)."""
    rng = np.random.default_rng(0)
    header = ["sample", "y", *(f"{1000 + 0.01 * j:.2f}" for j in range(points))]
    with path.open("w") as handle:
        handle.write(",".join(header) + "\n")
        for i in range(rows):
            values = ",".join(f"{v:.6f}" for v in rng.random(points))
            handle.write(f"s{i:04d},{rng.normal():.6f},{values}\n")


def read_once(reader: str, path: Path) -> dict[str, float | int]:
    """One timed read in this process; the imports are not timed."""
    import pandas as pd

    from spectune.data import read_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        if reader == "pandas":
            shape = pd.read_csv(path).shape
        else:
            shape = read_table(path, target="y", id_column="sample").X.shape
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak, "warnings": len(caught), "shape": list(shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--read", choices=("pandas", "spectune"), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:  # the child process: one read, its numbers as JSON
        print(json.dumps(read_once(args.read, args.path)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        write_table(path, args.rows, args.points)
        size = path.stat().st_size / 2**20
        print(f"{args.rows} x {args.points} table, {size:.0f} MiB")
        best: dict[str, float] = {}
        for repeat in range(args.repeats):
            for reader in ("pandas", "spectune"):
                done = subprocess.run([sys.executable, __file__, "--read", reader, str(path)],
                                      capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                lines = len(done.stderr.strip().splitlines())
                best[reader] = min(best.get(reader, np.inf), result["seconds"])
                print(f"run {repeat + 1} {reader:>8}: {result['seconds']:7.2f} s, peak "
                      f"{result['peak_mib']:6.0f} MiB, {result['warnings']} warnings, {lines} "
                      f"stderr lines, shape {result['shape']}")
        print(f"ratio spectune / pandas (fastest runs): {best['spectune'] / best['pandas']:.2f}")


if __name__ == "__main__":
    main()
