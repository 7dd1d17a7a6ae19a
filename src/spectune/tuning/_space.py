"""Search spaces for Optuna, written as YAML or a dict, validated once at load time.

A space has the top-level keys ``name``, ``description``, ``parameters`` and ``constraints``.
``parameters`` is an ordered mapping; each parameter is one of::

    lr:         {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    n_fc:       {type: int, low: 1, high: 3}                 # optional: step, log
    batch_size: {type: int, low: 16, high: 256, step: 16}
    route:      {type: categorical, choices: [raw, snv, sg1]}
    ch_abs:     {type: bool}                                # categorical [false, true]
    optimizer:  adam                                        # a bare scalar is a fixed value
    init:       {type: fixed, value: he_normal}

and may carry ``doc:`` (free text), ``when:`` (it exists only when the condition holds, see
:mod:`spectune.tuning._conditions`) and ``repeat: {i: [1, 3]}``, which expands ``units_{i}`` into
``units_1 .. units_3``, substituting ``{i}`` in the name and in ``when``. Parameters are sampled in
the order written, so a condition may only refer to earlier parameters; this is checked at load
time, as are the ranges, the choices and the literals conditions compare with.

``constraints: [{at_least_one: [ch_refl, ch_abs, ...]}]`` keeps at least one of those booleans on
without resampling: the last of them (in space order) is suggested only when an earlier one is
already on, and is set on, without a suggestion, when all earlier ones are off. Every value Optuna
records is therefore a value the model really used, which TPE and fANOVA need; and the rule is a
pure function of the earlier values, so one trial always gives one configuration.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from spectune.tuning._conditions import check_condition
from spectune.tuning._parameter import (
    TOP_KEYS,
    Parameter,
    ParameterChecker,
    SearchSpaceError,
    check_constraints,
    hint,
)

if TYPE_CHECKING:
    import optuna

__all__ = ["BUILTIN_SPACES", "Parameter", "SearchSpace", "SearchSpaceError", "load_space"]

#: Names :func:`load_space` understands ("passos" picks its classification file by task).
BUILTIN_SPACES: tuple[str, ...] = ("default", "passos", "shen")

class SearchSpace:
    """An ordered, validated set of hyperparameters that samples itself from an Optuna trial.

    Build one with :meth:`from_yaml`, :meth:`from_dict` or :func:`load_space`; the format is
    described in this module's docstring.

    Attributes
    ----------
    name, description, source : str
    parameters : tuple of Parameter
        Expanded (``units_{i}`` -> ``units_1 ..``), in sampling order.
    spec : dict
        A copy of the mapping it was built from, to save with a run.

    Examples
    --------
    >>> import optuna
    >>> space = SearchSpace.from_dict({"parameters": {
    ...     "n_fc": {"type": "int", "low": 1, "high": 3},
    ...     "units_{i}": {"type": "int", "low": 8, "high": 64, "repeat": {"i": [1, 3]},
    ...                   "when": "n_fc >= {i}"}}})
    >>> params = space.sample(optuna.create_study().ask())
    >>> sorted(params) == ["n_fc"] + [f"units_{i}" for i in range(1, params["n_fc"] + 1)]
    True
    """

    def __init__(self, spec: Mapping[str, Any], *, source: str = "<dict>") -> None:
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(f"{source}: a search space must be a mapping with "
                                   f"'parameters', got {type(spec).__name__}")
        for key in spec:
            if key not in TOP_KEYS:
                raise SearchSpaceError(f"{source}: unknown top-level key {key!r}; use "
                                       f"{list(TOP_KEYS)}{hint(str(key), TOP_KEYS)}")
        raw = spec.get("parameters")
        if not isinstance(raw, Mapping) or not raw:
            raise SearchSpaceError(f"{source}: 'parameters' must be a non-empty mapping of "
                                   "name -> definition")
        self.source, self.spec = source, copy.deepcopy(dict(spec))
        self.name = str(spec.get("name", Path(source).stem))
        self.description = str(spec.get("description", ""))
        checkers = {}
        params: dict[str, Parameter] = {}
        for raw_name, entry in raw.items():
            checker = ParameterChecker(source, str(raw_name))
            for p in checker.parse(entry):
                if p.name in params:
                    checker.fail(f"{p.name!r} is defined twice")
                params[p.name], checkers[p.name] = p, checker
        domains: dict[str, tuple[tuple[Any, ...] | None, str]] = {}
        for p in params.values():  # conditions refer to earlier names and their values only
            if p.when is not None:
                try:
                    check_condition(p.when, domains, list(params))
                except ValueError as exc:
                    checkers[p.name].fail(f"when {p.when.text!r}: {exc}")
            domains[p.name] = (p.possible_values(), p.describe())
        self.parameters: tuple[Parameter, ...] = tuple(params.values())
        self._forced = check_constraints(source, spec.get("constraints"), params)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, source: str = "<dict>") -> SearchSpace:
        """Build from a mapping shaped like the YAML file; ``source`` names it in errors."""
        return cls(spec, source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Read a YAML file (``1e-4`` is a float; only true/false are booleans)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: search space file not found") from None
        try:
            spec = yaml.load(text, Loader=_SpaceLoader)  # a SafeLoader subclass: no objects
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SearchSpaceError(f"{path.name}: not valid YAML{where}: "
                                   f"{getattr(exc, 'problem', None) or exc}") from None
        return cls(spec, source=path.name)

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter name, in sampling order."""
        return tuple(p.name for p in self.parameters)

    @property
    def n_dimensions(self) -> int:
        """Parameters Optuna samples (fixed ones excluded), to size the random start-up."""
        return sum(p.type != "fixed" for p in self.parameters)

    def _walk(self, get: Callable[[Parameter], Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in self.parameters:
            if p.when is not None and not p.when.evaluate(values):
                continue
            others = self._forced.get(p.name)
            if others is not None and not any(values[n] for n in others):
                values[p.name] = True  # at_least_one: all earlier members are off
            else:
                values[p.name] = p.value if p.type == "fixed" else get(p)
        return values

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Suggest every active parameter from ``trial``, in order; fixed values included."""
        return self._walk(lambda p: p.suggest(trial))

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild :meth:`sample`'s output from recorded ``trial.params`` (for refits).

        Fixed and constraint-forced values are filled in; a missing active parameter or a name
        the space would not have sampled raises :class:`SearchSpaceError`.
        """
        def get(p: Parameter) -> Any:
            if p.name not in params:
                raise SearchSpaceError(f"{self.source}: parameter {p.name!r} is active for these "
                                       f"params but has no value; got {sorted(params)}")
            return params[p.name]

        out = self._walk(get)
        extra = [n for n in params if n not in out or out[n] != params[n]]
        if extra:
            raise SearchSpaceError(f"{self.source}: params {extra} are not (or not so) in this "
                                   "space for these values; are they from another space?")
        return out

    def draws(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """What a trial that draws ``values`` records (its active, sampled parameters), for
        ``study.enqueue_trial``; None when the space cannot draw them (a name missing, a value
        outside its range). Names the space does not sample are ignored."""
        drawn: dict[str, Any] = {}

        def get(p: Parameter) -> Any:
            if p.name not in values or not p.contains(values[p.name]):
                raise LookupError(p.name)
            drawn[p.name] = values[p.name]
            return values[p.name]

        try:
            self._walk(get)
        except LookupError:
            return None
        return drawn

    def grid(self, max_values: int = 64) -> dict[str, list[Any]]:
        """``{name: values}`` for :class:`optuna.samplers.GridSampler`.

        Every sampled parameter must be categorical/bool, or int/stepped float with at most
        ``max_values`` values. Conditional parameters are in the grid too; GridSampler then
        repeats configurations that differ only in inactive values.
        """
        out = {}
        for p in self.parameters:
            if p.type == "fixed":
                continue
            values = p.grid_values(max_values)
            if values is None:
                raise SearchSpaceError(
                    f"{self.source}: parameter {p.name!r}: grid() needs categorical, bool, or "
                    f"int/stepped-float parameters with at most {max_values} values; it is "
                    f"{p.describe()}: give it choices or a coarser step, or use another sampler")
            out[p.name] = values
        return out

    def __repr__(self) -> str:
        return (f"SearchSpace(name={self.name!r}, n_parameters={len(self.parameters)}, "
                f"n_dimensions={self.n_dimensions})")


class _SpaceLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats (``1e-4``) and booleans (only true/false)."""


_SpaceLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpaceLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_SpaceLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+.0123456789"))


def load_space(space: str | Path | Mapping[str, Any] | SearchSpace, *,
               task: str | None = None) -> SearchSpace:
    """A built-in space by name, a YAML file, a dict, or a space (returned as is).

    Parameters
    ----------
    space : str, Path, dict or SearchSpace
        ``"default"``, ``"passos"`` (its classification variant when ``task`` is
        "classification"), ``"shen"``, or a path to a ``.yaml`` file.
    task : {"regression", "classification"} or None
    """
    if task not in (None, "regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got task={task!r}")
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping):
        return SearchSpace.from_dict(space)
    text = str(space)
    if text in BUILTIN_SPACES or text == "passos_classification":
        stem = "passos_classification" if text == "passos" and task == "classification" else text
        ref = resources.files("spectune.tuning").joinpath("spaces", f"{stem}.yaml")
        with resources.as_file(ref) as path:
            built_in = SearchSpace.from_yaml(path)
        if task == "classification" and "pls_residual" in built_in.spec.get("parameters", {}):
            # a PLS-residual network is for regression targets: no dimension for TPE to waste
            spec = copy.deepcopy(built_in.spec)
            spec["parameters"]["pls_residual"] = False
            return SearchSpace.from_dict(spec, source=built_in.source)
        return built_in
    if Path(text).suffix in (".yaml", ".yml") or Path(text).exists():
        return SearchSpace.from_yaml(text)
    raise SearchSpaceError(f"unknown search space {text!r}: use one of {list(BUILTIN_SPACES)} "
                           f"or a path to a .yaml file{hint(text, BUILTIN_SPACES)}")
