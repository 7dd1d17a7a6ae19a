"""``spectune finish``: the one refit, test evaluation and PLS comparison of a shared study."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from spectune._outdir import check_out_dir
from spectune.cli._table import print_metrics
from spectune.cli._worker import add_join_arguments, join_study
from spectune.tuning._run import finish_run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "finish", help="refit the best trial of a shared study, test once, compare with PLS",
        description="After the workers of a study are done: refit the best trial (and the "
        "ensemble) on calibration+tuning, evaluate once on the test data, run PLS on the same "
        "splits, and write OUT/metrics.json, OUT/model/, OUT/trials.csv, as 'spectune tune' does.",
    )
    add_join_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty --out folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out, overwrite=args.overwrite)
    found, settings, data, ref = join_study(args)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    result = finish_run(found, settings, args.out,
                        data_info={"range": ref["wl_range"], "test_split": data.split})
    print_metrics(result.metrics)
    print(f"wrote {args.out / 'metrics.json'}, model in {result.model_dir}")
    return 0
