"""``spectune lr-find``: the LR range test on the base architecture, to pick LR_max and LR_min.

Passos & Mishra (2022) take Adam's initial rate (LR_max) and the floor of the plateau schedule
(LR_min) from an LR range test (Smith 2017). It runs on the training part only: the test split
(``--test`` or the held-out share) is set aside unused, the preprocessing is fitted on a
calibration part, and the loss is watched on a validation part of the training data. No
augmentation is applied.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.analysis._lr_plot import plot_lr_range
from spectune.cli._common import add_data_arguments, describe, input_paths, load_dataset
from spectune.cli._fit import parse_preprocessing, read_arch, train_config
from spectune.cli._options import fraction, integer, non_negative
from spectune.data import Spectra, split_cal_tune
from spectune.exceptions import SpectuneError
from spectune.models import build_model, resolve_arch
from spectune.training import LRRangeResult, as_3d, lr_range_test

log = logging.getLogger("spectune")

DEFAULT_LR_RANGE = "1e-6:1"
DEFAULT_VAL_SIZE = 0.2


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train the base network for --steps steps while the learning rate grows geometrically "
        "over --lr-range, on the training part only (a calibration/validation split of it; the "
        "test split is never used). Writes OUT/lr_range.json and the curve OUT/lr_range.png "
        "and .svg.")
    add_data_arguments(parser)
    parser.add_argument("--arch", default="passos",
                        help="passos, shen, mlp, or an ArchSpec YAML file (default passos)")
    parser.add_argument("--preprocessing", default="snv",
                        help="route such as snv+sg1, or 'passos' / 'shen' (default snv)")
    parser.add_argument("--lr-range", type=_lr_range, default=DEFAULT_LR_RANGE, metavar="A:B",
                        help=f"smallest and largest learning rate tried (default "
                        f"{DEFAULT_LR_RANGE})")
    parser.add_argument("--steps", type=integer(3), default=100,
                        help="optimizer steps, one learning rate each (default 100)")
    parser.add_argument("--batch-size", type=integer(1), default=32,
                        help="mini-batch size (default 32)")
    parser.add_argument("--l2", type=non_negative, default=0.0,
                        help="L2 on hidden weights (default 0)")
    parser.add_argument("--val-size", type=fraction, default=DEFAULT_VAL_SIZE,
                        help=f"share of the training part that measures the loss (default "
                        f"{DEFAULT_VAL_SIZE})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = [*input_paths(args), *([Path(args.arch)] if Path(args.arch).is_file() else [])]
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    lr_start, lr_end = args.lr_range
    arch = read_arch(args.arch)
    preprocessing = parse_preprocessing(args.preprocessing)
    config = train_config(batch_size=args.batch_size, l2=args.l2, seed=args.seed)
    data = load_dataset(args)  # data.test is set aside and never used below
    parts = split_cal_tune(data.train, method=args.split, tune_size=args.val_size,
                           random_state=args.seed)
    cal, val = data.train[parts.cal], data.train[parts.tune]
    task = str(data.train.task)  # read with --target, so always set
    transformer = preprocessing.build().fit(cal.flat_X())  # calibration statistics only
    X_cal, X_val = (as_3d(transformer.transform(part.flat_X())) for part in (cal, val))
    y_cal, y_val, n_outputs = _targets(cal, val, task)
    channels, points = X_cal.shape[1:]
    spec = resolve_arch(arch, channels, points, task=task, n_outputs=n_outputs)
    try:
        result = lr_range_test(
            lambda: build_model(spec, channels, points, seed=args.seed), X_cal, y_cal, X_val,
            y_val, task=task, config=config, lr_start=lr_start, lr_end=lr_end,
            n_steps=args.steps,
        )
    except ValueError as error:  # the loss diverged at once
        start = str(error).replace("lower lr_start", "lower the start of --lr-range")
        raise SpectuneError(start) from None
    settings = {
        "arch": spec.to_dict(), "preprocessing": preprocessing.to_dict(),
        "train_config": config.as_dict(), "lr_start": lr_start, "lr_end": lr_end,
        "steps": args.steps, "val_size": args.val_size, "n_cal": cal.n_samples,
        "n_val": val.n_samples, "data": describe(data, args.wl_range),
    }
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        write_json(stage / "lr_range.json", {**result.as_dict(), "settings": settings})
        _save_figure(result, stage, task)
    _warn_if_truncated(result)
    print(f"LR_min = {result.lr_min:.3g}  LR_max = {result.lr_max:.3g}  (curve in {args.out})")
    return 0


def _lr_range(text: str) -> tuple[float, float]:
    """``"1e-6:1"`` -> ``(1e-06, 1.0)``; both ends positive, the first smaller."""
    parts = str(text).split(":")
    try:
        start, end = (float(part) for part in parts)
    except ValueError:
        start = end = float("nan")
    if len(parts) != 2 or not 0 < start < end < float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START:END with 0 < START < END, e.g. {DEFAULT_LR_RANGE}")
    return start, end


def _warn_if_truncated(result: LRRangeResult) -> None:
    """The curve must fall and then rise inside the range, or a rate sits at its edge."""
    if int(np.argmin(result.smoothed)) == 0:
        log.warning("the loss was lowest at the first learning rate: the range starts too "
                    "high; lower the start of --lr-range")
    elif result.diverged_at is None:
        log.warning("the loss did not diverge within --lr-range: LR_max may be too low; raise "
                    "the end of --lr-range")


def _targets(cal: Spectra, val: Spectra, task: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Regression targets as they are; class labels as codes of the training part's classes."""
    y_cal, y_val = np.asarray(cal.y), np.asarray(val.y)
    if task == "regression":
        return y_cal, y_val, y_cal.shape[1]
    classes = np.unique(np.concatenate([y_cal, y_val]))
    return np.searchsorted(classes, y_cal), np.searchsorted(classes, y_val), len(classes)


def _save_figure(result: LRRangeResult, folder: Path, task: str) -> None:
    loss = "MSE (standardised y)" if task == "regression" else "cross entropy"
    figure: Any = plot_lr_range(result, ylabel=f"validation {loss}")
    for suffix in ("png", "svg"):
        figure.savefig(folder / f"lr_range.{suffix}", dpi=150)
