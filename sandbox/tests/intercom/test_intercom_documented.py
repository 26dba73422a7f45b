"""The sandbox is as strict as Intercom: a body field the 2.16 description does not document for the operation (for
the ``oneOf`` branch the request fits) is ignored (dropped, counted, never stored or echoed), or refused where the
spec shows Intercom refusing it; the fields kept beyond the spec are those of the evidence register."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from intercom_sandbox_testkit import ADMIN_ID, Sandbox

from intercom_sandbox import documented
from intercom_sandbox.openapi import load_spec

EVIDENCE = Path(documented.__file__).with_name("EVIDENCE.md")
#: request examples of the spec that name fields their own schema does not (the examples are wrong, not the schema)
EXAMPLES_BEYOND_SCHEMA = {
    ("POST", "/contacts/{contact_id}/notes"): {"contact_id"},  # the path parameter repeated in the body
    ("DELETE", "/conversations/{conversation_id}/customers/{contact_id}"): {"customer"},  # a DELETE has no body
    ("POST", "/data_attributes"): {"archived"},  # the "too few options" error example
    ("POST", "/internal_articles"): {"locale"},
    ("POST", "/messages"): {"referer", "components", "locale"},
    ("POST", "/tags"): {"test"},  # the "invalid parameters" error example
}


def _request_examples() -> list[tuple[str, str, str, object]]:
    found = []
    for path, operations in load_spec()["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            found += [
                (method.upper(), path, name, ex.get("value")) for name, ex in (content.get("examples") or {}).items()
            ]
    return found


def test_the_specs_own_request_examples_pass_unchanged() -> None:
    examples = _request_examples()
    assert len(examples) > 150
    for method, path, name, body in examples:
        if (method, path) in documented.REFUSING:
            continue  # the "bad 'test' parameter" example is refused, as the spec shows
        _, dropped = documented.documented_body(method, path, "2.16", body)
        fields = {d.split(" ", 2)[2].split(".")[0] for d in dropped}
        unexpected = fields - EXAMPLES_BEYOND_SCHEMA.get((method, path), set())
        assert not unexpected, f"{method} {path} example {name!r}: {sorted(unexpected)}"


def test_an_undocumented_field_is_ignored_counted_and_never_echoed(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="strict@example.com", nickname="Bob")
    assert "nickname" not in contact and "nickname" not in sandbox.ok("GET", f"/contacts/{contact['id']}")
    assert sandbox.admin("GET", "/stats")["undocumented_fields"] == {"POST /contacts nickname": 1}


def test_a_contact_reply_to_a_ticket_carries_no_files_an_admin_note_does(sandbox: Sandbox) -> None:
    """``attachment_files`` is on the admin branch of ``POST /tickets/{id}/reply`` only."""
    ticket_type = sandbox.ok("POST", "/ticket_types", {"name": "Call", "category": "Customer"})
    contact = sandbox.contact(email="caller@example.com")
    ticket = sandbox.ok("POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]})
    files = [{"name": "a.txt", "content_type": "text/plain", "data": "aGVsbG8="}]
    user = sandbox.ok(
        "POST",
        f"/tickets/{ticket['id']}/reply",
        {
            "type": "user",
            "message_type": "comment",
            "intercom_user_id": contact["id"],
            "body": "mine",
            "attachment_files": files,
        },
    )
    admin = sandbox.ok(
        "POST",
        f"/tickets/{ticket['id']}/reply",
        {
            "type": "admin",
            "message_type": "note",
            "admin_id": ADMIN_ID,
            "body": "kept",
            "attachment_files": files,
            "skip_notifications": True,
        },
    )
    assert user["attachments"] == [] and [a["name"] for a in admin["attachments"]] == ["a.txt"]
    assert sandbox.admin("GET", "/stats")["undocumented_fields"] == {
        "POST /tickets/{ticket_id}/reply attachment_files": 1
    }


def test_nested_and_branch_fields_are_checked(sandbox: Sandbox) -> None:
    """``open`` parts take no ``type``; a ticket's contact reference takes one of id/external_id/email."""
    contact = sandbox.contact(email="nested@example.com")
    message = sandbox.ok("POST", "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "hi"})
    conversation = message["conversation_id"]
    sandbox.ok(
        "POST", f"/conversations/{conversation}/parts", {"message_type": "close", "type": "admin", "admin_id": ADMIN_ID}
    )
    sandbox.ok(
        "POST", f"/conversations/{conversation}/parts", {"message_type": "open", "type": "admin", "admin_id": ADMIN_ID}
    )
    ticket_type = sandbox.ok("POST", "/ticket_types", {"name": "Call", "category": "Customer"})
    sandbox.ok(
        "POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"], "role": "user"}]}
    )
    assert sandbox.admin("GET", "/stats")["undocumented_fields"] == {
        "POST /conversations/{conversation_id}/parts type": 1,
        "POST /tickets contacts[].role": 1,
    }


