"""Choose the transfer method and its settings by cross-validation over the standards.

Every method and setting is scored on the same folds of the standards: each fold's held-out
standards, measured on the new instrument, are predicted by the model moved with the other
folds' standards only. The lowest CV error wins (exact ties go to the simpler method, in the
order of :data:`METHODS`); with ``one_se`` the choice follows the one-standard-error rule
(Hastie, Tibshirani & Friedman 2009, §7.10) across methods instead: the simplest method whose
best CV RMSE lies within one standard error of the lowest, with its best setting. The choice is
refitted on all the standards. The reference is
the standards' reference values when given; without them it is the model's own prediction of
each standard measured on its instrument, so the transfer is judged by how well it reproduces
the model, and the methods that need references are skipped. "none" is always tried: what not
transferring costs is reported beside every choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from spectune.data import Spectra
from spectune.exceptions import DataError
from spectune.training import SavedModel, TransferMap
from spectune.transfer._finetune import FineTuning
from spectune.transfer._methods import (
    Context,
    DirectStandardisation,
    Method,
    NoCorrection,
    PiecewiseDirectStandardisation,
    Setting,
    SlopeBias,
    SpectralSpaceTransformation,
)
from spectune.transfer._recalibrate import Recalibration
from spectune.transfer._standards import Standards

__all__ = ["METHODS", "MIN_STANDARDS", "TransferResult", "check_movable", "transfer_model"]

#: Every method, simplest first (the order breaks ties).
METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (
    NoCorrection, SlopeBias, DirectStandardisation, PiecewiseDirectStandardisation,
    SpectralSpaceTransformation, Recalibration, FineTuning)}
#: Fewest standards a cross-validation can score.
MIN_STANDARDS = 3
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


@dataclass
class TransferResult:
    """The model moved to the new instrument, and how every method fared in the CV.

    Attributes
    ----------
    model : SavedModel
        The moved model; ``model.transfer.record`` says how (saved with the folder).
    method : str
    setting : dict
    rows : list of dict
        One per method and setting tried: ``cv_rmse`` (per target when several), ``cv_nrmse``
        (RMSE / sd of the reference, mean over targets: the criterion) and ``cv_nrmse_se``
        (its standard error over the folds); or one per method skipped or failed (``reason``).
    cv : dict
        Folds, their kind and the reference the CV errors are measured against.
    held_out : dict
        Per standard: ``ids``, ``reference``, and ``predictions``: each scored method's CV
        (held-out) predictions with its best setting.
    """

    model: SavedModel
    method: str
    setting: Setting
    rows: list[dict[str, Any]]
    cv: dict[str, Any]
    held_out: dict[str, Any] = field(default_factory=dict)

    def best_per_method(self) -> list[dict[str, Any]]:
        """Each method's best setting (or why it was not tried), in :data:`METHODS` order."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            kept = out.get(row["method"])
            if kept is None or row.get("cv_nrmse", np.inf) < kept.get("cv_nrmse", np.inf):
                out[row["method"]] = row
        return list(out.values())

    def as_dict(self) -> dict[str, Any]:
        """The transfer section of metrics.json."""
        return {"method": self.method, "setting": self.setting, "cv": self.cv,
                "record": self.model.transfer.record if self.model.transfer else {},
                "methods": self.best_per_method(),
                "settings_tried": self.rows,
                "held_out": self.held_out}


