"""``spectune transfer MODEL --master A.csv --slave B.csv --out MODEL_B``: move a model to a new
instrument with transfer standards, the method chosen by cross-validation over the standards.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.analysis._transfer_report import write_transfer_report
from spectune.cli._common import add_input_arguments
from spectune.cli._options import integer
from spectune.data import Spectra, align_to_grid, read_input
from spectune.exceptions import DataError
from spectune.training import SavedModel, load_model, save_model
from spectune.transfer import (
    METHODS,
    check_movable,
    match_standards,
    source_record,
    transfer_model,
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read transfer standards measured on the model's instrument (--master) and on the new "
        "one (--slave), paired by sample id (--id-column of tables; the file names of "
        "instrument files); score every transfer method and its settings by cross-validation "
        "over the standards; write the model moved with the best as the folder OUT (use it with "
        "'spectune predict' on the new instrument's spectra), with metrics.json and report.html.")
    parser.add_argument("model", type=Path, help="model folder (from fit or tune)")
    parser.add_argument("--master", type=Path, required=True,
                        help="standards measured on the model's instrument: a table, or a "
                        "folder or quoted glob of instrument files")
    parser.add_argument("--slave", type=Path, required=True,
                        help="the same standards measured on the new instrument")
    add_input_arguments(parser)
    parser.add_argument("--target", action="append",
                        help="reference column(s) of --slave (or of --targets for instrument "
                        "files), named as the model's targets (needed by slope-bias, "
                        "recalibration and fine-tuning)")
    parser.add_argument("--calibration", type=Path,
                        help="the model's calibration table (its instrument, with the target "
                        "columns), for recalibration with the standards added (only for a "
                        "model whose every member has a PLS: a PLS member or a PLS-residual "
                        "network)")
    parser.add_argument("--methods", type=_methods, default=None,
                        help=f"comma-separated candidates among {', '.join(METHODS)} "
                        "(default: all that apply; 'none' is always scored)")
    parser.add_argument("--cv", type=integer(2), default=5,
                        help="folds over the standards (default 5; as many as the standards: "
                        "leave-one-out)")
    parser.add_argument("--one-se", action="store_true",
                        help="the simplest method whose CV error lies within one standard error "
                        "of the lowest, instead of the lowest")
    parser.add_argument("--max-epochs", type=integer(1), default=100,
                        help="most fine-tuning epochs the CV may choose (default 100)")
    parser.add_argument("--resample", action="store_true",
                        help="interpolate tables onto the model's wavelength grid if they differ")
    parser.add_argument("--seed", type=integer(0), default=0,
                        help="seed of the folds and fine-tuning")
    parser.add_argument("--out", type=Path, required=True, help="output model folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an --out folder that spectune wrote (never one holding "
                        "other files, the working folder or an input)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = [p for p in (args.model, args.master, args.slave, args.calibration, args.targets)
              if p is not None]
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    model = load_model(args.model)
    check_movable(model, str(args.model))
    if args.target is not None and list(args.target) != list(model.target_names):
        raise DataError(f"--target {','.join(args.target)}: {args.model} predicts "
                        f"{','.join(model.target_names)}; give the reference columns of the "
                        "model's targets.")
    master = _read(args.master, args, model, target=None)
    slave = _read(args.slave, args, model, target=args.target, targets=args.targets)
    calibration = None if args.calibration is None else _read(
        args.calibration, args, model, target=list(model.target_names), ids=False)
    standards = match_standards(master, slave)
    result = transfer_model(
        model, standards, methods=args.methods, calibration=calibration, cv=args.cv,
        random_state=args.seed, max_epochs=args.max_epochs, one_se=args.one_se,
        source=source_record(args.model),
    )
    moved = result.model
    metrics: dict[str, Any] = {"task": "regression", "target": list(model.target_names),
                               "command": getattr(args, "command_line", None),
                               "transfer": result.as_dict(),
                               "data": {"master": str(args.master), "slave": str(args.slave),
                                        "calibration": None if calibration is None
                                        else str(args.calibration),
                                        "n_standards": len(standards)}}
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        save_model(stage, moved.members, wavelengths=model.wavelengths,
                   target_names=model.target_names, weights=moved.weights, info=model.info,
                   domain=moved.domain, transfer=moved.transfer)
        write_json(stage / "metrics.json", metrics)
        write_transfer_report(stage / "report.html", metrics)
    print(format_table(result.best_per_method()))
    print(f"chosen: {result.method} {_setting(result.setting)} (model in {args.out})")
    return 0


def format_table(rows: list[dict[str, Any]]) -> str:
    """Each method's best CV RMSE and setting, or why it was not scored."""
    lines = [["method", "cv rmse", "setting / reason"]]
    for row in rows:
        rmse = row.get("cv_rmse")
        shown = "-" if rmse is None else (f"{rmse:.4g}" if isinstance(rmse, float)
                                          else " ".join(f"{v:.4g}" for v in rmse))
        detail = _setting(row["setting"]) if row["status"] == "ok" else row["reason"]
        lines.append([row["method"], shown, detail])
    widths = [max(len(line[i]) for line in lines) for i in range(2)]
    return "\n".join(f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}" for a, b, c in lines)


def _read(path: Path, args: argparse.Namespace, model: SavedModel, *,
          target: list[str] | None, ids: bool = True, targets: Path | None = None) -> Spectra:
    """A table or instrument files, on the model's grid (interpolated with --resample)."""
    spectra = read_input(path, targets=targets, target=target,
                         id_column=args.id_column if ids else None, sheet=args.sheet,
                         task="regression" if target else None, resample=args.resample)
    return align_to_grid(spectra, model.wavelengths, resample=args.resample)


def _methods(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose comma-separated names among {', '.join(METHODS)}")
    return names


def _setting(setting: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items()) or "(no setting)"
