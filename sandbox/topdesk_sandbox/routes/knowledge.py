"""Knowledge base API (``/services/knowledge-base-v1``): knowledge items with start/page_size (100, max 1000),
``{item, prev?, next?}`` with 206 when more, ``language`` (only items with content in that language are
listed; the default language when none is given), FIQL ``query``, ``fields`` — the HTML ``content`` is only sent when
asked for; folders; statuses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, negotiate, next_url, not_found, params
from topdesk_sandbox.listing import ListQuery, int_param, page_of
from topdesk_sandbox.records import parse_fields

MODULE = "knowledge"
JSON = "application/json"
LIST_MEDIA = "application/x.topdesk-kb-ki-list-v1+json"
ITEM_MEDIA = "application/x.topdesk-kb-ki-v1+json"
_CONTENT_FIELDS = ("title", "description", "content", "commentsForOperators", "keywords")
_TRANSLATION_FIELDS = ("language", "creator", "modifier")


def item_view(record: dict, fields: list[str] | None) -> dict:
    """Default: everything except the translation's HTML ``content``; with ``fields``: ``id``, ``number`` and
    the named fields (``title``, ``content``, ... live in ``translation.content``; ``language``, ``creator``,
    ``modifier`` in ``translation``; ``translation.x.y`` paths; anything else at the top level)."""
    translation = record.get("translation") or {}
    if fields is None:
        out = dict(record)
        if "translation" in out:
            content = {k: v for k, v in (translation.get("content") or {}).items() if k != "content"}
            out["translation"] = {**translation, "content": content}
        return out
    out = {"id": record.get("id"), "number": record.get("number")}
    for name in fields:
        if name in _CONTENT_FIELDS:
            tr = out.setdefault("translation", {})
            tr.setdefault("content", {})[name] = (translation.get("content") or {}).get(name)
        elif name in _TRANSLATION_FIELDS:
            out.setdefault("translation", {})[name] = translation.get(name)
        elif name == "translation":
            out["translation"] = translation
        elif name.startswith("translation."):
            src: object = record
            dst = out
            parts = name.split(".")
            for part in parts[:-1]:
                src = src.get(part) if isinstance(src, dict) else None
                dst = dst.setdefault(part, {})
            dst[parts[-1]] = src.get(parts[-1]) if isinstance(src, dict) else None
        elif name in record:
            out[name] = record[name]
    return out


#: The knowledge base's default language: what a request without ``language`` gets (variant ``kb-default-nl``).
DEFAULT_LANGUAGE = "en"
#: Folder fields that belong to a translation: without one of them, a folder listing ignores ``language``.
_FOLDER_TRANSLATION_FIELDS = frozenset(
    {"title", "description", "language", "translation.creator", "translation.modifier"}
)


def default_language(c: Context) -> str:
    """The tenant's default knowledge-base language."""
    return "nl" if c.variant("kb-default-nl") else DEFAULT_LANGUAGE


def requested_language(c: Context, resource: str, language: str | None, fields: list[str] | None) -> str:
    """The language a request reads: its ``language``, else the default; a folder request naming no translation
    field ignores ``language`` (the ``/folders`` description's note)."""
    if resource == "knowledge_folders" and fields is not None and not _FOLDER_TRANSLATION_FIELDS & set(fields):
        language = None
    return language or default_language(c)


def _language_filter(language: str) -> tuple[list, str]:
    """Only the lines (an item's content in one language) in ``language``: an item without content in it is not
    listed ("Only the Knowledge Items which have content in the requested language will be listed")."""
    return [lambda r: (r.get("translation") or {}).get("language") == language], f"lang={language}"


async def _list(request: Request, resource: str, media_offered: tuple[str, ...]) -> Response:
    c = ctx(request)
    p = params(request)
    media = negotiate(request, media_offered, JSON)
    start = int_param(p, "start", 0) or 0
    size = int_param(p, "page_size", 100, minimum=1, maximum=1000) or 100
    fields = parse_fields(p.get("fields"))
    if c.hidden(MODULE):
        return json({"item": []}, media_type=media)
    filters, key = _language_filter(requested_language(c, resource, p.get("language"), fields))
    q = ListQuery(c.store[resource], query=p.get("query"), filters=filters, filter_key=key, sort=[("number", False)])
    page, more = page_of(await c.matched(q), start, size)
    body: dict = {"item": [item_view(r, fields) for r in q.resource.records(page)]}
    if start > 0:
        body["prev"] = next_url(request, start=max(0, start - size))
    if more:
        body["next"] = next_url(request, start=start + size)
    return json(body, 206 if more else 200, media_type=media)


async def list_items(request: Request) -> Response:
    return await _list(request, "knowledge_items", (LIST_MEDIA, JSON))


async def list_folders(request: Request) -> Response:
    return await _list(request, "knowledge_folders", (JSON,))


def _find(c: Context, resource: str, identifier: str, language: str | None) -> dict:
    """The item (folder) with content in ``language`` (the default when none is given), else 404."""
    res = c.store[resource]
    positions = [] if c.hidden(MODULE) else res.group("id").get(identifier) or res.group("number").get(identifier, [])
    records = [res.items[p] for p in positions if res.items[p] is not None]
    wanted = language or default_language(c)
    records = [r for r in records if (r.get("translation") or {}).get("language") == wanted]  # type: ignore[union-attr]
    if not records:
        raise not_found()
    return records[0]  # type: ignore[return-value]


async def get_item(request: Request) -> Response:
    c = ctx(request)
    media = negotiate(request, (ITEM_MEDIA, JSON), JSON)
    record = _find(c, "knowledge_items", request.path_params["identifier"], request.query_params.get("language"))
    fields = parse_fields(request.query_params.get("fields"))
    return json(record if fields is None else item_view(record, fields), media_type=media)


async def get_folder(request: Request) -> Response:
    c = ctx(request)
    record = _find(c, "knowledge_folders", request.path_params["identifier"], request.query_params.get("language"))
    return json(record)


async def statuses(request: Request) -> Response:
    """``{results:[{id,name}]}``: the statuses the dataset's items use."""
    c = ctx(request)
    res = c.store["knowledge_items"]
    seen: dict[str, dict] = {}
    if not c.hidden(MODULE):
        for rec in res.records(res.live()):
            status = rec.get("status")
            if isinstance(status, dict) and status.get("id") and status["id"] not in seen:
                seen[status["id"]] = {"id": status["id"], "name": status.get("name")}
    return json({"results": list(seen.values())})


_P = "/services/knowledge-base-v1"
routes = [
    Route(f"{_P}/knowledgeItems", list_items),
    Route(f"{_P}/knowledgeItems/{{identifier}}", get_item),
    Route(f"{_P}/folders", list_folders),
    Route(f"{_P}/folders/{{identifier}}", get_folder),
    Route(f"{_P}/knowledgeItemStatuses", statuses),
]
