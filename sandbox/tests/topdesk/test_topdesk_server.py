"""The TOPdesk sandbox against a real socket: paging, status codes, auth, FIQL, fields, archived defaults, media
types, hidden modules, the export time-out, attachments, the admin API and fault injection."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import requests
from topdesk_sandbox_testkit import LOGIN, Api, make_calls, running, small_records

from topdesk_sandbox.store import Store

V2 = {"Accept": "application/x.topdesk-collection-person-v2+json"}
ASSETS_V2 = {"Accept": "application/x.topdesk-am-assets-v2+json"}
OM = {"Accept": "application/x.topdesk-collection-om-activity-v1+json"}
KB = "/services/knowledge-base-v1"


def q(text: str) -> str:
    return quote(text, safe="")


def page_all_incidents(api: Api, extra: str = "", size: int = 7) -> list[dict]:
    """Follow the real protocol: pageStart += pageSize while 206; 200 ends; 204 = nothing."""
    out: list[dict] = []
    start = 0
    while True:
        r = api.get(f"/tas/api/incidents?pageStart={start}&pageSize={size}{extra}")
        if r.status_code == 204:
            assert r.content == b""
            return out
        assert r.status_code in (200, 206), r.text
        out.extend(r.json())
        if r.status_code == 200:
            return out
        assert r.headers["x-next-page-url"].endswith(f"pageStart={start + size}")
        start += size


# --- incidents ---------------------------------------------------------------------------------------------------


def test_incident_paging_returns_every_call_once(api: Api) -> None:
    everything = page_all_incidents(api, "&all=true")
    ids = [r["id"] for r in everything]
    assert len(ids) == len(set(ids)) == len(small_records()["incidents"])
    active = page_all_incidents(api)
    assert {r["status"] for r in active} <= {"firstLine", "secondLine"}
    assert len(active) < len(everything)
    assert {r["status"] for r in everything} >= {"partial", "firstLineArchived", "partialArchived"}


def test_incident_defaults_and_limits(api: Api) -> None:
    r = api.get("/tas/api/incidents")
    assert r.status_code == 206 and len(r.json()) == 10  # default pageSize 10
    assert api.get("/tas/api/incidents?pageSize=10000&all=true").status_code == 200
    bad = api.get("/tas/api/incidents?pageSize=10001")
    assert bad.status_code == 400 and isinstance(bad.json(), list) and "message" in bad.json()[0]
    assert api.get("/tas/api/incidents?pageSize=abc").status_code == 400
    assert api.get("/tas/api/incidents?pageSize=0").status_code == 400
    assert api.get("/tas/api/incidents?dateFormat=rfc").status_code == 400
    assert api.get("/tas/api/incidents?query=" + q("status==nope")).status_code == 204
    assert api.get("/tas/api/incidents?pageStart=5000").status_code == 204


def test_fiql_operators(api: Api) -> None:
    def ids(query: str, extra: str = "&all=true") -> set[str]:
        r = api.get(f"/tas/api/incidents?pageSize=10000{extra}&query={q(query)}")
        assert r.status_code in (200, 204), r.text
        return {x["number"] for x in r.json()} if r.status_code == 200 else set()

    calls = small_records()["incidents"]
    numbers = {c["number"] for c in calls}
    assert ids("status==firstLine") == {c["number"] for c in calls if c["status"] == "firstLine"}
    assert ids("status!=firstLine") == numbers - ids("status==firstLine")
    assert ids("status=in=(partial,partialArchived)") == {
        c["number"] for c in calls if c["status"].startswith("partial")
    }
    assert ids("status=out=(partial,partialArchived)") == numbers - ids("status=in=(partial,partialArchived)")
    assert ids("number=sw='I 2401'") == {n for n in numbers if n.startswith("I 2401")}
    assert ids("number==I 2401*") == ids("number=sw='I 2401'")
    assert ids("caller.id==" + calls[0]["caller"]["id"]) == {
        c["number"] for c in calls if c["caller"]["id"] == calls[0]["caller"]["id"]
    }
    assert ids("completedDate==null") == {c["number"] for c in calls if c["completedDate"] is None}
    assert ids("completedDate!=null") == numbers - ids("completedDate==null")
    assert ids("majorCall==true") == {c["number"] for c in calls if c["majorCall"]}
    # Dates are instants whatever the offset spelling.
    one = ids("modificationDate=ge=2024-06-01T00:00:00Z;modificationDate=lt=2024-09-01T00:00:00Z")
    assert one == ids("modificationDate=ge=2024-06-01T00:00:00+0000;modificationDate=lt=2024-09-01T00:00:00+00:00")
    assert one == ids("modificationDate=ge=2024-06-01T02:00:00+02:00;modificationDate=lt=2024-09-01T00:00:00.000+0000")
    assert one and all("2024-06" <= c["modificationDate"] < "2024-09" for c in calls if c["number"] in one)
    assert ids("modificationDate=gt=2024-06-01T00:00:00Z") | ids("modificationDate=le=2024-06-01T00:00:00Z") == numbers
    assert ids("(status==partial,status==secondLine);majorCall==false") == {
        c["number"] for c in calls if c["status"] in ("partial", "secondLine") and not c["majorCall"]
    }
    assert ids("creationDate=lt=2024-03-01T00:00:00Z") == {c["number"] for c in calls if c["creationDate"] < "2024-03"}
    # Without all=true the query applies to first/second line calls only.
    assert ids("status==partial", extra="") == set()
    for bad in ("status=xx=1", "modificationDate=gt=2024-06-01", "(status==firstLine", "=="):
        assert api.get("/tas/api/incidents?query=" + q(bad)).status_code == 400, bad


def test_sort_fields_and_dateformat(api: Api) -> None:
    r = api.get("/tas/api/incidents?all=true&pageSize=100&sort=modificationDate:desc&fields=id,modificationDate")
    rows = r.json()
    assert all(set(x) == {"id", "modificationDate"} for x in rows)
    dates = [x["modificationDate"] for x in rows]
    assert dates == sorted(dates, reverse=True)
    iso = api.get("/tas/api/incidents?pageSize=3&fields=modificationDate,targetDate&dateFormat=iso8601").json()
    assert all(x["modificationDate"].endswith("Z") and "+0000" not in x["modificationDate"] for x in iso)
    legacy = api.get(
        "/tas/api/incidents?start=0&page_size=100&modification_date_start=2024-06-01&modification_date_end=2024-08-31"
    )
    assert legacy.status_code in (200, 206)
    assert all("2024-06-01" <= x["modificationDate"][:10] <= "2024-08-31" for x in legacy.json())


def test_incident_children_and_lookups(api: Api) -> None:
    first = small_records()["incidents"][0]
    base = f"/tas/api/incidents/id/{first['id']}"
    assert api.get(base).json()["number"] == first["number"]
    assert api.get(f"/tas/api/incidents/number/{quote(first['number'])}").json()["id"] == first["id"]
    assert api.get("/tas/api/incidents/id/00000000-0000-0000-0000-000000000000").status_code == 404
    count = api.get(base + "/progresstrail/count").json()["count"]
    seen, start = [], 0
    while True:
        r = api.get(f"{base}/progresstrail?start={start}&page_size=4")
        if r.status_code == 204:
            break
        seen += r.json()
        if r.status_code == 200:
            break
        assert r.status_code == 206
        start += 4
    assert len(seen) == count == 17 and all("_incidentId" not in e for e in seen)
    assert api.get(base + "/progresstrail?page_size=101").status_code == 400
    assert api.get(base + "/requests?page_size=11").status_code == 400
    assert api.get(base + "/requests?page_size=10").status_code == 206
    assert api.get(base + "/actions").status_code == 200
    assert api.get(f"/tas/api/incidents/id/{small_records()['incidents'][5]['id']}/attachments").status_code == 204
    mail = api.get("/tas/api/emails/id/" + next(e["id"] for e in seen if "sender" in e))
    assert mail.json()["subject"].startswith("RE:")
    assert api.get("/tas/api/incidents/categories").json()[0] == {
        "id": small_records()["incident_reference_lists"][0]["items"][0]["id"],
        "name": "Hardware",
    }
    assert api.get("/tas/api/incidents/escalation-reasons").json() == []


def test_attachment_downloads(api: Api) -> None:
    first = small_records()["incidents"][0]
    atts = api.get(f"/tas/api/incidents/id/{first['id']}/attachments").json()
    small = next(a for a in atts if a["size"] == 11)
    assert api.get(small["downloadUrl"]).content == b"hello world"
    big = next(a for a in atts if a["size"] > 10_000_000)
    with api.session.get(api.url + big["downloadUrl"], stream=True, timeout=60) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) == big["size"]
        total, chunks = 0, 0
        for chunk in r.iter_content(1 << 20):
            total += len(chunk)
            chunks += 1
    assert total == big["size"] and chunks > 1
    again = api.get(big["downloadUrl"]).content
    assert len(again) == big["size"] and again[:1000] == api.get(big["downloadUrl"]).content[:1000]


# --- auth, hidden modules, export time-out, faults -------------------------------------------------------------


def test_wrong_password_is_401_html(api: Api) -> None:
    for auth in ((LOGIN, "wrong"), ("someone", "sandbox-app-password")):
        r = requests.get(api.url + "/tas/api/incidents", auth=auth, timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="TOPdesk"'
        assert r.headers["content-type"].startswith("text/html")
        assert "lacks valid authentication credentials" in r.text
    assert requests.get(api.url + "/tas/api/version", timeout=10).status_code == 401
    assert requests.get(api.url + "/__sandbox/health", timeout=10).status_code == 200


def test_hidden_modules_answer_empty() -> None:
    hidden = frozenset(
        {
            "incidents",
            "persons",
            "operators",
            "branches",
            "assets",
            "knowledge",
            "operations",
            "reservations",
            "changes",
        }
    )
    with running(hidden_modules=hidden) as api:
        assert api.get("/tas/api/incidents?all=true").status_code == 204
        assert api.get("/tas/api/persons", headers=V2).json() == {"item": [], "size": 0, "next": None}
        assert api.get("/tas/api/persons").status_code == 204
        assert api.get("/tas/api/operators").status_code == 204
        assert api.get("/tas/api/branches").json() == []
        assert api.get("/tas/api/assetmgmt/assets", headers=ASSETS_V2).json()["dataSet"] == []
        assert api.get(KB + "/knowledgeItems").json()["item"] == []
        assert api.get("/tas/api/operationalActivities", headers=OM).json()["item"] == []
        assert api.get("/tas/api/reservations").json() == {"results": []}
        assert api.get("/tas/api/operatorChanges").json() == {"results": []}
        assert api.get("/tas/api/operatorgroups").status_code == 200  # not hidden
        assert api.get("/tas/api/operators/current").status_code == 200  # who-am-I always answers
    with pytest.raises(ValueError, match="unknown module"):
        running(hidden_modules=frozenset({"nope"})).__enter__()


def test_export_timeout_fails_big_lists_but_not_90_day_windows(calls_1000: list[dict]) -> None:
    with running(Store.from_records({"incidents": calls_1000}), export_timeout_over=500, export_hang_s=0.3) as api:
        began = time.monotonic()
        r = api.get("/tas/api/incidents?pageSize=100&sort=modificationDate:asc,id:asc")
        assert r.status_code == 500 and r.json() == [{"message": "An error occurred on the server"}]
        assert time.monotonic() - began >= 0.3
        got: list[str] = []
        lo = "2024-01-01T00:00:00Z"
        for hi in (
            "2024-03-31T00:00:00Z",
            "2024-06-29T00:00:00Z",
            "2024-09-27T00:00:00Z",
            "2024-12-26T00:00:00Z",
            "2025-03-26T00:00:00Z",
        ):
            window = f"&query={q(f'modificationDate=ge={lo};modificationDate=lt={hi}')}"
            got += [x["id"] for x in page_all_incidents(api, window + "&sort=modificationDate:asc,id:asc", 100)]
            lo = hi
        assert len(got) == len(set(got)) == 1000


def test_fault_rate_one_breaks_every_request() -> None:
    with running(fault_rate=1.0, fault_seed=3) as api:
        outcomes = set()
        for _ in range(12):
            try:
                r = api.get("/tas/api/version")
                outcomes.add(r.status_code)
            except requests.exceptions.RequestException:
                outcomes.add("reset")
        assert outcomes and outcomes <= {500, 502, 503, "reset"}
        assert "reset" in outcomes and outcomes & {500, 502, 503}
        assert requests.get(api.url + "/__sandbox/health", timeout=10).status_code == 200


# --- supporting files ----------------------------------------------------------------------------------------


def test_persons_v2_envelope_vs_v1(api: Api) -> None:
    persons = small_records()["persons"]
    r = api.get("/tas/api/persons?pageSize=3", headers=V2)
    assert r.status_code == 206 and r.headers["content-type"].startswith(V2["Accept"])
    body = r.json()
    assert set(body) == {"item", "size", "next"} and body["size"] == 3 and "pageStart=3" in body["next"]
    assert "status" not in body["item"][0] and "archived" in body["item"][0]
    assert len(body["item"][0]) < 10  # limited default field set
    every = api.get("/tas/api/persons?pageSize=5000&fields=*", headers=V2).json()
    assert every["next"] is None and len(every["item"]) == len(persons)  # no query ⇒ archived too
    names = [p["dynamicName"] for p in every["item"]]
    assert names == sorted(names)  # default sort dynamicName:asc
    active = api.get("/tas/api/persons?query=archived==false", headers=V2).json()["item"]
    assert len(active) == sum(not p["archived"] for p in persons)
    assert api.get("/tas/api/persons?pageSize=5001", headers=V2).status_code == 400
    v1 = api.get("/tas/api/persons?page_size=100")
    assert v1.status_code == 200 and isinstance(v1.json(), list)
    assert len(v1.json()) == sum(not p["archived"] for p in persons)  # v1: no query ⇒ only active
    assert all(p["status"] == "person" and "archived" not in p for p in v1.json())
    assert api.get("/tas/api/persons?page_size=3").status_code == 206
    assert api.get("/tas/api/persons", headers={"Accept": "application/xml"}).status_code == 406
    assert api.get("/tas/api/persons/count").json() == {"numberOfPersons": len(persons)}
    single = api.get(f"/tas/api/persons/{persons[0]['id']}", headers={"Accept": "application/x.topdesk-person-v2+json"})
    assert single.json()["archived"] is False


def test_operators_groups_branches_archived_rules(api: Api) -> None:
    ops = small_records()["operators"]
    active = api.get("/tas/api/operators?page_size=100").json()
    assert len(active) == sum(not o["status"].endswith("Archived") for o in ops)
    both = api.get("/tas/api/operators?page_size=100&query=" + q("archived==true,archived==false")).json()
    assert len(both) == len(ops)
    assert api.get("/tas/api/operators?page_size=101").status_code == 400
    r = api.get("/tas/api/operators?page_size=2")
    assert r.status_code == 206 and len(r.json()) == 2
    assert api.get("/tas/api/operators?start=2&page_size=2").status_code == 200
    assert api.get("/tas/api/operators?start=50").status_code == 204
    assert api.get("/tas/api/operators/current").json()["loginName"] == LOGIN
    groups = api.get(f"/tas/api/operators/id/{ops[1]['id']}/operatorgroups").json()
    assert {g["name"] for g in groups} == {"1st line Service Desk", "2nd line Workplace"}
    assert api.get(f"/tas/api/operators/id/{ops[3]['id']}/operatorgroups").status_code == 204
    assert len(api.get("/tas/api/operatorgroups").json()) == 2
    branches = api.get("/tas/api/branches").json()
    assert all(set(b) == {"id", "name"} for b in branches) and len(branches) == 2
    assert len(api.get("/tas/api/branches?query=" + q("archived==true,archived==false")).json()) == 3
    full = api.get("/tas/api/branches?$fields=" + q("id,name,address,modificationDate")).json()
    assert set(full[0]) == {"id", "name", "address", "modificationDate"}
    locations = api.get("/tas/api/locations").json()
    assert set(locations[0]) == {"id", "name", "roomNumber", "branch"}
    assert len(api.get("/tas/api/locations?pageSize=1").json()) == 1


# --- changes, assets, operations, knowledge, reservations --------------------------------------------------------


def test_changes(api: Api) -> None:
    changes = small_records()["changes"]
    r = api.get("/tas/api/operatorChanges?pageSize=2")
    assert r.status_code == 206 and len(r.json()["results"]) == 2
    assert api.get("/tas/api/operatorChanges?pageStart=2&pageSize=2").status_code == 200
    item = api.get("/tas/api/operatorChanges").json()["results"][0]
    assert set(item) <= {
        "id",
        "number",
        "briefDescription",
        "changeType",
        "archived",
        "creationDate",
        "modificationDate",
        "status",
        "simple",
    }
    assert item["modificationDate"] == changes[0]["lastModificationDate"]
    windowed = api.get("/tas/api/operatorChanges?query=" + q("modificationDate=ge=2024-03-01T00:00:00Z")).json()
    assert {c["id"] for c in windowed["results"]} == {
        c["id"] for c in changes if c["lastModificationDate"] >= "2024-03"
    }
    assert len(api.get("/tas/api/operatorChanges?archived=false").json()["results"]) == 2
    detail = api.get("/tas/api/operatorChanges/" + quote(changes[1]["number"])).json()
    assert detail["id"] == changes[1]["id"] and "lastModificationDate" in detail
    trail = api.get(f"/tas/api/operatorChanges/{changes[0]['id']}/progresstrail").json()
    assert len(trail["results"]) == 2
    acts = api.get(f"/tas/api/operatorChangeActivities?change={changes[0]['id']}&fields=all").json()["results"]
    assert acts and all(a["change"]["id"] == changes[0]["id"] for a in acts)
    only_id = api.get("/tas/api/operatorChangeActivities?fields=").json()["results"]
    assert all(set(a) == {"id"} for a in only_id)
    assert api.get("/tas/api/operatorChangeActivities?fields=bogus").status_code == 400


def test_assets(api: Api) -> None:
    assets = small_records()["assets"]
    seen, start = [], 0
    while True:
        r = api.get(f"/tas/api/assetmgmt/assets?pageStart={start}&pageSize=3", headers=ASSETS_V2)
        body = r.json()
        assert set(body) >= {"columns", "dataSet"}
        seen += body["dataSet"]
        if r.status_code == 200:
            break
        assert r.status_code == 206
        start += 3
    assert len(seen) == len({a["id"] for a in seen}) == len(assets)  # archived omitted ⇒ both
    assert set(seen[0]) == {"id", "text", "@etag", "archived"}
    names = [a["text"] for a in seen]
    assert names == sorted(names)
    tpl = assets[0]["type_id"]
    active = api.get(
        f"/tas/api/assetmgmt/assets?templateId={tpl}&archived=false&fields=name,serialnumber,"
        "modificationDate&fetchCount=true",
        headers=ASSETS_V2,
    ).json()
    assert active["count"] == sum(a["type_id"] == tpl and not a["archived"] for a in assets)
    assert {c["fieldName"] for c in active["columns"]} == {"name", "serialnumber", "modificationDate"}
    filtered = api.get(
        "/tas/api/assetmgmt/assets?$filter=" + q("modificationDate gt '2025-04-01T00:00'"), headers=ASSETS_V2
    ).json()["dataSet"]
    assert len(filtered) == sum(a["modificationDate"] > "2025-04-01" for a in assets)
    bad = api.get("/tas/api/assetmgmt/assets?pageSize=1001", headers=ASSETS_V2)
    assert bad.status_code == 400 and bad.json()["errors"][0]["errorCode"] == "value_too_large"
    assert bad.json()["errors"][0]["appliesTo"] == ["pageSize"]
    assert api.get("/tas/api/assetmgmt/assets", headers={"Accept": "application/json"}).status_code == 406
    links = api.get(f"/tas/api/assetmgmt/assetLinks?sourceId={assets[5]['id']}").json()
    assert {(x["assetId"], x["linkType"]) for x in links} == {(assets[6]["id"], "child"), (assets[4]["id"], "parent")}
    assert api.get("/tas/api/assetmgmt/assetLinks").status_code == 400
    detail = api.get(f"/tas/api/assetmgmt/assets/{assets[0]['id']}").json()
    assert detail["data"]["name"] == assets[0]["name"] and detail["metadata"]["templateId"] == tpl
    assert len(api.get("/tas/api/assetmgmt/templates").json()["dataSet"]) == 2
    assert len(api.get("/tas/api/assetmgmt/cardTypes").json()["cardTypes"]) == 2


def test_operational_activities(api: Api) -> None:
    body = api.get("/tas/api/operationalActivities?pageSize=2", headers=OM).json()
    assert set(body) == {"item", "next"} and all(set(i) == {"id", "number"} for i in body["item"])
    assert "pageStart=2" in body["next"]
    every = api.get("/tas/api/operationalActivities?fields=all", headers=OM).json()
    assert len(every["item"]) == 4 and every["next"] is None  # archived included by default
    old = api.get(
        "/tas/api/operationalActivities?fields=all", headers={"Accept": "application/x.topdesk-om-activity-v1+json"}
    ).json()
    assert len(old["results"]) == 3  # deprecated media type: active only
    one = every["item"][0]
    r = api.get(f"/tas/api/operationalActivities/{one['id']}")
    assert r.status_code == 200 and r.json()["number"] == one["number"]
    assert (
        api.get(f"/tas/api/operationalActivities/{one['id']}", headers={"If-None-Match": r.headers["etag"]}).status_code
        == 304
    )
    assert api.get(f"/tas/api/operationalSeries/{one['series']['id']}").json()["number"] == "OS 0001"
    assert api.get("/tas/api/operationalActivities/schemas").json()["item"][0]["name"] == "Weekly"


def test_knowledge_items(api: Api) -> None:
    en = api.get(KB + "/knowledgeItems?language=en").json()["item"]
    nl = api.get(KB + "/knowledgeItems?language=nl").json()["item"]
    assert {i["number"] for i in en} == {"KI 0001", "KI 0002"}
    assert {i["number"] for i in nl} == {"KI 0001", "KI 0003"}
    assert all("content" not in i["translation"]["content"] for i in en)  # HTML body only on request
    with_content = api.get(KB + "/knowledgeItems?language=en&fields=title,content").json()["item"]
    assert all(set(i) == {"id", "number", "translation"} for i in with_content)
    assert all(i["translation"]["content"]["content"].startswith("<h1>") for i in with_content)
    r = api.get(KB + "/knowledgeItems?page_size=1")
    assert r.status_code == 206 and "start=1" in r.json()["next"]
    assert api.get(KB + "/knowledgeItems?page_size=1001").status_code == 400
    archived = api.get(KB + "/knowledgeItems?language=nl&query=archived==true").json()["item"]
    assert [i["number"] for i in archived] == ["KI 0003"]
    # without `language`: the default language's items only (KI 0003 has Dutch content only)
    assert {i["number"] for i in api.get(KB + "/knowledgeItems").json()["item"]} == {"KI 0001", "KI 0002"}
    single = api.get(KB + "/knowledgeItems/" + quote("KI 0001") + "?language=en").json()
    assert single["translation"]["content"]["content"].startswith("<h1>Set up VPN")
    assert len(api.get(KB + "/folders?language=nl").json()["item"]) == 2
    assert api.get(KB + "/folders").json()["item"] == []  # both have Dutch content only; the default is English


def test_reservations_seek(api: Api) -> None:
    rs = small_records()["reservations"]
    seen: list[str] = []
    query = ""
    for _ in range(20):  # 206 = "ask again for a later plannedStartDate": seek with =gt=
        r = api.get("/tas/api/reservations?$top=2" + query)
        results = r.json()["results"]
        starts = [x["plannedStartDate"] for x in results]
        assert starts == sorted(starts)
        seen += [x["id"] for x in results if x["id"] not in seen]
        if r.status_code == 200:
            break
        assert r.status_code == 206
        query = "&query=" + q(f"plannedStartDate=gt={starts[-1]}")
    assert set(seen) == {x["id"] for x in rs}
    assert api.get("/tas/api/reservations?$top=10001").status_code == 400
    err = api.get("/tas/api/reservations?$top=10001").json()
    assert "errors" in err and err["errors"][0]["errorCode"]
    one = api.get(f"/tas/api/reservations/{rs[0]['id']}")
    assert one.json()["number"] == rs[0]["number"] and "GMT" in one.headers["last-modified"]


# --- admin API and delta queries ----------------------------------------------------------------------------------


def test_admin_patch_bumps_modification_date(fresh_api: Api) -> None:
    api = fresh_api
    assert api.admin("GET", "health").json()["counts"]["incidents"] == 20
    before = api.get("/tas/api/incidents?pageSize=10000&all=true&fields=id,modificationDate").json()
    newest = max(x["modificationDate"] for x in before)
    since = f"/tas/api/incidents?all=true&query={q('modificationDate=gt=' + newest.replace('.000+0000', 'Z'))}"
    assert api.get(since).status_code == 204
    target = before[3]["id"]
    patched = api.admin("PATCH", f"incidents/{target}", json={"briefDescription": "changed"}).json()
    assert patched["modificationDate"] > newest and patched["modificationDate"].endswith("+0000")
    changed = api.get(since).json()
    assert [x["id"] for x in changed] == [target] and changed[0]["briefDescription"] == "changed"
    # add, archive, delete
    new = dict(
        before[0],
        id="11111111-2222-3333-4444-555555555555",
        number="I 9999 999",
        modificationDate="2030-01-01T00:00:00.000+0000",
    )
    full = api.get(f"/tas/api/incidents/id/{before[0]['id']}").json()
    full.update(new)
    assert api.admin("POST", "incidents", json=full).status_code == 201
    assert api.get("/tas/api/incidents/number/" + quote("I 9999 999")).status_code == 200
    archived = api.admin("POST", f"incidents/{new['id']}/archive").json()
    assert archived["status"].endswith("Archived")
    assert new["id"] not in {x["id"] for x in api.get("/tas/api/incidents?pageSize=10000").json()}
    assert api.admin("DELETE", f"incidents/{new['id']}").status_code == 204
    assert api.get(f"/tas/api/incidents/id/{new['id']}").status_code == 404
    # child records can be added with their parent link
    entry = {
        "_incidentId": target,
        "id": "66666666-2222-3333-4444-555555555555",
        "memoText": "new",
        "entryDate": "2030-01-01T00:00:00.000+0000",
    }
    assert api.admin("POST", "incident_progresstrail", json=entry).status_code == 201
    assert api.get(f"/tas/api/incidents/id/{target}/progresstrail/count").json() == {"count": 1}


def test_persons_patch_and_archive_via_admin(fresh_api: Api) -> None:
    api = fresh_api
    person = small_records()["persons"][0]
    api.admin("POST", f"persons/{person['id']}/archive")
    v2 = api.get(f"/tas/api/persons?query={q('id==' + person['id'])}&fields=id,archived", headers=V2).json()
    assert v2["item"] == [{"id": person["id"], "archived": True}]
    assert person["id"] not in {p["id"] for p in api.get("/tas/api/persons?page_size=100").json()}


# --- generated dataset and performance ---------------------------------------------------------------------------


def test_generated_dataset_pages_completely(generated_records: dict[str, list[dict]]) -> None:
    with running(Store.from_records(generated_records)) as api:
        got = page_all_incidents(api, "&all=true&sort=modificationDate:asc,id:asc", 1000)
        assert len(got) == len({x["id"] for x in got}) == len(generated_records.get("incidents", []))
        persons = api.get("/tas/api/persons?pageSize=5000&fields=*", headers=V2).json()
        assert persons["size"] == min(5000, len(generated_records.get("persons", [])))


def test_maximum_pages_of_a_windowed_sorted_query() -> None:
    """Two 10000-row pages (the maximum) of a FIQL window: 206 then 200, sorted, nothing repeated.
    (How fast this is belongs to the benchmarks, not to a timed test.)"""
    calls = make_calls(20000, seed_name="perf")
    with running(Store.from_records({"incidents": calls})) as api:
        query = "&query=" + q("modificationDate=ge=2024-01-01T00:00:00Z;modificationDate=lt=2025-01-01T00:00:00Z")
        expected = sum("2024-01-01" <= c["modificationDate"][:10] < "2025-01-01" for c in calls)
        seen: list[dict] = []
        for start in (0, 10000):
            r = api.get(
                f"/tas/api/incidents?pageStart={start}&pageSize=10000&sort=modificationDate:asc,id:asc{query}"
                "&fields=id,modificationDate"
            )
            assert r.status_code == (206 if start + 10000 < expected else 200)
            seen.extend(r.json())
        assert len(seen) == len({c["id"] for c in seen}) == min(expected, 20000)
        keys = [(c["modificationDate"], c["id"]) for c in seen]
        assert keys == sorted(keys)


def test_error_body_families(api: Api) -> None:
    """Classic array, newer ``errors`` (KB: ``appliesTo`` string, reservations: list), assets ``detail``."""
    classic = api.get("/tas/api/operators?page_size=500").json()
    assert isinstance(classic, list) and classic[0]["message"]
    kb = api.get(KB + "/knowledgeItems?page_size=5000").json()["errors"][0]
    assert kb["errorCode"] == "value_too_large" and kb["appliesTo"] == "page_size" and kb["errorMessage"]
    rsv = api.get("/tas/api/reservations?query=" + q("status=zz=1")).json()["errors"][0]
    assert rsv["appliesTo"] == ["query"] and rsv["errorMessage"]
    assets = api.get("/tas/api/assetmgmt/assets?$filter=" + q("name zz 'x'"), headers=ASSETS_V2).json()
    assert assets["errors"][0]["detail"] and assets["errors"][0]["appliesTo"] == ["$filter"]
    v1 = api.get(
        "/tas/api/assetmgmt/assets?pageSize=1", headers={"Accept": "application/x.topdesk-am-assets-v1+json"}
    ).json()["dataSet"][0]
    assert v1["type"] and v1["icon"]  # deprecated v1 still carries the template name and icon


def test_legacy_order_by_and_iso_detail(api: Api) -> None:
    rows = api.get("/tas/api/incidents?start=0&page_size=100&order_by=creation_date+DESC").json()
    created = [r["creationDate"] for r in rows]
    assert created == sorted(created, reverse=True)
    first = small_records()["incidents"][0]
    detail = api.get(f"/tas/api/incidents/id/{first['id']}?dateFormat=iso8601").json()
    assert detail["creationDate"].endswith("Z")
