"""``spectune baseline``: PLS (or PLS-DA) chosen by CV on calibration data, plus quick references."""

from __future__ import annotations

import argparse

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.cli._common import add_data_arguments, describe, input_paths, load_dataset
from spectune.cli._options import integer
from spectune.cli._table import print_metrics
from spectune.models import run_baselines


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Choose PLS latent variables and preprocessing by k-fold CV on the "
                          "calibration data only, evaluate once on the test data, write "
                          "OUT/metrics.json.")
    add_data_arguments(parser)
    parser.add_argument("--cv", type=integer(2), default=5, help="folds of the CV (default 5)")
    parser.add_argument("--max-components", type=integer(1), default=20,
                        help="largest number of PLS latent variables tried (default 20)")
    parser.add_argument("--one-se", action="store_true",
                        help="fewest components within one standard error of the best CV RMSE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = input_paths(args)
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    data = load_dataset(args)
    metrics = run_baselines(
        data.train, data.test, cv=args.cv, max_components=args.max_components,
        one_se=args.one_se, random_state=args.seed,
    )
    metrics["data"] = describe(data, args.wl_range)
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        write_json(stage / "metrics.json", metrics)
    print_metrics(metrics)
    print(f"wrote {args.out / 'metrics.json'}")
    return 0
