"""FIQL (``query=``) as TOPdesk speaks it: ``== != =gt= =ge= =lt= =le= =in= =out= =sw= =contains=``, ``;`` AND,
``,`` OR, parentheses, dotted paths, ``null``, ``*`` wildcards on text; dates are compared as instants.

A query compiles to a predicate over a record; ``ranges`` pulls the top-level date bounds out so the store can
answer them with a bisect on a sorted index instead of a full scan.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass

from topdesk_sandbox.dates import looks_like_datetime, parse_instant
from topdesk_sandbox.records import is_archived


class FiqlError(ValueError):
    """The query is not valid FIQL (a 400 for the client)."""


@dataclass(frozen=True)
class Cmp:
    """One comparison ``selector op argument(s)``."""

    path: tuple[str, ...]
    op: str
    args: tuple[str | None, ...]


@dataclass(frozen=True)
class Junction:
    """``and`` (``;``) or ``or`` (``,``) of sub-expressions."""

    kind: str
    parts: tuple[Node, ...]


Node = Cmp | Junction
Predicate = Callable[[dict], bool]

_OPS = ("==", "!=", "=gt=", "=ge=", "=lt=", "=le=", "=in=", "=out=", "=sw=", "=contains=")
_SELECTOR = re.compile(r"[A-Za-z0-9_.@\-]+")
_OP = re.compile(r"==|!=|=[a-zA-Z]+=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Node:
        node = self._or()
        if self.pos != len(self.text):
            raise FiqlError(f"unexpected {self.text[self.pos :]!r} in query")
        return node

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek() == ",":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def _and(self) -> Node:
        parts = [self._primary()]
        while self._peek() == ";":
            self.pos += 1
            parts.append(self._primary())
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def _primary(self) -> Node:
        if self._peek() == "(":
            self.pos += 1
            node = self._or()
            if self._peek() != ")":
                raise FiqlError("missing ')' in query")
            self.pos += 1
            return node
        sel = _SELECTOR.match(self.text, self.pos)
        if not sel:
            raise FiqlError(f"expected a field name at {self.text[self.pos :]!r}")
        self.pos = sel.end()
        op_match = _OP.match(self.text, self.pos)
        if not op_match or op_match.group(0) not in _OPS:
            raise FiqlError(f"unknown or missing operator after {sel.group(0)!r}")
        op = op_match.group(0)
        self.pos = op_match.end()
        if self._peek() == "(":
            self.pos += 1
            args = [self._value()]
            while self._peek() == ",":
                self.pos += 1
                args.append(self._value())
            if self._peek() != ")":
                raise FiqlError("missing ')' after argument list")
            self.pos += 1
        else:
            args = [self._value()]
        if op not in ("=in=", "=out=") and len(args) != 1:
            raise FiqlError(f"{op} takes one argument")
        return Cmp(tuple(sel.group(0).split(".")), op, tuple(args))

    def _value(self) -> str | None:
        quote = self._peek()
        if quote in ("'", '"'):
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise FiqlError("unterminated quoted value")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ";,()":
            self.pos += 1
        value = self.text[start : self.pos]
        if not value:
            raise FiqlError("empty value in query")
        if value == "null":
            return None
        # An unencoded '+' in a query string arrives as a space: restore it in date offsets.
        return value.replace(" ", "+") if looks_like_datetime(value) else value


def parse(text: str) -> Node:
    """Parse a FIQL string (already URL-decoded)."""
    if not text.strip():
        raise FiqlError("empty query")
    return _Parser(text.strip()).parse()


def _get(record: dict, path: tuple[str, ...]) -> object:
    if path == ("archived",) and "archived" not in record:
        return is_archived(record)  # v1 records spell it as a status; FIQL still accepts ``archived``
    value: object = record
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def _coerce(sample: object, arg: str) -> object:
    """Turn an argument string into something comparable with the record's value."""
    if isinstance(sample, bool):
        low = arg.lower()
        if low in ("true", "false"):
            return low == "true"
        raise FiqlError(f"{arg!r} is not a boolean")
    if isinstance(sample, int | float):
        try:
            return float(arg)
        except ValueError as exc:
            raise FiqlError(f"{arg!r} is not a number") from exc
    return arg


def _date_arg(arg: str) -> int:
    ms = parse_instant(arg)
    if ms is None:
        raise FiqlError(f"the value {arg!r} cannot be parsed as a date-time")
    return ms


def _compare(value: object, op: str, arg: str | None) -> bool:
    if arg is None:
        return _compare_null(value, op)
    if value is None:
        return op == "!="
    if isinstance(value, dict):
        return _compare_object(value, op, arg)
    if isinstance(value, list):
        return _compare_list(value, op, arg)
    if isinstance(value, str) and looks_like_datetime(value) and op not in ("=sw=", "=contains="):
        return _compare_date(value, op, arg)
    return _compare_scalar(value, op, arg)


