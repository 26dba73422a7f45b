"""Change API: ``/operatorChanges`` with pageStart/pageSize in a ``{results}`` envelope, activities, the change
progress trail. By default the newer API clients use (FIQL ``query``, ``fields``, one-field ``sort`` on more fields,
206 while more); with the ``change-1.4`` variant exactly change 1.4.0 (no ``query``/``fields``, 200 on every page).
Parameters, FIQL fields, sorts and ``fields`` names outside what the API in play documents are refused (400), as
TOPdesk refuses them; ``EVIDENCE.md`` names the sources of what 1.4.0 does not document."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox import fiql
from topdesk_sandbox.common import Context, ctx, json, not_found, params
from topdesk_sandbox.dates import parse_instant
from topdesk_sandbox.errors import MALFORMED, ApiError
from topdesk_sandbox.listing import ListQuery, Predicate, bool_param, int_param, page_of, parse_sort
from topdesk_sandbox.records import is_archived

MODULE = "changes"
#: The variant that plays change API 1.4.0 exactly (``variants.VARIANTS``).
CHANGE_14 = "change-1.4"
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
#: ``fields`` names of the newer change list: the detail shape of 1.4.0 plus what clients select beyond it
#: (TopdeskConnector C#: submitDate, urgent, canceled, creator, modifier; get_changes_by_template: template).
CHANGE_SELECTABLE = frozenset(
    [
        "id",
        "number",
        "briefDescription",
        "templateId",
        "template",
        "type",
        "requester",
        "archived",
        "changeType",
        "requestDate",
        "creationDate",
        "lastModificationDate",
        "submitDate",
        "urgent",
        "canceled",
        "emergencyChange",
        "processingStatus",
        "costs",
        "possibleActions",
        "coordinator",
        "phases",
        "simple",
        "externalNumber",
        "object",
        "requests",
        "progressTrail",
        "impact",
        "benefit",
        "priority",
        "category",
        "subcategory",
        "status",
        "optionalFields1",
        "optionalFields2",
        "creator",
        "modifier",
    ]
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
#: Query parameters change 1.4.0 documents for ``GET /operatorChanges``.
CHANGE_PARAMS_14 = frozenset(
    (*CHANGE_FILTERS, "phase", "closedDate.start", "open", "archived", "sort", "pageSize", "pageStart")
)
#: Newer change APIs add FIQL ``query`` and ``fields`` (UGDSB Get-TopdeskOperatorChanges.ps1; TopdeskConnector C#).
CHANGE_PARAMS = CHANGE_PARAMS_14 | {"query", "fields"}
CHANGE_SORTS_14 = frozenset(("simple.closedDate", "simple.plannedImplementationDate"))
#: The sort fields UGDSB Get-TopdeskOperatorChanges.ps1 offers (one field and a direction).
CHANGE_SORTS = CHANGE_SORTS_14 | {
    "id",
    "creationDate",
    "simple.plannedStartDate",
    "phases.rfc.plannedEndDate",
    "phases.progress.plannedEndDate",
    "phases.evaluation.plannedEndDate",
}
#: FIQL fields of the newer change list: ``number``, ``phase``, ``template.id`` seen in clients; ``archived`` and
#: ``modificationDate`` (the list item's date, 1.4.0 ``OperatorChangeEntry``) assumed.
CHANGE_FIQL = frozenset(("number", "phase", "template.id", "archived", "modificationDate"))
#: Query parameters change 1.4.0 documents for ``GET /operatorChangeActivities`` (no ``query``).
ACTIVITY_PARAMS = frozenset(
    (
        *ACTIVITY_FILTERS,
        "change",
        "archived",
        "finalDateAfter",
        "blocked",
        "open",
        "pageSize",
        "pageStart",
        "sort",
        "fields",
    )
)
ACTIVITY_SORTS = frozenset(("finalDate", "plannedFinalDate"))
_CLOSED_PHASES = ("closed", "rejected", "canceled", "cancelled", "nogo")
_MOD = re.compile(r"(?<![A-Za-z.])modificationDate")


def refuse_undocumented(request: Request, documented: Iterable[str]) -> None:
    """400 for a query parameter the operation does not document (TOPdesk refuses it; it does not ignore it)."""
    known = set(documented)
    for name in request.query_params:
        if name not in known:
            raise ApiError(400, f"Unknown query parameter '{name}'", code="invalid_parameter", applies_to=name)


def refuse_fiql_fields(text: str | None, allowed: Iterable[str], prefixes: Iterable[str] = ()) -> None:
    """400 for a FIQL selector outside the operation's filter list (``prefixes``: every sub-field allowed)."""
    if not text:
        return
    try:
        node = fiql.parse(text)
    except fiql.FiqlError as exc:
        raise ApiError(400, f"{MALFORMED}: {exc}", code="invalid_query", applies_to="query") from exc
    known, open_ended = set(allowed), tuple(f"{p}." for p in prefixes)
    stack: list[fiql.Node] = [node]
    while stack:
        part = stack.pop()
        if isinstance(part, fiql.Junction):
            stack.extend(part.parts)
            continue
        name = ".".join(part.path)
        if name not in known and not name.startswith(open_ended):
            raise ApiError(400, f"Field '{name}' cannot be used in a query", code="invalid_query", applies_to="query")


