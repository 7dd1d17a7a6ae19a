"""``spectune predict MODEL DATA --out preds.csv``: predictions from a saved model folder.

``--interval 0.9`` adds conformal prediction intervals (regression), computed by MAPIE from the
out-of-fold residuals stored in the model folder (:mod:`spectune.training._conformal`). A model
that stores its calibration domain adds ``t2``, ``q`` and ``in_domain`` per spectrum, and one
warning line when too many spectra lie outside it.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spectune.cli._common import add_input_arguments
from spectune.cli._options import fraction, share
from spectune.data import Spectra, align_to_grid, read_input
from spectune.data._readers import frame_to_spectra, read_frame
from spectune.data._sources import TABLE_SUFFIXES
from spectune.data._validate import spectral_columns
from spectune.exceptions import SpectuneError
from spectune.models._domain import DOMAIN_WARNING, outside_warning
from spectune.training import load_model, predict_interval

if TYPE_CHECKING:
    from spectune.models import ApplicabilityDomain

log = logging.getLogger("spectune")

STDOUT = Path("-")


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "One row per sample: the table's other columns (sample ids, reference values; the file "
        "name for instrument files; only --id-column when given), then pred_<target> per target "
        "(regression; with --interval also lower_<target> and upper_<target>) or the class and "
        "one probability column per class; with a model that stores its calibration domain, "
        "t2, q and in_domain (Hotelling T2 and Q residual both under their limits). When the "
        "data hold the model's target column, the error of prediction (RMSEP, or the accuracy) "
        "is printed.")
    parser.add_argument("model", type=Path, help="model folder (from fit or tune)")
    parser.add_argument("data", type=Path, nargs="+", metavar="DATA",
                        help="table of spectra on the training grid, or a folder, a quoted glob "
                        "or several JCAMP-DX / SPC / OPUS files")
    parser.add_argument("--out", type=Path, required=True,
                        help="CSV file to write, or - for standard output")
    add_input_arguments(parser)
    parser.add_argument("--resample", action="store_true",
                        help="interpolate spectra onto the model's wavelength grid if they differ")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file (never an input)")
    parser.add_argument("--interval", type=fraction, metavar="LEVEL",
                        help="add conformal prediction intervals, e.g. 0.9, calibrated on the "
                        "model's out-of-fold residuals to cover about LEVEL of new values (no "
                        "finite-sample guarantee; a tune run's metrics.json gives the test "
                        "coverage at 0.8, 0.9 and 0.95); for regression models that store "
                        "out-of-fold residuals, as tune's do; pred_ lies inside them")
    parser.add_argument("--domain-warning", type=share, default=DOMAIN_WARNING,
                        metavar="FRACTION",
                        help="warn when more than this fraction of the spectra lie outside the "
                        f"model's calibration domain (default {DOMAIN_WARNING:g})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _check_out(args)
    model = load_model(args.model)
    spectra, table = _read(args, model.target_names)
    spectra = align_to_grid(_cut(spectra, model.wavelengths), model.wavelengths,
                            resample=args.resample)
    truth = _reference_values(table, model.target_names)
    if args.id_column is not None:
        table = table[[args.id_column]]
    X = spectra.flat_X()
    bounds = None if args.interval is None else _intervals(model, X, args)
    if model.task == "regression":
        pred = model.predict(X)
        for i, name in enumerate(model.target_names):
            table[f"pred_{name}"] = pred[:, i]
        if bounds is not None:
            lower, upper = bounds
            for i, name in enumerate(model.target_names):
                table[f"lower_{name}"], table[f"upper_{name}"] = lower[:, i], upper[:, i]
    else:
        proba = model.predict_proba(X)
        pred = model.classes[proba.argmax(axis=1)]
        table["pred_class"] = pred
        for i, label in enumerate(model.classes):
            table[f"proba_{label}"] = proba[:, i]
    if model.domain is not None:
        _add_domain(table, model.domain, model.to_master(X), args.domain_warning)
    say = sys.stderr if args.out == STDOUT else sys.stdout
    if args.out == STDOUT:
        table.to_csv(sys.stdout, index=False)
    else:
        _write_atomically(table, args.out)
        print(f"wrote {len(table)} predictions to {args.out}", file=say)
    if truth is not None:
        print(_score(truth, pred, model.task, model.target_names), file=say)
    return 0


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an --out that is a folder, an input, or an existing file without --overwrite."""
    out = args.out
    if out == STDOUT:
        return
    if out.is_dir():
        raise SpectuneError(f"--out {out}: is a folder; give the name of the CSV file to write.")
    target = out.resolve()
    for given in (args.model, *args.data, args.targets):
        if given is not None and out.exists() and (target == given.resolve()
                                                   or given.resolve() in target.parents):
            raise SpectuneError(f"--out {out}: is (or lies in) the input {given}; choose another "
                                "file.")
    if out.exists() and not args.overwrite:
        raise SpectuneError(f"--out {out}: file exists; choose another path or pass "
                            "--overwrite.")


