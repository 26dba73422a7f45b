"""Incident API (incident 4.2.6): ``/tas/api/incidents`` with pageStart/pageSize (10/10000), 206 +
``x-next-page-url``, 204 when empty, FIQL ``query``, ``all=true`` for partials and archived, ``fields``,
``sort``, ``dateFormat=iso8601``; the legacy ``start``/``page_size`` + inline filters; child lists with
``start``/``page_size``; attachment downloads streamed at their exact ``size``."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, next_url, no_content, not_found, offset_page, params
from topdesk_sandbox.dates import parse_instant, to_iso8601_deep
from topdesk_sandbox.errors import ApiError
from topdesk_sandbox.listing import ListQuery, bool_param, guard_export, int_param, parse_sort
from topdesk_sandbox.records import parse_fields, select_fields

MODULE = "incidents"
_ACTIVE = frozenset({"firstLine", "secondLine"})
REFERENCE_LISTS = (
    "call_types",
    "categories",
    "subcategories",
    "closure_codes",
    "durations",
    "entry_types",
    "impacts",
    "priorities",
    "urgencies",
    "statuses",
    "escalation-reasons",
    "deescalation-reasons",
)
_LEGACY_DATES = ("target", "call", "creation", "modification", "closed")
_LEGACY_PATHS = {
    "caller": ("caller", "id"),
    "operator_group": ("operatorGroup", "id"),
    "operator": ("operator", "id"),
    "processing_status": ("processingStatus", "id"),
    "main_incident_id": ("mainIncident", "id"),
    "status": ("status",),
    "caller_branch": ("callerBranch", "id"),
    "object_id": ("object", "id"),
    "object_name": ("object", "name"),
    "id": ("id",),
    "external_number": ("externalNumber",),
}


def _legacy_filters(request: Request) -> tuple[list, str]:
    """Pre-FIQL inline filters (REST API < 3.3): day-granular dates (UTC), booleans, repeatable ids."""
    p = request.query_params
    checks = []
    key_parts = []
    for kind in _LEGACY_DATES:
        for edge in ("start", "end"):
            name = f"{kind}_date_{edge}"
            raw = p.get(name)
            if raw is None:
                continue
            try:
                day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError as exc:
                raise ApiError(400, f"The value for the field '{name}' cannot be parsed") from exc
            bound = int(day.timestamp() * 1000) + (86_400_000 if edge == "end" else 0)
            field = f"{kind}Date"
            if edge == "start":
                checks.append(lambda r, f=field, b=bound: (_ms(r.get(f)) or -1) >= b)
            else:
                checks.append(lambda r, f=field, b=bound: -1 < (_ms(r.get(f)) or -1) < b)
            key_parts.append(f"{name}={raw}")
    for name in ("completed", "closed", "major_call"):
        flag = bool_param(dict(p), name)
        if flag is not None:
            field = "majorCall" if name == "major_call" else name
            checks.append(lambda r, f=field, v=flag: bool(r.get(f)) == v)
            key_parts.append(f"{name}={flag}")
    for name, path in _LEGACY_PATHS.items():
        values = p.getlist(name)
        if values:
            wanted = frozenset(values)
            checks.append(lambda r, pa=path, w=wanted: _dig(r, pa) in w)
            key_parts.append(f"{name}={sorted(wanted)}")
    return checks, "&".join(key_parts)


def _ms(value: object) -> int | None:
    return parse_instant(value) if isinstance(value, str) else None


def _dig(record: dict, path: tuple[str, ...]) -> object:
    value: object = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


async def list_incidents(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    legacy = ("start" in p or "page_size" in p) and "pageStart" not in p and "pageSize" not in p
    if legacy:
        start = int_param(p, "start", 0) or 0
        size = int_param(p, "page_size", 10, minimum=1, maximum=10000) or 10
    else:
        start = int_param(p, "pageStart", 0) or 0
        size = int_param(p, "pageSize", 10, minimum=1, maximum=10000) or 10
    date_format = p.get("dateFormat")
    if date_format not in (None, "iso8601"):
        raise ApiError(400, f"The value for the field 'dateFormat' cannot be parsed: {date_format}")
    include_all = bool_param(p, "all") or False
    fields = parse_fields(p.get("fields"))
    sort = parse_sort(p.get("sort"))
    if legacy and p.get("order_by"):
        sort = _legacy_order(p["order_by"])
    if c.hidden(MODULE):
        return no_content()
    checks, key = _legacy_filters(request)
    archived = bool_param(p, "archived") if legacy else None
    if archived is not None:
        checks.append(lambda r: r.get("status", "").endswith("Archived") == archived)
        key += f"&archived={archived}"
    elif not include_all:
        checks.append(lambda r: r.get("status") in _ACTIVE)
        key += "&active"
    query = ListQuery(c.store["incidents"], query=p.get("query"), filters=checks, filter_key=key, sort=sort)
    matched = await c.matched(query)
    page, status = offset_page(matched, start, size)
    if status == 204:
        return no_content()
    body = select_fields(c.store["incidents"].records(page), fields)
    if date_format == "iso8601":
        body = [to_iso8601_deep(r) for r in body]  # type: ignore[misc]
    headers = {}
    if status == 206:
        nxt = {"start": start + size} if legacy else {"pageStart": start + size}
        headers["x-next-page-url"] = next_url(request, **nxt)
    return json(body, status, headers=headers)


def _legacy_order(raw: str) -> list[tuple[str, bool]]:
    """``order_by=creation_date+DESC,target_date+ASC`` (the ``+`` arrives as a space)."""
    result = []
    for part in raw.split(","):
        name, _, direction = part.replace("+", " ").strip().partition(" ")
        head, *rest = name.split("_")
        field = head + "".join(w.capitalize() for w in rest)
        result.append((field, direction.strip().upper() == "DESC"))
    return result


def _incident(c: Context, request: Request) -> dict:
    """The incident named by ``{id}`` or ``{number}`` in the path (404 when absent or hidden)."""
    res = c.store["incidents"]
    path = request.path_params
    record = None
    if not c.hidden(MODULE):
        if "id" in path:
            record = res.get(path["id"])
        else:
            hits = res.group("number").get(path["number"])
            record = res.items[hits[0]] if hits else None
    if record is None:
        raise not_found()
    return record


async def get_incident(request: Request) -> Response:
    c = ctx(request)
    record = _incident(c, request)
    if request.query_params.get("dateFormat") == "iso8601":
        record = to_iso8601_deep(record)  # type: ignore[assignment]
    return json(record)


def _children(c: Context, resource: str, incident_id: str) -> list[int]:
    return c.store[resource].group("_incidentId").get(incident_id, [])


async def _child_list(request: Request, resource: str, default: int, maximum: int) -> Response:
    c = ctx(request)
    p = params(request)
    start = int_param(p, "start", 0) or 0
    size = int_param(p, "page_size", default, minimum=1, maximum=maximum) or default
    incident = _incident(c, request)
    positions = _children(c, resource, incident["id"])
    await guard_export(len(positions), c.settings.export_timeout_over, c.settings.export_hang_s)
    page, status = offset_page(positions, start, size)
    if status == 204:
        return no_content()
    return json(list(c.store[resource].records(page)), status)


async def progresstrail(request: Request) -> Response:
    return await _child_list(request, "incident_progresstrail", 10, 100)


async def progresstrail_count(request: Request) -> Response:
    c = ctx(request)
    incident = _incident(c, request)
    return json({"count": len(_children(c, "incident_progresstrail", incident["id"]))})


async def actions(request: Request) -> Response:
    return await _child_list(request, "incident_actions", 10, 100)


async def requests_(request: Request) -> Response:
    return await _child_list(request, "incident_requests", 10, 10)


async def attachments(request: Request) -> Response:
    return await _child_list(request, "incident_attachments", 10, 100)


async def _child(request: Request, resource: str, key: str) -> Response:
    c = ctx(request)
    incident = _incident(c, request)
    child_id = request.path_params[key]
    for pos in _children(c, resource, incident["id"]):
        rec = c.store[resource].items[pos]
        if rec is not None and rec.get("id") == child_id:
            return json(rec)
    raise not_found()


async def action(request: Request) -> Response:
    return await _child(request, "incident_actions", "actionid")


async def request_(request: Request) -> Response:
    return await _child(request, "incident_requests", "requestid")


CHUNK = 64 * 1024


def synthetic_body(seed: str, size: int) -> AsyncIterator[bytes]:
    """Deterministic bytes for an attachment without ``_body``: a 64 KiB block derived from its id, repeated,
    cut at exactly ``size`` bytes, produced lazily so a 50 MB file never sits in memory."""
    block = (hashlib.sha256(seed.encode()).digest() * (CHUNK // 32))[:CHUNK]

    async def chunks() -> AsyncIterator[bytes]:
        remaining = size
        while remaining > 0:
            piece = block if remaining >= CHUNK else block[:remaining]
            remaining -= len(piece)
            yield piece

    return chunks()


def attachment_response(record: dict, meta: dict | None) -> Response:
    """The binary of an attachment: ``_body`` if the dataset has it, else ``size`` synthetic bytes, streamed."""
    name = record.get("fileName") or "attachment"
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if meta and meta.get("_body") is not None:
        return Response(base64.b64decode(meta["_body"]), media_type=media, headers=headers)
    size = int(record.get("size") or 0)
    headers["Content-Length"] = str(size)
    return StreamingResponse(synthetic_body(str(record.get("id")), size), media_type=media, headers=headers)


async def download(request: Request) -> Response:
    c = ctx(request)
    res = c.store["incident_attachments"]
    incident_id = request.path_params["incidentId"]
    if c.hidden(MODULE) or c.store["incidents"].get(incident_id) is None:
        raise not_found()
    for pos in res.group("_incidentId").get(incident_id, []):
        rec = res.items[pos]
        if rec is not None and rec.get("id") == request.path_params["attachmentId"]:
            return attachment_response(rec, res.meta[pos])
    raise not_found()


def reference_list(name: str):
    """``/incidents/<list>``: the dataset's ``{"_list": name, "items": [...]}`` line, as a bare array."""

    async def handler(request: Request) -> Response:
        c = ctx(request)
        if c.hidden(MODULE):
            return json([])
        res = c.store["incident_reference_lists"]
        hits = res.group("_list").get(name, [])
        return json(res.items[hits[0]]["items"] if hits else [])  # type: ignore[index]

    return handler


_P = "/tas/api/incidents"
routes = [
    Route(_P, list_incidents),
    *[Route(f"{_P}/{name}", reference_list(name)) for name in REFERENCE_LISTS],
    Route(_P + "/id/{id}", get_incident),
    Route(_P + "/number/{number}", get_incident),
    *[
        r
        for kind in ("id/{id}", "number/{number}")
        for r in (
            Route(f"{_P}/{kind}/progresstrail", progresstrail),
            Route(f"{_P}/{kind}/progresstrail/count", progresstrail_count),
            Route(f"{_P}/{kind}/actions", actions),
            Route(f"{_P}/{kind}/actions/{{actionid}}", action),
            Route(f"{_P}/{kind}/requests", requests_),
            Route(f"{_P}/{kind}/requests/{{requestid}}", request_),
            Route(f"{_P}/{kind}/attachments", attachments),
        )
    ],
    Route(_P + "/id/{incidentId}/attachments/{attachmentId}/download", download),
]
