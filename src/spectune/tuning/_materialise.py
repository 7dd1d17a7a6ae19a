"""Turn one trial's flat parameters into what a training run needs: route, ArchSpec, TrainConfig.

The mapping is table-driven: a parameter's name says where it goes.

========================  ===================================================================
name                      goes to
========================  ===================================================================
``route``                 a route name for ``make_route`` ("snv+sg1"), or "passos_concat"
``ch_<route>``            bool: stack this route as a channel; ``+`` is written ``_`` and
                          ``d1``/``d2`` mean ``sg1``/``sg2`` (``ch_abs_d1`` -> "abs+sg1")
``standardise``           bool: column standardisation after the route (calibration stats)
``arch``                  "blocks" (default: Conv-/FC-blocks) or "passos" (``passos_cnn``)
``n_conv``, ``n_fc``      number of Conv-blocks (default 0) and FC-blocks (default 1)
conv block fields         ``filters kernel_size stride padding conv_bn pool pool_size
                          pool_stride conv_dropout``, per block (``filters_2``) or shared
                          (``filters``); ``pool`` may be a bool switch (true = "max")
dense block fields        ``units fc_bn dropout``, per block (``units_1``) or shared
``activation``, ``init``  every block's activation; the weight initialisation
passos preset             ``n_dense first_ratio next_ratio`` (+ ``kernel_size padding dropout``)
TrainConfig fields        ``optimizer lr l2 batch_size max_epochs ...`` (any field name);
                          ``l2_beta`` is Passos & Mishra's beta: ``l2 = beta / 2``
size budget               ``flatten_points``: the last Conv-block pools to at most this many
                          points, so the first dense layer does not grow with the spectrum's
                          length; ``params_per_spectrum``: the network's parameter budget is
                          this times the calibration spectra (at least ``MIN_PARAMS``)
extras                    ``lr_mode`` and names starting ``aug_`` or ``extra_``: kept in
                          ``TrialPlan.extra`` for the runner
========================  ===================================================================

Any other name is an error, so a typo in a space cannot silently change nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from spectune.exceptions import InvalidArchitectureError
from spectune.models import (
    DEFAULT_MAX_PARAMS,
    ArchSpec,
    ArchSummary,
    ConvBlock,
    DenseBlock,
    passos_cnn,
    validate_arch,
)
from spectune.preprocess._routes import PASSOS_ROUTES
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.tuning._space import SearchSpace, SearchSpaceError
from spectune.tuning._study import TOO_LARGE

__all__ = ["MIN_PARAMS", "TooLargeError", "TrialPlan", "check_names", "materialise",
           "param_budget"]

PASSOS_CONCAT = "passos_concat"

_PREPROCESS = ("route", "standardise")
_ARCH = ("arch", "activation", "init", "n_conv", "n_fc")
_PASSOS = ("n_dense", "first_ratio", "next_ratio")
_PASSOS_SHARED = ("kernel_size", "padding", "dropout")  # block fields the preset also takes
# parameter stem -> ConvBlock / DenseBlock field
_CONV = {"filters": "filters", "kernel_size": "kernel_size", "stride": "stride",
         "padding": "padding", "conv_bn": "batch_norm", "pool": "pool", "pool_size": "pool_size",
         "pool_stride": "pool_stride", "conv_dropout": "dropout"}
_DENSE = {"units": "units", "fc_bn": "batch_norm", "dropout": "dropout"}
_TRAIN = tuple(f.name for f in dataclasses.fields(TrainConfig))
# parameter -> (TrainConfig field, conversion); Passos & Mishra use Keras l2(beta / 2).
_TRAIN_ALIASES: dict[str, tuple[str, Callable[[Any], Any]]] = {"l2_beta": ("l2", lambda b: b / 2)}
_SIZE = ("flatten_points", "params_per_spectrum")
_EXTRA = ("lr_mode", "aug", "pls_residual")
#: The smallest parameter budget ``params_per_spectrum`` gives, however few the spectra
#: (bench/SEARCH.md: 10,000 cost accuracy on fermentation's 16 calibration spectra).
MIN_PARAMS = 100_000
_EXTRA_PREFIXES = ("aug_", "extra_")
_CHANNEL_TOKENS = {"d1": "sg1", "d2": "sg2"}
_POOL = {True: "max", False: None, "none": None, None: None}
_INDEXED = re.compile(r"(?P<stem>[a-z_]+?)_(?P<index>[1-9][0-9]*)\Z")


def _fail(problem: str) -> SearchSpaceError:
    return SearchSpaceError(f"materialise: {problem}")


@dataclass(frozen=True)
class TrialPlan:
    """Everything one trial trains: preprocessing, architecture, training settings, extras.

    Attributes
    ----------
    preprocess : PreprocessingSpec
    arch : ArchSpec
    train : TrainConfig
    extra : dict
        Parameters for the runner itself (``lr_mode``, ``aug_*``, ``extra_*``).
    input_shape : tuple of int
        ``(channels, points)`` the network receives, after preprocessing.
    summary : ArchSummary
        Layer shapes and parameter count (``validate_arch``).
    params : dict
        The flat parameters the plan was made from.
    """

    preprocess: PreprocessingSpec
    arch: ArchSpec
    train: TrainConfig
    extra: dict[str, Any]
    input_shape: tuple[int, int]
    summary: ArchSummary
    params: dict[str, Any] = field(default_factory=dict)


def _hint(name: str) -> str:
    known = [*_PREPROCESS, *_ARCH, *_PASSOS, *_CONV, *_DENSE, *_TRAIN, *_TRAIN_ALIASES, *_SIZE,
             *_EXTRA]
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _group(name: str) -> tuple[str, str, int | None]:
    """``(group, stem, block index or None)`` for one parameter name; unknown names raise."""
    for group, names in (("preprocess", _PREPROCESS), ("arch", _ARCH), ("passos", _PASSOS),
                         ("train", (*_TRAIN, *_TRAIN_ALIASES)), ("size", _SIZE),
                         ("extra", _EXTRA)):
        if name in names:
            return group, name, None
    for group, table in (("conv", _CONV), ("dense", _DENSE)):
        if name in table:
            return group, name, None
        m = _INDEXED.match(name)
        if m and m["stem"] in table:
            return group, m["stem"], int(m["index"])
    if name.startswith("ch_") and len(name) > 3:
        return "channel", name, None
    if name.startswith(_EXTRA_PREFIXES):
        return "extra", name, None
    raise _fail(f"unknown parameter {name!r}{_hint(name)}; see the table in "
                "spectune.tuning._materialise for the names a space may use")


def check_names(space: SearchSpace) -> None:
    """Refuse, before the first trial, a parameter of ``space`` that no trial could use."""
    for name in space.names:
        try:
            _group(name)
        except SearchSpaceError as error:
            problem = str(error).removeprefix("materialise: ")
            raise SearchSpaceError(f"{space.source}: {problem}") from None


def _channel_route(name: str) -> str:
    return "+".join(_CHANNEL_TOKENS.get(t, t) for t in name[3:].split("_"))


def _route_plan(groups: Mapping[str, dict[str, Any]]) -> PreprocessingSpec:
    pre, channels = groups["preprocess"], groups["channel"]
    if channels and "route" in pre:
        raise _fail(f"give either 'route' or channel switches, not both: route={pre['route']!r}, "
                    f"channels {sorted(channels)}")
    if channels:
        routes = tuple(_channel_route(n) for n, on in channels.items() if on)
        if not routes:
            raise _fail(f"every channel switch is off ({sorted(channels)}); add "
                        "'constraints: [{at_least_one: [...]}]' to the space")
        return PreprocessingSpec(routes, "stack", bool(pre.get("standardise", False)))
    route = str(pre.get("route", "raw"))
    routes = PASSOS_ROUTES if route == PASSOS_CONCAT else (route,)
    # unknown route tokens raise make_route's ValueError here
    return PreprocessingSpec(routes, "concat", bool(pre.get("standardise", False)))


def _blocks(kind: str, n: int, values: dict[tuple[str, int | None], Any],
            activation: str) -> tuple[Any, ...]:
    """Build ``n`` blocks from per-block (``units_2``) or shared (``units``) values."""
    table, cls = (_CONV, ConvBlock) if kind == "conv" else (_DENSE, DenseBlock)
    count = "n_conv" if kind == "conv" else "n_fc"
    for stem, index in values:
        if index is not None and index > n:
            raise _fail(f"'{stem}_{index}' is given but {count} is {n}; add "
                        f"'when: \"{count} >= {index}\"' to it in the space")
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    blocks = []
    for i in range(1, n + 1):
        kwargs: dict[str, Any] = {"activation": activation}
        for stem, target in table.items():
            for key in ((stem, i), (stem, None)):
                if key in values:
                    kwargs[target] = values[key]
                    break
        if "pool" in kwargs:
            kwargs["pool"] = _POOL.get(kwargs["pool"], kwargs["pool"])
        missing = [f for f in required if f not in kwargs]
        if missing:
            raise _fail(f"{kind} block {i} needs {missing[0]!r} (as '{missing[0]}_{i}' or "
                        f"'{missing[0]}') since {count} is {n}")
        blocks.append(cls(**kwargs))
    return tuple(blocks)


def _passos_arch(groups: Mapping[str, dict[Any, Any]], length: int, task: str,
                 n_outputs: int) -> ArchSpec:
    """Passos & Mishra's (2022) preset, sized for the preprocessed length."""
    block_values = {**groups["conv"], **groups["dense"]}
    stray = [s if i is None else f"{s}_{i}" for s, i in block_values
             if s not in _PASSOS_SHARED or (i is not None and s != "dropout")]
    stray += [n for n in groups["arch"] if n not in ("arch", "init")]
    if stray:
        raise _fail(f"parameter {stray[0]!r} does not apply to arch 'passos' (its preset sets "
                    "it); remove it from the space or use arch 'blocks'")
    passos = groups["passos"]
    n_dense = passos.get("n_dense", 3)
    shared = {s: v for (s, i), v in block_values.items() if i is None}
    dropout = shared.get("dropout", 0.0)
    per_layer = {i: v for (s, i), v in groups["dense"].items() if i is not None}
    if per_layer:
        dropout = [per_layer.get(i, dropout) for i in range(1, n_dense + 1)]
    kwargs = {k: shared[k] for k in ("kernel_size", "padding") if k in shared}
    return passos_cnn(length, **kwargs, **passos, dropout=dropout, task=task,  # type: ignore[arg-type]
                      n_outputs=n_outputs)