@threadpool_limits.wrap(limits=1, user_api="blas")  # many small fits: see fit_baselines
def transfer_model(
    model: SavedModel,
    standards: Standards,
    *,
    methods: Sequence[str] | None = None,
    calibration: Spectra | None = None,
    cv: int = 5,
    random_state: int = 0,
    max_epochs: int = 100,
    one_se: bool = False,
    source: Mapping[str, Any] | None = None,
) -> TransferResult:
    """Move ``model`` to the instrument the standards' ``slave`` spectra come from.

    Parameters
    ----------
    model : SavedModel
        A regression model on its own instrument (A), as :func:`load_model` reads it.
    standards : Standards
        The transfer standards (:func:`match_standards`), on the model's grid.
    methods : sequence of str, optional
        Candidates (names of :data:`METHODS`); default all that apply. A method named here
        that cannot run (no references, too few standards, no calibration data) is an error;
        by default it is skipped and the table says why. "none" is always tried.
    calibration : Spectra, optional
        The model's calibration spectra with references (recalibration, which applies only
        when every member of the model has a PLS).
    cv : int
        Folds over the standards; as many as standards (or more) is leave-one-out.
    random_state : int
        Seeds the folds and fine-tuning.
    max_epochs : int
        Most fine-tuning epochs the CV may choose.
    one_se : bool
        The simplest method within one standard error (of the per-fold errors) of the lowest
        CV error, instead of the lowest.
    source : mapping, optional
        Where the model came from (:func:`source_record`), kept in the record.
    """
    names = _check(model, standards, methods, calibration, cv)
    context = Context(model, calibration, random_state, max_epochs)
    folds = list(KFold(min(cv, len(standards)), shuffle=True,
                       random_state=random_state).split(standards.slave))
    reference = (standards.y if standards.y is not None
                 else np.asarray(model.predict(standards.master)).reshape(len(standards), -1))
    rows, oof = _score(names, context, standards, folds, reference, methods is not None)
    best = _choose([r for r in rows if r["status"] == "ok"], one_se)
    chosen = METHODS[best["method"]]()
    fitted = chosen.finish(context, standards, chosen.fit(context, standards, best["setting"]))
    cv_info = {"folds": len(folds), "kind": "leave-one-out" if len(folds) == len(standards)
               else f"{len(folds)}-fold", "seed": random_state,
               "rule": "one standard error" if one_se else "lowest",
               "reference": "reference values" if standards.y is not None
               else "the model's predictions of the standards measured on its instrument"}
    record = {"method": best["method"], "setting": best["setting"], "cv_rmse": best["cv_rmse"],
              "cv": cv_info, "standards": {"n": len(standards), "sha256": standards.checksum,
                                           "references": standards.y is not None},
              "source_model": dict(source) if source is not None else None}
    transfer = replace(fitted.transfer or TransferMap(), record=record)
    moved = replace(fitted, transfer=transfer, conformal=None)
    result = TransferResult(moved, best["method"], best["setting"], rows, cv_info)
    result.held_out = {"ids": standards.ids.tolist(), "reference": reference.tolist(),
                       "predictions": {r["method"]: oof[r["method"], r["index"]].tolist()
                                       for r in result.best_per_method() if "index" in r}}
    for row in rows:
        row.pop("index", None)
    return result


def _score(names: list[str], context: Context, standards: Standards,
           folds: list[tuple[np.ndarray, np.ndarray]], reference: np.ndarray,
           asked: bool) -> tuple[list[dict[str, Any]], dict[tuple[str, int], np.ndarray]]:
    """A row per method and setting (or per method not scored), and the CV predictions."""
    n_train = min(len(train) for train, _ in folds)
    scale = reference.std(axis=0)
    scale[scale == 0] = 1.0
    rows: list[dict[str, Any]] = []
    oof: dict[tuple[str, int], np.ndarray] = {}
    for name in names:
        method = METHODS[name]()
        reason = _why_not(method, context, standards, asked)
        grid = [] if reason else method.grid(context, n_train)
        if not reason and not grid:
            reason = f"no setting fits CV folds of {n_train} standards"
        if reason:
            rows.append({"method": name, "status": "skipped", "reason": reason})
            continue
        try:
            predictions = _cross_predict(method, context, standards, folds, grid)
        except _FAILURES as error:
            rows.append({"method": name, "status": "failed",
                         "reason": f"{type(error).__name__}: {error}".splitlines()[0]})
            continue
        for k, (setting, pred) in enumerate(zip(grid, predictions, strict=True)):
            rmse = np.sqrt(((pred - reference) ** 2).mean(axis=0))
            per_fold = [(np.sqrt(((pred[t] - reference[t]) ** 2).mean(axis=0)) / scale).mean()
                        for _, t in folds]
            oof[name, k] = pred
            rows.append({"method": name, "setting": setting, "status": "ok",
                         "cv_rmse": _scalar(rmse), "cv_nrmse": float((rmse / scale).mean()),
                         "cv_nrmse_se": float(np.std(per_fold, ddof=1) / np.sqrt(len(folds))),
                         "index": k})
    return rows, oof


