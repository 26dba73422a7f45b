"""Preview bulk endpoints (``intercom-api-preview.yaml``): ``POST /contacts/bulk`` is a strict create,
``POST /companies/bulk`` an upsert by ``company_id``; both answer a job whose ``GET …/bulk/{id}`` tells when it is
done. Only ``Intercom-Version: Preview`` reaches them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from intercom_sandbox_testkit import Sandbox, SandboxFactory

from intercom_sandbox import documented
from intercom_sandbox.openapi import load_preview_spec

PREVIEW = {"Intercom-Version": "Preview"}


def _bulk(sandbox: Sandbox, kind: str, body: Any, status: int = 202) -> dict[str, Any]:
    response = sandbox.post(f"/{kind}/bulk", body, headers=PREVIEW)
    assert response.status_code == status, response.text
    return response.json()


def _job(sandbox: Sandbox, kind: str, job_id: str) -> dict[str, Any]:
    return sandbox.ok("GET", f"/{kind}/bulk/{job_id}", headers=PREVIEW)


def _error(response: Any) -> tuple[int, str, str]:
    error = response.json()["errors"][0]
    return response.status_code, error["code"], error["message"]


def _strip_volatile(contact: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in contact.items() if k not in ("id", "created_at", "updated_at", "email", "external_id")}


def test_bulk_created_contacts_read_back_as_a_single_create_stores_them(sandbox: Sandbox) -> None:
    fields = {"name": "Joe Bloggs", "phone": "+353871234567", "signed_up_at": 1571672154, "role": "user"}
    single = sandbox.contact(email="single@example.com", external_id="s-1", **fields)
    accepted = _bulk(
        sandbox,
        "contacts",
        {"contacts": [{"email": f"b{i}@example.com", "external_id": f"b-{i}", **fields} for i in range(3)]},
    )
    assert accepted["type"] == "contacts.bulk.job" and accepted["state"] == "running"
    assert accepted["completed_at"] is None and accepted["url"].endswith(f"/contacts/bulk/{accepted['id']}")
    assert [(t["item_count"], t["state"], t["started_at"]) for t in accepted["tasks"]] == [(3, "pending", None)]
    job = _job(sandbox, "contacts", accepted["id"])
    assert job["state"] == "completed" and job["tasks"][0]["state"] == "completed"
    assert job["completed_at"] is not None
    stored = sandbox.ok("GET", "/contacts/find_by_external_id/b-1")
    assert stored["email"] == "b1@example.com"
    records = sandbox.workspace.contacts
    assert _strip_volatile(records[stored["id"]]) == _strip_volatile(records[single["id"]])  # stored alike
    assert _strip_volatile(records[stored["id"]]) == {
        "role": "user",
        **{k: fields[k] for k in ("name", "phone", "signed_up_at")},
    }
    assert len(sandbox.workspace.contacts) == 4


def test_more_than_100_contacts_is_refused_with_the_specs_message(sandbox: Sandbox) -> None:
    items = [{"email": f"x{i}@example.com"} for i in range(101)]
    response = sandbox.post("/contacts/bulk", {"contacts": items}, headers=PREVIEW)
    assert _error(response) == (422, "parameter_invalid", "maximum number of contacts per request is 100")
    assert sandbox.workspace.contacts == {} and sandbox.workspace.bulk_jobs == {}
    missing = sandbox.post("/contacts/bulk", {}, headers=PREVIEW)
    assert _error(missing) == (422, "field_not_found", "contacts field must be supplied")
    not_array = sandbox.post("/contacts/bulk", {"contacts": {"email": "a@example.com"}}, headers=PREVIEW)
    assert _error(not_array) == (422, "type_mismatch", "contacts must be an array")
    not_object = sandbox.post("/contacts/bulk", {"contacts": [{"email": "a@example.com"}, "b"]}, headers=PREVIEW)
    assert _error(not_object) == (422, "type_mismatch", "each contact must be an object")
    too_many = sandbox.post(
        "/companies/bulk", {"companies": [{"company_id": str(i)} for i in range(101)]}, headers=PREVIEW
    )
    assert _error(too_many) == (422, "parameter_invalid", "maximum number of companies per request is 100")
    assert sandbox.workspace.contacts == {} and sandbox.workspace.companies == {}
    _bulk(sandbox, "contacts", {"contacts": items[:100]})
    assert len(sandbox.workspace.contacts) == 100


def test_an_existing_email_rejects_that_item_only(sandbox: Sandbox) -> None:
    existing = sandbox.contact(email="taken@example.com", external_id="t-1")
    archived = sandbox.contact(email="gone@example.com")
    sandbox.ok("POST", f"/contacts/{archived['id']}/archive")
    items = [
        {"email": "TAKEN@example.com", "external_id": "new-1", "name": "Dup"},
        {"email": "fresh@example.com", "external_id": "new-2", "name": "Fresh"},
        {"email": "gone@example.com", "external_id": "new-3"},
        {"email": "other@example.com", "external_id": "t-1"},
    ]
    job = _bulk(sandbox, "contacts", {"contacts": items})
    done = _job(sandbox, "contacts", job["id"])
    assert done["state"] == "completed_with_errors" and done["tasks"][0]["state"] == "completed_with_errors"
    assert "errors" not in done and set(done) == set(job)  # the description lists no per-item results
    assert sandbox.ok("GET", f"/contacts/{existing['id']}")["name"] is None  # strict create: never updated
    stored = {c["email"] for c in sandbox.workspace.contacts.values()}
    assert stored == {"taken@example.com", "gone@example.com", "fresh@example.com"}
    for external_id in ("new-1", "new-3"):
        assert sandbox.get(f"/contacts/find_by_external_id/{external_id}").status_code == 404
    assert sandbox.ok("GET", "/contacts/find_by_external_id/new-2")["name"] == "Fresh"
    clean = _bulk(sandbox, "contacts", {"contacts": [{"email": "lead@example.com", "role": "lead"}]})
    assert _job(sandbox, "contacts", clean["id"])["state"] == "completed"


def test_contact_items_attach_companies_and_known_tags_and_ignore_other_fields(sandbox: Sandbox) -> None:
    tag = sandbox.ok("POST", "/tags", {"name": "VIP"})
    sandbox.ok("POST", "/companies", {"company_id": "7", "name": "Old name"})
    item = {
        "external_id": "c-1",
        "email": "joe@example.com",
        "language_override": "fr",
        "nickname": "Joe",
        "companies": [{"company_id": "6", "name": "Blue Sun"}, {"company_id": "7", "name": "Weyland-Yutani"}],
        "tags": {"add": [{"id": tag["id"]}, {"id": "999999"}]},
    }
    job = _bulk(sandbox, "contacts", {"contacts": [item]})
    assert _job(sandbox, "contacts", job["id"])["state"] == "completed"
    contact = sandbox.ok("GET", "/contacts/find_by_external_id/c-1")
    assert contact["language_override"] == "fr" and "nickname" not in contact
    assert [t["id"] for t in contact["tags"]["data"]] == [tag["id"]]
    companies = sandbox.ok("GET", f"/contacts/{contact['id']}/companies")["data"]
    assert sorted((c["company_id"], c["name"]) for c in companies) == [("6", "Blue Sun"), ("7", "Weyland-Yutani")]
    assert sandbox.admin("GET", "/stats")["undocumented_fields"] == {"POST /contacts/bulk contacts[].nickname": 1}
    unknown_owner = {"email": "x@example.com", "owner_id": "1", "companies": [{"company_id": "8"}]}
    bad = _bulk(sandbox, "contacts", {"contacts": [unknown_owner]})
    assert _job(sandbox, "contacts", bad["id"])["state"] == "completed_with_errors"
    assert sandbox.get("/contacts/find_by_external_id/x").status_code == 404
    assert not any(c.get("email") == "x@example.com" for c in sandbox.workspace.contacts.values())
    assert sandbox.get("/companies", params={"company_id": "8"}).status_code == 404  # nothing of the item stored


def test_companies_bulk_creates_then_updates_by_company_id(sandbox: Sandbox) -> None:
    first = _bulk(
        sandbox,
        "companies",
        {"companies": [{"company_id": "abc123", "name": "Acme", "size": 100}, {"company_id": "def456", "name": "Ex"}]},
    )
    assert first["type"] == "companies.bulk.job" and first["state"] == "running"
    assert _job(sandbox, "companies", first["id"])["state"] == "completed"
    created = sandbox.ok("GET", "/companies", params={"company_id": "abc123"})
    assert (created["name"], created["size"]) == ("Acme", 100)
    second = _bulk(
        sandbox,
        "companies",
        {"companies": [{"company_id": "abc123", "monthly_spend": 1000}, {"company_id": "bad", "test": 1}]},
    )
    assert _job(sandbox, "companies", second["id"])["state"] == "completed_with_errors"
    updated = sandbox.ok("GET", "/companies", params={"company_id": "abc123"})
    assert updated["id"] == created["id"] and updated["name"] == "Acme" and updated["monthly_spend"] == 1000
    assert sandbox.get("/companies", params={"company_id": "bad"}).status_code == 404
    assert len(sandbox.workspace.companies) == 2
    single = sandbox.ok("POST", "/companies", {"company_id": "single", "name": "Acme", "size": 100})
    drop = ("id", "company_id", "created_at", "updated_at", "remote_created_at")
    assert {k: v for k, v in single.items() if k not in drop} == {k: v for k, v in created.items() if k not in drop}


def test_job_lookup_unknown_and_of_the_other_kind_is_job_not_found(sandbox: Sandbox) -> None:
    for kind in ("contacts", "companies"):
        response = sandbox.get(f"/{kind}/bulk/job_v2_999", headers=PREVIEW)
        assert _error(response) == (404, "job_not_found", "job job_v2_999 not found")
    companies_job = _bulk(sandbox, "companies", {"companies": [{"company_id": "1"}]})
    assert sandbox.get(f"/contacts/bulk/{companies_job['id']}", headers=PREVIEW).status_code == 404
    append = sandbox.post("/contacts/bulk", {"contacts": [], "job": {"id": "job_v2_999"}}, headers=PREVIEW)
    assert _error(append) == (404, "job_not_found", "job job_v2_999 not found")


def test_appending_to_a_job_until_it_is_reported_finished(sandbox: Sandbox) -> None:
    job = _bulk(sandbox, "contacts", {"contacts": [{"email": "a1@example.com"}]})
    more = _bulk(sandbox, "contacts", {"contacts": [{"email": "a2@example.com"}], "job": {"id": job["id"]}})
    assert more["id"] == job["id"] and [t["state"] for t in more["tasks"]] == ["completed", "pending"]
    done = _job(sandbox, "contacts", job["id"])
    assert done["state"] == "completed" and [t["item_count"] for t in done["tasks"]] == [1, 1]
    closed = sandbox.post("/contacts/bulk", {"contacts": [{"email": "a3@example.com"}], "job": job}, headers=PREVIEW)
    assert _error(closed) == (403, "forbidden", f"job {job['id']} is closed for new task updates")
    assert {c["email"] for c in sandbox.workspace.contacts.values()} == {"a1@example.com", "a2@example.com"}


def test_a_job_reports_running_until_its_delay_has_passed(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(bulk_job_delay_seconds=0.5)
    job = _bulk(sandbox, "contacts", {"contacts": [{"email": "slow@example.com", "external_id": "slow"}]})
    running = _job(sandbox, "contacts", job["id"])
    assert running["state"] == "running" and running["tasks"][0]["state"] == "pending"
    assert sandbox.ok("GET", "/contacts/find_by_external_id/slow")["email"] == "slow@example.com"  # applied already
    time.sleep(0.6)
    assert _job(sandbox, "contacts", job["id"])["state"] == "completed"


@pytest.mark.parametrize("version", [None, "2.16", "2.14"])
def test_other_versions_do_not_reach_the_bulk_endpoints(sandbox: Sandbox, version: str | None) -> None:
    headers = {"Intercom-Version": version} if version else {}
    for path, body in (
        ("/contacts/bulk", {"contacts": [{"email": "v@example.com"}]}),
        ("/companies/bulk", {"companies": [{"company_id": "v"}]}),
    ):
        response = sandbox.post(path, body, headers=headers)
        assert _error(response) == (404, "not_found", "Resource Not Found")
    job = _bulk(sandbox, "contacts", {"contacts": []})
    assert _error(sandbox.get(f"/contacts/bulk/{job['id']}", headers=headers)) == (
        404,
        "not_found",
        "Resource Not Found",
    )
    assert sandbox.workspace.contacts == {} and sandbox.workspace.companies == {}
    assert sandbox.ok("GET", f"/contacts/bulk/{job['id']}", headers=PREVIEW)["state"] == "completed"


def test_search_by_external_id_in_finds_the_bulk_created_contacts(sandbox: Sandbox) -> None:
    external_ids = [f"ext-{i}" for i in range(100)]
    _bulk(sandbox, "contacts", {"contacts": [{"email": f"{e}@example.com", "external_id": e} for e in external_ids]})
    _bulk(
        sandbox,
        "contacts",
        {"contacts": [{"email": f"other-{i}@example.com", "external_id": f"o-{i}"} for i in range(60)]},
    )
    query = {
        "query": {"field": "external_id", "operator": "IN", "value": external_ids},
        "pagination": {"per_page": 150},
    }
    found = sandbox.ok("POST", "/contacts/search", query)
    assert found["total_count"] == 100 and len(found["data"]) == 100
    assert {c["external_id"] for c in found["data"]} == set(external_ids)


def test_the_preview_specs_own_bulk_request_examples_pass_unchanged() -> None:
    spec = load_preview_spec()
    checked = 0
    for path in ("/contacts/bulk", "/companies/bulk"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for name, example in content["examples"].items():
            kept, dropped = documented.documented_body("POST", path, "Preview", example["value"])
            assert dropped == [] and kept == example["value"], f"{path} {name}: {dropped}"
            checked += 1
    assert checked >= 6
