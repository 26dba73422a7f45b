"""The three list styles Intercom uses (reference §4): opaque cursors, page/per_page offsets, and scroll.

Cursors are base64 of a JSON array ``[sort key…, id]`` (real ones look like ``WzE3MzQ1…`` = ``[1734…``) and are
keyset cursors: the next page starts after that key, so a client walking the pages sees every match exactly once
even if the order of equal keys would otherwise be unstable.
"""

from __future__ import annotations

import base64
import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from intercom_sandbox.errors import bad_request

SortKey = tuple[Any, ...]
T = TypeVar("T")


def normalise(value: Any) -> tuple[int, Any]:
    """Make mixed-type values (None, numbers, strings) comparable in one total order."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def encode_cursor(key: SortKey) -> str:
    return base64.b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = orjson.loads(base64.b64decode(padded, validate=False))
        if not isinstance(raw, list) or not raw:
            raise ValueError
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise bad_request("Invalid starting_after value", code="parameter_invalid", field="starting_after") from exc
    return tuple(tuple(x) if isinstance(x, list) else x for x in raw)


def clamp_per_page(value: Any, default: int, maximum: int = 150) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request("per_page must be an integer", field="per_page") from exc
    return max(1, min(number, maximum))


def cursor_page(
    keys: Sequence[SortKey], descending: bool, per_page: int, starting_after: str | None
) -> tuple[int, int, dict[str, Any]]:
    """Slice a sorted key list; returns (start, stop, pages) where ``keys`` are sorted ascending by key.

    For descending order the caller passes keys sorted ascending and reads the slice backwards: we map positions so
    that position 0 is the first item in the requested order.
    """
    total = len(keys)
    start = 0
    if starting_after:
        after = decode_cursor(starting_after)
        try:
            # descending: the ascending index of the first key strictly below ``after`` counts from the end
            start = total - bisect.bisect_left(keys, after) if descending else bisect.bisect_right(keys, after)
        except TypeError as exc:  # a cursor from another listing or sort order
            raise bad_request("Invalid starting_after value", field="starting_after") from exc
    stop = min(start + per_page, total)
    pages: dict[str, Any] = {
        "type": "pages",
        "page": start // per_page + 1 if per_page else 1,
        "per_page": per_page,
        "total_pages": math.ceil(total / per_page) if per_page else 0,
    }
    if stop < total:
        last = keys[total - stop] if descending else keys[stop - 1]
        pages["next"] = {"page": pages["page"] + 1, "starting_after": encode_cursor(last)}
    return start, stop, pages


def offset_params(query: Any, default_per_page: int, maximum: int = 150) -> tuple[int, int]:
    try:
        page = max(int(query.get("page") or 1), 1)
    except ValueError as exc:
        raise bad_request("page must be an integer", field="page") from exc
    return page, clamp_per_page(query.get("per_page"), default_per_page, maximum)


def offset_page(
    items: Sequence[Any], page: int, per_page: int, next_url: str | None = None
) -> tuple[Sequence[Any], dict[str, Any]]:
    """page/per_page paging; ``next`` is a URL string for ``pages_link`` resources, else a page object or null."""
    total = len(items)
    total_pages = math.ceil(total / per_page) if per_page else 0
    chunk = items[(page - 1) * per_page : page * per_page]
    pages: dict[str, Any] = {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages}
    has_more = page < total_pages
    if next_url is not None:
        pages["next"] = (
            f"{next_url}{'&' if '?' in next_url else '?'}page={page + 1}&per_page={per_page}" if has_more else None
        )
    else:
        pages["next"] = {"page": page + 1, "per_page": per_page} if has_more else None
    return chunk, pages


def offset_list(
    query: Any,
    items: Sequence[T],
    render: Callable[[T], Any],
    default_per_page: int,
    *,
    maximum: int = 150,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A ``{type: list, data, total_count, pages}`` body: the page of ``items`` the query's page/per_page ask for."""
    page, per_page = offset_params(query, default_per_page, maximum)
    chunk, pages = offset_page(items, page, per_page, next_url)
    return {"type": "list", "data": [render(item) for item in chunk], "total_count": len(items), "pages": pages}
