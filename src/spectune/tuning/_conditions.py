"""A tiny, safe parser for the ``when:`` conditions of a search space.

Conditions decide whether a parameter exists in a trial (``units_3`` only when ``n_fc >= 3``).
They are parsed once at load time into a small tree and evaluated against the values sampled
so far; nothing is ever passed to ``eval``.

Grammar (``and`` binds tighter than ``or``; no parentheses)::

    condition := term ("or" term)*
    term      := clause ("and" clause)*
    clause    := NAME OP literal | NAME ["not"] "in" "[" literal ("," literal)* "]"
               | NAME | "not" NAME
    OP        := "==" | "!=" | ">=" | "<=" | ">" | "<"
    literal   := number | true | false | null | word | 'quoted' | "quoted"

A bare word such as ``none`` or ``snv+sg1`` is a string. A clause whose parameter is absent from
the trial (itself switched off by its own condition) is false, so switching a parent off also
switches off everything that depends on it.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Clause", "Condition", "check_condition", "parse_condition", "same_value"]

_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|>=|<=|>|<)|(?P<punct>[\[\],])|(?P<quoted>'[^']*'|\"[^\"]*\")"
    r"|(?P<word>[A-Za-z0-9_.+\-]+))"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = {"true": True, "false": False, "null": None}
_ORDERING = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (YAML booleans are not numbers here)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _literal(token: str, quoted: bool) -> Any:
    if quoted:
        return token[1:-1]
    if token.lower() in _KEYWORDS:
        return _KEYWORDS[token.lower()]
    for convert in (int, float):
        try:
            return convert(token)
        except ValueError:
            pass
    return token


@dataclass(frozen=True)
class Clause:
    """One comparison: ``name op values`` (``values`` has one item except for ``in``)."""

    name: str
    op: str  # one of ==, !=, >=, <=, >, <, in, not in, truthy, falsy
    values: tuple[Any, ...] = ()

    def evaluate(self, params: Mapping[str, Any]) -> bool:
        """Whether the clause holds; false when ``name`` is absent from ``params``."""
        if self.name not in params:
            return False
        return _TESTS[self.op](params[self.name], self.values)


def _order(op: str) -> Callable[[Any, tuple[Any, ...]], bool]:
    compare = _ORDERING[op]
    return lambda v, vs: _is_number(v) and bool(compare(v, vs[0]))


# op -> test(value, literals); "truthy"/"falsy" are the bare ``name`` / ``not name`` forms.
_TESTS: dict[str, Callable[[Any, tuple[Any, ...]], bool]] = {
    "==": lambda v, vs: same_value(v, vs[0]),
    "!=": lambda v, vs: not same_value(v, vs[0]),
    "in": lambda v, vs: any(same_value(v, x) for x in vs),
    "not in": lambda v, vs: not any(same_value(v, x) for x in vs),
    "truthy": lambda v, vs: bool(v),
    "falsy": lambda v, vs: not v,
    **{op: _order(op) for op in _ORDERING},
}


@dataclass(frozen=True)
class Condition:
    """A parsed ``when:`` condition: an ``or`` of ``and`` groups of clauses.

    Attributes
    ----------
    text : str
        The condition as written, for messages.
    groups : tuple of tuple of Clause
        ``any(all(clause) for group in groups)``.
    """

    text: str
    groups: tuple[tuple[Clause, ...], ...]

    @property
    def clauses(self) -> tuple[Clause, ...]:
        """Every clause, in the order written."""
        return tuple(c for group in self.groups for c in group)

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names the condition refers to, in the order written."""
        return tuple(dict.fromkeys(c.name for c in self.clauses))

    def evaluate(self, params: Mapping[str, Any]) -> bool:
        """Whether the condition holds for the values sampled so far."""
        return any(all(c.evaluate(params) for c in group) for group in self.groups)


