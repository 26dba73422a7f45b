"""Auth, versions, contact uniqueness (409 with id=), external_id lookup, archive, notes, tags, search paging."""

from __future__ import annotations

import re

import httpx
from intercom_sandbox_testkit import ADMIN_ID, Sandbox, SandboxFactory, make_attributes


def test_missing_or_wrong_token_is_401(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.get(f"{sandbox.url}/me", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["type"] == "error.list"
        assert body["errors"] == [{"code": "unauthorized", "message": "Access Token Invalid"}]
        assert re.fullmatch(r"[0-9a-f-]{36}", body["request_id"])
        assert "x-ratelimit-limit" not in response.headers  # no app to count it for (EVIDENCE.md: assumed)


def test_version_header(sandbox: Sandbox) -> None:
    assert sandbox.get("/me").status_code == 200  # absent: app default 2.16
    bad = sandbox.get("/me", headers={"Intercom-Version": "3.7"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "intercom_version_invalid"
    old = sandbox.get("/data_attributes", params={"model": "conversation"}, headers={"Intercom-Version": "2.14"})
    assert old.status_code == 200
    new = sandbox.get("/data_attributes", params={"model": "conversation"})
    assert new.status_code == 422
    assert new.json()["errors"][0]["message"].startswith("model=conversation is no longer supported")


def test_version_shapes_owner_id(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="owner@example.com", owner_id=ADMIN_ID)
    assert contact["owner_id"] == ADMIN_ID
    old = sandbox.get(f"/contacts/{contact['id']}", headers={"Intercom-Version": "2.14"}).json()
    assert old["owner_id"] == int(ADMIN_ID)


def test_contact_ids_and_timestamps(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="a@example.com", external_id="P-1", name="Ann")
    assert re.fullmatch(r"[0-9a-f]{24}", contact["id"])
    assert isinstance(contact["created_at"], int) and contact["created_at"] > 1_600_000_000
    assert contact["role"] == "user"
    assert contact["tags"]["url"] == f"/contacts/{contact['id']}/tags"


def test_duplicate_user_email_is_409_case_insensitive(sandbox: Sandbox) -> None:
    first = sandbox.contact(email="Dup@Example.com")
    response = sandbox.post("/contacts", {"email": "dup@example.COM"})
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error == {
        "code": "conflict",
        "message": f"A contact matching those details already exists with id={first['id']}",
    }
    assert re.search(r"id=([0-9a-f]{24})", error["message"]).group(1) == first["id"]


def test_duplicate_external_id_and_archived(sandbox: Sandbox) -> None:
    first = sandbox.contact(external_id="EXT-9", email="x9@example.com")
    assert sandbox.post("/contacts", {"external_id": "EXT-9"}).status_code == 409
    archived = sandbox.ok("POST", f"/contacts/{first['id']}/archive")
    assert archived == {"type": "contact", "id": first["id"], "external_id": "EXT-9", "archived": True}
    response = sandbox.post("/contacts", {"external_id": "EXT-9"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["message"] == (
        f"An archived contact matching those details already exists with id={first['id']}"
    )
    assert sandbox.post("/contacts", {"email": "X9@example.com"}).status_code == 409
    assert sandbox.ok("POST", f"/contacts/{first['id']}/unarchive")["archived"] is False


def test_leads_are_exempt_from_uniqueness(sandbox: Sandbox) -> None:
    sandbox.contact(email="lead@example.com")
    lead = sandbox.contact(role="lead", email="lead@example.com")
    assert lead["role"] == "lead"
    assert sandbox.contact(role="lead", email="lead@example.com")["id"] != lead["id"]


def test_update_to_existing_email_is_409(sandbox: Sandbox) -> None:
    one = sandbox.contact(email="one@example.com")
    two = sandbox.contact(email="two@example.com")
    response = sandbox.put(f"/contacts/{two['id']}", {"email": "ONE@example.com"})
    assert response.status_code == 409
    assert f"id={one['id']}" in response.json()["errors"][0]["message"]


def test_find_by_external_id(sandbox: Sandbox) -> None:
    contact = sandbox.contact(external_id="TOPD-123", email="t@example.com")
    found = sandbox.ok("GET", "/contacts/find_by_external_id/TOPD-123")
    assert found["id"] == contact["id"]
    missing = sandbox.get("/contacts/find_by_external_id/NOPE")
    assert missing.status_code == 404
    assert missing.json()["errors"][0] == {"code": "not_found", "message": "User Not Found"}


def test_custom_attributes_must_exist(sandbox: Sandbox) -> None:
    response = sandbox.post("/contacts", {"email": "c@example.com", "custom_attributes": {"topdesk_id": "x"}})
    assert response.status_code == 400
    make_attributes(sandbox)
    contact = sandbox.contact(email="c@example.com", custom_attributes={"topdesk_id": "x"})
    assert contact["custom_attributes"] == {"topdesk_id": "x"}
    updated = sandbox.ok("PUT", f"/contacts/{contact['id']}", {"name": "C"})
    assert updated["custom_attributes"] == {"topdesk_id": "x"} and updated["name"] == "C"


def test_update_get_delete(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="u@example.com", signed_up_at=1500000000)
    assert contact["signed_up_at"] == 1500000000
    assert sandbox.ok("GET", f"/contacts/{contact['id']}")["email"] == "u@example.com"
    deleted = sandbox.ok("DELETE", f"/contacts/{contact['id']}")
    assert deleted == {"type": "contact", "id": contact["id"], "external_id": None, "deleted": True}
    assert sandbox.get(f"/contacts/{contact['id']}").status_code == 404
    assert sandbox.delete(f"/contacts/{contact['id']}").status_code == 404


def test_notes_and_tags(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="n@example.com")
    note = sandbox.ok("POST", f"/contacts/{contact['id']}/notes", {"body": "Hello", "admin_id": ADMIN_ID})
    assert note["body"] == "<p>Hello</p>" and note["author"]["id"] == ADMIN_ID
    assert sandbox.post(f"/contacts/{contact['id']}/notes", {"body": "x", "admin_id": "1"}).status_code == 404
    assert (
        sandbox.post("/contacts/000000000000000000000000/notes", {"body": "x"}).json()["errors"][0]["message"]
        == "User Not Found"
    )
    notes = sandbox.ok("GET", f"/contacts/{contact['id']}/notes")
    assert notes["total_count"] == 1 and notes["data"][0]["id"] == note["id"]
    assert sandbox.ok("GET", f"/notes/{note['id']}")["id"] == note["id"]
    tag = sandbox.ok("POST", "/tags", {"name": "VIP"})
    applied = sandbox.ok("POST", f"/contacts/{contact['id']}/tags", {"id": tag["id"]})
    assert applied["id"] == tag["id"] and applied["applied_by"]["type"] == "admin"
    assert sandbox.ok("GET", f"/contacts/{contact['id']}")["tags"]["data"][0]["id"] == tag["id"]
    assert sandbox.ok("GET", f"/contacts/{contact['id']}/tags")["data"][0]["name"] == "VIP"
    assert sandbox.ok("DELETE", f"/contacts/{contact['id']}/tags/{tag['id']}")["id"] == tag["id"]


def test_search_pagination_returns_each_match_once(sandbox: Sandbox) -> None:
    make_attributes(sandbox)
    ids = {
        sandbox.contact(email=f"s{i}@example.com", custom_attributes={"topdesk_id": f"T{i % 3}"})["id"]
        for i in range(23)
    }
    sandbox.contact(role="lead", name="not me")
    query = {"operator": "AND", "value": [
        {"field": "role", "operator": "=", "value": "user"},
        {"operator": "OR", "value": [
            {"field": "custom_attributes.topdesk_id", "operator": "IN", "value": ["T0", "T1", "T2"]},
            {"field": "email", "operator": "~", "value": "example"},
        ]},
    ]}  # fmt: skip
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = {"query": query, "pagination": {"per_page": 5}, "sort": {"field": "created_at", "order": "ascending"}}
        if after:
            body["pagination"]["starting_after"] = after
        page = sandbox.ok("POST", "/contacts/search", body)
        assert page["total_count"] == 23
        seen += [c["id"] for c in page["data"]]
        pages += 1
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert pages == 5 and len(seen) == 23 and set(seen) == ids
    listed, after = [], None
    while True:
        page = sandbox.ok("GET", "/contacts", params={"per_page": 7, **({"starting_after": after} if after else {})})
        listed += [c["id"] for c in page["data"]]
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert len(listed) == 24 and len(set(listed)) == 24


def test_search_dsl_limits_and_dates(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="d@example.com", signed_up_at=1_700_000_000)  # 2023-11-14 22:13 UTC
    day_start = 1_699_920_000  # 2023-11-14 00:00 UTC

    def search(query: dict, **extra: object) -> httpx.Response:
        return sandbox.post("/contacts/search", {"query": query, **extra})

    same_day = search({"field": "signed_up_at", "operator": "=", "value": day_start + 5})
    assert [c["id"] for c in same_day.json()["data"]] == [contact["id"]]
    assert search({"field": "signed_up_at", "operator": ">", "value": day_start}).json()["total_count"] == 0
    assert search({"field": "signed_up_at", "operator": "<", "value": day_start + 86400}).json()["total_count"] == 1
    assert search({"field": "signed_up_at", "operator": ">=", "value": day_start}).status_code == 400
    deep = {
        "operator": "AND",
        "value": [
            {
                "operator": "OR",
                "value": [{"operator": "AND", "value": [{"field": "email", "operator": "=", "value": "x"}]}],
            }
        ],
    }
    assert search(deep).status_code == 400
    wide = {"operator": "OR", "value": [{"field": "email", "operator": "=", "value": str(i)} for i in range(16)]}
    assert search(wide).status_code == 400
    bad_sort = search({"field": "email", "operator": "=", "value": "x"}, sort={"field": "email", "order": "desc"})
    assert bad_sort.status_code == 400
    assert bad_sort.json()["errors"][0] == {
        "code": "invalid_sort_order",
        "message": "Invalid sort order 'desc'. Must be one of: ascending, descending",
    }
    float_query = {
        "operator": "OR",
        "value": [
            {"field": "updated_at", "operator": ">", "value": 1577836800.0},
            {"field": "updated_at", "operator": "=", "value": 1577836800.0},
        ],
    }
    assert search(float_query).json()["total_count"] == 1


def test_double_slash_path_is_tolerated(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="slash@example.com")
    response = httpx.get(f"{sandbox.url}//contacts/{contact['id']}/tags", headers=dict(sandbox.client.headers))
    assert response.status_code == 200 and response.json()["type"] == "list"


def test_optional_search_delay(make_sandbox: SandboxFactory) -> None:
    import time

    sandbox = make_sandbox(search_delay_seconds=0.4)
    contact = sandbox.contact(email="late@example.com")
    query = {"query": {"field": "email", "operator": "=", "value": "late@example.com"}}
    assert sandbox.ok("POST", "/contacts/search", query)["total_count"] == 0
    assert sandbox.ok("GET", f"/contacts/{contact['id']}")["id"] == contact["id"]  # direct reads are immediate
    time.sleep(0.45)
    assert sandbox.ok("POST", "/contacts/search", query)["data"][0]["id"] == contact["id"]


def test_bearer_scheme_is_case_insensitive(sandbox: Sandbox) -> None:
    response = httpx.get(f"{sandbox.url}/me", headers={"Authorization": "bearer test-token"})
    assert response.status_code == 200
