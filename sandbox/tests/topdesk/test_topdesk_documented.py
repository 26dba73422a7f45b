"""The request gate: ``documented.check`` names every undocumented parameter, FIQL field, selected field, sort and
fractional-second date by operation and parameter; the sandbox records every TOPdesk request with its violations and,
``strict``, refuses a violating one with 400 in that API's error family."""

from __future__ import annotations

import time

import pytest
from topdesk_sandbox_testkit import running

from topdesk_sandbox import documented
from topdesk_sandbox.documented import FieldList, check, parse_filter_item
from topdesk_sandbox.requestlog import RequestLog

ASSET_FIELDS = frozenset({"serialnumber", "ram-gb"})
ASSETS_V2 = "application/x.topdesk-am-assets-v2+json"


def _q(**params: str) -> list[tuple[str, str]]:
    return [(k.replace("__", "$"), v) for k, v in params.items()]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (
            "/tas/api/incidents",
            _q(pageStart="0", pageSize="100", all="true", sort="modificationDate:asc,id:asc", fields="id,number",
               query="modificationDate=ge=2024-01-01T00:00:00Z;modificationDate=lt=2024-02-01T00:00:00Z"),
        ),
        ("/tas/api/persons", _q(pageStart="0", pageSize="5000", fields="*", sort="modificationDate:asc",
                                query="modificationDate=gt=2024-01-01T00:00:00Z")),
        ("/tas/api/persons", _q(start="0", page_size="100", __fields="id,dynamicName", query="manager.name==Alice")),
        ("/tas/api/operators", _q(start="0", page_size="100", query="(archived==true,archived==false);email==x")),
        ("/tas/api/operators/id/4a8e5fa0-0000-0000-0000-000000000001/operatorgroups", _q(query="archived==false")),
        ("/tas/api/locations", _q(pageSize="10", query="area.size=gt=3;branch.name==Main", __fields="id,name")),
        ("/tas/api/reservations", _q(__top="1000", query="plannedStartDate=ge=2024-01-01T00:00:00Z;requester.id==x")),
        ("/tas/api/operatorChanges", _q(pageStart="0", pageSize="1000", fields="all", query="number==C2401-001",
                                        sort="creationDate:asc")),
        ("/tas/api/operatorChangeActivities", _q(change="C2401-001", fields="all,id", sort="finalDate:asc")),
        ("/services/knowledge-base-v1/knowledgeItems", _q(start="0", page_size="100", language="en",
                                                           fields="title,content,translation.creator",
                                                           query="modificationDate=gt=2024-01-01T00:00:00Z")),
        ("/tas/api/assetmgmt/assets", _q(templateId="x", fields="name,@type,serialnumber", __orderby="name asc",
                                         __filter="modificationDate ge '2024-01-01T00:00:00.000' or ram-gb gt 4")),
        ("/tas/api/emails/id/4a8e5fa0-0000-0000-0000-000000000001", []),
    ],
)  # fmt: skip
def test_a_documented_request_passes(path: str, params: list[tuple[str, str]]) -> None:
    assert check("GET", path, params, asset_field_ids=ASSET_FIELDS) == []