class TooLargeError(InvalidArchitectureError):
    """A draw over the data's parameter budget (its message starts with ``TOO_LARGE``)."""


def _cap_flatten(arch: ArchSpec, channels: int, points: int, cap: int) -> ArchSpec:
    """Widen the last Conv-block's pooling so that at most ``cap`` points reach the Flatten."""
    if not arch.conv:
        return arch
    summary = validate_arch(arch, channels, points, max_params=None)
    flat = next(layer for layer in summary.layers if layer.module == "flatten")
    if flat.in_shape[1] <= cap:
        return arch
    last = len(arch.conv) - 1
    conv_out = next(layer.out_shape[1] for layer in summary.layers
                    if layer.module == f"features.{last}.conv")
    block = dataclasses.replace(arch.conv[-1], pool=arch.conv[-1].pool or "max",
                                pool_size=math.ceil(conv_out / cap), pool_stride=None)
    return dataclasses.replace(arch, conv=(*arch.conv[:-1], block))


def param_budget(params_per_spectrum: float | None, n_spectra: int | None) -> int:
    """The parameter budget a space's ``params_per_spectrum`` gives for ``n_spectra`` spectra
    (``DEFAULT_MAX_PARAMS``, the memory guard of every network, without them)."""
    if params_per_spectrum is None or n_spectra is None:
        return DEFAULT_MAX_PARAMS
    return max(MIN_PARAMS, int(params_per_spectrum * n_spectra))


