"""Model folders: weights in safetensors, everything else in one JSON; loading runs no code.

A folder holds ``model.json`` and ``model.safetensors``. The JSON lists one or more members
(a single network, or an ensemble averaged with ``weights``), each with its architecture,
preprocessing, training settings and target mapping, plus the wavelength grid and target names
of the data it was trained on. Tensors are named ``m<i>.model.<param>`` and
``m<i>.pre.<fitted attribute path>``; a PLS-residual member adds its linear PLS part as
``m<i>.pls.coef``, ``m<i>.pls.intercept`` and ``m<i>.pls.pre.<fitted attribute path>``.
A folder may also hold conformalization data for prediction intervals (``conformal.safetensors``
with ``X`` and ``y``, described under ``"conformal"`` in the JSON) and a separate interval model
(``"interval_members"``, tensors ``i<k>.*``): see :mod:`spectune.training._conformal`; and its
applicability domain (``domain.json`` and ``domain.safetensors``): see
:mod:`spectune.models._domain`.
A folder whose JSON and tensors disagree is refused.
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
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from spectune.exceptions import ModelFileError
from spectune.models import ApplicabilityDomain, ArchSpec, build_model, read_domain, write_domain
from spectune.preprocess._spec import PreprocessingSpec, fitted_arrays, restore_fitted_arrays
from spectune.training._config import TrainConfig
from spectune.training._conformal import ConformalSet
from spectune.training._history import History
from spectune.training._network import SpectralNetwork
from spectune.training._residual import LinearPLS

__all__ = ["SavedModel", "load_model", "save_model"]

FORMAT = "spectune-model"
FORMAT_VERSION = 1
JSON_NAME = "model.json"
TENSORS_NAME = "model.safetensors"
CONFORMAL_NAME = "conformal.safetensors"


@dataclass
class SavedModel:
    """A loaded model folder: its members, their weights, and the data it expects.

    ``conformal`` holds the conformalization data of prediction intervals, if any, and
    ``interval_members`` the model they were held out from when it is not ``members``;
    ``domain`` the calibration domain that flags spectra unlike the calibration spectra.
    """

    members: list[SpectralNetwork]
    weights: np.ndarray
    wavelengths: np.ndarray
    target_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    conformal: ConformalSet | None = None
    interval_members: list[SpectralNetwork] | None = None
    domain: ApplicabilityDomain | None = None

    @property
    def task(self) -> str:
        return self.members[0].task

    @property
    def classes(self) -> np.ndarray | None:
        return self.members[0].classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Weighted mean of the members (regression) or label of the mean probability."""
        if self.task == "classification":
            return self.classes[self.predict_proba(X).argmax(axis=1)]
        return sum(w * m.predict(X) for w, m in zip(self.weights, self.members, strict=True))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights, self.members, strict=True))

    def interval_predict(self, X: np.ndarray) -> np.ndarray:
        """The interval model's prediction: mean of ``interval_members``, else :meth:`predict`."""
        if not self.interval_members:
            return self.predict(X)
        return np.mean([m.predict(X) for m in self.interval_members], axis=0)


def save_model(
    folder: Path,
    members: Sequence[SpectralNetwork],
    *,
    wavelengths: np.ndarray,
    target_names: Sequence[str],
    weights: Sequence[float] | None = None,
    info: dict[str, Any] | None = None,
    conformal: ConformalSet | None = None,
    interval_members: Sequence[SpectralNetwork] | None = None,
    domain: ApplicabilityDomain | None = None,
) -> None:
    """Write ``members`` (one network or an ensemble) to ``folder`` (created if needed).

    ``conformal``: data the interval model never fitted on, kept for prediction intervals
    (regression). The interval model is ``interval_members`` (averaged) when given, e.g. the
    best trial's network trained on calibration data only, else ``members`` themselves.
    ``domain``: a fitted :class:`~spectune.models.ApplicabilityDomain` of the calibration spectra.
    """
    weights = np.full(len(members), 1.0 / len(members)) if weights is None else np.asarray(weights)
    tensors: dict[str, np.ndarray] = {}
    for i, net in enumerate(members):
        tensors.update(_tensors(f"m{i}.", net))
    described = [_describe(net) for net in members]
    extra: dict[str, Any] = {}
    if conformal is not None:
        interval = list(interval_members or [])
        _check_conformal(conformal, [*members, *interval], len(target_names))
        extra["conformal"] = {
            "file": CONFORMAL_NAME, "source": conformal.source, "n_samples": conformal.n_samples,
            "model": "interval_members" if interval else "members",
            "shapes": {"X": list(conformal.X.shape), "y": list(conformal.y.shape)},
        }
        if interval:
            extra["interval_members"] = [_describe(net) for net in interval]
            for k, net in enumerate(interval):
                tensors.update(_tensors(f"i{k}.", net))
    elif interval_members:
        raise ValueError("interval_members without conformal data give no intervals; pass "
                         "conformal=ConformalSet(X, y, source) of data they never fitted on.")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": members[0].task,
        "wavelengths": np.asarray(wavelengths, dtype=float).tolist(),
        "target_names": list(target_names),
        "weights": weights.tolist(),
        "members": described,
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
        save_file({"X": np.ascontiguousarray(conformal.X), "y": np.ascontiguousarray(conformal.y)},
                  str(folder / CONFORMAL_NAME))
    (folder / JSON_NAME).write_text(json.dumps(meta, indent=1) + "\n")


