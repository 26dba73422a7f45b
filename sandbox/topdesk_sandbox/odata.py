"""The OData-like ``$filter`` of the assets API: ``eq ne gt lt ge le in``, ``isEmpty``/``isNotEmpty``, ``and``/``or``,
parentheses; dates (``'2017-05-26T18:30'``) are read as UTC instants."""

from __future__ import annotations

import re
from collections.abc import Callable

from topdesk_sandbox.dates import looks_like_datetime, parse_instant

Predicate = Callable[[dict], bool]
_TOKEN = re.compile(r"\s*(\(|\)|,|'(?:[^']|'')*'|[A-Za-z0-9_@.\-:]+)")


class ODataError(ValueError):
    """Malformed ``$filter``."""


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


def _instant(value: object) -> int | None:
    if not isinstance(value, str) or not looks_like_datetime(value):
        return None
    text = value + ":00" if len(value) == 16 else value
    return parse_instant(text)


def _cmp(actual: object, op: str, expected: object) -> bool:
    left, right = _instant(actual), _instant(expected)
    if left is not None and right is not None:
        actual, expected = left, right
    elif isinstance(actual, int | float) and not isinstance(actual, bool) and isinstance(expected, float):
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
        }[op]()
    except TypeError:
        return False


def compile_filter(text: str, resolve: Callable[[dict, str], object]) -> Predicate:
    """Compile ``$filter``; ``resolve(record, field)`` reads a field (so ``templateId`` can map to ``type_id``)."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> str:
        return tokens[pos] if pos < len(tokens) else ""

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ODataError("unexpected end of $filter")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Predicate:
        left = term()
        while peek().lower() == "or":
            take()
            right = term()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def term() -> Predicate:
        left = factor()
        while peek().lower() == "and":
            take()
            right = factor()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def factor() -> Predicate:
        if peek() == "(":
            take()
            inner = expr()
            if take() != ")":
                raise ODataError("missing ')' in $filter")
            return inner
        field = take()
        op = take().lower()
        if op in ("isempty", "isnotempty"):  # "missing values and empty strings are considered empty" (spec)
            empty = op == "isempty"
            return lambda r: (resolve(r, field) in (None, "")) == empty
        if op == "in":
            if take() != "(":
                raise ODataError("'in' needs a list")
            values = [_literal(take())]
            while peek() == ",":
                take()
                values.append(_literal(take()))
            if take() != ")":
                raise ODataError("missing ')' after 'in' list")
            return lambda r: any(_cmp(resolve(r, field), "eq", v) for v in values)
        if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise ODataError(f"unsupported operator {op!r}")
        value = _literal(take())
        return lambda r: _cmp(resolve(r, field), op, value)

    predicate = expr()
    if pos != len(tokens):
        raise ODataError(f"unexpected {tokens[pos]!r} in $filter")
    return predicate