def test_companies_refuse_unknown_keys_as_the_spec_shows(sandbox: Sandbox) -> None:
    response = sandbox.post("/companies", {"company_id": "c1", "name": "Acme", "employees": 4})
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"code": "bad_request", "message": "bad 'employees' parameter"}


def test_other_versions_are_left_alone(sandbox: Sandbox) -> None:
    """The 2.16 description says nothing of other versions' bodies."""
    sandbox.ok("POST", "/contacts", {"email": "old@example.com", "nickname": "x"}, headers={"Intercom-Version": "2.14"})
    assert sandbox.admin("GET", "/stats")["undocumented_fields"] == {}


@pytest.mark.parametrize("operation", sorted(documented.EXTENSIONS))
def test_every_kept_field_is_in_the_evidence_register(operation: tuple[str, str]) -> None:
    register = EVIDENCE.read_text()
    for name, evidence in documented.EXTENSIONS[operation].items():
        row = next((line for line in register.splitlines() if line.startswith(f"| `{evidence}` |")), None)
        assert row is not None, f"{evidence} is not in EVIDENCE.md"
        assert operation[1] in row and f"`{name}`" in row
        assert re.search(r"OpenAPI #|issue|PR|docs|tap|Airbyte|\*\*assumed\*\*", row)


def test_text_in_a_number_attribute_is_refused(sandbox: Sandbox) -> None:
    """Intercom types its attributes: a number stays a number (a migration that sends ``"7.0"`` is told)."""
    sandbox.ok("POST", "/data_attributes", {"name": "seats", "model": "company", "data_type": "float"})
    refused = sandbox.post("/companies", {"company_id": "c1", "name": "Acme", "custom_attributes": {"seats": "7.0"}})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "seats"
    company = sandbox.ok("POST", "/companies", {"company_id": "c1", "custom_attributes": {"seats": 7}})
    assert company["custom_attributes"]["seats"] == 7
    ticket_type = sandbox.ok("POST", "/ticket_types", {"name": "Call", "category": "Customer"})
    sandbox.ok(
        "POST",
        f"/ticket_types/{ticket_type['id']}/attributes",
        {"name": "Costs", "description": "", "data_type": "decimal"},
    )
    contact = sandbox.contact(email="typed@example.com")
    body = {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]}
    assert sandbox.post("/tickets", {**body, "ticket_attributes": {"Costs": "1.5"}}).status_code == 400
    sandbox.ok("POST", "/tickets", {**body, "ticket_attributes": {"Costs": 1.5}})


def test_reporting_clients_read_segments_as_the_spec_shows(sandbox: Sandbox) -> None:
    """tap-intercom and Airbyte list segments and company segments after a load: none exist (UI-only)."""
    assert sandbox.ok("GET", "/segments", params={"include_count": "true"}) == {"type": "segment.list", "segments": []}
    contact = sandbox.contact(email="segments@example.com")
    company = sandbox.ok("POST", "/companies", {"company_id": "s1", "name": "Seg"})
    assert sandbox.ok("GET", f"/companies/{company['id']}/segments") == {"type": "list", "data": []}
    assert sandbox.ok("GET", f"/contacts/{contact['id']}/segments") == {"type": "list", "data": []}
    assert sandbox.get("/segments/123").status_code == 404
