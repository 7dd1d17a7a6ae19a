"""One parameter of a search space, and the checks that turn a raw YAML entry into it.

Every message names the space's source and the parameter, and suggests the closest valid word,
so a misspelled space fails at load time in one line, not after every trial has failed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from spectune.exceptions import SpectuneError
from spectune.tuning._conditions import Condition, parse_condition

if TYPE_CHECKING:
    import optuna

__all__ = ["TOP_KEYS", "Parameter", "ParameterChecker", "SearchSpaceError", "check_constraints",
           "hint"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_COMMON_KEYS = ("type", "when", "repeat", "doc")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "int": ("low", "high", "step", "log"),
    "float": ("low", "high", "step", "log"),
    "categorical": ("choices",),
    "bool": (),
    "fixed": ("value",),
}
TOP_KEYS = ("name", "description", "parameters", "constraints")


class SearchSpaceError(SpectuneError, ValueError):
    """A search space that cannot be used; the message names the file, parameter and fix."""


def hint(word: str, options: Sequence[str]) -> str:
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


class ParameterChecker:
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
                      + hint(str(kind), list(_TYPE_KEYS)))
        allowed = _COMMON_KEYS + _TYPE_KEYS[kind]
        for key in spec:
            if key not in allowed:
                self.fail(f"unknown key {key!r} for type {kind}{hint(str(key), allowed)}")
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


def check_constraints(
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
                fail(f"at_least_one names unknown parameter {n!r}{hint(str(n), order)}")
            if not p.is_bool or p.when is not None:
                fail(f"at_least_one parameter {n!r} must be an unconditional bool, "
                     f"got {p.describe()}" + (f" with when {p.when.text!r}" if p.when else ""))
            if n in seen:
                fail(f"parameter {n!r} appears in more than one constraint")
            seen.add(n)
        ordered = sorted(names, key=order.index)
        forced[ordered[-1]] = tuple(ordered[:-1])
    return forced
