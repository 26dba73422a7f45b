"""Cursor-paged lists shared by the contact, conversation and ticket list and search endpoints.

A list request and a search request both come down to a ``PageRequest``; the matching ids, sorted by
(sort value, id), are cached per (resource, query, sort field) until the workspace changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from intercom_sandbox import pagination
from intercom_sandbox.errors import bad_request
from intercom_sandbox.routes import Ctx
from intercom_sandbox.search import MISSING, Predicate, SearchModel, compile_query, validate_sort
from intercom_sandbox.store import Workspace


@dataclass(frozen=True)
class PageRequest:
    """Which records, in which order, and which page of them."""

    predicate: Predicate | None
    sort_field: str
    descending: bool
    per_page: int
    starting_after: str | None
    query_key: bytes | None = None  # the search query, canonical; None for a plain list


def list_request(ctx: Ctx, default_per_page: int) -> PageRequest:
    """A plain list: everything, newest first; ``per_page`` and ``starting_after`` from the query string."""
    per_page = pagination.clamp_per_page(ctx.query.get("per_page"), default_per_page)
    return PageRequest(None, "created_at", True, per_page, ctx.query.get("starting_after"))


def parse_search(ctx: Ctx, model: SearchModel, default_per_page: int) -> PageRequest:
    """The body of a ``POST …/search``: ``query``, optional ``sort`` and ``pagination``."""
    body = ctx.json()
    if "query" not in body:
        raise bad_request("query is required", code="parameter_not_found", field="query")
    predicate = compile_query(body["query"], model, ctx.ws.timezone)
    sort_field, descending = validate_sort(body.get("sort"))
    paging = body.get("pagination") or {}
    return PageRequest(
        predicate,
        sort_field,
        descending,
        pagination.clamp_per_page(paging.get("per_page"), default_per_page),
        paging.get("starting_after"),
        orjson.dumps(body["query"], option=orjson.OPT_SORT_KEYS),
    )


def search_page(
    ws: Workspace,
    resource: str,
    records: Iterable[dict[str, Any]],
    model: SearchModel,
    req: PageRequest,
    *,
    cache: bool = True,
) -> tuple[list[str], int, dict[str, Any]]:
    """(ids on the page, total count, ``pages``) for ``req`` over ``records``; ties break by id (numerically
    where ``model.numeric_id``). ``records`` is only read when the result is not cached."""
    cache_key = (resource, req.query_key, req.sort_field)
    rows = ws.search_cache.get(cache_key) if cache else None
    if rows is None:
        keyed = []
        for record in records:
            if req.predicate is not None and not req.predicate(record):
                continue
            value = model.getter(record, req.sort_field)
            tie = int(record["id"]) if model.numeric_id else record["id"]
            keyed.append(((pagination.normalise(None if value is MISSING else value), tie), record["id"]))
        keyed.sort()
        rows = ([r[1] for r in keyed], [r[0] for r in keyed])
        if cache:
            ws.search_cache[cache_key] = rows
    ids, keys = rows
    start, stop, pages = pagination.cursor_page(keys, req.descending, req.per_page, req.starting_after)
    total = len(ids)
    chosen = ids[total - stop : total - start][::-1] if req.descending else ids[start:stop]
    return chosen, total, pages
