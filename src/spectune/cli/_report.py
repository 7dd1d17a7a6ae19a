"""``spectune report``: (re)write the HTML report of a finished tuning run."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectune._outdir import record_added
from spectune.analysis._report import write_report
from spectune.cli._options import axis_label, integer


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read the output folder of `spectune tune` (metrics.json, study.db or study.log, "
        "model/, predictions.csv, spectra.safetensors) and write DIR/report.html, one "
        "self-contained file (figures inline, nothing fetched from the network), with every "
        "figure also as PNG and SVG in DIR/figures/. Replaces an earlier report.")
    parser.add_argument("dir", type=Path, metavar="DIR", help="the --out folder of a tune run")
    parser.add_argument("--storage",
                        help="Optuna storage URL of the study when the run used --storage "
                        "(default: DIR/study.db, or DIR/study.log when only that exists)")
    parser.add_argument("--seed", type=integer(0), default=0,
                        help="seed of the importance forest and of the sampled spectra drawn")
    parser.add_argument("--axis", type=axis_label,
                        help="name and unit of the spectral axis (default: the run's --axis, "
                        "else wavelength): wavelength, wavenumber, raman, energy or a label")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = write_report(args.dir, seed=args.seed, storage=args.storage, axis=args.axis)
    record_added(args.dir, [path.name, "figures"])  # the run folder's list of spectune's files
    print(f"wrote {path} and {path.parent / 'figures'}/")
    return 0
