"""Change API (change 1.4.0 plus newer client-documented behaviour): ``/operatorChanges`` with pageStart/pageSize
(1000) in a ``{results}`` envelope, 206 when more (UGDSB loops on it), the 1.4.0 repeatable filters and the
newer FIQL ``query`` / ``fields``; activities; the change progress trail."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, not_found, params
from topdesk_sandbox.dates import parse_instant
from topdesk_sandbox.errors import ApiError
from topdesk_sandbox.listing import ListQuery, Predicate, bool_param, int_param, page_of, parse_sort
from topdesk_sandbox.records import is_archived, parse_fields

MODULE = "changes"
#: List item of 1.4.0 (``OperatorChangeEntry``); the dataset line is the detail shape.
LIST_FIELDS = (
    "id",
    "number",
    "briefDescription",
    "changeType",
    "archived",
    "creationDate",
    "modificationDate",
    "status",
    "simple",
)
ACTIVITY_FIELDS = (
    "id",
    "number",
    "briefDescription",
    "change",
    "activityType",
    "archived",
    "assignee",
    "processingStatus",
    "status",
    "plannedStartDate",
    "startDate",
    "plannedFinalDate",
    "finalDate",
    "creationDate",
    "lastModificationDate",
)
#: Repeatable list filters: parameter → record path.
CHANGE_FILTERS = {
    "changeType": ("changeType",),
    "status": ("status",),
    "id": ("id",),
    "simple.assignee.id": ("simple", "assignee", "id"),
    "simple.assignee.groupId": ("simple", "assignee", "groupId"),
}
ACTIVITY_FILTERS = {
    "operator": ("assignee", "id"),
    "operatorGroup": ("assignee", "groupId"),
    "id": ("id",),
    "status": ("status",),
}
_CLOSED_PHASES = ("closed", "rejected", "canceled", "cancelled", "nogo")
_MOD = re.compile(r"(?<![A-Za-z.])modificationDate")


def change_list_item(record: dict, fields: list[str] | None, all_fields: bool) -> dict:
    """Project the detail record onto the list shape; ``modificationDate`` is the detail's
    ``lastModificationDate`` when the line has no ``modificationDate`` of its own."""
    full = dict(record)
    if "modificationDate" not in full and "lastModificationDate" in full:
        full["modificationDate"] = full["lastModificationDate"]
    if all_fields:
        return full
    keys = fields if fields is not None else LIST_FIELDS
    return {k: full.get(k) for k in keys if k in full or fields is not None}


def _paging(p: dict[str, str]) -> tuple[int, int]:
    """``pageStart`` and ``pageSize`` (1000, max 5000)."""
    return int_param(p, "pageStart", 0) or 0, int_param(p, "pageSize", 1000, minimum=1, maximum=5000) or 1000


def _list_query(
    c: Context,
    resource: str,
    p: dict[str, str],
    filters: list[Predicate],
    keys: list[str],
    sort: list[tuple[str, bool]],
) -> ListQuery:
    """The list query on ``resource``. Lines carry ``lastModificationDate``; FIQL on ``modificationDate`` (the
    list field) uses it."""
    res = c.store[resource]
    live = res.live()
    text = p.get("query")
    if text and live and "modificationDate" not in (res.items[live[0]] or {}):
        text = _MOD.sub("lastModificationDate", text)
    return ListQuery(res, query=text, filters=filters, filter_key="&".join(keys), sort=sort)


def _filters(
    request: Request, p: dict[str, str], paths: dict[str, tuple[str, ...]]
) -> tuple[list[Predicate], list[str]]:
    """The repeatable filters of ``paths`` (parameter → record path; an object matches by id or name) and
    ``archived``: (checks, their cache-key parts)."""
    filters: list[Predicate] = []
    keys: list[str] = []
    for name, path in paths.items():
        values = request.query_params.getlist(name)
        if values:
            wanted = frozenset(values)
            filters.append(_one_of(path, wanted))
            keys.append(f"{name}={sorted(wanted)}")
    archived = bool_param(p, "archived")
    if archived is not None:
        filters.append(lambda r: is_archived(r) == archived)
        keys.append(f"archived={archived}")
    return filters, keys


def _one_of(path: tuple[str, ...], wanted: frozenset[str]) -> Predicate:
    def check(rec: dict) -> bool:
        value: object = rec
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict):
            return value.get("id") in wanted or value.get("name") in wanted
        return value in wanted

    return check


async def list_changes(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    start, size = _paging(p)
    raw_fields = p.get("fields")
    all_fields = raw_fields is not None and raw_fields.strip() in ("all", "*")
    fields = None if all_fields else parse_fields(raw_fields)
    sort = parse_sort(p.get("sort"))
    sort = [("lastModificationDate" if f == "modificationDate" else f, d) for f, d in sort]
    if c.hidden(MODULE):
        return json({"results": []})
    filters, keys = _filters(request, p, CHANGE_FILTERS)
    if bool_param(p, "open"):
        filters.append(
            lambda r: (
                not any(s in str(r.get("processingStatus", "")) for s in _CLOSED_PHASES)
                and not (r.get("simple") or {}).get("closedDate")
            )
        )
        keys.append("open")
    closed_start = p.get("closedDate.start")
    if closed_start:
        bound = parse_instant(closed_start)
        if bound is None:
            raise ApiError(400, "Invalid input data", code="invalid_format", applies_to="closedDate.start")
        filters.append(lambda r: (parse_instant(str((r.get("simple") or {}).get("closedDate") or "")) or -1) >= bound)
        keys.append(f"closed>={bound}")
    q = _list_query(c, "changes", p, filters, keys, sort)
    page, more = page_of(await c.matched(q), start, size)
    results = [change_list_item(r, fields, all_fields) for r in q.resource.records(page)]
    return json({"results": results}, 206 if more else 200)


def _find(c: Context, resource: str, identifier: str) -> dict:
    record = None if c.hidden(MODULE) else c.store[resource].find(identifier)
    if record is None:
        raise not_found()
    return record


async def get_change(request: Request) -> Response:
    record = _find(ctx(request), "changes", request.path_params["identifier"])
    return json(record)


async def change_progresstrail(request: Request) -> Response:
    c = ctx(request)
    change = _find(c, "changes", request.path_params["id"])
    res = c.store["change_progresstrail"]
    return json({"results": list(res.records(res.group("_changeId").get(change["id"], [])))})


async def change_requests(request: Request) -> Response:
    c = ctx(request)
    _find(c, "changes", request.path_params["id"])
    return json({"results": []})


def _activity_view(record: dict, fields: list[str] | None, raw: str | None) -> dict:
    if raw is not None and raw.strip() == "":
        return {"id": record.get("id")}
    if fields is None:
        return record
    unknown = [f for f in fields if f not in ACTIVITY_FIELDS and f not in record]
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}", code="invalid_fields", applies_to="fields")
    return {f: record.get(f) for f in fields}


async def list_activities(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    start, size = _paging(p)
    raw_fields = p.get("fields")
    fields = parse_fields(raw_fields) if raw_fields and raw_fields.strip() not in ("all", "*") else None
    sort = parse_sort(p.get("sort"))
    if c.hidden(MODULE):
        return json({"results": []})
    filters, keys = _filters(request, p, ACTIVITY_FILTERS)
    changes_wanted = request.query_params.getlist("change")
    if changes_wanted:
        ids = set(changes_wanted)
        for ident in changes_wanted:
            hits = c.store["changes"].group("number").get(ident)
            if hits:
                ids.add(c.store["changes"].items[hits[0]]["id"])  # type: ignore[index]
        filters.append(
            lambda r: (r.get("change") or {}).get("id") in ids or (r.get("change") or {}).get("number") in ids
        )
        keys.append(f"change={sorted(ids)}")
    q = _list_query(c, "change_activities", p, filters, keys, sort)
    page, more = page_of(await c.matched(q), start, size)
    results = [_activity_view(r, fields, raw_fields) for r in q.resource.records(page)]
    return json({"results": results}, 206 if more else 200)


async def get_activity(request: Request) -> Response:
    record = _find(ctx(request), "change_activities", request.path_params["identifier"])
    return json(record)


_P = "/tas/api"
routes = [
    Route(f"{_P}/operatorChanges", list_changes),
    Route(f"{_P}/operatorChanges/{{identifier}}", get_change),
    Route(f"{_P}/operatorChanges/{{id}}/progresstrail", change_progresstrail),
    Route(f"{_P}/operatorChanges/{{id}}/requests", change_requests),
    Route(f"{_P}/operatorChangeActivities", list_activities),
    Route(f"{_P}/operatorChangeActivities/{{identifier}}", get_activity),
]
