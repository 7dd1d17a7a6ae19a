"""Model folders: weights in safetensors, everything else in one JSON; loading runs no code.

A folder holds ``model.json`` and ``model.safetensors``. The JSON lists one or more members
combined with ``weights`` (one row per member, one column per target for regression; one per
member for classes, on the probabilities): networks (``"kind": "network"``: architecture,
preprocessing, training settings and target mapping) and linear models (``"kind": "linear"``:
PLS, Ridge, logistic regression as arrays), plus the wavelength grid and target names of the
data they were trained on. Tensors are named ``m<i>.model.<param>`` and
``m<i>.pre.<fitted attribute path>``; a PLS-residual network adds its PLS part as
``m<i>.pls.coef``, ``m<i>.pls.intercept`` and ``m<i>.pls.pre.<...>``; a linear member is
``m<i>.coef``, ``m<i>.intercept`` and ``m<i>.pre.<...>``. A folder may also hold the
out-of-fold predictions behind its prediction intervals (``conformal.safetensors``, described
under ``"conformal"``): see :mod:`spectune.training._conformal`. A folder whose JSON and tensors
disagree is refused. Its applicability domain sits beside it (``domain.json`` and
``domain.safetensors``): see :mod:`spectune.models._domain`. A model moved to another
instrument holds its corrections under ``"transfer"`` (tensors ``transfer.matrix``/``offset`` on
the spectra in, ``transfer.slope``/``bias`` on the predictions out): see
:mod:`spectune.training._transfer_map`.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from spectune.exceptions import ModelFileError
from spectune.models import (
    ApplicabilityDomain,
    ArchSpec,
    LinearModel,
    build_model,
    read_domain,
    write_domain,
)
from spectune.preprocess._spec import PreprocessingSpec, fitted_arrays, restore_fitted_arrays
from spectune.training._config import TrainConfig
from spectune.training._conformal import ConformalSet
from spectune.training._history import History
from spectune.training._network import SpectralNetwork
from spectune.training._schema import check_model_json
from spectune.training._transfer_map import TransferMap, read_transfer

__all__ = ["SavedModel", "load_model", "save_model"]

FORMAT = "spectune-model"
FORMAT_VERSION = 2
JSON_NAME = "model.json"
TENSORS_NAME = "model.safetensors"
CONFORMAL_NAME = "conformal.safetensors"


Member = SpectralNetwork | LinearModel


@dataclass
class SavedModel:
    """A loaded model folder: its members, their weights, and the data it expects.

    ``weights`` is ``[n_members, n_targets]`` for regression (each target its own mix) and
    ``[n_members]`` for classes (on the probabilities). ``conformal`` holds the out-of-fold
    predictions behind prediction intervals, if any. ``domain``
    is the calibration domain that flags spectra unlike the calibration spectra. ``transfer``
    corrects a model moved to another instrument: spectra go through :meth:`to_master` first
    (the domain too), predictions get its slope and bias.
    """

    members: list[Member]
    weights: np.ndarray
    wavelengths: np.ndarray
    target_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    conformal: ConformalSet | None = None
    domain: ApplicabilityDomain | None = None
    transfer: TransferMap | None = None

    @property
    def task(self) -> str:
        return self.members[0].task

    @property
    def classes(self) -> np.ndarray | None:
        return self.members[0].classes

    def to_master(self, X: np.ndarray) -> np.ndarray:
        """Spectra as the members see them: moved by the transfer's map, if any."""
        return X if self.transfer is None else self.transfer.to_master(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Weighted sum of the members (regression) or label of the weighted probability."""
        if self.task == "classification":
            return self.classes[self.predict_proba(X).argmax(axis=1)]
        X = self.to_master(X)
        weights = self.weights.reshape(len(self.members), -1)
        out = sum(w * m.predict(X) for w, m in zip(weights, self.members, strict=True))
        return out if self.transfer is None else self.transfer.correct(out)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = self.to_master(X)
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights, self.members, strict=True))


def save_model(
    folder: Path,
    members: Sequence[Member],
    *,
    wavelengths: np.ndarray,
    target_names: Sequence[str],
    weights: npt.ArrayLike | None = None,
    info: dict[str, Any] | None = None,
    conformal: ConformalSet | None = None,
    domain: ApplicabilityDomain | None = None,
    transfer: TransferMap | None = None,
) -> None:
    """Write ``members`` (one network, or a weighted mix of networks and linear models).

    ``weights``: ``[n_members]`` or, for regression, ``[n_members, n_targets]`` (default:
    equal). ``conformal``: out-of-fold predictions of exactly this model for its prediction
    intervals (regression).
    ``domain``: a fitted :class:`~spectune.models.ApplicabilityDomain` of the calibration spectra.
    ``transfer``: the corrections of a model moved to another instrument.
    """
    n = len(members)
    weights = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape[0] != n or weights.ndim > 2:
        raise ValueError(f"weights of shape {weights.shape}; expected ({n},) or ({n}, "
                         f"{len(target_names)}).")
    tensors: dict[str, np.ndarray] = {}
    for i, member in enumerate(members):
        tensors.update(_tensors(f"m{i}.", member))
    extra: dict[str, Any] = {}
    if conformal is not None:
        _check_conformal(conformal, members, len(target_names))
        extra["conformal"] = {"file": CONFORMAL_NAME, "source": conformal.source,
                              "n_samples": conformal.n_samples,
                              "shapes": {"predictions": list(conformal.predictions.shape),
                                         "y": list(conformal.y.shape)}}
    if transfer is not None:
        transfer.check_fits(len(wavelengths), len(target_names))
        tensors.update({f"transfer.{k}": v for k, v in transfer.arrays().items()})
        extra["transfer"] = {"record": transfer.record, "arrays": sorted(transfer.arrays())}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": members[0].task,
        "wavelengths": np.asarray(wavelengths, dtype=float).tolist(),
        "target_names": list(target_names),
        "weights": weights.tolist(),
        "members": [_describe(member) for member in members],
        "tensors": {name: list(array.shape) for name, array in tensors.items()},
        "versions": _versions(),
        "info": info or {},
        **extra,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_domain(folder, domain, members[0].in_shape)  # first: a domain that does not fit fails
    save_file(tensors, str(folder / TENSORS_NAME))
    if conformal is None:
        (folder / CONFORMAL_NAME).unlink(missing_ok=True)
    else:
        save_file({"predictions": np.ascontiguousarray(conformal.predictions),
                   "y": np.ascontiguousarray(conformal.y)}, str(folder / CONFORMAL_NAME))
    (folder / JSON_NAME).write_text(json.dumps(meta, indent=1) + "\n")


def load_model(folder: Path) -> SavedModel:
    """Read a model folder written by :func:`save_model`; never unpickles anything."""
    folder = Path(folder)
    meta = _read_json(folder)
    check_model_json(meta, folder / JSON_NAME)  # before anything is built from it
    try:
        tensors = load_file(str(folder / TENSORS_NAME))
    except (FileNotFoundError, SafetensorError) as error:
        raise ModelFileError(f"{folder / TENSORS_NAME}: cannot be read ({error}).") from None
    shapes = {name: list(array.shape) for name, array in tensors.items()}
    if shapes != meta["tensors"]:
        differ = sorted(
            k for k in {*shapes, *meta["tensors"]} if shapes.get(k) != meta["tensors"].get(k)
        )
        raise ModelFileError(
            f"{folder}: {JSON_NAME} and {TENSORS_NAME} disagree on {len(differ)} tensors "
            f"(first: {differ[0]}); the folder is damaged or was edited."
        )
    members = [_member(folder, f"member {i}", f"m{i}.", d, tensors)
               for i, d in enumerate(meta["members"])]
    _check_claimed(folder, tensors, meta)
    transfer = None if "transfer" not in meta else read_transfer(
        folder, meta["transfer"], _strip(tensors, "transfer."), len(meta["wavelengths"]),
        len(meta["target_names"]))
    return SavedModel(
        members,
        np.asarray(meta["weights"], dtype=float),
        np.asarray(meta["wavelengths"]),
        list(meta["target_names"]),
        meta.get("info", {}),
        _read_conformal(folder, meta.get("conformal")),
        read_domain(folder, members[0].in_shape),
        transfer,
    )


def _describe(member: Member) -> dict[str, Any]:
    if isinstance(member, LinearModel):
        return {"kind": "linear", **member.to_dict()}

    def listed(a: np.ndarray | None) -> list[Any] | None:
        return None if a is None else np.asarray(a).tolist()

    return {
        "kind": "network",
        "task": member.task,
        "in_shape": list(member.in_shape),
        "preprocessing": member.preprocessing.to_dict(),
        "arch": member.arch.to_dict(),
        "train_config": member.config.as_dict(),
        "y_mean": listed(member.y_mean),
        "y_std": listed(member.y_std),
        "classes": listed(member.classes),
        "best_epoch": member.best_epoch,
        "history": member.history.as_dict(),
        "pls": None if member.linear is None else member.linear.to_dict(),
    }


def _tensors(prefix: str, member: Member) -> dict[str, np.ndarray]:
    """A member's weights, fitted preprocessing and linear parts, named under ``prefix``."""
    if isinstance(member, LinearModel):
        return {f"{prefix}coef": member.coef, f"{prefix}intercept": member.intercept,
                **_named(f"{prefix}pre.", fitted_arrays(member.transformer))}
    out = {f"{prefix}model.{name}": value.detach().cpu().numpy()
           for name, value in member.model.state_dict().items()}
    out.update(_named(f"{prefix}pre.", fitted_arrays(member.transformer)))
    if member.linear is not None:
        out[f"{prefix}pls.coef"] = member.linear.coef
        out[f"{prefix}pls.intercept"] = member.linear.intercept
        out.update(_named(f"{prefix}pls.pre.", fitted_arrays(member.linear.transformer)))
    return out


def _named(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}{k}": np.ascontiguousarray(v) for k, v in arrays.items()}


def _strip(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _member(
    folder: Path, label: str, prefix: str, d: dict[str, Any], tensors: dict[str, np.ndarray]
) -> Member:
    try:
        if d.get("kind", "network") == "linear":
            channels, points = (int(v) for v in d["in_shape"])
            return _linear(d, prefix, tensors, (1, channels * points), (channels, points))
        arch = ArchSpec.from_dict(d["arch"])
        pre = PreprocessingSpec.from_dict(d["preprocessing"])
        in_shape = tuple(d["in_shape"])
        transformer = restore_fitted_arrays(pre, _strip(tensors, prefix + "pre."), *in_shape)
        channels, points = pre.output_shape(*in_shape)
        model = build_model(arch, channels, points, seed=0)
        weights = _strip(tensors, prefix + "model.")
        state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
        model.load_state_dict(state, strict=True)
        linear = None if d.get("pls") is None else _linear(
            d["pls"], prefix + "pls.", tensors, in_shape, in_shape)
        config = TrainConfig(
            **{k: v for k, v in d["train_config"].items() if k != "class_weights"},
            class_weights=d["train_config"].get("class_weights"),
        )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # torch's state-dict errors span several lines
        raise ModelFileError(f"{folder}: {label} cannot be rebuilt: {reason}") from None
    model.eval()
    optional = {
        k: None if d.get(k) is None else np.asarray(d[k]) for k in ("y_mean", "y_std", "classes")
    }
    return SpectralNetwork(
        pre,
        transformer,
        arch,
        model,
        d["task"],
        in_shape,
        optional["y_mean"],
        optional["y_std"],
        optional["classes"],
        History.from_dict(d["history"]),
        d.get("best_epoch"),
        config,
        linear,
    )


def _linear(
    d: dict[str, Any], prefix: str, tensors: dict[str, np.ndarray], fitted_shape: tuple,
    in_shape: tuple,
) -> LinearModel:
    """A linear member, or the PLS part of a residual network (``prefix`` ``m<i>.pls.``);
    its route was fitted on spectra of ``fitted_shape`` (channels side by side)."""
    spec = PreprocessingSpec.from_dict(d["preprocessing"])
    transformer = restore_fitted_arrays(spec, _strip(tensors, prefix + "pre."), *fitted_shape)
    coef, intercept = tensors[prefix + "coef"], tensors[prefix + "intercept"]
    expected = (d["n_features"], d["n_outputs"])
    if coef.shape != expected or intercept.shape != expected[1:]:
        raise ValueError(f"linear coefficients of shape {coef.shape} and intercept "
                         f"{intercept.shape}; the JSON describes {expected[0]} features and "
                         f"{expected[1]} outputs")
    classes = None if d.get("classes") is None else np.asarray(d["classes"])
    return LinearModel(str(d["name"]), spec, transformer, coef, intercept, str(d["task"]),
                       classes, dict(d.get("settings") or {}), (int(in_shape[0]),
                                                                 int(in_shape[1])))


def _check_claimed(folder: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Refuse tensors that no description accounts for (e.g. a deleted "pls" entry)."""
    claimed: list[str] = []
    for i, d in enumerate(meta.get("members", [])):
        if d.get("kind", "network") == "linear":
            claimed += [f"m{i}.coef", f"m{i}.intercept", f"m{i}.pre."]
        else:
            claimed += [f"m{i}.model.", f"m{i}.pre."] + ([f"m{i}.pls."] if d.get("pls") else [])
    claimed += ["transfer."] if "transfer" in meta else []
    unclaimed = sorted(name for name in tensors if not name.startswith(tuple(claimed)))
    if unclaimed:
        raise ModelFileError(
            f"{folder}: {len(unclaimed)} tensors (first: {unclaimed[0]}) belong to no part that "
            f"{JSON_NAME} describes; the folder is damaged or was edited."
        )


def _check_conformal(conformal: ConformalSet, members: Sequence[Member], n_targets: int) -> None:
    """Out-of-fold predictions fit the model: regression, one column per target."""
    if any(member.task != "regression" for member in members):
        raise ValueError("conformal data give intervals for regression models; these members "
                         "classify.")
    if conformal.y.shape[1] != n_targets:
        raise ValueError(f"conformal data of {conformal.y.shape[1]} target(s); the model has "
                         f"{n_targets}.")


def _read_conformal(folder: Path, entry: dict[str, Any] | None) -> ConformalSet | None:
    """The out-of-fold predictions and targets, checked against the JSON's description."""
    if entry is None:
        return None
    path = folder / CONFORMAL_NAME
    try:
        arrays = load_file(str(path))
    except (FileNotFoundError, SafetensorError) as error:
        raise ModelFileError(f"{path}: cannot be read ({error}).") from None
    shapes = {name: list(array.shape) for name, array in arrays.items()}
    if shapes != entry.get("shapes"):
        raise ModelFileError(
            f"{folder}: {JSON_NAME} and {CONFORMAL_NAME} disagree (arrays {shapes}, described "
            f"{entry.get('shapes')}); the folder is damaged or was edited."
        )
    return ConformalSet(arrays["predictions"], arrays["y"], str(entry.get("source", "")))


def _read_json(folder: Path) -> dict[str, Any]:
    path = folder / JSON_NAME
    if not path.is_file():
        raise ModelFileError(f"{folder}: no {JSON_NAME}; is this a spectune model folder?")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: not valid JSON ({error}).") from None
    if isinstance(meta, dict) and (meta.get("format") != FORMAT
                                   or meta.get("format_version") != FORMAT_VERSION):
        raise ModelFileError(
            f"{path}: format {meta.get('format')!r} version {meta.get('format_version')!r}; "
            f"this spectune reads {FORMAT!r} version {FORMAT_VERSION}."
        )
    return meta


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("spectune", "torch", "numpy", "scikit-learn", "scipy", "optuna"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = "not installed"
    return out