@pytest.mark.parametrize(
    ("path", "params", "operation", "parameter", "detail"),
    [
        # a query parameter the operation does not document (change API 1.4.0 has no FIQL on activities)
        ("/tas/api/operatorChangeActivities", _q(query="lastModificationDate=ge=2024-01-01T00:00:00Z"),
         "GET /tas/api/operatorChangeActivities", "query", "lastModificationDate=ge=2024-01-01T00:00:00Z"),
        # a FIQL field outside the operation's filter list
        ("/tas/api/reservations", _q(__top="10", query="modificationDate=ge=2024-01-01T00:00:00Z"),
         "GET /tas/api/reservations (getReservations", "query", "modificationDate"),
        ("/tas/api/operators/id/x/operatorgroups", _q(query="name==x"),
         "GET /tas/api/operators/id/{id}/operatorgroups", "query", "name"),
        ("/tas/api/operatorChanges", _q(query="briefDescription==x"),
         "GET /tas/api/operatorChanges", "query", "briefDescription"),
        # a fields name outside the selectable list
        ("/tas/api/operatorChangeActivities", _q(fields="id,modificationDate"),
         "GET /tas/api/operatorChangeActivities", "fields", "modificationDate"),
        ("/services/knowledge-base-v1/knowledgeItems", _q(fields="title,archived"),
         "GET /services/knowledge-base-v1/knowledgeItems", "fields", "archived"),
        ("/tas/api/assetmgmt/assets", _q(templateId="x", fields="name,@etag"),
         "GET /tas/api/assetmgmt/assets (getAssets", "fields", "@etag"),
        ("/tas/api/assetmgmt/assets", _q(templateId="x", fields="name,type_id"),
         "GET /tas/api/assetmgmt/assets (getAssets", "fields", "type_id"),
        # an asset $filter on something that is neither documented nor one of the tenant's fields
        ("/tas/api/assetmgmt/assets", _q(__filter="lastModified gt '2024'"),
         "GET /tas/api/assetmgmt/assets (getAssets", "$filter", "lastModified"),
        # an unsupported sort
        ("/tas/api/operatorChanges", _q(sort="creationDate:asc,id:asc"),
         "GET /tas/api/operatorChanges", "sort", "creationDate:asc,id:asc"),
        ("/tas/api/operatorChangeActivities", _q(sort="lastModificationDate:asc"),
         "GET /tas/api/operatorChangeActivities", "sort", "lastModificationDate"),
        ("/tas/api/incidents", _q(sort="attachments:asc"), "GET /tas/api/incidents", "sort", "attachments"),
        # a FIQL date with milliseconds
        ("/tas/api/incidents", _q(query="modificationDate=gt=2024-01-01T00:00:00.000Z"),
         "GET /tas/api/incidents", "query", "2024-01-01T00:00:00.000Z"),
        ("/services/knowledge-base-v1/folders", _q(query="modificationDate=gt=2024-01-01T00:00:00.5Z"),
         "GET /services/knowledge-base-v1/folders", "query", "2024-01-01T00:00:00.5Z"),
        # paging of one persons version with the filter of the other: neither documents both
        ("/tas/api/persons", _q(start="0", pageSize="10"), "GET /tas/api/persons", "start", "0"),
        # a path no description has
        ("/tas/api/nothing", [], "GET /tas/api/nothing", "(path)", "/tas/api/nothing"),
    ],
)  # fmt: skip
def test_each_violation_is_found_and_named(
    path: str, params: list[tuple[str, str]], operation: str, parameter: str, detail: str
) -> None:
    found = check("GET", path, params, asset_field_ids=ASSET_FIELDS)
    assert any(v.operation.startswith(operation) and v.parameter == parameter and v.detail == detail for v in found), (
        found
    )
    assert all(operation.split(" (")[0] in str(v) for v in found)


def test_a_violation_names_operation_id_and_description() -> None:
    [violation] = check("GET", "/tas/api/reservations", _q(query="modificationDate==null"))
    assert violation.operation == "GET /tas/api/reservations (getReservations, reservations-2.0.0)"
    assert violation.as_dict()["parameter"] == "query"
    assert "modificationDate" in str(violation)


def test_without_the_tenants_asset_fields_any_plain_name_may_be_one() -> None:
    params = _q(templateId="x", fields="name,archived,@status")
    assert [v.detail for v in check("GET", "/tas/api/assetmgmt/assets", params)] == ["@status"]


@pytest.mark.parametrize(
    ("item", "names", "prefixes"),
    [
        ("All top-level fields in the returned object, except for status and city. Use archived==true instead.",
         {"id", "name", "archived"}, set()),
        ("language.id, language.name, language.code", {"language.id", "language.name", "language.code"}, set()),
        ("visitorAddress and postalAddress: all sub-fields, including id and name for country", set(),
         {"visitorAddress.", "postalAddress."}),
        ("optionalFields1, optionalFields2: All subfields, including id and name for searchlists", set(),
         {"optionalFields1.", "optionalFields2."}),
        ("supplier: id, name, forFirstLine", {"supplier.id", "supplier.name", "supplier.forFirstLine"}, set()),
        ("operatorGroup: id, name and all tasks. This filter considers any group the operator is in.", set(),
         {"operatorGroup."}),
        ("linkedPerson: Only equal null and not equal null is supported", {"linkedPerson"}, set()),
        ("archived: a boolean fields that acts as a substitute for status", {"archived"}, set()),
        ("requester (id, email)", {"requester.id", "requester.email"}, set()),
        ("optionalFields1, optionalFields2 (all sub-fields)", set(), {"optionalFields1.", "optionalFields2."}),
        (" <li>branch.id,branch.name</li>", {"branch.id", "branch.name"}, set()),
    ],
)  # fmt: skip
def test_filter_list_items_are_read(item: str, names: set[str], prefixes: set[str]) -> None:
    assert parse_filter_item(item, {"id", "name", "status", "city"}) == (names, prefixes)


def test_prose_in_a_filter_list_is_not_guessed() -> None:
    assert parse_filter_item("All top-level fields in the returned dto, and the visitor sub-dtos", set()) is None
    assert documented.parse_filter_list("<ul><li>id</li><li>For x a special operator</li></ul>", set()) is None


