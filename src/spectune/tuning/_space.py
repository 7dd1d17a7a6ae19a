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
import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from spectune.exceptions import SpectuneError
from spectune.tuning._conditions import Condition, check_condition, parse_condition

if TYPE_CHECKING:
    import optuna

__all__ = ["BUILTIN_SPACES", "Parameter", "SearchSpace", "SearchSpaceError", "load_space"]

#: Names :func:`load_space` understands ("passos" picks its classification file by task).
BUILTIN_SPACES: tuple[str, ...] = ("default", "passos", "shen")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_COMMON_KEYS = ("type", "when", "repeat", "doc")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "int": ("low", "high", "step", "log"),
    "float": ("low", "high", "step", "log"),
    "categorical": ("choices",),
    "bool": (),
    "fixed": ("value",),
}
_TOP_KEYS = ("name", "description", "parameters", "constraints")


class SearchSpaceError(SpectuneError, ValueError):
    """A search space that cannot be used; the message names the file, parameter and fix."""


def _hint(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True)
class Parameter:
    """One expanded parameter of a :class:`SearchSpace`.

    ``type`` is "int", "float", "categorical" or "fixed" ("bool" is stored as a categorical
    with choices ``(False, True)``). Only the fields of its type are meaningful.
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    value: Any = None
    when: Condition | None = None

    @property
    def is_bool(self) -> bool:
        return self.type == "categorical" and set(self.choices) == {False, True} and all(
            isinstance(c, bool) for c in self.choices
        )

    def possible_values(self) -> tuple[Any, ...] | None:
        """The finite set of values (categorical, fixed), else None."""
        if self.type == "categorical":
            return self.choices
        return (self.value,) if self.type == "fixed" else None

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Ask ``trial`` for this parameter with the matching ``suggest_*`` call."""
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),  # type: ignore[arg-type]
                                     step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high,  # type: ignore[arg-type]
                                       step=self.step, log=self.log)
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, self.choices)
        return self.value

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take (a fixed one: only its value)."""
        if self.type in ("categorical", "fixed"):
            return any(type(value) is type(c) and value == c
                       for c in self.possible_values() or ())
        if not _is_number(value) or not self.low <= value <= self.high:  # type: ignore[operator]
            return False
        if self.type == "int" and int(value) != value:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step  # type: ignore[operator]
        return abs(steps - round(steps)) < 1e-9

    def grid_values(self, max_values: int) -> list[Any] | None:
        """Every value, for GridSampler; None when continuous or more than ``max_values``."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type not in ("int", "float") or (self.type == "float" and self.step is None):
            return None
        step = self.step or 1
        n = math.floor((self.high - self.low) / step + 1e-9) + 1  # type: ignore[operator]
        if n > max_values:
            return None
        if self.type == "int":
            return [int(self.low) + k * int(step) for k in range(n)]  # type: ignore[arg-type]
        return [round(self.low + k * step, 12) for k in range(n)]  # type: ignore[operator]

    def describe(self) -> str:
        """A short human form: ``int 1..5 step 2``, ``float 1e-4..1e-2 log``, ``{a, b}``."""
        if self.type in ("int", "float"):
            extra = " log" if self.log else (f" step {self.step:g}" if self.step else "")
            return f"{self.type} {self.low:g}..{self.high:g}{extra}"
        return "{" + ", ".join(map(str, self.possible_values() or ())) + "}"