class _Tokens:
    """A cursor over the tokens of one condition, raising ValueError on surprises."""

    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        pos, text = 0, text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
            kind = m.lastgroup or ""
            self.items.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.items):
            return False
        return value is None or self.items[self.i][1].lower() == value

    def take(self, what: str) -> tuple[str, str]:
        if self.i >= len(self.items):
            raise ValueError(f"expected {what} but the condition ended")
        self.i += 1
        return self.items[self.i - 1]

    def expect(self, value: str) -> None:
        _, tok = self.take(repr(value))
        if tok.lower() != value:
            raise ValueError(f"expected {value!r} but found {tok!r}")

    def literal(self) -> Any:
        kind, tok = self.take("a value")
        if kind not in ("word", "quoted"):
            raise ValueError(f"expected a value but found {tok!r}")
        return _literal(tok, kind == "quoted")


def _name(tokens: _Tokens) -> str:
    kind, tok = tokens.take("a parameter name")
    if kind != "word" or not _NAME.match(tok) or tok.lower() in ("and", "or", "not", "in"):
        raise ValueError(f"expected a parameter name but found {tok!r}")
    return tok


def _clause(tokens: _Tokens) -> Clause:
    if tokens.peek("not"):
        tokens.take("not")
        return Clause(_name(tokens), "falsy")
    name = _name(tokens)
    if not tokens.peek() or tokens.peek("and") or tokens.peek("or"):
        return Clause(name, "truthy")
    op = "in"
    if tokens.peek("not"):
        tokens.take("not")
        op = "not in"
    if tokens.peek("in"):
        tokens.take("in")
        tokens.expect("[")
        values = [tokens.literal()]
        while tokens.peek(","):
            tokens.take(",")
            values.append(tokens.literal())
        tokens.expect("]")
        return Clause(name, op, tuple(values))
    if op == "not in":
        raise ValueError("expected 'in' after 'not'")
    kind, tok = tokens.take("a comparison")
    if kind != "op":
        raise ValueError(f"expected a comparison (==, !=, >=, <=, >, <, in) but found {tok!r}")
    return Clause(name, tok, (tokens.literal(),))


def parse_condition(text: str) -> Condition:
    """Parse a ``when:`` condition without ``eval``.

    Parameters
    ----------
    text : str
        For example ``"n_fc >= 2"``, ``"pool_1 != none"``,
        ``"n_conv >= 2 and pool_2 in [max, avg]"``.

    Returns
    -------
    Condition

    Raises
    ------
    ValueError
        With a one-line reason when the text does not follow the grammar.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a condition must be a non-empty string, got {text!r}")
    tokens = _Tokens(text)
    groups: list[tuple[Clause, ...]] = []
    group = [_clause(tokens)]
    while tokens.peek():
        _, joiner = tokens.take("'and' or 'or'")
        if joiner.lower() not in ("and", "or"):
            raise ValueError(f"expected 'and' or 'or' but found {joiner!r}")
        if joiner.lower() == "or":
            groups.append(tuple(group))
            group = []
        group.append(_clause(tokens))
    groups.append(tuple(group))
    return Condition(text.strip(), tuple(groups))


def check_condition(
    condition: Condition,
    earlier: Mapping[str, tuple[tuple[Any, ...] | None, str]],
    everything: Sequence[str],
) -> None:
    """Check at load time that ``condition`` can ever hold as written.

    Parameters
    ----------
    condition : Condition
    earlier : mapping
        The parameters defined before the one that carries the condition: name ->
        (its finite values, or None for a numeric range; a short description for messages).
    everything : sequence of str
        Every parameter name, to tell "comes later" from "not defined".

    Raises
    ------
    ValueError
        A name that is later or unknown, an ordering on non-numbers, or a literal the
        parameter can never take (``pool != nnoe``).
    """
    for clause in condition.clauses:
        if clause.name in everything and clause.name not in earlier:
            raise ValueError(f"{clause.name!r} comes later; conditions may only refer to "
                             "earlier parameters")
        if clause.name not in earlier:
            close = difflib.get_close_matches(clause.name, list(everything), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{clause.name!r} is not defined{hint}")
        values, description = earlier[clause.name]
        numeric = values is None or all(_is_number(v) for v in values)
        for literal in clause.values:
            if clause.op in _ORDERING:
                ok = numeric and _is_number(literal)
            elif values is not None:
                ok = any(same_value(v, literal) for v in values)
            else:
                ok = _is_number(literal)
            if not ok:
                raise ValueError(f"{clause.name!r} ({description}) cannot be compared with "
                                 f"{clause.op} {literal!r}")
