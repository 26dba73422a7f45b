"""The list pipeline every collection endpoint shares: candidates → default filters → FIQL → sort, cached.

The matched positions of a (resource version, filters, sort) combination are cached, so paging through a large
result costs one filter pass plus one slice per page. FIQL date ranges on a date field are answered from the
resource's sorted index with a bisect; when the requested sort is that same index order, no sort happens at all.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from topdesk_sandbox import fiql
from topdesk_sandbox.dates import looks_like_datetime, parse_instant
from topdesk_sandbox.errors import MALFORMED, SERVER_ERROR, ApiError
from topdesk_sandbox.store import Resource

Predicate = Callable[[dict], bool]
#: A field value as sorting compares it (dates as epoch ms, booleans as 0/1, else the JSON value). Values of mixed
#: types are compared as they are and a ``TypeError`` is handled where they are (``str`` order, or "not after" when
#: seeking), so this is dynamic on purpose.
SortValue = Any

#: Date fields whose FIQL ranges are answered from a sorted index.
INDEXED_DATES = ("modificationDate", "creationDate", "lastModificationDate", "plannedStartDate", "callDate")


@dataclass
class ListQuery:
    """What a list request asks for, before paging."""

    resource: Resource
    query: str | None = None
    filters: list[Predicate] = field(default_factory=list)
    filter_key: str = ""  # identifies ``filters`` in the cache key (they are closures)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (dotted field, descending)
    base: list[int] | None = None  # candidate positions (children of a parent); None = whole resource


class ResultCache:
    """A small LRU of matched position lists."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, Sequence[int]] = OrderedDict()

    def get(self, key: tuple) -> Sequence[int] | None:
        hit = self.entries.get(key)
        if hit is not None:
            self.entries.move_to_end(key)
        return hit

    def put(self, key: tuple, value: Sequence[int]) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


def parse_sort(raw: str | None, allowed: Callable[[str], bool] | None = None) -> list[tuple[str, bool]]:
    """``modificationDate:asc,id:desc`` → ``[("modificationDate", False), ("id", True)]``; bad syntax → 400."""
    if not raw:
        return []
    result = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if not name or direction not in ("asc", "desc") or (allowed and not allowed(name)):
            raise ApiError(400, MALFORMED, code="invalid_sort", applies_to="sort")
        result.append((name.strip(), direction == "desc"))
    return result


def compile_query(text: str) -> tuple[Predicate, fiql.Node]:
    """FIQL → predicate, or a 400."""
    try:
        return fiql.compile_query(text)
    except fiql.FiqlError as exc:
        raise ApiError(400, f"{MALFORMED}: {exc}", code="invalid_query", applies_to="query") from exc


def _get(record: dict, path: list[str]) -> object:
    value: object = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def sort_value(value: object) -> SortValue:
    if isinstance(value, dict):
        value = value.get("name", value.get("id"))
    if isinstance(value, str) and looks_like_datetime(value):
        ms = parse_instant(value)
        if ms is not None:
            return ms
    if isinstance(value, bool):
        return int(value)
    return value


def _apply_sort(resource: Resource, positions: Sequence[int], sort: list[tuple[str, bool]]) -> list[int]:
    """Stable multi-key sort; records without a value sort last in either direction (as TOPdesk documents)."""
    items = resource.items
    result = list(positions)
    for name, desc in reversed(sort):
        path = name.split(".")
        keyed = []
        missing = []
        for pos in result:
            value = sort_value(_get(items[pos], path))  # type: ignore[arg-type]
            if value is None:
                missing.append(pos)
            else:
                keyed.append((value, pos))
        try:
            keyed.sort(key=lambda kv: kv[0], reverse=desc)
        except TypeError:
            keyed.sort(key=lambda kv: str(kv[0]), reverse=desc)
        result = [pos for _, pos in keyed] + missing
    return result