def _read(args: argparse.Namespace, target_names: list[str]) -> tuple[Spectra, pd.DataFrame]:
    """The spectra, and the columns copied to the output as written, one row a spectrum."""
    if len(args.data) == 1 and args.data[0].suffix.lower() in TABLE_SUFFIXES:
        if args.targets is not None:
            raise SpectuneError(f"--targets {args.targets}: {args.data[0]} is a table, which "
                                "holds its reference values itself; --targets is for "
                                "instrument files.")
        frame, rows = read_frame(args.data[0], sheet=args.sheet)
        source = str(args.data[0])
        spectra = frame_to_spectra(frame, rows, target=None, id_column=args.id_column,
                                   group_column=None, task=None, source=source)
        spectral = set(spectral_columns(list(frame.columns), source)[0])
        labels = frame.iloc[:, [j for j in range(frame.shape[1]) if j not in spectral]]
        return spectra, labels.reset_index(drop=True)
    present = _columns_of(args.targets, args.sheet, target_names)
    spectra = read_input(args.data, targets=args.targets, target=present or None,
                         id_column=args.id_column, sheet=args.sheet, resample=args.resample)
    table = pd.DataFrame({args.id_column or "sample": spectra.ids})
    for i, name in enumerate(present):
        table[name] = spectra.y[:, i] if spectra.y.ndim == 2 else spectra.y
    return spectra, table


def _columns_of(targets: Path | None, sheet: str | None, names: list[str]) -> list[str]:
    """The model's target columns that the --targets table holds."""
    if targets is None:
        return []
    columns = {str(c) for c in read_frame(targets, sheet=sheet)[0].columns}
    return [name for name in names if name in columns]


def _reference_values(table: pd.DataFrame, names: list[str]) -> pd.DataFrame | None:
    """The model's target columns, when the data hold every one of them."""
    columns = [str(c) for c in table.columns]
    if not names or any(name not in columns for name in names):
        return None
    return table.iloc[:, [columns.index(name) for name in names]]


def _score(truth: pd.DataFrame, pred: np.ndarray, task: str, names: list[str]) -> str:
    """RMSEP per target (regression) or the accuracy, over the rows with a reference value."""
    if task == "classification":
        known = truth.iloc[:, 0].notna().to_numpy()
        hits = truth.iloc[:, 0].astype(str).to_numpy()[known] == pred.astype(str)[known]
        return f"accuracy {hits.mean():.4g} on {known.sum()} samples with a {names[0]!r} value"
    values = truth.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    parts: list[str] = []
    for i, name in enumerate(names):
        known = np.isfinite(values[:, i])
        if known.any():
            rmsep = float(np.sqrt(np.mean((pred[known, i] - values[known, i]) ** 2)))
            parts.append(f"RMSEP {name} {rmsep:.4g} on {int(known.sum())} samples")
    return "; ".join(parts) or f"no numeric {', '.join(names)} values to score"


def _intervals(model: Any, X: np.ndarray,
               args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds ``[n, n_targets]`` at level ``args.interval``."""
    try:
        _, lower, upper = predict_interval(model, X, args.interval)
    except SpectuneError as error:
        raise SpectuneError(f"--interval with {args.model}: {error}") from None
    return lower, upper


def _add_domain(table: pd.DataFrame, domain: ApplicabilityDomain, X: np.ndarray,
                warn_above: float) -> None:
    """``t2``, ``q`` and ``in_domain`` columns; one warning when too many lie outside."""
    scores = domain.score(X)
    table["t2"], table["q"], table["in_domain"] = scores.t2, scores.q, scores.in_domain
    message = outside_warning(domain.summary(X), above=warn_above)
    if message:
        log.warning("%s See the in_domain column.", message)


def _cut(spectra: Spectra, wavelengths: np.ndarray) -> Spectra:
    """Keep the span the model was trained on (a --range cut), when the data cover more."""
    low, high = float(np.min(wavelengths)), float(np.max(wavelengths))
    inside = (spectra.wavelengths >= low) & (spectra.wavelengths <= high)
    return spectra.select_range(low, high) if inside.sum() >= 2 and not inside.all() else spectra


def _write_atomically(table: pd.DataFrame, out: Path) -> None:
    """Write beside ``out`` and rename: a reader never sees half a file. ``open`` (not
    ``tempfile``, which makes private files) gives the usual permissions."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("x", newline="") as handle:
            table.to_csv(handle, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
