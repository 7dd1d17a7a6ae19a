"""``spectune baseline``: PLS (or PLS-DA) chosen by CV on calibration data, plus quick references."""

from __future__ import annotations

import argparse

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.cli._common import add_data_arguments, describe, input_paths, load_dataset
from spectune.cli._options import integer
from spectune.cli._table import print_metrics
from spectune.data import Spectra
from spectune.models import run_baselines, screen_outliers

_SHOWN_IDS = 10  # outlier ids printed on the console; metrics.json lists all


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
    parser.add_argument("--screen-outliers", action="store_true",
                        help="leave out calibration spectra flagged at 99.9%% (Hotelling T2 or "
                        "Q residual of a PCA after SNV; out-of-fold PLS residual of the target); "
                        "decided on calibration data only, listed in metrics.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = input_paths(args)
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    data = load_dataset(args)
    cal, screening = (_screened(data.train, args.seed) if args.screen_outliers
                      else (data.train, None))
    metrics = run_baselines(
        cal, data.test, cv=args.cv, max_components=args.max_components,
        one_se=args.one_se, random_state=args.seed,
    )
    metrics["data"] = describe(data, args.wl_range)
    if screening is not None:
        metrics["screening"] = screening
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        write_json(stage / "metrics.json", metrics)
    print_metrics(metrics)
    print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _screened(cal: Spectra, seed: int) -> tuple[Spectra, dict]:
    """The calibration spectra without the flagged outliers, and the screening report."""
    y = cal.y if cal.task == "regression" else None
    outliers, report = screen_outliers(cal.flat_X(), y, random_state=seed)
    if cal.ids is not None:
        report["outlier_ids"] = [str(i) for i in cal.ids[outliers]]
    named = [str(i) for i in report.get("outlier_ids", report["outliers"])]
    shown = ", ".join(named[:_SHOWN_IDS]) + (", ..." if len(named) > _SHOWN_IDS else "")
    print(f"outlier screening left out {report['n_outliers']} of {report['n']} calibration "
          f"spectra{': ' + shown if named else ''}")
    return cal[~outliers], report
