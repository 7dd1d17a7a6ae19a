"""``spectune predict MODEL DATA --out preds.csv``: predictions from a saved model folder.

``--interval 0.9`` adds split-conformal prediction intervals (regression), computed by MAPIE from
the conformalization data stored in the model folder (:mod:`spectune.training._conformal`).
A model folder with an applicability domain adds ``t2``, ``q`` and ``in_domain`` columns, and one
warning line when more than ``--domain-warning`` of the spectra lie outside it.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from spectune.data import align_to_grid, read_table
from spectune.exceptions import SpectuneError
from spectune.models._domain import DOMAIN_WARNING, outside_warning
from spectune.training._conformal import check_level, predict_interval
from spectune.training._files import load_model

if TYPE_CHECKING:
    from spectune.models import ApplicabilityDomain

log = logging.getLogger("spectune")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict", help="predict with a saved model folder",
        description="One row per sample: the sample id if any, then pred_<target> per target "
        "(regression; with --interval also lower_<target> and upper_<target>) or the class and "
        "one probability column per class; with a model that stores its calibration domain, "
        "t2, q and in_domain (Hotelling T2 and Q residual both under their limits).",
    )
    parser.add_argument("model", type=Path, help="model folder (from fit or tune)")
    parser.add_argument("data", type=Path, help="table of spectra on the training grid")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--id-column", help="column of sample ids to copy to the output")
    parser.add_argument("--resample", action="store_true",
                        help="interpolate spectra onto the model's wavelength grid if they differ")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--interval", type=float, metavar="LEVEL",
                        help="add conformal prediction intervals that cover the truth with "
                        "probability LEVEL, e.g. 0.9 (regression models that store "
                        "conformalization data, as tune's do); they are centred on the model "
                        "the data were held out from, which may differ a little from pred_")
    parser.add_argument("--domain-warning", type=float, default=DOMAIN_WARNING,
                        metavar="FRACTION",
                        help="warn when more than FRACTION of the spectra lie outside the "
                        f"model's calibration domain (default {DOMAIN_WARNING:g})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.interval is not None:
        try:
            check_level(args.interval)
        except ValueError:
            raise SpectuneError(f"--interval {args.interval:g}: the level must lie strictly "
                                "between 0 and 1, e.g. 0.9.") from None
    if args.out.exists() and not args.overwrite:
        raise SpectuneError(f"--out {args.out}: file exists; choose another path or pass "
                            "--overwrite.")
    if not 0 <= args.domain_warning <= 1:
        raise SpectuneError(f"--domain-warning {args.domain_warning:g}: give a fraction between "
                            "0 and 1, e.g. 0.1.")
    model = load_model(args.model)
    spectra = read_table(args.data, id_column=args.id_column)
    spectra = align_to_grid(_cut(spectra, model.wavelengths), model.wavelengths,
                            resample=args.resample)
    table = pd.DataFrame(index=range(spectra.n_samples))
    if spectra.ids is not None:
        table[args.id_column or "sample"] = spectra.ids
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
        table["pred_class"] = model.classes[proba.argmax(axis=1)]
        for i, label in enumerate(model.classes):
            table[f"proba_{label}"] = proba[:, i]
    if model.domain is not None:
        _add_domain(table, model.domain, X, args.domain_warning)
    _write_atomically(table, args.out)
    print(f"wrote {len(table)} predictions to {args.out}")
    return 0


def _intervals(model, X: np.ndarray,  # type: ignore[no-untyped-def]
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


def _cut(spectra, wavelengths: np.ndarray):  # type: ignore[no-untyped-def]
    """Keep the span the model was trained on (a --range cut), when the data cover more."""
    low, high = float(np.min(wavelengths)), float(np.max(wavelengths))
    inside = (spectra.wavelengths >= low) & (spectra.wavelengths <= high)
    return spectra.select_range(low, high) if inside.sum() >= 2 and not inside.all() else spectra


def _write_atomically(table: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        table.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