def run(q: ListQuery, cache: ResultCache) -> Sequence[int]:
    """Matched positions for a list request, filtered and sorted, before paging."""
    res = q.resource
    key = (res.name, id(res), res.version, q.query, q.filter_key, tuple(q.sort))
    if q.base is None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    predicate: Predicate | None = None
    candidates: Sequence[int] | None = None
    presorted: str | None = None
    if q.query:
        predicate, node = compile_query(q.query)
        if q.base is None:
            for name in INDEXED_DATES:
                try:
                    bounds = fiql.ranges(node, name)
                except fiql.FiqlError as exc:
                    raise ApiError(400, f"{MALFORMED}: {exc}", code="invalid_query", applies_to="query") from exc
                if bounds is not None:
                    candidates = res.range(name, *bounds)
                    presorted = name
                    residual = fiql.without_range(node, name)
                    predicate = fiql.compile_node(residual) if residual is not None else None
                    break
    sort = q.sort
    if candidates is None and q.base is None and sort and sort[0][0] in INDEXED_DATES and not sort[0][1]:
        _keys, positions, undated = res.sorted_by(sort[0][0])
        candidates = positions + array("q", undated)
        presorted = sort[0][0]
    if candidates is None:
        candidates = q.base if q.base is not None else res.live()
    # Candidates are live positions (from the resource's indexes or ``live()``): never a deleted (None) slot.
    items = cast("list[dict]", res.items)
    checks = [*q.filters, *([predicate] if predicate else [])]
    try:
        matched: Sequence[int] = (
            [pos for pos in candidates if all(check(items[pos]) for check in checks)] if checks else list(candidates)
        )
    except fiql.FiqlError as exc:
        raise ApiError(400, f"{MALFORMED}: {exc}", code="invalid_query", applies_to="query") from exc
    if sort and not (
        presorted and sort[0] == (presorted, False) and all(s == ("id", False) for s in sort[1:2]) and len(sort) <= 2
    ):
        matched = _apply_sort(res, matched, sort)
    if q.base is None:
        matched = array("q", matched)  # 8 bytes per entry instead of a boxed int: cached lists can be 1M long
        cache.put(key, matched)
    return matched


def page_of(positions: Sequence[int], start: int, size: int) -> tuple[Sequence[int], bool]:
    """The ``size`` positions from ``start`` on, and whether more follow them."""
    return positions[start : start + size], start + size < len(positions)


async def guard_export(count: int, limit: int | None, hang_s: float) -> None:
    """The Virtual Appliance's export time-out: a result set over ``limit`` hangs, then fails with a 500."""
    if limit is not None and count > limit:
        await asyncio.sleep(hang_s)
        raise ApiError(500, SERVER_ERROR, code="internal_error")


def int_param(
    params: dict[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    """A bounded integer query parameter; absent → default; malformed or out of range → 400."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(float(raw)) if raw.strip().replace(".", "", 1).isdigit() else int(raw)
    except ValueError as exc:
        raise ApiError(
            400, f"The value for the field '{name}' cannot be parsed", code="invalid_format", applies_to=name
        ) from exc
    if value < minimum:
        raise ApiError(400, _range_message(name, minimum, maximum), code="value_too_small", applies_to=name)
    if maximum is not None and value > maximum:
        raise ApiError(400, _range_message(name, minimum, maximum), code="value_too_large", applies_to=name)
    return value


def _range_message(name: str, minimum: int, maximum: int | None) -> str:
    if maximum is None:
        return f"{name} must be greater than or equal to {minimum}"
    return f"{name} must be between {minimum} and {maximum}, both inclusive"


def bool_param(params: dict[str, str], name: str) -> bool | None:
    """``true``/``false`` (a bare ``?all`` counts as true); anything else → 400."""
    if name not in params:
        return None
    raw = params[name].strip().lower()
    if raw in ("", "true"):
        return True
    if raw == "false":
        return False
    raise ApiError(400, f"The value for the field '{name}' cannot be parsed", code="invalid_format", applies_to=name)