def _compare_null(value: object, op: str) -> bool:
    """``==null`` / ``!=null``: no value, or an empty list."""
    if op == "==":
        return value is None or value == []
    if op == "!=":
        return not (value is None or value == [])
    raise FiqlError(f"null is not allowed with {op}")


def _compare_object(value: dict, op: str, arg: str) -> bool:
    """``status==x`` on an object compares its name or id (TOPdesk lists accept both)."""
    return (
        any(_compare(value.get(k), op, arg) for k in ("id", "name") if k in value)
        if op != "!="
        else not any(_compare(value.get(k), "==", arg) for k in ("id", "name") if k in value)
    )


def _compare_list(value: list, op: str, arg: str) -> bool:
    if op == "=contains=":
        return any(_compare(v, "==", arg) for v in value)
    if arg == "[]":
        return (op == "==") == (not value)
    return False


def _compare_date(value: str, op: str, arg: str) -> bool:
    if "*" in arg and op in ("==", "!="):
        raise FiqlError(f"wildcards are not allowed on date fields: {arg!r}")
    left, right = parse_instant(value), _date_arg(arg)  # a date without a time is a 400, as in TOPdesk
    if left is None:
        return False
    return _ORDERED[op](left, right)


def _compare_scalar(value: object, op: str, arg: str) -> bool:
    """Text, number or boolean: prefix, substring, wildcard or ordered comparison."""
    if op == "=sw=":
        return isinstance(value, str) and value.startswith(arg.rstrip("*"))
    if op == "=contains=":
        return isinstance(value, str) and arg in value
    target = _coerce(value, arg)
    if isinstance(value, str) and op in ("==", "!=") and "*" in arg:
        matched = fnmatch.fnmatchcase(value, arg.replace("[", "[[]").replace("?", "[?]"))
        return matched if op == "==" else not matched
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = float(value)
    try:
        return _ORDERED[op](value, target)
    except TypeError:
        return False


_ORDERED: dict[str, Callable[[object, object], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "=gt=": lambda a, b: a > b,  # type: ignore[operator]
    "=ge=": lambda a, b: a >= b,  # type: ignore[operator]
    "=lt=": lambda a, b: a < b,  # type: ignore[operator]
    "=le=": lambda a, b: a <= b,  # type: ignore[operator]
}


def compile_node(node: Node) -> Predicate:
    """A predicate for one parsed query."""
    if isinstance(node, Junction):
        parts = [compile_node(p) for p in node.parts]
        if node.kind == "and":
            return lambda rec: all(p(rec) for p in parts)
        return lambda rec: any(p(rec) for p in parts)
    path, op, args = node.path, node.op, node.args
    for arg in args:
        if arg is not None and looks_like_datetime(arg):
            _date_arg(arg)  # reject malformed dates up front: a 400, not an empty page
    if op in ("=in=", "=out="):
        inside = op == "=in="

        def member(rec: dict) -> bool:
            value = _get(rec, path)
            found = any(_compare(value, "==", a) for a in args)
            return found if inside else not found

        return member
    arg = args[0]
    return lambda rec: _compare(_get(rec, path), op, arg)


def compile_query(text: str) -> tuple[Predicate, Node]:
    """Parse and compile; raises FiqlError."""
    node = parse(text)
    return compile_node(node), node


def ranges(node: Node, field: str) -> tuple[int | None, bool, int | None, bool] | None:
    """Bounds on ``field`` implied by the top-level AND of ``node``: (low, low_inclusive, high, high_inclusive)."""
    parts = node.parts if isinstance(node, Junction) and node.kind == "and" else (node,)
    low: int | None = None
    high: int | None = None
    low_inc = high_inc = True
    found = False
    for part in parts:
        if not isinstance(part, Cmp) or part.path != (field,) or part.args[0] is None:
            continue
        if part.op not in ("=gt=", "=ge=", "=lt=", "=le=", "=="):
            continue
        arg = part.args[0]
        if not looks_like_datetime(arg):
            continue
        ms = _date_arg(arg)
        found = True
        if part.op in ("=gt=", "=ge=", "=="):
            inc = part.op != "=gt="
            if low is None or ms > low or (ms == low and not inc):
                low, low_inc = ms, inc
        if part.op in ("=lt=", "=le=", "=="):
            inc = part.op != "=lt="
            if high is None or ms < high or (ms == high and not inc):
                high, high_inc = ms, inc
    return (low, low_inc, high, high_inc) if found else None


def without_range(node: Node, field: str) -> Node | None:
    """``node`` minus the top-level date comparisons on ``field`` that ``ranges`` turned into index bounds
    (so they are not evaluated a second time per record); None when nothing is left."""
    parts = node.parts if isinstance(node, Junction) and node.kind == "and" else (node,)
    rest = tuple(
        p
        for p in parts
        if not (
            isinstance(p, Cmp)
            and p.path == (field,)
            and p.op in ("=gt=", "=ge=", "=lt=", "=le=", "==")
            and p.args[0] is not None
            and looks_like_datetime(p.args[0])
        )
    )
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else Junction("and", rest)
