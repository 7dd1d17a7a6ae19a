"""Arguments and data loading shared by the commands that train (baseline, fit, tune)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectune.cli._options import fraction, integer, wavelength_range
from spectune.data import Spectra, align_to_grid, parse_range, read_input, split_indices
from spectune.exceptions import DataError

log = logging.getLogger("spectune")

DEFAULT_TEST_SIZE = 0.2
MIN_TEST = 2  # R2 and the other test scores need two samples


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """TRAIN, --target, --test and the options that say how to read and split them."""
    parser.add_argument("train", type=Path, nargs="+", metavar="TRAIN",
                        help="table of spectra (CSV/TSV, Parquet, Excel), or a folder, a quoted "
                        "glob ('spectra/*.jdx') or several JCAMP-DX / SPC / OPUS files with "
                        "--targets")
    add_input_arguments(parser)
    parser.add_argument(
        "--target", required=True, action="append",
        help="target column (repeat for several regression targets)",
    )
    parser.add_argument("--test", type=Path, help="a separate test table (same columns)")
    parser.add_argument("--task", choices=("regression", "classification"),
                        help="default: regression for numeric targets, else classification")
    parser.add_argument("--group-column",
                        help="column of groups (batch, season) that a split keeps together")
    parser.add_argument("--range", dest="wl_range", metavar="A:B", type=wavelength_range,
                        help="keep wavelengths between A and B, e.g. 950:1550")
    parser.add_argument("--resample", action="store_true",
                        help="interpolate --test (and instrument files) onto TRAIN's wavelength "
                        "grid if they differ")
    parser.add_argument("--split", default="auto",
                        choices=("auto", "random", "kennard-stone", "group", "stratified"),
                        help="how to make the test split without --test (default: auto = "
                        "stratified for classes, group when --group-column is given, else random)")
    parser.add_argument("--test-size", type=fraction, default=DEFAULT_TEST_SIZE,
                        help=f"test fraction without --test (default {DEFAULT_TEST_SIZE})")
    parser.add_argument("--seed", type=integer(0), default=0, help="seed of splits and models")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an --out folder that spectune wrote (never one holding "
                        "other files, the working folder or an input)")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """How to read spectra besides their path: the targets of instrument files, the sheet, ids."""
    parser.add_argument("--targets", type=Path, metavar="FILE",
                        help="table of targets keyed by file name, for instrument files")
    parser.add_argument("--sheet", help="Excel sheet to read (needed when several hold data)")
    parser.add_argument("--id-column",
                        help="column of sample ids (of --targets for instrument files, whose "
                        "first column is the default)")


@dataclass(frozen=True)
class Dataset:
    """What the training commands work on: calibration data and the test data touched once."""

    train: Spectra
    test: Spectra
    split: dict[str, Any]


def load_dataset(args: argparse.Namespace) -> Dataset:
    """Read, validate, cut to --range and split; raises DataError before any output exists."""
    read = dict(
        target=args.target if len(args.target) > 1 else args.target[0],
        id_column=args.id_column,
        group_column=args.group_column,
        task=args.task,
        targets=getattr(args, "targets", None),
        sheet=getattr(args, "sheet", None),
        resample=args.resample,
    )
    train = read_input(args.train, **read)
    if args.test is not None:
        test = read_input(args.test, **read)
    wl_range = parse_range(args.wl_range) if args.wl_range else None
    if wl_range is not None:
        train = train.select_range(*wl_range)
        test = test.select_range(*wl_range) if args.test is not None else None
    if args.test is not None:
        test = align_to_grid(test, train.wavelengths, resample=args.resample)
        split = {"method": "file", "test_file": str(args.test)}
        return Dataset(train, _scorable(test, "add rows to the --test file"), split)
    parts = split_indices(train, method=args.split, test_size=args.test_size, tune_size=0,
                          random_state=args.seed)
    log.warning(
        "no --test given: holding out %d of %d samples of %s as the test set (--split %s, "
        "--test-size %g, --seed %d)", len(parts.test), train.n_samples,
        Path(train.source).name, args.split, args.test_size, args.seed,
    )
    split = {"method": args.split, "test_size": args.test_size, "seed": args.seed,
             "test_index": parts.test.tolist()}
    test = _scorable(train[parts.test], "raise --test-size or add samples")
    return Dataset(train[parts.cal], test, split)


def input_paths(args: argparse.Namespace) -> list[Path]:
    """Every file or folder the command reads: none of them may lie in a replaced --out."""
    paths = [*args.train, args.test, getattr(args, "targets", None)]
    return [Path(p) for p in paths if p is not None]


def _scorable(test: Spectra, fix: str) -> Spectra:
    """Refuse a test set too small to score, before any work, in the user's words."""
    if test.n_samples < MIN_TEST:
        raise DataError(
            f"{test.source}: the test set holds {test.n_samples} sample(s); scoring needs at "
            f"least {MIN_TEST}; {fix}."
        )
    return test


def describe(data: Dataset, wl_range: str | None) -> dict[str, Any]:
    """The data section of metrics.json: what was read, so the run can be reproduced."""
    wl = data.train.wavelengths
    return {
        "train_file": data.train.source,
        "n_train": data.train.n_samples,
        "n_test": data.test.n_samples,
        "n_points": int(wl.size),
        "range": wl_range,
        "wavelength_min": float(np.min(wl)),
        "wavelength_max": float(np.max(wl)),
        "split": data.split,
    }
