"""The shape of model.json, checked before a model folder allocates anything.

A damaged or edited model.json (a list instead of an object, a missing key, a regression model
marked as a classifier, an input of 10^9 points) must be refused in one line before a network is
built from it: building first would allocate what the file claims. :func:`check_model_json`
checks types, the keys each part needs, and sizes against the file's own wavelength grid.

Each member has a ``kind`` ("network" when absent); :data:`MEMBER_CHECKS` holds the check of
each kind, so that a new kind of member comes with its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spectune.exceptions import ModelFileError

#: Most channels and points one input may have (a spectrum of 4 million points is far beyond
#: any instrument; a JSON that claims more is damaged).
MAX_CHANNELS = 64
MAX_POINTS = 2**22
TASKS = ("regression", "classification")

Member = dict[str, Any]


class _Fail:
    """Raises the one-line error of one part of the file."""

    def __init__(self, path: Path, part: str = "") -> None:
        self.path, self.part = path, part

    def __call__(self, problem: str) -> ModelFileError:
        where = f"{self.part}: " if self.part else ""
        return ModelFileError(f"{self.path}: {where}{problem}; the file is damaged or was "
                              "edited (write the model again with fit or tune).")

    def within(self, part: str) -> _Fail:
        return _Fail(self.path, part)


def check_model_json(meta: Any, path: Path) -> None:
    """Refuse a model.json that cannot describe a model, before anything is built from it."""
    fail = _Fail(path)
    if not isinstance(meta, dict):
        raise fail(f"expected a JSON object, found a {type(meta).__name__}")
    _require(meta, fail, task=str, wavelengths=list, target_names=list, weights=list,
             members=list, tensors=dict)
    if meta["task"] not in TASKS:
        raise fail(f"'task' is {meta['task']!r}, not one of {TASKS}")
    points = len(meta["wavelengths"])
    if not 2 <= points <= MAX_POINTS or not all(_is_number(w) for w in meta["wavelengths"]):
        raise fail(f"'wavelengths' must list 2 to {MAX_POINTS} numbers")
    names = meta["target_names"]
    if not names or not all(isinstance(n, str) for n in names):
        raise fail("'target_names' must list the target names")
    members = meta["members"]
    if not members or len(meta["weights"]) != len(members) or not all(
            _is_weight(w, len(names)) for w in meta["weights"]):
        raise fail(f"'members' ({len(members)}) and 'weights' ({len(meta['weights'])}) must be "
                   "non-empty lists of the same length, a weight a number or one per target")
    for index, member in enumerate(members):
        _check_member(member, meta["task"], points, len(names), fail.within(f"member {index}"))
    for name, shape in meta["tensors"].items():
        if not isinstance(shape, list) or not all(isinstance(v, int) and v >= 0 for v in shape):
            raise fail(f"'tensors': the shape of {name!r} must list non-negative integers")


def _check_member(member: Any, task: str, points: int, n_targets: int, fail: _Fail) -> None:
    if not isinstance(member, dict):
        raise fail(f"expected an object, found a {type(member).__name__}")
    kind = member.get("kind", "network")
    if kind not in MEMBER_CHECKS:
        raise fail(f"unknown kind {kind!r}; this spectune reads {', '.join(MEMBER_CHECKS)}")
    if member.get("task") != task:
        raise fail(f"'task' is {member.get('task')!r} but the model's is {task!r}")
    MEMBER_CHECKS[kind](member, task, points, n_targets, fail)


def _check_network(member: Member, task: str, points: int, n_targets: int, fail: _Fail) -> None:
    """A network: its input shape on the model's grid, and the outputs its task needs."""
    _require(member, fail, in_shape=list, preprocessing=dict, arch=dict, train_config=dict,
             history=dict)
    shape = member["in_shape"]
    if len(shape) != 2 or not all(isinstance(v, int) and v >= 1 for v in shape):
        raise fail(f"'in_shape' must be [channels, points], found {shape!r}")
    channels, length = shape
    if length != points or channels > MAX_CHANNELS:
        raise fail(f"'in_shape' {shape} does not fit the {points} wavelengths of the model "
                   f"(and at most {MAX_CHANNELS} channels)")
    if task == "regression":
        for key in ("y_mean", "y_std"):
            values = member.get(key)
            if values is not None and (not isinstance(values, list) or len(values) != n_targets
                                       or not all(_is_number(v) for v in values)):
                raise fail(f"'{key}' of a regression network must be null or {n_targets} "
                           "number(s)")
        if member.get("classes") is not None:
            raise fail("a regression network holds 'classes'")
    else:
        classes = member.get("classes")
        if not isinstance(classes, list) or len(classes) < 2:
            raise fail("a classification network needs 'classes': at least two labels")
    if member.get("pls") is not None and not isinstance(member["pls"], dict):
        raise fail("'pls' must be an object or null")


def _check_linear(member: Member, task: str, points: int, n_targets: int, fail: _Fail) -> None:
    """A linear model (PLS, Ridge, logistic): coefficients on the model's grid."""
    _require(member, fail, name=str, in_shape=list, preprocessing=dict, n_features=int,
             n_outputs=int)
    shape = member["in_shape"]
    if len(shape) != 2 or not all(isinstance(v, int) and v >= 1 for v in shape) or \
            shape[1] != points or shape[0] > MAX_CHANNELS:
        raise fail(f"'in_shape' {shape!r} does not fit the {points} wavelengths of the model")
    if not 1 <= member["n_features"] <= shape[0] * shape[1]:
        raise fail(f"'n_features' {member['n_features']} does not fit an input of {shape}")
    classes = member.get("classes")
    outputs = n_targets if task == "regression" else len(classes or [])
    if task == "classification" and (not isinstance(classes, list) or len(classes) < 2):
        raise fail("a classification model needs 'classes': at least two labels")
    if task == "regression" and classes is not None:
        raise fail("a regression model holds 'classes'")
    if member["n_outputs"] != outputs:
        raise fail(f"'n_outputs' is {member['n_outputs']}; the model has {outputs}")


def _is_weight(value: Any, n_targets: int) -> bool:
    if isinstance(value, list):
        return len(value) == n_targets and all(_is_number(v) for v in value)
    return _is_number(value)


def _require(part: dict[str, Any], fail: _Fail, **types: type) -> None:
    for key, kind in types.items():
        if key not in part:
            raise fail(f"no {key!r} key")
        if not isinstance(part[key], kind):
            raise fail(f"{key!r} must be a {kind.__name__}, found a {type(part[key]).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


#: kind -> check(member, task, n_points, n_targets, fail); add one per new kind of member.
MEMBER_CHECKS: dict[str, Callable[[Member, str, int, int, _Fail], None]] = {
    "network": _check_network,
    "linear": _check_linear,
}
