"""Supporting files API (2.7.11, persons v1 as in 1.58.0): persons, operators, operator groups, branches,
locations, departments, budget holders, suppliers — each with its own paging, field parameter and archived rule."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import Context, ctx, json, negotiate, next_url, no_content, not_found, offset_page, params
from topdesk_sandbox.listing import ListQuery, Predicate, int_param, page_of, parse_sort
from topdesk_sandbox.records import is_archived, parse_fields, select_fields

JSON = "application/json"
PERSONS_V2 = "application/x.topdesk-collection-person-v2+json"
PERSON_V2 = "application/x.topdesk-person-v2+json"

#: v2 lists return "a limited set of fields by default" (spec); which ones is not documented [inferred].
PERSON_V2_DEFAULT_FIELDS = ["id", "dynamicName", "firstName", "surName", "email", "archived"]
_V1_ONLY = ("status", "gender", "clientReferenceNumber", "attentionComment", "departmentFree")
_V2_ONLY = ("archived", "principalId", "hasSspAccess", "showObjectsOfBranch", "showObjectsOfSubsidiaries", "isCaller")


def person_v2(record: dict) -> dict:
    """A person as the v2 media type shows it: ``archived`` boolean instead of ``status``."""
    out = {k: v for k, v in record.items() if k not in _V1_ONLY}
    if "archived" not in out:
        out["archived"] = is_archived(record)
    return out


def person_v1(record: dict) -> dict:
    """A person as the legacy (v1) endpoint shows it: ``status`` person|personArchived, no v2-only keys."""
    out = {k: v for k, v in record.items() if k not in _V2_ONLY}
    if "status" not in out:
        out["status"] = "personArchived" if is_archived(record) else "person"
    return out


def _active(record: dict) -> bool:
    return not is_archived(record)


async def _archived_rule_list(c: Context, resource: str, p: dict[str, str], sort: list | None = None) -> Sequence[int]:
    """Supporting-files rule: no ``query`` ⇒ only active records; any ``query`` ⇒ active and archived."""
    query = p.get("query")
    filters: list[Predicate] = [] if query else [_active]
    q = ListQuery(
        c.store[resource], query=query, filters=filters, filter_key="" if query else "active", sort=sort or []
    )
    return await c.matched(q)


async def _start_page_size_list(
    request: Request,
    resource: str,
    module: str,
    *,
    maximum: int = 100,
    field_param: str = "fields",
    view: Callable[[dict], dict] | None = None,
) -> Response:
    """``start``/``page_size`` (10, max ``maximum``) lists with 206/204 and the no-query ⇒ active rule; ``view``
    reshapes each record."""
    c = ctx(request)
    p = params(request)
    start = int_param(p, "start", 0) or 0
    size = int_param(p, "page_size", 10, minimum=1, maximum=maximum) or 10
    fields = parse_fields(p.get(field_param))
    if c.hidden(module):
        return no_content()
    matched = await _archived_rule_list(c, resource, p)
    page, status = offset_page(matched, start, size)
    if status == 204:
        return no_content()
    records = c.store[resource].records(page)
    return json(select_fields(map(view, records) if view else records, fields), status)


# --- persons ---------------------------------------------------------------------------------------------------


async def list_persons(request: Request) -> Response:
    c = ctx(request)
    p = params(request)
    media = negotiate(request, (PERSONS_V2, JSON), JSON)
    if media == PERSONS_V2:
        start = int_param(p, "pageStart", 0) or 0
        size = int_param(p, "pageSize", 50, minimum=1, maximum=5000) or 50
        fields = parse_fields(p.get("fields")) if "fields" in p else PERSON_V2_DEFAULT_FIELDS
        sort = parse_sort(p.get("sort") or "dynamicName:asc")
        if c.hidden("persons"):
            return json({"item": [], "size": 0, "next": None}, media_type=PERSONS_V2)
        query = p.get("query")
        matched = await c.matched(ListQuery(c.store["persons"], query=query, sort=sort))  # no query ⇒ both
        page, more = page_of(matched, start, size)
        items = select_fields((person_v2(r) for r in c.store["persons"].records(page)), fields)
        body = {"item": items, "size": len(items), "next": next_url(request, pageStart=start + size) if more else None}
        return json(body, 206 if more else 200, media_type=PERSONS_V2)
    return await _start_page_size_list(
        request, "persons", "persons", maximum=5000, field_param="$fields", view=person_v1
    )


async def get_person(request: Request) -> Response:
    c = ctx(request)
    media = negotiate(request, (PERSON_V2, JSON), JSON)
    record = None if c.hidden("persons") else c.store["persons"].get(request.path_params["id"])
    if record is None:
        raise not_found()
    if media == PERSON_V2:
        fields = parse_fields(request.query_params.get("fields"))
        return json(select_fields([person_v2(record)], fields)[0], media_type=PERSON_V2)
    return json(person_v1(record))


async def count_persons(request: Request) -> Response:
    c = ctx(request)
    if c.hidden("persons"):
        return json({"numberOfPersons": 0})
    matched = await c.matched(ListQuery(c.store["persons"], query=request.query_params.get("query")), guard=False)
    return json({"numberOfPersons": len(matched)})


# --- operators and groups --------------------------------------------------------------------------------------


async def list_operators(request: Request) -> Response:
    return await _start_page_size_list(request, "operators", "operators")


async def list_operatorgroups(request: Request) -> Response:
    return await _start_page_size_list(request, "operatorgroups", "operatorgroups")


async def list_suppliers(request: Request) -> Response:
    return await _start_page_size_list(request, "suppliers", "suppliers")


def _single(request: Request, resource: str, module: str) -> Response:
    c = ctx(request)
    record = None if c.hidden(module) else c.store[resource].get(request.path_params["id"])
    if record is None:
        raise not_found()
    fields = parse_fields(request.query_params.get("fields") or request.query_params.get("$fields"))
    return json(select_fields([record], fields)[0])


async def get_operator(request: Request) -> Response:
    return _single(request, "operators", "operators")


async def get_operatorgroup(request: Request) -> Response:
    return _single(request, "operatorgroups", "operatorgroups")


async def get_supplier(request: Request) -> Response:
    return _single(request, "suppliers", "suppliers")


async def get_branch(request: Request) -> Response:
    return _single(request, "branches", "branches")


async def get_location(request: Request) -> Response:
    return _single(request, "locations", "locations")


def current_operator(c: Context) -> dict:
    """The operator whose login name is the Basic-auth login; a minimal card when the dataset has none."""
    login = c.settings.login.lower()
    res = c.store["operators"]
    for rec in res.records(res.live()):
        if str(rec.get("loginName", "")).lower() == login:
            return rec
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"topdesk-sandbox/operator/{c.settings.login}")),
        "status": "operator",
        "surName": c.settings.login,
        "firstName": "",
        "dynamicName": c.settings.login,
        "loginName": c.settings.login,
        "loginPermission": True,
        "apiAccount": True,
        "firstLineCallOperator": True,
        "secondLineCallOperator": True,
    }


async def operators_current(request: Request) -> Response:
    c = ctx(request)
    fields = parse_fields(request.query_params.get("fields"))
    return json(select_fields([current_operator(c)], fields)[0])


async def operator_groups_of(request: Request) -> Response:
    """``/operators/id/{id}/operatorgroups``: ``[{id,name}]``; FIQL only on ``archived``."""
    c = ctx(request)
    if c.hidden("operators") or c.store["operators"].get(request.path_params["id"]) is None:
        raise not_found()
    res = c.store["operator_operatorgroups"]
    base = res.group("_operatorId").get(request.path_params["id"], [])
    query = request.query_params.get("query")
    matched = await c.matched(ListQuery(res, query=query, base=base), guard=False)
    if not matched:
        return no_content()
    return json([{"id": r.get("id"), "name": r.get("name")} for r in res.records(matched)])


async def operators_of_group(request: Request) -> Response:
    """``/operatorgroups/id/{id}/operators``: members as ``[{id,name}]``."""
    c = ctx(request)
    group_id = request.path_params["id"]
    if c.hidden("operatorgroups") or c.store["operatorgroups"].get(group_id) is None:
        raise not_found()
    res = c.store["operator_operatorgroups"]
    operators = c.store["operators"]
    members = []
    for pos in res.group("id").get(group_id, []):
        op_id = (res.meta[pos] or {}).get("_operatorId")
        op = operators.get(op_id) if op_id else None
        if op is not None:
            members.append({"id": op["id"], "name": op.get("dynamicName")})
    return json(members) if members else no_content()


# --- branches, locations, departments, budget holders ----------------------------------------------------------


async def list_branches(request: Request) -> Response:
    """No paging at all; ``$fields`` defaults to ``id,name``."""
    c = ctx(request)
    p = params(request)
    fields = parse_fields(p.get("$fields", "id,name"))
    if c.hidden("branches"):
        return json([])
    matched = await _archived_rule_list(c, "branches", p)
    return json(select_fields(c.store["branches"].records(matched), fields))


async def list_locations(request: Request) -> Response:
    """``pageSize`` only (default unlimited, no 206); ``$fields`` defaults to ``id,name,roomNumber,branch``."""
    c = ctx(request)
    p = params(request)
    size = int_param(p, "pageSize", None, minimum=1)
    fields = parse_fields(p.get("$fields", "id,name,roomNumber,branch"))
    if c.hidden("locations"):
        return json([])
    matched = await _archived_rule_list(c, "locations", p)
    if size is not None:
        matched = matched[:size]
    return json(select_fields(c.store["locations"].records(matched), fields))


def _simple_list(resource: str, module: str):
    """Departments / budget holders: bare ``[{id,name,externalLinks}]``, filter by ``external_link_id/type``."""

    async def handler(request: Request) -> Response:
        c = ctx(request)
        if c.hidden(module):
            return json([])
        link_id = request.query_params.get("external_link_id")
        link_type = request.query_params.get("external_link_type")
        res = c.store[resource]
        out = []
        for rec in res.records(res.live()):
            links = rec.get("externalLinks") or []
            if link_id and not any(lk.get("id") == link_id for lk in links):
                continue
            if link_type and not any(lk.get("type") == link_type for lk in links):
                continue
            out.append(rec)
        return json(out)

    return handler


async def list_languages(request: Request) -> Response:
    """``/languages``: "The languages in the database", ``[{id, name, languageCode}]``; operators have
    "Unrestricted access" (supporting files 2.7.11)."""
    res = ctx(request).store["languages"]
    return json(list(res.records(res.live())))


_P = "/tas/api"
routes = [
    Route(f"{_P}/languages", list_languages),
    Route(f"{_P}/persons", list_persons),
    Route(f"{_P}/persons/count", count_persons),
    Route(f"{_P}/persons/{{id}}", get_person),
    Route(f"{_P}/operators", list_operators),
    Route(f"{_P}/operators/current", operators_current),
    Route(f"{_P}/operators/id/{{id}}", get_operator),
    Route(f"{_P}/operators/id/{{id}}/operatorgroups", operator_groups_of),
    Route(f"{_P}/operatorgroups", list_operatorgroups),
    Route(f"{_P}/operatorgroups/id/{{id}}", get_operatorgroup),
    Route(f"{_P}/operatorgroups/id/{{id}}/operators", operators_of_group),
    Route(f"{_P}/branches", list_branches),
    Route(f"{_P}/branches/id/{{id}}", get_branch),
    Route(f"{_P}/locations", list_locations),
    Route(f"{_P}/locations/id/{{id}}", get_location),
    Route(f"{_P}/departments", _simple_list("departments", "departments")),
    Route(f"{_P}/budgetholders", _simple_list("budgetholders", "budgetholders")),
    Route(f"{_P}/suppliers", list_suppliers),
    Route(f"{_P}/suppliers/{{id}}", get_supplier),
]
