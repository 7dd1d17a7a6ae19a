"""``spectune check``: read spectra as the training commands do, and say what was read.

Before a long run: do my files read, how many spectra and points, which targets? Every problem
is the one-line error the other commands would give; nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spectune.cli._common import add_input_arguments
from spectune.data import read_input


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Read TRAIN (a table, or a folder, a quoted glob or several JCAMP-DX "
                          "/ SPC / OPUS files with --targets) with the checks of every command, "
                          "and print one line on what was read. Writes nothing.")
    parser.add_argument("train", type=Path, nargs="+", metavar="TRAIN")
    add_input_arguments(parser)
    parser.add_argument("--target", action="append",
                        help="target column to check (repeat for several)")
    parser.add_argument("--group-column", help="column of groups")
    parser.add_argument("--task", choices=("regression", "classification"))
    parser.add_argument("--resample", action="store_true",
                        help="interpolate instrument files onto the first file's grid")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = args.target[0] if args.target and len(args.target) == 1 else args.target
    spectra = read_input(args.train, targets=args.targets, target=target,
                         id_column=args.id_column, group_column=args.group_column,
                         task=args.task, sheet=args.sheet, resample=args.resample)
    wl = spectra.wavelengths
    targets = (f"; targets {', '.join(spectra.target_names)} ({spectra.task})"
               if spectra.target_names else "")
    count = "1 spectrum" if spectra.n_samples == 1 else f"{spectra.n_samples} spectra"
    print(f"{spectra.source}: {count} of {spectra.n_points} points, "
          f"{np.min(wl):g} to {np.max(wl):g}{targets}")
    return 0
