"""The OData-like ``$filter`` of the assets API, as strict as its description (assets 1.91.1, older versions in
the ``assets-old-filters`` variant): ``eq ne gt lt ge le in contains``, ``isEmpty``/``isNotEmpty``, ``and``/``or``,
parentheses. A field the operation does not filter on, an operator its kind does not take, or a date in a format
the description does not list is a ``ODataError`` (the route answers 400). Dates are read as UTC instants.

Per kind of field (``Dialect.kind_of``), from the parameter's description:
- dates: ``gt lt ge le eq ne`` (before API 1.81.2 only ``gt``/``lt``), ``isEmpty``/``isNotEmpty``; the formats yyyy,
  yyyy-MM, yyyy-MM-dd, yyyy-MM-dd'T'HH:mm, ...:ss, ...:ss.SSS (missing parts are 0 / January / the 1st);
- ``templateId`` and dropdowns: ``eq in ne``; ``id`` and ``archiveReason``: ``eq in``;
- text, number, checkbox and ``name``: comparisons, ``in``, ``contains``, ``isEmpty``/``isNotEmpty``.
``or`` and parentheses came with API 1.80.0 (``and`` only before).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Predicate = Callable[[dict], bool]
_TOKEN = re.compile(r"\s*(\(|\)|\[|\]|,|'(?:[^']|'')*'|[A-Za-z0-9_@.\-:]+)")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{3}))?)?)?)?)?$")
DATE, TEMPLATE, IDENTITY, DROPDOWN, VALUE = "date", "template", "identity", "dropdown", "value"
_OPS: dict[str, frozenset[str]] = {
    DATE: frozenset({"gt", "lt", "ge", "le", "eq", "ne", "isempty", "isnotempty"}),
    TEMPLATE: frozenset({"eq", "in", "ne"}),
    DROPDOWN: frozenset({"eq", "in", "ne", "isempty", "isnotempty"}),
    IDENTITY: frozenset({"eq", "in"}),
    VALUE: frozenset({"eq", "ne", "gt", "lt", "ge", "le", "in", "contains", "isempty", "isnotempty"}),
}
#: Dates before API 1.81.2: "Filtering based on date fields with greater-than, or less-than operator".
_OLD_DATE_OPS = frozenset({"gt", "lt", "isempty", "isnotempty"})


class ODataError(ValueError):
    """A ``$filter`` the API refuses."""


@dataclass(frozen=True)
class Dialect:
    """What one tenant's ``$filter`` accepts: ``kind_of(field)`` is a kind above or None (not filterable);
    ``old`` is the API before 1.80 (``and`` only, dates ``gt``/``lt`` only)."""

    kind_of: Callable[[str], str | None]
    old: bool = False


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ODataError(f"cannot parse $filter at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _literal(token: str) -> object:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    low = token.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    try:
        return float(token)
    except ValueError as exc:
        raise ODataError(f"unexpected value {token!r}") from exc


def date_instant(value: object) -> int | None:
    """Milliseconds since the epoch of a date in one of the documented formats (UTC), else None."""
    m = _DATE.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second, milli = (int(g) if g else None for g in m.groups())
    try:
        moment = datetime(year, month or 1, day or 1, hour or 0, minute or 0, second or 0, tzinfo=UTC)  # type: ignore[arg-type]
    except ValueError:
        return None
    return int(moment.timestamp()) * 1000 + (milli or 0)


def _cmp(actual: object, op: str, expected: object) -> bool:
    if isinstance(actual, int | float) and not isinstance(actual, bool) and isinstance(expected, float):
        actual = float(actual)
    elif isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    try:
        return {
            "eq": lambda: actual == expected,
            "ne": lambda: actual != expected,
            "gt": lambda: actual > expected,  # type: ignore[operator]
            "ge": lambda: actual >= expected,  # type: ignore[operator]
            "lt": lambda: actual < expected,  # type: ignore[operator]
            "le": lambda: actual <= expected,  # type: ignore[operator]
            "contains": lambda: isinstance(actual, str) and str(expected) in actual,
        }[op]()
    except TypeError:
        return False


def _stored_instant(value: object) -> int | None:
    """A stored asset date (``2025-08-19T13:49:58.187``) as milliseconds."""
    return date_instant(value[:23]) if isinstance(value, str) else None


class _Parser:
    """Recursive descent over one ``$filter``'s tokens: ``or`` of ``and`` of comparisons or parenthesised groups."""

    def __init__(self, tokens: list[str], resolve: Callable[[dict, str], object], dialect: Dialect) -> None:
        self.tokens = tokens
        self.pos = 0
        self.resolve = resolve
        self.dialect = dialect

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise ODataError("unexpected end of $filter")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek().lower() == "or":
            if self.dialect.old:
                raise ODataError("filters can only be combined with 'and'")
            self.take()
            right = self.term()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.peek().lower() == "and":
            self.take()
            right = self.factor()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def factor(self) -> Predicate:
        if self.peek() == "(":
            return self.group()
        field = self.take()
        kind = self.dialect.kind_of(field)
        if kind is None:
            raise ODataError(f"assets cannot be filtered on {field!r}")
        op = self.take().lower()
        allowed = _OLD_DATE_OPS if kind == DATE and self.dialect.old else _OPS[kind]
        if op not in allowed:
            raise ODataError(f"operator {op!r} is not supported on {field!r}")
        if op in ("isempty", "isnotempty"):  # "missing values and empty strings are considered empty" (spec)
            return self.emptiness(field, op)
        if op == "in":
            return self.membership(field)
        return self.comparison(field, kind, op)

    def group(self) -> Predicate:
        if self.dialect.old:
            raise ODataError("filter expressions cannot be grouped by parentheses")
        self.take()
        inner = self.expr()
        if self.take() != ")":
            raise ODataError("missing ')' in $filter")
        return inner

    def emptiness(self, field: str, op: str) -> Predicate:
        resolve = self.resolve
        empty = op == "isempty"
        return lambda r: (resolve(r, field) in (None, "")) == empty

    def membership(self, field: str) -> Predicate:
        resolve = self.resolve
        opening = self.take()
        if opening not in ("(", "["):
            raise ODataError("'in' needs a list")
        values = [_literal(self.take())]
        while self.peek() == ",":
            self.take()
            values.append(_literal(self.take()))
        if self.take() != {"(": ")", "[": "]"}[opening]:
            raise ODataError("the list after 'in' is not closed")
        return lambda r: any(_cmp(resolve(r, field), "eq", v) for v in values)

    def comparison(self, field: str, kind: str, op: str) -> Predicate:
        resolve = self.resolve
        value = _literal(self.take())
        if kind == DATE:
            bound = date_instant(value)
            if bound is None:
                raise ODataError(f"{value!r} is not a date in a supported format (yyyy[-MM[-dd['T'HH:mm[:ss[.SSS]]]]])")
            return lambda r: _cmp(_stored_instant(resolve(r, field)), op, bound)
        return lambda r: _cmp(resolve(r, field), op, value)


def compile_filter(text: str, resolve: Callable[[dict, str], object], dialect: Dialect) -> Predicate:
    """Compile ``$filter``; ``resolve(record, field)`` reads a field (so ``templateId`` can map to ``type_id``)."""
    parser = _Parser(_tokens(text), resolve, dialect)
    predicate = parser.expr()
    if parser.pos != len(parser.tokens):
        raise ODataError(f"unexpected {parser.tokens[parser.pos]!r} in $filter")
    return predicate
