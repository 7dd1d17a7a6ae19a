"""Model folders: weights in safetensors, everything else in one JSON; loading runs no code.

A folder holds ``model.json`` and ``model.safetensors``. The JSON lists one or more members
(a single network, or an ensemble averaged with ``weights``), each with its architecture,
preprocessing, training settings and target mapping, plus the wavelength grid and target names
of the data it was trained on. Tensors are named ``m<i>.model.<param>`` and
``m<i>.pre.<fitted attribute path>``. A folder whose JSON and tensors disagree is refused.
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
from spectune.models import ArchSpec, build_model
from spectune.preprocess._spec import PreprocessingSpec, fitted_arrays, restore_fitted_arrays
from spectune.training._config import TrainConfig
from spectune.training._history import History
from spectune.training._network import SpectralNetwork

__all__ = ["SavedModel", "load_model", "save_model"]

FORMAT = "spectune-model"
FORMAT_VERSION = 1
JSON_NAME = "model.json"
TENSORS_NAME = "model.safetensors"


@dataclass
class SavedModel:
    """A loaded model folder: its members, their weights, and the data it expects."""

    members: list[SpectralNetwork]
    weights: np.ndarray
    wavelengths: np.ndarray
    target_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

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


def save_model(
    folder: Path,
    members: Sequence[SpectralNetwork],
    *,
    wavelengths: np.ndarray,
    target_names: Sequence[str],
    weights: Sequence[float] | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Write ``members`` (one network or an ensemble) to ``folder`` (created if needed)."""
    weights = np.full(len(members), 1.0 / len(members)) if weights is None else np.asarray(weights)
    tensors: dict[str, np.ndarray] = {}
    described = []
    for i, net in enumerate(members):
        for name, value in net.model.state_dict().items():
            tensors[f"m{i}.model.{name}"] = value.detach().cpu().numpy()
        for name, value in fitted_arrays(net.transformer).items():
            tensors[f"m{i}.pre.{name}"] = np.ascontiguousarray(value)
        described.append(_describe(net))
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
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / TENSORS_NAME))
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
    members = [_member(folder, i, d, tensors) for i, d in enumerate(meta["members"])]
    return SavedModel(
        members,
        np.asarray(meta["weights"]),
        np.asarray(meta["wavelengths"]),
        list(meta["target_names"]),
        meta.get("info", {}),
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
    }


def _member(
    folder: Path, i: int, d: dict[str, Any], tensors: dict[str, np.ndarray]
) -> SpectralNetwork:
    prefix = f"m{i}."
    try:
        arch = ArchSpec.from_dict(d["arch"])
        pre = PreprocessingSpec.from_dict(d["preprocessing"])
        in_shape = tuple(d["in_shape"])
        transformer = restore_fitted_arrays(
            pre,
            {k[len(prefix) + 4 :]: v for k, v in tensors.items() if k.startswith(prefix + "pre.")},
            *in_shape,
        )
        channels, points = pre.output_shape(*in_shape)
        model = build_model(arch, channels, points, seed=0)
        state = {
            k[len(prefix) + 6 :]: torch.from_numpy(v.copy())
            for k, v in tensors.items()
            if k.startswith(prefix + "model.")
        }
        model.load_state_dict(state, strict=True)
        config = TrainConfig(
            **{k: v for k, v in d["train_config"].items() if k != "class_weights"},
            class_weights=d["train_config"].get("class_weights"),
        )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # torch's state-dict errors span several lines
        raise ModelFileError(f"{folder}: member {i} cannot be rebuilt: {reason}") from None
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
    )


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
