"""The sandbox's own admin API under ``/__sandbox/`` (no auth, never slowed down or broken by fault injection):
health, and add / patch / archive / delete records so delta syncs can be tested against a changing TOPdesk."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import ctx, json
from topdesk_sandbox.dates import format_asset, format_iso8601, format_topdesk, now_ms
from topdesk_sandbox.records import archive, record_id
from topdesk_sandbox.store import Resource, loads, split_meta

_MOD_FIELDS = ("modificationDate", "lastModificationDate")


def _error(status: int, message: str) -> Response:
    return json({"error": message}, status)


def _stamp(old: object, ms: int) -> str:
    """``ms`` in the same spelling as the value it replaces (TOPdesk ``+0000``, ISO ``Z``, or asset no-offset)."""
    if isinstance(old, str):
        if old.endswith("Z"):
            return format_iso8601(ms)
        if len(old) >= 5 and old[-5] in "+-":
            return format_topdesk(ms)
        return format_asset(ms)
    return format_topdesk(ms)


def _bump(record: dict, patch: dict) -> dict:
    """Set the modification date to now, in whole seconds as TOPdesk stores them, unless the patch gives one."""
    if any(f in patch for f in _MOD_FIELDS):
        return record
    ms = now_ms() // 1000 * 1000
    fields = [f for f in _MOD_FIELDS if f in record] or ["modificationDate"]
    out = dict(record)
    for name in fields:
        out[name] = _stamp(record.get(name), ms)
    if "@etag" in out:
        out["@etag"] = out.get("modificationDate", out["@etag"])
    return out


async def _body(request: Request) -> dict | None:
    try:
        data = loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _position(res: Resource, rid: str) -> int | None:
    return res.by_id.get(rid)


async def health(request: Request) -> Response:
    return json({"status": "ok", "counts": ctx(request).store.counts()})


async def add(request: Request) -> Response:
    """POST ``/__sandbox/{resource}``: append a record (``_`` keys allowed, e.g. ``_incidentId``)."""
    body = await _body(request)
    if body is None:
        return _error(400, "body must be a JSON object")
    res = ctx(request).store[request.path_params["resource"]]
    if record_id(body) is not None and record_id(body) in res.by_id:
        return _error(409, f"record {record_id(body)} exists")
    res.add_raw(body)
    return json(split_meta(body)[0], 201)


async def show(request: Request) -> Response:
    """GET ``/__sandbox/{resource}/{id}``: the stored record (with metadata)."""
    res = ctx(request).store[request.path_params["resource"]]
    pos = _position(res, request.path_params["id"])
    if pos is None:
        return _error(404, "no such record")
    return json({**(res.items[pos] or {}), **(res.meta[pos] or {})})


async def patch(request: Request) -> Response:
    """PATCH ``/__sandbox/{resource}/{id}``: merge top-level fields; bumps the modification date unless given."""
    body = await _body(request)
    if body is None:
        return _error(400, "body must be a JSON object")
    res = ctx(request).store[request.path_params["resource"]]
    pos = _position(res, request.path_params["id"])
    if pos is None:
        return _error(404, "no such record")
    fields, meta = split_meta(body)
    record = _bump({**res.items[pos], **fields}, fields)  # type: ignore[dict-item]
    res.replace(pos, record, meta)
    return json(record)


async def archive_record(request: Request) -> Response:
    """POST ``/__sandbox/{resource}/{id}/archive``: archive in the resource's spelling; bumps the date."""
    body = await _body(request) or {}
    res = ctx(request).store[request.path_params["resource"]]
    pos = _position(res, request.path_params["id"])
    if pos is None:
        return _error(404, "no such record")
    record = _bump(archive(res.items[pos], body.get("reason")), {})  # type: ignore[arg-type]
    res.replace(pos, record)
    return json(record)


async def delete(request: Request) -> Response:
    """DELETE ``/__sandbox/{resource}/{id}``: the record disappears (as a hard delete in TOPdesk would)."""
    res = ctx(request).store[request.path_params["resource"]]
    pos = _position(res, request.path_params["id"])
    if pos is None:
        return _error(404, "no such record")
    res.delete(pos)
    return Response(status_code=204)


routes = [
    Route("/__sandbox/health", health, methods=["GET"]),
    Route("/__sandbox/{resource}", add, methods=["POST"]),
    Route("/__sandbox/{resource}/{id}", show, methods=["GET"]),
    Route("/__sandbox/{resource}/{id}", patch, methods=["PATCH"]),
    Route("/__sandbox/{resource}/{id}", delete, methods=["DELETE"]),
    Route("/__sandbox/{resource}/{id}/archive", archive_record, methods=["POST"]),
]
