"""Company upsert, attach by Intercom id, visibility rule, and scroll semantics (reference §9.4.4)."""

from __future__ import annotations

from intercom_sandbox_testkit import Sandbox, make_attributes

from intercom_sandbox.routes import companies as companies_module


def test_upsert_is_idempotent_and_attach_needs_intercom_id(sandbox: Sandbox) -> None:
    make_attributes(sandbox)
    first = sandbox.ok(
        "POST", "/companies", {"company_id": "BR-1", "name": "Branch", "custom_attributes": {"branch_code": "B1"}}
    )
    again = sandbox.ok(
        "POST", "/companies", {"company_id": "BR-1", "name": "Branch renamed", "remote_created_at": 1374138000}
    )
    assert again["id"] == first["id"] and again["name"] == "Branch renamed"
    assert again["custom_attributes"] == {"branch_code": "B1"} and again["remote_created_at"] == 1374138000
    assert len(sandbox.workspace.companies) == 1
    bad_key = sandbox.post("/companies", {"company_id": "BR-2", "test": 1})
    assert bad_key.status_code == 400 and bad_key.json()["errors"][0] == {
        "code": "bad_request",
        "message": "bad 'test' parameter",
    }
    contact = sandbox.contact(email="emp@example.com")
    wrong = sandbox.post(f"/contacts/{contact['id']}/companies", {"company_id": "BR-1"})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["message"] == "company not specified"
    unknown = sandbox.post(f"/contacts/{contact['id']}/companies", {"id": "BR-1"})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "company_not_found"
    # invisible in lists until a contact is attached
    assert sandbox.ok("GET", "/companies")["total_count"] == 0
    attached = sandbox.ok("POST", f"/contacts/{contact['id']}/companies", {"id": first["id"]})
    assert attached["user_count"] == 1
    assert sandbox.ok("GET", "/companies")["total_count"] == 1
    assert sandbox.ok("GET", "/companies", params={"company_id": "BR-1"})["id"] == first["id"]
    assert sandbox.get("/companies", params={"company_id": "nope"}).json()["errors"][0]["code"] == "company_not_found"
    assert sandbox.ok("GET", f"/contacts/{contact['id']}/companies")["data"][0]["id"] == first["id"]
    assert sandbox.ok("GET", f"/companies/{first['id']}/contacts")["data"][0]["id"] == contact["id"]
    assert sandbox.ok("POST", "/companies/list", params={"per_page": 5})["data"][0]["id"] == first["id"]
    updated = sandbox.ok("PUT", f"/companies/{first['id']}", {"website": "https://example.com"})
    assert updated["website"] == "https://example.com"
    assert sandbox.ok("DELETE", f"/contacts/{contact['id']}/companies/{first['id']}")["user_count"] == 0
    assert sandbox.ok("DELETE", f"/companies/{first['id']}") == {
        "id": first["id"],
        "object": "company",
        "deleted": True,
    }
    assert sandbox.get(f"/companies/{first['id']}").status_code == 404


def test_scroll_semantics(sandbox: Sandbox) -> None:
    assert sandbox.get("/companies/scroll").status_code == 404  # no companies at all
    contact = sandbox.contact(email="scroll@example.com")
    for i in range(230):
        company = sandbox.ok("POST", "/companies", {"company_id": f"C{i}", "name": f"C{i}"})
        sandbox.ok("POST", f"/contacts/{contact['id']}/companies", {"id": company["id"]})
    first = sandbox.ok("GET", "/companies/scroll")
    param = first["scroll_param"]
    assert len(first["data"]) == 100
    assert sandbox.get("/companies/scroll").json()["errors"][0]["code"] == "scroll_exists"
    second = sandbox.ok("GET", "/companies/scroll", params={"scroll_param": param})
    third = sandbox.ok("GET", "/companies/scroll", params={"scroll_param": param})
    assert (len(second["data"]), len(third["data"])) == (100, 30)
    assert second["scroll_param"] == third["scroll_param"] == param  # same param on every page
    seen = {c["id"] for page in (first, second, third) for c in page["data"]}
    assert len(seen) == 230
    empty = sandbox.ok("GET", "/companies/scroll", params={"scroll_param": param})
    assert empty["data"] == []
    assert sandbox.get("/companies/scroll", params={"scroll_param": param}).status_code == 404
    # a new scroll can start; an idle one expires after a minute
    fresh = sandbox.ok("GET", "/companies/scroll")
    sandbox.workspace.scroll.last_used -= companies_module.SCROLL_TTL_SECONDS + 1
    assert sandbox.get("/companies/scroll", params={"scroll_param": fresh["scroll_param"]}).status_code == 404
    assert sandbox.get("/companies/scroll").status_code == 200