class _Checker:
    """Parses one raw parameter entry, raising one-line errors that name source and parameter."""

    def __init__(self, source: str, raw_name: str) -> None:
        self.source, self.raw_name = source, raw_name

    def fail(self, problem: str) -> NoReturn:
        raise SearchSpaceError(f"{self.source}: parameter {self.raw_name!r}: {problem}")

    def number(self, spec: Mapping[str, Any], key: str, integer: bool) -> Any:
        value = spec[key]
        if integer and not (isinstance(value, int) and not isinstance(value, bool)):
            self.fail(f"{key} must be an integer, got {spec[key]!r}")
        if not _is_number(value) or not math.isfinite(value):
            self.fail(f"{key} must be a finite number, got {spec[key]!r}")
        return value

    def numeric(self, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        integer = kind == "int"
        for key in ("low", "high"):
            if key not in spec:
                self.fail(f"type {kind} needs '{key}'")
        low, high = self.number(spec, "low", integer), self.number(spec, "high", integer)
        step = self.number(spec, "step", integer) if spec.get("step") is not None else None
        log = spec.get("log", False)
        if not isinstance(log, bool):
            self.fail(f"log must be true or false, got {log!r}")
        if low > high:
            self.fail(f"low {low} > high {high}")
        if step is not None and step <= 0:
            self.fail(f"step must be > 0, got {step}")
        if log and low <= 0:
            self.fail(f"log scale needs low > 0, got low {low}")
        if log and step is not None and not (integer and step == 1):
            self.fail("log and step cannot be combined (Optuna samples a log scale continuously)")
        if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-9:
            self.fail(f"high {high} is not low {low} plus a whole number of steps {step}")
        return {"low": low, "high": high, "step": step, "log": log}

    def categorical(self, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            self.fail(f"choices must be a non-empty list, got {choices!r}")
        for c in choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                self.fail(f"choice {c!r} must be a number, string, boolean or null")
        if len({(type(c), c) for c in choices}) < len(choices):
            self.fail(f"choices repeat a value: {choices}")
        return {"choices": tuple(choices)}

    def boolean(self, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "categorical", "choices": (False, True)}

    def fixed(self, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        if "value" not in spec:
            self.fail("type fixed needs 'value'")
        return {"value": spec["value"]}

    def repeat(self, spec: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``[(placeholder, index)]`` pairs, or ``[("", "")]`` for a plain parameter."""
        rep = spec.get("repeat")
        if rep is None:
            if "{" in self.raw_name:
                self.fail("the name has a '{...}' placeholder but no 'repeat'")
            return [("", "")]
        if not isinstance(rep, Mapping) or len(rep) != 1:
            self.fail(f"repeat must map one index name to [first, last], got {rep!r}")
        (var, bounds), = rep.items()
        ok = isinstance(bounds, list) and len(bounds) == 2 and all(
            isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        if not ok or bounds[0] > bounds[1]:
            self.fail(f"repeat {{{var}: ...}} needs [first, last] integers, first <= last; "
                      f"got {bounds!r}")
        if "{" + str(var) + "}" not in self.raw_name:
            self.fail(f"repeat uses index {var!r} but the name has no '{{{var}}}'")
        return [("{" + str(var) + "}", str(k)) for k in range(bounds[0], bounds[1] + 1)]

    def parse(self, spec: Any) -> list[Parameter]:
        if not isinstance(spec, Mapping):
            if isinstance(spec, list):
                self.fail("give a mapping with 'type' (a list is ambiguous: use "
                          "'type: categorical, choices: [...]' or 'type: fixed, value: [...]')")
            spec = {"type": "fixed", "value": spec}
        kind = spec.get("type")
        if kind not in _TYPE_KEYS:
            self.fail(f"unknown type {kind!r}; use one of {list(_TYPE_KEYS)}"
                      + _hint(str(kind), list(_TYPE_KEYS)))
        allowed = _COMMON_KEYS + _TYPE_KEYS[kind]
        for key in spec:
            if key not in allowed:
                self.fail(f"unknown key {key!r} for type {kind}{_hint(str(key), allowed)}")
        build: Callable[[str, Mapping[str, Any]], dict[str, Any]] = {
            "int": self.numeric, "float": self.numeric, "categorical": self.categorical,
            "bool": self.boolean, "fixed": self.fixed,
        }[kind]
        fields = {"type": kind, **build(kind, spec)}
        when = spec.get("when")
        if when is not None and not isinstance(when, str):
            self.fail(f"when must be a string such as \"n_fc >= 2\", got {when!r}")
        out = []
        for placeholder, index in self.repeat(spec):
            name = self.raw_name.replace(placeholder, index) if placeholder else self.raw_name
            if not _IDENT.match(name):
                self.fail(f"name {name!r} must be letters, digits and '_', not starting "
                          "with a digit")
            condition = None
            if when is not None:
                text = when.replace(placeholder, index) if placeholder else when
                try:
                    condition = parse_condition(text)
                except ValueError as exc:
                    self.fail(f"when {when!r}: {exc}")
            out.append(Parameter(name=name, when=condition, **fields))
        return out


def _check_constraints(
    source: str, raw: Any, params: Mapping[str, Parameter]
) -> dict[str, tuple[str, ...]]:
    """Map the forced (last) member of each at_least_one group to the other members."""
    def fail(problem: str) -> NoReturn:
        raise SearchSpaceError(f"{source}: constraints: {problem}")

    if raw is None:
        return {}
    if not isinstance(raw, list):
        fail(f"must be a list of {{at_least_one: [names]}}, got {raw!r}")
    order = list(params)
    forced: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, Mapping) or list(item) != ["at_least_one"]:
            fail(f"each entry must be {{at_least_one: [names]}}, got {item!r}")
        names = item["at_least_one"]
        if not isinstance(names, list) or len(names) < 2:
            fail(f"at_least_one needs a list of two or more parameter names, got {names!r}")
        for n in names:
            p = params.get(n) if isinstance(n, str) else None
            if p is None:
                fail(f"at_least_one names unknown parameter {n!r}{_hint(str(n), order)}")
            if not p.is_bool or p.when is not None:
                fail(f"at_least_one parameter {n!r} must be an unconditional bool, "
                     f"got {p.describe()}" + (f" with when {p.when.text!r}" if p.when else ""))
            if n in seen:
                fail(f"parameter {n!r} appears in more than one constraint")
            seen.add(n)
        ordered = sorted(names, key=order.index)
        forced[ordered[-1]] = tuple(ordered[:-1])
    return forced


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
            if key not in _TOP_KEYS:
                raise SearchSpaceError(f"{source}: unknown top-level key {key!r}; use "
                                       f"{list(_TOP_KEYS)}{_hint(str(key), _TOP_KEYS)}")
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
            checker = _Checker(source, str(raw_name))
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
        self._forced = _check_constraints(source, spec.get("constraints"), params)

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
                           f"or a path to a .yaml file{_hint(text, BUILTIN_SPACES)}")
