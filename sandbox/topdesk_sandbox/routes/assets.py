"""Asset management API (assets 1.91.1), under ``/tas/api/assetmgmt``: the grid list ``{columns,dataSet}`` with
pageStart/pageSize (50, max 1000), 206 when more, ``templateId``/``archived`` (omitted = both)/``$filter``/
``fields``/``$orderby``/seek/``resourceCategory``; asset detail; links rendered from each side; templates and card
types.

Strict as the description: a ``fields`` name outside the selectable list (plus the names public clients are seen
sending, EVIDENCE.md), a ``$filter`` field or operator the description does not list (``odata.py``), an unknown
``resourceCategory`` or an unsortable ``$orderby`` field is a 400 in the assets error family. A template's category
(asset, stock, bulk item) is its ``_resourceCategory`` metadata (default ``asset``); its assets share it, and
``/assets`` and ``/templates`` list one category only, ``asset`` unless asked (the description's default)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, negotiate, not_found, params
from topdesk_sandbox.errors import ApiError
from topdesk_sandbox.listing import ListQuery, Predicate, bool_param, int_param, page_of, sort_value
from topdesk_sandbox.odata import DATE, IDENTITY, TEMPLATE, VALUE, Dialect, ODataError, compile_filter
from topdesk_sandbox.store import Resource

MODULE = "assets"
V2 = "application/x.topdesk-am-assets-v2+json"
V1 = "application/x.topdesk-am-assets-v1+json"
_VALUE_TYPES = {"STRING": "TEXT", "TEXT": "TEXT", "NUMBER": "NUMBER", "DATE": "DATE", "BOOLEAN": "BOOL", "BOOL": "BOOL"}
_BUILTIN = {
    "name": ("Name", "TEXT"),
    "text": ("Name", "TEXT"),
    "archived": ("Archived", "BOOL"),
    "modificationDate": ("Modification date", "DATE"),
    "creationDate": ("Creation date", "DATE"),
    "@etag": ("ETag", "TEXT"),
    "@type": ("Type", "COMPLEX"),
    "@@summary": ("Summary", "TEXT"),
    "@status": ("Status", "TEXT"),
    "@assignments": ("Assignments", "COMPLEX"),
    "type_id": ("Template", "ID"),
}
CATEGORIES = ("asset", "stock", "bulkItem")
#: ``fields`` names the description lists for every asset (besides the ids of user-defined fields).
_DOCUMENTED_FIELDS = frozenset({"name", "modificationDate", "creationDate", "@type", "@@summary", "@assignments"})
#: Names public clients send on real tenants (EVIDENCE.md): ``text,archived,id,name`` (UGDSB.PS.Topdesk
#: Get-TopdeskAsset -defaultfields), ``@status`` (jmpijll/forticloud-scripts, asset API 1.88).
_EVIDENCED_FIELDS = frozenset({"id", "text", "archived", "@status"})
_SORTABLE = ("TEXT", "DATE", "NUMBER", "BOOL")


def _template_id(asset: dict) -> object:
    return asset.get("type_id", asset.get("templateId"))


def _resolve(asset: dict, field: str) -> object:
    if field == "templateId":
        return _template_id(asset)
    if field == "templateName":
        return (asset.get("@type") or {}).get("name")
    return asset.get(field)


def _user_fields(c: Context) -> dict[str, tuple[str, str]]:
    """User-defined fieldName → (displayName, valueType), from the card types (template field definitions)."""
    defs: dict[str, tuple[str, str]] = {}
    res = c.store["asset_cardtypes"]
    for card in res.records(res.live()):
        for f in card.get("fields") or []:
            key = f.get("key")
            if key and key not in defs:
                defs[key] = (f.get("displayName") or key, _VALUE_TYPES.get(str(f.get("type")).upper(), "TEXT"))
    return defs


def _field_defs(user: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """fieldName → (displayName, valueType): the built-in columns, then the user-defined fields."""
    return {**_BUILTIN, **{k: v for k, v in user.items() if k not in _BUILTIN}}


def template_categories(c: Context) -> dict[str, str]:
    """Template id (upper case) → resource category."""
    res = c.store["asset_templates"]
    out = {}
    for pos in res.live():
        meta = res.meta[pos] or {}
        out[str(res.items[pos].get("id")).upper()] = meta.get("_resourceCategory", "asset")  # type: ignore[union-attr]
    return out


def _category(p: dict[str, str]) -> str:
    value = p.get("resourceCategory", "asset")
    if value not in CATEGORIES:
        raise ApiError(
            400,
            f"resourceCategory must be one of {', '.join(CATEGORIES)}",
            code="invalid_value",
            applies_to="resourceCategory",
        )
    return value


def _checked_fields(raw: str | None, user: dict[str, tuple[str, str]]) -> list[str] | None:
    """The ``fields`` list, each name selectable (documented, evidenced or a user-defined field id), else 400."""
    if not raw:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in fields if f not in _DOCUMENTED_FIELDS and f not in _EVIDENCED_FIELDS and f not in user]
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}", code="invalid_value", applies_to="fields")
    return fields


def _dialect(c: Context, user: dict[str, tuple[str, str]]) -> Dialect:
    """What ``$filter`` accepts on this tenant (odata.py): documented fields, user-defined fields by type."""

    def kind_of(field: str) -> str | None:
        if field in ("modificationDate", "creationDate"):
            return DATE
        if field == "templateId":
            return TEMPLATE
        if field in ("id", "archiveReason"):
            return IDENTITY
        if field == "name":
            return VALUE
        if field in user:
            return DATE if user[field][1] == "DATE" else VALUE
        return None

    return Dialect(kind_of, old=c.variant("assets-old-filters"))


def _column(name: str, defs: dict[str, tuple[str, str]]) -> dict:
    display, value_type = defs.get(name, (name, "TEXT"))
    return {
        "fieldName": name,
        "displayName": display,
        "fieldType": value_type.lower(),
        "valueType": value_type,
        "sortable": value_type in ("TEXT", "DATE", "NUMBER", "BOOL"),
    }


def _row(asset: dict, fields: list[str] | None, v1: bool, unid: bool = False) -> dict:
    rid = asset.get("id", asset.get("unid"))
    if fields is not None and unid:
        # A real tenant's grid with fields= (asset API 1.88, jmpijll/forticloud-scripts): "unid", and archived and
        # type_id though not asked for.
        row = {"unid": rid, "archived": asset.get("archived", False), "type_id": _template_id(asset)}
        for f in fields:
            if f == "text":
                row["text"] = asset.get("name")
            elif f in asset:
                row[f] = asset[f]
    elif fields is None:
        row = {
            "id": rid,
            "text": asset.get("name"),
            "@etag": asset.get("@etag", asset.get("modificationDate")),
            "archived": asset.get("archived", False),
        }
    else:
        row = {"id": rid}
        for f in fields:
            if f == "text":
                row["text"] = asset.get("name")
            elif f in asset:
                row[f] = asset[f]
    if v1:  # deprecated v1: template name and icon as ``type``/``icon`` (assets spec deprecation note)
        row.setdefault("type", (asset.get("@type") or {}).get("name"))
        row.setdefault("icon", (asset.get("@type") or {}).get("icon"))
    return row


def _paging(p: dict[str, str]) -> tuple[int | None, int, str | None, str | None]:
    """(pageStart, page size, lastSeenName, lastSeenOrderbyValue); seek paging excludes ``pageStart`` (400)."""
    start = int_param(p, "pageStart", 0, minimum=0)
    size = int_param(p, "pageSize", None, minimum=0, maximum=1000)
    if size is None:
        limit = int_param(p, "limit", None, minimum=0)
        size = limit if limit is not None and limit <= 50 else 50
    seek_name, seek_value = p.get("lastSeenName"), p.get("lastSeenOrderbyValue")
    if seek_name is not None and seek_value is None:
        raise ApiError(
            400,
            "lastSeenName requires lastSeenOrderbyValue",
            code="missing_parameter",
            applies_to="lastSeenOrderbyValue",
        )
    if (seek_name is not None or seek_value is not None) and "pageStart" in p:
        raise ApiError(
            400,
            "pageStart cannot be used together with lastSeenName or lastSeenOrderbyValue",
            code="invalid_combination",
            applies_to="pageStart",
        )
    return start, size, seek_name, seek_value


def _order(p: dict[str, str], defs: dict[str, tuple[str, str]]) -> tuple[str, bool]:
    """``$orderby`` as (field, descending); the field must be a sortable column (else 400)."""
    order = (p.get("$orderby") or "name asc").split()
    if len(order) not in (1, 2) or (len(order) == 2 and order[1].lower() not in ("asc", "desc")):
        raise ApiError(400, "$orderby must be '<field> asc|desc'", code="invalid_format", applies_to="$orderby")
    order_field, desc = order[0], len(order) == 2 and order[1].lower() == "desc"
    if order_field not in defs or defs[order_field][1] not in _SORTABLE:
        raise ApiError(400, f"Cannot sort on {order_field!r}", code="invalid_value", applies_to="$orderby")
    return order_field, desc


def _template_filters(
    request: Request, c: Context, res: Resource, category: str, filters: list[Predicate], keys: list[str]
) -> list[int] | None:
    """Add the template filters (``templateId``, the resource category, ``templateName``) and their cache keys;
    returns the candidate positions when ``templateId`` narrows them (else None: every asset)."""
    base = None
    template_ids = request.query_params.getlist("templateId")
    if template_ids:
        wanted = {t.upper() for t in template_ids}
        filters.append(lambda a: str(_template_id(a)).upper() in wanted)
        keys.append(f"tpl={sorted(wanted)}")
        base = _template_positions(res, wanted)
    categories = template_categories(c)
    filters.append(lambda a: categories.get(str(_template_id(a)).upper(), "asset") == category)
    keys.append(f"category={category}")
    template_names = request.query_params.getlist("templateName")
    if template_names:
        names = set(template_names)
        filters.append(lambda a: (a.get("@type") or {}).get("name") in names)
        keys.append(f"tplname={sorted(names)}")
    return base


def _value_filters(
    p: dict[str, str], archived: bool | None, dialect: Dialect, filters: list[Predicate], keys: list[str]
) -> None:
    """Add the filters on the assets' values (``archived``, ``assetStatus``, ``nameFragment``, ``searchTerm``,
    ``$filter``) and their cache keys."""
    if archived is not None:
        filters.append(lambda a: bool(a.get("archived")) == archived)
        keys.append(f"archived={archived}")
    status = p.get("assetStatus")
    if status is not None:
        if status not in ("OPERATIONAL", "IMPACTED"):
            raise ApiError(
                400, "assetStatus must be OPERATIONAL or IMPACTED", code="invalid_value", applies_to="assetStatus"
            )
        filters.append(lambda a: a.get("@status", "OPERATIONAL") == status)
        keys.append(f"status={status}")
    fragment = p.get("nameFragment")
    if fragment:
        low = fragment.lower()
        filters.append(lambda a: low in str(a.get("name", "")).lower())
        keys.append(f"frag={low}")
    term = p.get("searchTerm")
    if term:
        low_term = term.lower()
        filters.append(
            lambda a: any(
                isinstance(v, str | int | float) and low_term in str(v).lower()
                for k, v in a.items()
                if not k.startswith("@")
            )
        )
        keys.append(f"term={low_term}")
    if p.get("$filter"):
        try:
            filters.append(compile_filter(p["$filter"], _resolve, dialect))
        except ODataError as exc:
            raise ApiError(400, str(exc), code="invalid_filter", applies_to="$filter") from exc
        keys.append(f"filter={p['$filter']}")


async def list_assets(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    media = negotiate(request, (V2, V1), V2)
    start, size, seek_name, seek_value = _paging(p)
    user = _user_fields(c)
    defs = _field_defs(user)
    fields = _checked_fields(p.get("fields"), user)
    category = _category(p)
    order_field, desc = _order(p, defs)
    archived = bool_param(p, "archived")
    fetch_count = bool_param(p, "fetchCount") or False
    fetch_data = bool_param(p, "fetchData")
    dialect = _dialect(c, user)
    columns = [_column(f, defs) for f in (fields if fields is not None else ["text", "@etag", "archived"])]
    if c.hidden(MODULE):
        body: dict = {"columns": columns, "dataSet": []}
        if fetch_count:
            body["count"] = 0
        return json(body, media_type=media)
    res = c.store["assets"]
    filters: list[Predicate] = []
    keys: list[str] = []
    base = _template_filters(request, c, res, category, filters, keys)
    _value_filters(p, archived, dialect, filters, keys)
    sort = [(order_field, desc)] if order_field == "name" else [(order_field, desc), ("name", desc)]
    matched = await c.matched(ListQuery(res, filters=filters, filter_key="&".join(keys), sort=sort, base=base))
    if seek_value is not None:
        matched = _seek(res, matched, order_field, desc, seek_value, seek_name)
    start = start or 0
    page, more = page_of(matched, start, size) if fetch_data is not False else ([], False)
    unid = c.variant("asset-grids-unid")
    body = {"columns": columns, "dataSet": [_row(a, fields, media == V1, unid) for a in res.records(page)]}
    if fetch_count:
        body["count"] = len(matched)
    return json(body, 206 if more else 200, media_type=media)


def _template_positions(res: Resource, wanted: set[str]) -> list[int]:
    """Positions of the assets of the wanted templates (upper-case ids), from the grouped index: a per-template
    listing scans its template's assets, not every asset."""
    positions: list[int] = []
    for key in ("type_id", "templateId"):
        for tid, group in res.group(key).items():
            if str(tid).upper() in wanted:
                positions += group
    return sorted(set(positions))


