"""Operations management API (1.10.0): ``/operationalActivities`` with pageStart/pageSize (100) in an
``{item, next}`` envelope (current media type; archived and active by default, default fields ``id,number``),
the deprecated ``{results}`` media type (active only), single activities with ETag/304, series and schemas."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, negotiate, next_url, not_found, params
from topdesk_sandbox.listing import ListQuery, int_param, page_of, parse_sort
from topdesk_sandbox.records import is_archived, parse_fields, select_fields

MODULE = "operations"
COLLECTION = "application/x.topdesk-collection-om-activity-v1+json"
SINGLE = "application/x.topdesk-om-activity-v1+json"
DEFAULT_FIELDS = ["id", "number"]


def _fields(raw: str | None) -> list[str] | None:
    """Default ``id,number``; ``all``/``*`` = everything; ``id`` is always present."""
    if raw is None:
        return DEFAULT_FIELDS
    fields = parse_fields(raw)
    return None if fields is None else ["id", *[f for f in fields if f != "id"]]


def _drop_empty(record: dict) -> dict:
    """Deprecated media type: fields with an empty value are left out."""
    return {k: v for k, v in record.items() if v not in (None, "", [], {})}


async def list_activities(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    media = negotiate(request, (COLLECTION, SINGLE), COLLECTION)
    start = int_param(p, "pageStart", 0) or 0
    size = int_param(p, "pageSize", 100, minimum=1) or 100
    fields = _fields(p.get("fields"))
    sort = parse_sort(p.get("sort") or "creationDate:desc")
    deprecated = media == SINGLE
    if c.hidden(MODULE):
        return json({"results": []} if deprecated else {"item": [], "next": None}, media_type=media)
    query = p.get("query")
    filters = [lambda r: not is_archived(r)] if deprecated and not query else []
    q = ListQuery(
        c.store["operational_activities"],
        query=query,
        filters=filters,
        filter_key="active" if filters else "",
        sort=sort,
    )
    page, more = page_of(await c.matched(q), start, size)
    items = select_fields(q.resource.records(page), fields)
    if deprecated:
        return json({"results": [_drop_empty(i) for i in items]}, media_type=media)
    return json({"item": items, "next": next_url(request, pageStart=start + size) if more else None}, media_type=media)


def _find(c: Context, resource: str, identifier: str) -> dict:
    record = None if c.hidden(MODULE) else c.store[resource].find(identifier)
    if record is None:
        raise not_found()
    return record


def _etag(record: dict) -> str:
    digest = hashlib.sha1(f"{record.get('id')}|{record.get('modificationDate')}".encode()).hexdigest()[:16]
    return f'"{digest}"'


async def get_activity(request: Request) -> Response:
    c = ctx(request)
    negotiate(request, (SINGLE,), SINGLE)
    record = _find(c, "operational_activities", request.path_params["identifier"])
    etag = _etag(record)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    fields = parse_fields(request.query_params.get("fields"))
    return json(select_fields([record], fields)[0], media_type=SINGLE, headers={"ETag": etag})


async def get_series(request: Request) -> Response:
    record = _find(ctx(request), "operational_series", request.path_params["identifier"])
    return json({k: record.get(k) for k in ("id", "briefDescription", "number")})


async def schemas(request: Request) -> Response:
    c = ctx(request)
    if c.hidden(MODULE):
        return json({"item": []})
    res = c.store["operational_schemas"]
    query = request.query_params.get("query")
    matched = await c.matched(ListQuery(res, query=query), guard=False)
    fields = parse_fields(request.query_params.get("fields"))
    return json({"item": select_fields(res.records(matched), fields)})


routes = [
    Route("/tas/api/operationalActivities", list_activities),
    Route("/tas/api/operationalActivities/schemas", schemas),
    Route("/tas/api/operationalActivities/{identifier}", get_activity),
    Route("/tas/api/operationalSeries/{identifier}", get_series),
]
