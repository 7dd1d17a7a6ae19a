"""``spectune finish``: the final model, test evaluation and report of a shared study."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectune._outdir import check_out_dir, staged_output
from spectune.analysis import write_report
from spectune.cli._table import print_metrics
from spectune.cli._worker import add_join_arguments, join_study
from spectune.tuning._run import finish_run


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "After the workers of a study are done: cross-fit the best trials and PLS and Ridge "
        "(logistic regression for classes), stack them, refit on calibration+tuning, evaluate "
        "once on the test data, and write "
        "OUT/metrics.json, OUT/model/, OUT/trials.csv and OUT/report.html, as 'spectune tune' "
        "does.")
    add_join_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an --out folder that spectune wrote")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="skip report.html (spectune report DIR writes it later)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = [Path(p) for p in (*(args.train or []), args.test) if p is not None]
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    found, settings, data, ref = join_study(args)
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        result = finish_run(found, settings, stage,
                            data_info={"range": ref["wl_range"], "test_split": data.split,
                                       "command": args.command_line})
        if args.report:
            write_report(stage, seed=settings.seed, storage=settings.storage)
    print_metrics(result.metrics)
    print(f"wrote {args.out / 'metrics.json'}, model in {args.out / 'model'}")
    if args.report:
        print(f"report: {args.out / 'report.html'}")
    return 0