def materialise(
    params: Mapping[str, Any],
    *,
    task: Literal["regression", "classification"],
    n_outputs: int,
    n_channels: int,
    length: int,
    train_defaults: TrainConfig | Mapping[str, Any] | None = None,
    n_spectra: int | None = None,
) -> TrialPlan:
    """Map a trial's flat parameters (``SearchSpace.sample``) to a :class:`TrialPlan`.

    Parameters
    ----------
    params : mapping
        Parameter name -> value; names follow this module's table.
    task : {"regression", "classification"}
    n_outputs : int
        Targets (regression) or classes (classification).
    n_channels, length : int
        Shape of one spectrum before preprocessing.
    train_defaults : TrainConfig or mapping, optional
        Settings the parameters do not set (device, seed, ...); parameters win.
    n_spectra : int or None
        Calibration spectra: with ``params_per_spectrum``, the parameter budget (else
        ``DEFAULT_MAX_PARAMS``, a memory guard).

    Returns
    -------
    TrialPlan

    Raises
    ------
    SearchSpaceError
        An unknown name, or parameters that do not fit together (a space mistake).
    InvalidArchitectureError
        A draw that cannot be built for this input (fails the trial, not the study).
    ValueError
        Invalid training settings or route names.
    """
    groups: dict[str, dict[Any, Any]] = {g: {} for g in (
        "preprocess", "channel", "arch", "passos", "conv", "dense", "train", "size", "extra")}
    for name, value in params.items():
        group, stem, index = _group(name)
        key = (stem, index) if group in ("conv", "dense") else name
        groups[group][key] = value
    route = _route_plan(groups)
    channels, points = route.output_shape(n_channels, length)
    arch_params = groups["arch"]
    kind = arch_params.get("arch", "blocks")
    size = groups["size"]
    if kind == "passos":
        if "flatten_points" in size:
            raise _fail("flatten_points does not apply to arch 'passos' (its dense funnel is "
                        "sized from the conv output); remove it or use arch 'blocks'")
        arch = _passos_arch(groups, points, task, n_outputs)
    elif kind == "blocks":
        if groups["passos"]:
            raise _fail(f"parameter {next(iter(groups['passos']))!r} needs 'arch: passos'")
        activation = arch_params.get("activation", "relu")
        conv = _blocks("conv", arch_params.get("n_conv", 0), groups["conv"], activation)
        fc = _blocks("dense", arch_params.get("n_fc", 1), groups["dense"], activation)
        arch = ArchSpec(conv=conv, fc=fc, n_outputs=n_outputs, task=task,
                        init=arch_params.get("init", "he_normal"))
        if size.get("flatten_points") is not None:
            arch = _cap_flatten(arch, channels, points, int(size["flatten_points"]))
    else:
        raise _fail(f"arch must be 'blocks' or 'passos', got {kind!r}")
    summary = validate_arch(arch, channels, points)  # DEFAULT_MAX_PARAMS: a memory guard
    budget = param_budget(size.get("params_per_spectrum"), n_spectra)
    if summary.n_params > budget:
        raise TooLargeError(
            f"{TOO_LARGE}{summary.n_params:,} parameters, over its budget of {budget:,} "
            f"({size['params_per_spectrum']:g} per calibration spectrum x {n_spectra}, at least "
            f"{MIN_PARAMS:,}); fewer filters or units, or a shorter route")
    base = train_defaults.as_dict() if isinstance(train_defaults, TrainConfig) else dict(
        train_defaults or {})
    for name, value in groups["train"].items():
        target, convert = _TRAIN_ALIASES.get(name, (name, lambda v: v))
        base[target] = convert(value)
    return TrialPlan(route, arch, TrainConfig(**base), dict(groups["extra"]),
                     (channels, points), summary, dict(params))
