"""``spectune finish``: the final model, test evaluation and report of a shared study."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from spectune._outdir import check_out_dir
from spectune.analysis import write_report
from spectune.cli._table import print_metrics
from spectune.cli._worker import add_join_arguments, join_study
from spectune.tuning._run import finish_run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "finish", help="build the final model of a shared study, test once, write the report",
        description="After the workers of a study are done: cross-fit the best trials, PLS and "
        "Ridge, stack them, refit on calibration+tuning, evaluate once on the test data, and "
        "write OUT/metrics.json, OUT/model/, OUT/trials.csv and OUT/report.html, as "
        "'spectune tune' does.",
    )
    add_join_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty --out folder")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="skip report.html (spectune report DIR writes it later)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out, overwrite=args.overwrite)
    found, settings, data, ref = join_study(args)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    result = finish_run(found, settings, args.out,
                        data_info={"range": ref["wl_range"], "test_split": data.split,
                                   "command": args.command_line})
    print_metrics(result.metrics)
    print(f"wrote {args.out / 'metrics.json'}, model in {result.model_dir}")
    if args.report:
        print(f"report: {write_report(args.out, seed=settings.seed, storage=settings.storage)}")
    return 0
