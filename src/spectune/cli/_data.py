"""``spectune data NAME --out DIR``: write a built-in real dataset as the CSV tables a user has."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectune.data import dataset_names, export_dataset


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Write a dataset shipped by a dependency as CSV tables: one row a "
                          "sample, one column per wavelength, plus sample id and target columns.")
    parser.add_argument("name", choices=dataset_names())
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder (default: data)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for path in export_dataset(args.name, args.out, overwrite=args.overwrite):
        print(path)
    return 0
