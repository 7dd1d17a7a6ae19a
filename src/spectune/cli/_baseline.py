"""``spectune baseline``: PLS (or PLS-DA) chosen by CV on calibration data, plus quick references."""

from __future__ import annotations

import argparse

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.cli._common import add_data_arguments, describe, load_dataset
from spectune.cli._table import print_metrics
from spectune.models import run_baselines


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "baseline",
        help="PLS / PLS-DA and quick references, tuned by CV on calibration data",
        description="Choose PLS latent variables and preprocessing by k-fold CV on the "
        "calibration data only, evaluate once on the test data, write OUT/metrics.json.",
    )
    add_data_arguments(parser)
    parser.add_argument("--cv", type=int, default=5, help="folds of the CV (default 5)")
    parser.add_argument("--max-components", type=int, default=20,
                        help="largest number of PLS latent variables tried (default 20)")
    parser.add_argument("--one-se", action="store_true",
                        help="fewest components within one standard error of the best CV RMSE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out, overwrite=args.overwrite)
    data = load_dataset(args)
    metrics = run_baselines(
        data.train, data.test, cv=args.cv, max_components=args.max_components,
        one_se=args.one_se, random_state=args.seed,
    )
    metrics["data"] = describe(data, args.wl_range)
    with staged_output(args.out, overwrite=args.overwrite) as stage:
        write_json(stage / "metrics.json", metrics)
    print_metrics(metrics)
    print(f"wrote {args.out / 'metrics.json'}")
    return 0