def _choose(rows: list[dict[str, Any]], one_se: bool) -> dict[str, Any]:
    """The lowest score, or the first method within one SE of it and that method's best."""
    lowest = min(rows, key=lambda r: r["cv_nrmse"])  # min keeps the first of equal scores
    if not one_se:
        return lowest
    limit = lowest["cv_nrmse"] + lowest["cv_nrmse_se"]
    method = next(r["method"] for r in rows if r["cv_nrmse"] <= limit)
    return min((r for r in rows if r["method"] == method), key=lambda r: r["cv_nrmse"])


def _cross_predict(method: Method, context: Context, standards: Standards,
                   folds: list[tuple[np.ndarray, np.ndarray]],
                   grid: list[Setting]) -> list[np.ndarray]:
    """Out-of-fold predictions ``[n, n_targets]`` of every setting, on the same folds."""
    out: list[np.ndarray] | None = None
    for train, test in folds:
        preds = method.cv_predict(context, standards.subset(train), standards.slave[test], grid)
        if out is None:
            out = [np.empty((len(standards), np.shape(p)[-1] if np.ndim(p) > 1 else 1))
                   for p in preds]
        for held, pred in zip(out, preds, strict=True):
            held[test] = np.asarray(pred, dtype=np.float64).reshape(len(test), -1)
    assert out is not None
    return out


def _why_not(method: Method, context: Context, standards: Standards,
             asked: bool) -> str | None:
    """Why ``method`` cannot run here; an error when the user asked for it by name."""
    reason = method.unavailable(context)
    if reason is None and method.needs_references and standards.y is None:
        reason = "needs reference values of the standards (--target)"
    if reason is None and len(standards) < method.min_standards:
        reason = (f"needs at least {method.min_standards} standards; there are "
                  f"{len(standards)}")
    if reason is not None and asked and method.name != "none":
        raise DataError(f"method {method.name!r} {reason}; measure more standards, give what "
                        "it needs, or choose other --methods.")
    return reason


def _check(model: SavedModel, standards: Standards, methods: Sequence[str] | None,
           calibration: Spectra | None, cv: int) -> list[str]:
    """The methods to try, after refusing what cannot be transferred at all."""
    check_movable(model)
    if standards.master.shape[1] != len(model.wavelengths):
        raise DataError(f"the standards have {standards.master.shape[1]} points; the model "
                        f"reads {len(model.wavelengths)}; align them to the model's grid.")
    n_targets = len(model.target_names)
    for spectra_y, what in ((standards.y, "the standards"),
                            (None if calibration is None else calibration.y, "calibration")):
        if spectra_y is not None and spectra_y.shape[1] != n_targets:
            raise DataError(f"{what} give {spectra_y.shape[1]} reference columns; the model "
                            f"predicts {n_targets} ({', '.join(model.target_names)}).")
    if calibration is not None and calibration.y is None:
        raise DataError(f"{calibration.source}: calibration data need reference values.")
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2 (folds over the standards); got {cv!r}.")
    if len(standards) < MIN_STANDARDS:
        raise DataError(f"{len(standards)} transfer standards; cross-validation needs at least "
                        f"{MIN_STANDARDS}; measure more standards on both instruments.")
    unknown = sorted(set(methods or ()) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown transfer methods {unknown}; choose from {list(METHODS)}.")
    asked = set(METHODS) if methods is None else {"none", *methods}
    return [name for name in METHODS if name in asked]


def check_movable(model: SavedModel, name: str = "model") -> None:
    """Refuse a model that transfer cannot move: a classifier, or one moved already."""
    if model.task != "regression":
        raise DataError(f"{name}: a classification model; transfer corrects regression models.")
    if model.transfer is not None:
        raise DataError(
            f"{name}: already moved to another instrument (method "
            f"{model.transfer.record.get('method')!r}); transfer its source model with "
            "standards measured on the source instrument."
        )


def _scalar(values: np.ndarray) -> float | list[float]:
    """One target: a float; several: a list."""
    return float(values[0]) if values.size == 1 else [float(v) for v in values]