def _seek(res, matched: Sequence[int], field: str, desc: bool, value: str, name: str | None) -> Sequence[int]:
    """Seek paging: drop everything up to and including (lastSeenOrderbyValue, lastSeenName)."""
    bound = sort_value(value)
    for i, pos in enumerate(matched):
        rec = res.items[pos]
        cur = sort_value(rec.get(field))
        try:
            after = (cur < bound if desc else cur > bound) or (
                cur == bound
                and name is not None
                and (str(rec.get("name")) < name if desc else str(rec.get("name")) > name)
            )
        except TypeError:
            after = False
        if after:
            return matched[i:]
    return []


def _asset(c: Context, asset_id: str) -> dict:
    record = None if c.hidden(MODULE) else c.store["assets"].get(asset_id)
    if record is None:
        raise not_found()
    return record


async def get_asset(request: Request) -> Response:
    """``{data, fields, metadata, functionalities, settings}`` built from the grid row and its card type."""
    c = ctx(request)
    asset = _asset(c, request.path_params["assetId"])
    tid = _template_id(asset)
    card = c.store["asset_cardtypes"].get(str(tid)) if tid else None
    if card is None:
        cards = c.store["asset_cardtypes"]
        card = next((k for k in cards.records(cards.live()) if k.get("key") == tid), None)
    defs = {f.get("key"): f for f in (card or {}).get("fields") or []}
    data = {k: v for k, v in asset.items() if k not in ("archived", "type_id", "@type", "@assignments")}
    metadata = {
        "@etag": asset.get("@etag", asset.get("modificationDate")),
        "archived": asset.get("archived", False),
        "templateId": tid,
        "templateName": (asset.get("@type") or {}).get("name"),
        "resourceCategory": template_categories(c).get(str(tid).upper(), "asset"),
        # The card layout (widgets) is not in the dataset: one tab, one column, the required field names.
        "template": {
            "required": [k for k, f in defs.items() if f.get("required")],
            "tabs": [{"columns": [{"size": "1-1", "widgets": []}]}],
        },
    }
    return json({"data": data, "fields": defs, "metadata": metadata, "functionalities": [], "settings": {}})


