"""Reservations API (2.0.0): ``/reservations`` ordered by ``plannedStartDate``, ``$top`` (1000, max 10000), no
offset — 206 means "ask again with a later plannedStartDate" (seek via FIQL); ``{results}``; ``$fields``. A query
parameter other than ``$fields``/``$top``/``query``, or a FIQL field outside the documented filter list (e.g.
``modificationDate``), is refused (400), as TOPdesk refuses it."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import ctx, json, not_found, params
from topdesk_sandbox.dates import parse_instant
from topdesk_sandbox.listing import ListQuery, int_param, page_of
from topdesk_sandbox.records import parse_fields, select_fields
from topdesk_sandbox.routes.changes import refuse_fiql_fields, refuse_undocumented

MODULE = "reservations"
LIST_PARAMS = ("$fields", "$top", "query")
_PERSON = ("id", "email", "loginName", "networkLoginName", "employeeNumber")
#: The filter fields reservations 2.0.0 lists for ``query`` (``modificationDate`` is not among them).
FIQL_FIELDS = frozenset(
    (
        "status",
        "archived",
        "number",
        "briefDescription",
        "notes",
        "numberOfPersons",
        "plannedStartDate",
        "plannedEndDate",
        *(f"requester.{f}" for f in _PERSON),
        *(f"reservedForOther.{f}" for f in _PERSON),
        "operatorGroup.id",
        "operatorGroup.name",
        "operator.id",
        "operator.name",
        "event.id",
        "event.number",
        "processingStatus.id",
        "processingStatus.name",
        "series.id",
        "reservedFacilities.location.id",
        "reservedFacilities.location.roomNumber",
        "reservedFacilities.object.id",
        "reservedFacilities.object.name",
        "reservedFacilities.asset.id",
        "reservedFacilities.asset.name",
        *(f"reservedFacilities.reservedServices.{f}" for f in ("id", "serviceId", "operatorId", "supplierId")),
        *(f"participants.persons.{f}" for f in _PERSON),
        "participants.visitors.id",
        "participants.visitors.number",
        *(f"externalLinks.{f}" for f in ("id", "type", "date")),
    )
)
#: ``optionalFields1``, ``optionalFields2``: all sub-fields.
FIQL_OPEN = ("optionalFields1", "optionalFields2")


async def list_reservations(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    refuse_undocumented(request, LIST_PARAMS)
    top = int_param(p, "$top", 1000, minimum=1, maximum=10000) or 1000
    fields = parse_fields(p.get("$fields"))
    refuse_fiql_fields(p.get("query"), FIQL_FIELDS, FIQL_OPEN)
    if c.hidden(MODULE):
        return json({"results": []})
    res = c.store["reservations"]
    q = ListQuery(res, query=p.get("query"), sort=[("plannedStartDate", False), ("id", False)])
    page, more = page_of(await c.matched(q), 0, top)
    return json({"results": select_fields(res.records(page), fields)}, 206 if more else 200)


async def get_reservation(request: Request) -> Response:
    c = ctx(request)
    res = c.store["reservations"]
    record = None
    if not c.hidden(MODULE):
        if "number" in request.path_params:
            hits = res.group("number").get(request.path_params["number"])
            record = res.items[hits[0]] if hits else None
        else:
            record = res.find(request.path_params["identifier"])
    if record is None:
        raise not_found()
    headers = {}
    ms = parse_instant(str(record.get("modificationDate") or ""))
    if ms is not None:
        from datetime import UTC, datetime

        headers["Last-Modified"] = format_datetime(datetime.fromtimestamp(ms / 1000, tz=UTC), usegmt=True)
    fields = parse_fields(request.query_params.get("$fields"))
    return json(select_fields([record], fields)[0], headers=headers)


routes = [
    Route("/tas/api/reservations", list_reservations),
    Route("/tas/api/reservations/number/{number}", get_reservation),
    Route("/tas/api/reservations/{identifier}", get_reservation),
]
