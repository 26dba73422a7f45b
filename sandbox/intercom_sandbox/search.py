"""The search query DSL of ``POST /{contacts,conversations,tickets}/search`` (reference §5).

A query is a single filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value: [...]}``; groups nest
at most two levels deep and hold at most 15 entries. Contact date fields compare by calendar day in the workspace
time zone (only ``=``, ``<``, ``>``); conversation/ticket ``>``/``<`` are "greater/lower (or equal)". Error
messages for malformed queries are not documented: ours are descriptive, with Intercom's documented codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from intercom_sandbox.errors import bad_request

MAX_DEPTH = 2
MAX_PER_GROUP = 15
STRING_OPS = {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}
NUMBER_OPS = {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="}
ALL_OPS = STRING_OPS | NUMBER_OPS
CONTACT_DATE_OPS = {"=", "<", ">"}

Getter = Callable[[Any, str], Any]
Predicate = Callable[[Any], bool]
MISSING = object()


@dataclass(frozen=True)
class SearchModel:
    """How one resource answers a field name, and which of its fields are dates."""

    name: str
    getter: Getter
    date_fields: frozenset[str] = frozenset()
    day_granular_dates: bool = False  # contacts: dates match by calendar day
    inclusive_ranges: bool = False  # conversations/tickets: > and < include equality
    numeric_id: bool = False  # conversation/ticket ids compare as numbers ("" lowest), also as sort tie-break
    known_fields: frozenset[str] | None = None
    prefixes: tuple[str, ...] = field(default=())


def compile_query(query: Any, model: SearchModel, tz: str = "UTC") -> Predicate:
    if not isinstance(query, dict):
        raise bad_request("query must be an object", code="parameter_invalid", field="query")
    return _compile(query, model, ZoneInfo(tz), depth=0)


def _compile(node: dict[str, Any], model: SearchModel, tz: ZoneInfo, depth: int) -> Predicate:
    if "field" not in node:
        operator = node.get("operator")
        if operator not in ("AND", "OR"):
            raise bad_request(
                f"operator '{operator}' is not a valid group operator (AND, OR)", code="parameter_invalid"
            )
        if depth >= MAX_DEPTH:
            raise bad_request("Query can have a maximum of 2 nested filters", code="parameter_invalid")
        children = node.get("value")
        if not isinstance(children, list) or not children:
            raise bad_request("value of an AND/OR group must be a non-empty array", code="parameter_invalid")
        if len(children) > MAX_PER_GROUP:
            raise bad_request("Query can have a maximum of 15 filters in each AND/OR group", code="parameter_invalid")
        compiled = [
            _compile(child, model, tz, depth + 1) if isinstance(child, dict) else _bad_child() for child in children
        ]
        if operator == "AND":
            return lambda record: all(p(record) for p in compiled)
        return lambda record: any(p(record) for p in compiled)
    return _compile_filter(node, model, tz)


def _bad_child() -> Predicate:
    raise bad_request("each filter must be an object", code="parameter_invalid")


def _check_field(name: Any, model: SearchModel) -> str:
    if not isinstance(name, str) or not name:
        raise bad_request("field must be a non-empty string", code="parameter_invalid")
    if model.known_fields is not None and name not in model.known_fields and not name.startswith(model.prefixes):
        raise bad_request(f"{name} is not a searchable field", code="parameter_invalid", field=name)
    return name


def _compile_filter(node: dict[str, Any], model: SearchModel, tz: ZoneInfo) -> Predicate:
    name = _check_field(node.get("field"), model)
    op = node.get("operator")
    if op not in ALL_OPS:
        raise bad_request(f"operator '{op}' is not supported", code="parameter_invalid", field=name)
    value = node.get("value")
    if op in ("IN", "NIN") and not isinstance(value, list):
        raise bad_request(f"value for operator {op} must be an array", code="parameter_invalid", field=name)
    get = model.getter
    if name in model.date_fields and model.day_granular_dates:
        return _day_filter(name, op, value, get, tz)
    if model.numeric_id and name == "id":
        return _id_filter(op, value)
    inclusive = model.inclusive_ranges
    return _generic_filter(name, op, value, get, inclusive)


def _day_filter(name: str, op: str, value: Any, get: Getter, tz: ZoneInfo) -> Predicate:
    if op not in CONTACT_DATE_OPS:
        raise bad_request(
            f"operator '{op}' is not supported for date field {name}; use =, < or >",
            code="parameter_invalid",
            field=name,
        )
    try:
        stamp = float(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"value for {name} must be a unix timestamp", code="parameter_invalid", field=name) from exc
    day = dt.datetime.fromtimestamp(stamp, tz).date()
    start = dt.datetime.combine(day, dt.time(), tz).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp()

    def matches(record: Any) -> bool:
        actual = get(record, name)
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return False
        if op == "=":
            return start <= actual < end
        if op == ">":
            return actual >= end
        return actual < start

    return matches


def _id_number(value: Any) -> float:
    if value in ("", None):
        return float("-inf")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("-inf")


def _id_filter(op: str, value: Any) -> Predicate:
    """tap-intercom sends ``id > ""``: ids compare numerically with "" lowest."""
    if op in ("IN", "NIN"):
        wanted = {str(v) for v in value}
        return (lambda r: r["id"] in wanted) if op == "IN" else (lambda r: r["id"] not in wanted)
    if op in ("=", "!="):
        target = str(value)
        return (lambda r: r["id"] == target) if op == "=" else (lambda r: r["id"] != target)
    bound = _id_number(value)
    return _compare(op, lambda r: _id_number(r["id"]), bound, inclusive=True)


def _compare(op: str, get: Callable[[Any], Any], bound: Any, inclusive: bool) -> Predicate:
    def matches(record: Any) -> bool:
        actual = get(record)
        if actual is None or actual is MISSING:
            return False
        try:
            if op == ">":
                return actual >= bound if inclusive else actual > bound
            if op == "<":
                return actual <= bound if inclusive else actual < bound
            if op == ">=":
                return actual >= bound
            return actual <= bound
        except TypeError:
            return False

    return matches


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _as_text(actual).lower() == _as_text(expected).lower()
    if isinstance(actual, int | float) and not isinstance(expected, str | type(None)):
        return actual == expected
    if isinstance(actual, int | float) and isinstance(expected, str):
        try:
            return actual == float(expected)
        except ValueError:
            return False
    if isinstance(actual, str) and isinstance(expected, int | float):
        try:
            return float(actual) == expected
        except ValueError:
            return False
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    return actual == expected


def _generic_filter(name: str, op: str, value: Any, get: Getter, inclusive: bool) -> Predicate:
    if op == "=":
        if value is None:
            return lambda r: get(r, name) in (None, MISSING)
        return lambda r: _equal(get(r, name), value)
    if op == "!=":
        if value is None:
            return lambda r: get(r, name) not in (None, MISSING)
        return lambda r: not _equal(get(r, name), value)
    if op in ("IN", "NIN"):
        values = list(value)
        found: Callable[[Any], bool] = lambda r: any(_equal(get(r, name), v) for v in values)  # noqa: E731
        return found if op == "IN" else (lambda r: not found(r))
    if op in ("<", ">", "<=", ">="):
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise bad_request(
                    f"value for operator {op} must be a number", code="parameter_invalid", field=name
                ) from exc
        return _compare(op, lambda r: _number(get(r, name)), value, inclusive)
    needle = _as_text(value).lower()
    if op in ("~", "!~"):
        contains = lambda r: any(needle in _as_text(v).lower() for v in _values(get(r, name)))  # noqa: E731
        return contains if op == "~" else (lambda r: not contains(r))
    if op == "^":
        return lambda r: any(_as_text(v).lower().startswith(needle) for v in _values(get(r, name)))
    return lambda r: any(_as_text(v).lower().endswith(needle) for v in _values(get(r, name)))


def _number(value: Any) -> Any:
    if isinstance(value, bool) or value is MISSING:
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _values(value: Any) -> Iterable[Any]:
    if value is MISSING or value is None:
        return ()
    return value if isinstance(value, list) else (value,)


def validate_sort(sort: Any, allowed_orders: tuple[str, ...] = ("ascending", "descending")) -> tuple[str, bool]:
    """(field, descending). Contacts default to descending; an unknown order is 400 invalid_sort_order (2.16)."""
    if sort in (None, {}):
        return "created_at", True
    if not isinstance(sort, dict):
        raise bad_request("sort must be an object", code="parameter_invalid", field="sort")
    order = sort.get("order", "descending")
    if order not in allowed_orders:
        raise bad_request(
            f"Invalid sort order '{order}'. Must be one of: ascending, descending", code="invalid_sort_order"
        )
    return str(sort.get("field") or "created_at"), order == "descending"