def test_field_lists_match_names_and_prefixes() -> None:
    listed = FieldList.of(["archived"], ["area."])
    assert "archived" in listed and "area.size" in listed
    assert "area" not in listed and "archivedDate" not in listed


def test_checking_is_fast_enough_for_every_request() -> None:
    params = _q(pageStart="0", pageSize="100", query="modificationDate=ge=2024-01-01T00:00:00Z;archived==false")
    check("GET", "/tas/api/incidents", params)  # descriptions loaded once
    started = time.perf_counter()
    for i in range(2000):
        check("GET", f"/tas/api/incidents/id/{i}/progresstrail", _q(start="0", page_size="100"))
        check("GET", "/tas/api/persons", params)
    assert time.perf_counter() - started < 2.0


def test_the_log_keeps_the_newest_and_counts_what_it_dropped() -> None:
    log = RequestLog(limit=2)
    for i in range(3):
        log.add("GET", f"/tas/api/incidents/id/{i}", "", [])
    assert log.as_json()["seen"] == 3 and log.as_json()["dropped"] == 1
    assert [r["path"] for r in log.as_json()["requests"]] == ["/tas/api/incidents/id/1", "/tas/api/incidents/id/2"]


# --- the sandbox: log and strict switch --------------------------------------------------------------------------


def test_lenient_sandbox_answers_and_records_every_request_with_its_violations() -> None:
    with running() as api:
        ok = api.get("/tas/api/incidents", params={"query": "modificationDate=gt=2020-01-01T00:00:00.000Z"})
        assert ok.status_code in (200, 206)
        api.admin("GET", "health")
        log = api.admin("GET", "requests").json()
        assert log["seen"] == 1 and log["dropped"] == 0
        [entry] = log["requests"]
        assert entry["method"] == "GET" and entry["path"] == "/tas/api/incidents"
        assert "query=modificationDate" in entry["query"]
        [violation] = entry["violations"]
        assert violation["parameter"] == "query" and violation["detail"] == "2020-01-01T00:00:00.000Z"
        assert api.admin("DELETE", "requests").status_code == 204
        assert api.admin("GET", "requests").json() == {"seen": 0, "dropped": 0, "requests": []}


def test_strict_sandbox_refuses_in_each_api_error_family() -> None:
    with running(strict=True) as api:
        classic = api.get("/tas/api/incidents", params={"query": "modificationDate=gt=2020-01-01T00:00:00.000Z"})
        assert classic.status_code == 400
        [body] = classic.json()
        assert "fractional seconds" in body["message"] and "2020-01-01T00:00:00.000Z" in body["message"]

        newer = api.get("/tas/api/reservations", params={"query": "modificationDate=gt=2020-01-01T00:00:00Z"})
        assert newer.status_code == 400
        [error] = newer.json()["errors"]
        assert error["appliesTo"] == ["query"] and error["errorCode"] == "invalid_query"
        assert "modificationDate" in error["errorMessage"]

        kb = api.get("/services/knowledge-base-v1/knowledgeItems", params={"fields": "title,archived"})
        assert kb.status_code == 400
        [error] = kb.json()["errors"]
        assert error["appliesTo"] == "fields" and "archived" in error["errorMessage"]

        assets = api.get("/tas/api/assetmgmt/assets", params={"fields": "name,@etag"}, headers={"Accept": ASSETS_V2})
        assert assets.status_code == 400
        [error] = assets.json()["errors"]
        assert error == {"errorCode": "invalid_fields", "appliesTo": ["fields"], "detail": error["detail"]}
        assert "@etag" in error["detail"]

        unknown = api.get("/tas/api/operatorChangeActivities", params={"query": "archived==false"})
        assert unknown.status_code == 400 and "query" in unknown.json()[0]["message"]


def test_strict_sandbox_serves_documented_requests_and_checks_auth_first() -> None:
    with running(strict=True) as api:
        ok = api.get("/tas/api/incidents", params={"query": "modificationDate=gt=2020-01-01T00:00:00Z", "all": "true"})
        assert ok.status_code in (200, 206)
        anonymous = api.session.get(api.url + "/tas/api/incidents", params={"bogus": "1"}, auth=("x", "y"))
        assert anonymous.status_code == 401
        assert api.get("/tas/api/nothing").status_code == 404  # recorded as undocumented, answered by the routes
        assert api.admin("GET", "requests").json()["requests"][-1]["violations"][0]["parameter"] == "(path)"
        assert api.admin("GET", "health").status_code == 200