def one_sort(raw: str | None, allowed: frozenset[str]) -> list[tuple[str, bool]]:
    """``field[:asc|desc]`` on one documented sort field, else 400."""
    sort = parse_sort(raw)
    if len(sort) > 1 or any(name not in allowed for name, _ in sort):
        raise ApiError(400, f"Sorting on '{raw}' is not supported", code="invalid_sort", applies_to="sort")
    return sort


def change_list_item(record: dict, fields: list[str] | None, all_fields: bool) -> dict:
    """``fields=all``: the detail shape as stored (``lastModificationDate``, no ``modificationDate``); selected
    ``fields``: those keys (a dotted name selects its top-level object); none: the 1.4.0 list item, whose
    ``modificationDate`` is the detail's ``lastModificationDate``."""
    if all_fields:
        return record
    if fields is not None:
        wanted = {f.split(".", 1)[0] for f in fields}
        return {k: record.get(k) for k in record if k in wanted} | {k: None for k in wanted if k not in record}
    item = {k: record[k] for k in LIST_FIELDS if k in record}
    if "modificationDate" not in item and "lastModificationDate" in record:
        item["modificationDate"] = record["lastModificationDate"]
    return item


def _paging(p: dict[str, str]) -> tuple[int, int]:
    """``pageStart`` and ``pageSize`` (1000, max 5000)."""
    return int_param(p, "pageStart", 0) or 0, int_param(p, "pageSize", 1000, minimum=1, maximum=5000) or 1000


def _list_query(
    c: Context,
    resource: str,
    text: str | None,
    filters: list[Predicate],
    keys: list[str],
    sort: list[tuple[str, bool]],
) -> ListQuery:
    """The list query on ``resource``. Stored lines carry ``lastModificationDate``: FIQL on the list item's
    ``modificationDate`` reads it."""
    res = c.store[resource]
    live = res.live()
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


def _change_fields(raw: str | None) -> tuple[list[str] | None, bool]:
    """(selected names or None, all?) of the newer API's ``fields``; an unknown name is a 400."""
    if raw is None:
        return None, False
    names = [f.strip() for f in raw.split(",") if f.strip()]
    if names == ["all"]:
        return None, True
    unknown = [n for n in names if n.split(".", 1)[0] not in CHANGE_SELECTABLE]
    if unknown or not names:
        shown = ", ".join(unknown) or "(empty)"
        raise ApiError(400, f"Unknown field(s): {shown}", code="invalid_fields", applies_to="fields")
    return names, False


async def list_changes(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    old = c.variant(CHANGE_14)
    refuse_undocumented(request, CHANGE_PARAMS_14 if old else CHANGE_PARAMS)
    start, size = _paging(p)
    fields, all_fields = _change_fields(p.get("fields"))
    sort = one_sort(p.get("sort"), CHANGE_SORTS_14 if old else CHANGE_SORTS)
    text = p.get("query")
    refuse_fiql_fields(text, CHANGE_FIQL)
    if c.hidden(MODULE):
        return json({"results": []})
    filters: list[Predicate] = []
    keys: list[str] = []
    if not text:  # with a FIQL query every other filter parameter is ignored
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
            filters.append(
                lambda r: (parse_instant(str((r.get("simple") or {}).get("closedDate") or "")) or -1) >= bound
            )
            keys.append(f"closed>={bound}")
    q = _list_query(c, "changes", text, filters, keys, sort)
    page, more = page_of(await c.matched(q), start, size)
    results = [change_list_item(r, fields, all_fields) for r in q.resource.records(page)]
    return json({"results": results}, 206 if more and not old else 200)


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
    return {f: record.get(f) for f in fields}


def _activity_fields(raw: str | None) -> list[str] | None:
    """Selected names (None: all); a name outside the documented list is a 400."""
    if raw is None or raw.strip() in ("", "all"):
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in names if f not in ACTIVITY_FIELDS]
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}", code="invalid_fields", applies_to="fields")
    return names


async def list_activities(request: Request) -> Response:
    """Change 1.4.0 documents only 200 for this list, also when more pages follow: no 206 here."""
    c = ctx(request)
    p = params(request)
    refuse_undocumented(request, ACTIVITY_PARAMS)
    start, size = _paging(p)
    raw_fields = p.get("fields")
    fields = _activity_fields(raw_fields)
    sort = one_sort(p.get("sort"), ACTIVITY_SORTS)
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
    q = _list_query(c, "change_activities", None, filters, keys, sort)
    page, _more = page_of(await c.matched(q), start, size)
    results = [_activity_view(r, fields, raw_fields) for r in q.resource.records(page)]
    return json({"results": results})


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