def _linked(asset: dict | None, asset_id: str, link: dict, link_type: str) -> dict:
    kind = (asset or {}).get("@type") or {}
    icon = kind.get("icon") or "default"
    return {
        "linkId": link.get("linkId"),
        "linkType": link_type,
        "assetId": asset_id,
        "name": (asset or {}).get("name", ""),
        "type": kind.get("name", ""),
        "summary": (asset or {}).get("@@summary", ""),
        "archived": False,
        "archivedAsset": bool((asset or {}).get("archived")),
        "status": (asset or {}).get("@status", "OPERATIONAL"),
        "capabilityId": link.get("capabilityId"),
        "capabilityName": link.get("capabilityName"),
        "assetIcon": {"id": icon, "name": icon, "url16": f"/icons/{icon}/16", "url32": f"/icons/{icon}/32"},
    }


async def asset_links(request: Request) -> Response:
    """Links of ``sourceId``: where it is the source (listed asset = ``child``) and, without ``targetId``, also
    where it is the target (listed asset = ``parent``)."""
    c = ctx(request)
    p = params(request)
    source = p.get("sourceId")
    if not source:
        raise ApiError(400, "sourceId is required", code="missing_parameter", applies_to="sourceId")
    if c.hidden(MODULE):
        return json([])
    target, capability = p.get("targetId"), p.get("capabilityId")
    res, assets = c.store["asset_links"], c.store["assets"]
    out = []
    for pos in res.group("sourceId").get(source, []):
        link = res.items[pos]
        if target and link.get("targetId") != target:  # type: ignore[union-attr]
            continue
        if capability and link.get("capabilityId") != capability:  # type: ignore[union-attr]
            continue
        tid = link["targetId"]  # type: ignore[index]
        out.append(_linked(assets.get(tid), tid, link, "child"))  # type: ignore[arg-type]
    if not target:
        for pos in res.group("targetId").get(source, []):
            link = res.items[pos]
            if capability and link.get("capabilityId") != capability:  # type: ignore[union-attr]
                continue
            sid = link["sourceId"]  # type: ignore[index]
            out.append(_linked(assets.get(sid), sid, link, "parent"))  # type: ignore[arg-type]
    return json(out)


async def templates(request: Request) -> Response:
    c = ctx(request)
    if c.hidden(MODULE):
        return json({"dataSet": []})
    p = params(request)
    archived = bool_param(p, "archived")
    category = _category(p)
    res = c.store["asset_templates"]
    items = [
        res.items[pos]
        for pos in res.live()
        if (res.meta[pos] or {}).get("_resourceCategory", "asset") == category
        and (archived is None or bool(res.items[pos].get("archived")) == archived)  # type: ignore[union-attr]
    ]
    return json({"dataSet": items})


async def card_types(request: Request) -> Response:
    c = ctx(request)
    if c.hidden(MODULE):
        return json({"cardTypes": []})
    res = c.store["asset_cardtypes"]
    return json({"cardTypes": list(res.records(res.live()))})


_P = "/tas/api/assetmgmt"
routes = [
    Route(f"{_P}/assets", list_assets),
    Route(f"{_P}/assets/{{assetId}}", get_asset),
    Route(f"{_P}/assetLinks", asset_links),
    Route(f"{_P}/templates", templates),
    Route(f"{_P}/cardTypes", card_types),
]