def load_model(folder: Path) -> SavedModel:
    """Read a model folder written by :func:`save_model`; never unpickles anything."""
    folder = Path(folder)
    meta = _read_json(folder)
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
    interval = [_member(folder, f"interval member {k}", f"i{k}.", d, tensors)
                for k, d in enumerate(meta.get("interval_members", []))]
    _check_claimed(folder, tensors, meta)
    return SavedModel(
        members,
        np.asarray(meta["weights"]),
        np.asarray(meta["wavelengths"]),
        list(meta["target_names"]),
        meta.get("info", {}),
        _read_conformal(folder, meta.get("conformal")),
        interval or None,
        read_domain(folder, members[0].in_shape),
    )


def _describe(net: SpectralNetwork) -> dict[str, Any]:
    def listed(a: np.ndarray | None) -> list[Any] | None:
        return None if a is None else np.asarray(a).tolist()

    return {
        "task": net.task,
        "in_shape": list(net.in_shape),
        "preprocessing": net.preprocessing.to_dict(),
        "arch": net.arch.to_dict(),
        "train_config": net.config.as_dict(),
        "y_mean": listed(net.y_mean),
        "y_std": listed(net.y_std),
        "classes": listed(net.classes),
        "best_epoch": net.best_epoch,
        "history": net.history.as_dict(),
        "pls": None if net.linear is None else net.linear.to_dict(),
    }


def _tensors(prefix: str, net: SpectralNetwork) -> dict[str, np.ndarray]:
    """A member's weights, fitted preprocessing and PLS part, named under ``prefix``."""
    out = {f"{prefix}model.{name}": value.detach().cpu().numpy()
           for name, value in net.model.state_dict().items()}
    arrays = {"pre": fitted_arrays(net.transformer)}
    if net.linear is not None:
        out[f"{prefix}pls.coef"] = net.linear.coef
        out[f"{prefix}pls.intercept"] = net.linear.intercept
        arrays["pls.pre"] = fitted_arrays(net.linear.transformer)
    for part, named in arrays.items():
        out.update({f"{prefix}{part}.{k}": np.ascontiguousarray(v) for k, v in named.items()})
    return out


def _strip(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _member(
    folder: Path, label: str, prefix: str, d: dict[str, Any], tensors: dict[str, np.ndarray]
) -> SpectralNetwork:
    try:
        arch = ArchSpec.from_dict(d["arch"])
        pre = PreprocessingSpec.from_dict(d["preprocessing"])
        in_shape = tuple(d["in_shape"])
        transformer = restore_fitted_arrays(pre, _strip(tensors, prefix + "pre."), *in_shape)
        channels, points = pre.output_shape(*in_shape)
        model = build_model(arch, channels, points, seed=0)
        weights = _strip(tensors, prefix + "model.")
        state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
        model.load_state_dict(state, strict=True)
        linear = _linear(d.get("pls"), prefix, tensors, in_shape)
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
    d: dict[str, Any] | None, prefix: str, tensors: dict[str, np.ndarray], in_shape: tuple
) -> LinearPLS | None:
    """The PLS part of a residual member (None for a plain network)."""
    if d is None:
        return None
    spec = PreprocessingSpec.from_dict(d["preprocessing"])
    transformer = restore_fitted_arrays(spec, _strip(tensors, prefix + "pls.pre."), *in_shape)
    coef, intercept = tensors[prefix + "pls.coef"], tensors[prefix + "pls.intercept"]
    expected = (d["n_features"], d["n_targets"])
    if coef.shape != expected or intercept.shape != expected[1:]:
        raise ValueError(f"PLS coefficients of shape {coef.shape} and intercept {intercept.shape}"
                         f"; the JSON describes {expected[0]} features and {expected[1]} targets")
    return LinearPLS(spec, transformer, coef, intercept, int(d["n_components"]))


def _check_claimed(folder: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Refuse tensors that no description accounts for (e.g. a deleted "pls" entry)."""
    parts = [(f"{kind}{i}.", d) for kind, key in (("m", "members"), ("i", "interval_members"))
             for i, d in enumerate(meta.get(key, []))]
    claimed = tuple(f"{prefix}{part}." for prefix, d in parts
                    for part in ("model", "pre", *(["pls"] if d.get("pls") else [])))
    unclaimed = sorted(name for name in tensors if not name.startswith(claimed))
    if unclaimed:
        raise ModelFileError(
            f"{folder}: {len(unclaimed)} tensors (first: {unclaimed[0]}) belong to no part that "
            f"{JSON_NAME} describes; the folder is damaged or was edited."
        )


def _check_conformal(conformal: ConformalSet, nets: Sequence[SpectralNetwork],
                     n_targets: int) -> None:
    """Conformal data must fit the interval model: regression, same spectra shape and targets."""
    if any(net.task != "regression" for net in nets):
        raise ValueError("conformal data give intervals for regression models; these members "
                         "classify.")
    channels, points = nets[0].in_shape
    shapes = {(channels, points)} | ({(points,)} if channels == 1 else set())
    if conformal.X.shape[1:] not in shapes or conformal.y.shape[1] != n_targets:
        raise ValueError(
            f"conformal data of shapes X {conformal.X.shape}, y {conformal.y.shape} do not fit "
            f"the model: spectra of {channels} channel(s) x {points} points, {n_targets} "
            "target(s)."
        )


def _read_conformal(folder: Path, entry: dict[str, Any] | None) -> ConformalSet | None:
    """The conformalization set, checked against the JSON's description."""
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
    return ConformalSet(arrays["X"], arrays["y"], str(entry.get("source", "")))


def _read_json(folder: Path) -> dict[str, Any]:
    path = folder / JSON_NAME
    if not path.is_file():
        raise ModelFileError(f"{folder}: no {JSON_NAME}; is this a spectune model folder?")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: not valid JSON ({error}).") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
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
