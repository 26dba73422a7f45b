"""Ticket types (default attributes, four states), tickets with created_at, replies, state updates, search."""

from __future__ import annotations

from intercom_sandbox_testkit import ADMIN_ID, Sandbox


def test_ticket_lifecycle(sandbox: Sandbox) -> None:
    ticket_type = sandbox.ok(
        "POST", "/ticket_types", {"name": "TOPdesk Call", "description": "Calls", "category": "Customer"}
    )
    names = [a["name"] for a in ticket_type["ticket_type_attributes"]["data"]]
    assert names == ["_default_title_", "_default_description_"]
    states = ticket_type["ticket_states"]["data"]
    assert [s["category"] for s in states] == ["submitted", "in_progress", "waiting_on_customer", "resolved"]
    assert states[2]["external_label"] == "Waiting on you"
    attr = sandbox.ok(
        "POST",
        f"/ticket_types/{ticket_type['id']}/attributes",
        {"name": "call_number", "description": "TOPdesk call number", "data_type": "string"},
    )
    assert attr["order"] == 2 and attr["default"] is False
    listed = sandbox.ok("GET", "/ticket_states")["data"]
    assert all(any(t["id"] == ticket_type["id"] for t in s["ticket_types"]["data"]) for s in listed)
    contact = sandbox.contact(email="caller@example.com", external_id="P-1")
    ticket = sandbox.ok("POST", "/tickets", {
        "ticket_type_id": ticket_type["id"], "contacts": [{"external_id": "P-1"}], "created_at": 1_600_000_000,
        "ticket_attributes": {"_default_title_": "Printer", "call_number": "I 2401 001"},
    })  # fmt: skip
    assert ticket["created_at"] == 1_600_000_000 and ticket["ticket_state"]["category"] == "submitted"
    assert ticket["contacts"]["contacts"][0]["id"] == contact["id"]
    assert ticket["id"] != "" and ticket["ticket_id"].isdigit()
    assert (
        sandbox.post(
            "/tickets",
            {
                "ticket_type_id": ticket_type["id"],
                "contacts": [{"id": contact["id"]}],
                "ticket_attributes": {"nope": "x"},
            },
        ).status_code
        == 400
    )
    part = sandbox.ok(
        "POST",
        f"/tickets/{ticket['id']}/reply",
        {"message_type": "note", "type": "admin", "admin_id": ADMIN_ID, "body": "memo", "created_at": 1_600_000_500},
    )
    assert part["type"] == "ticket_part" and part["part_type"] == "note" and part["created_at"] == 1_600_000_500
    user_part = sandbox.ok(
        "POST",
        f"/tickets/{ticket['id']}/reply",
        {"message_type": "comment", "type": "user", "intercom_user_id": contact["id"], "body": "thanks"},
    )
    assert user_part["author"]["type"] == "user"
    in_progress = states[1]["id"]
    updated = sandbox.ok(
        "PUT",
        f"/tickets/{ticket['id']}",
        {"ticket_state_id": in_progress, "admin_id": int(ADMIN_ID), "assignee_id": ADMIN_ID},
    )
    assert updated["ticket_state"]["category"] == "in_progress" and updated["admin_assignee_id"] == int(ADMIN_ID)
    bad_state = sandbox.put(f"/tickets/{ticket['id']}", {"ticket_state_id": "1"})
    assert bad_state.status_code == 400 and bad_state.json()["errors"][0]["code"] == "ticket_state_id_invalid"
    closed = sandbox.ok("PUT", f"/tickets/{ticket['id']}", {"open": False, "ticket_state_id": states[3]["id"]})
    assert closed["open"] is False and closed["ticket_state"]["category"] == "resolved"
    found = sandbox.ok("POST", "/tickets/search", {"query": {"operator": "AND", "value": [
        {"field": f"ticket_attribute.{attr['id']}", "operator": "=", "value": "I 2401 001"},
        {"field": "created_at", "operator": ">=", "value": 1_600_000_000}]}})  # fmt: skip
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]]
    tag = sandbox.ok("POST", "/tags", {"name": "Printers"})
    assert (
        sandbox.ok("POST", f"/tickets/{ticket['id']}/tags", {"id": tag["id"], "admin_id": ADMIN_ID})["id"] == tag["id"]
    )
    assert sandbox.ok("DELETE", f"/tickets/{ticket['id']}") == {"id": ticket["id"], "object": "ticket", "deleted": True}
    assert sandbox.get(f"/tickets/{ticket['id']}").json()["errors"][0]["code"] == "ticket_not_found"


def test_back_office_rejects_user_replies(sandbox: Sandbox) -> None:
    ticket_type = sandbox.ok("POST", "/ticket_types", {"name": "Internal", "category": "Back-office"})
    contact = sandbox.contact(email="bo@example.com")
    ticket = sandbox.ok("POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]})
    response = sandbox.post(
        f"/tickets/{ticket['id']}/reply",
        {"message_type": "comment", "type": "user", "intercom_user_id": contact["id"], "body": "hi"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "parameter_mismatch",
        "message": "User replies are not allowed on Backoffice tickets",
    }


def test_a_ticket_reads_as_a_conversation_and_never_shares_a_conversations_id(sandbox: Sandbox) -> None:
    """A reporting or backup client that reads a ticket through the conversations API gets it (EVIDENCE.md):
    its title, caller, open state and parts; ticket and conversation ids never collide."""
    ticket_type = sandbox.ok("POST", "/ticket_types", {"name": "Calls", "category": "Customer"})
    contact = sandbox.contact(email="reader@example.com")
    conversation = sandbox.ok("POST", "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "hi"})
    ticket = sandbox.ok("POST", "/tickets", {
        "ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}], "created_at": 1_600_000_000,
        "ticket_attributes": {"_default_title_": "Printer", "_default_description_": "jammed"}})  # fmt: skip
    assert ticket["id"] != conversation["conversation_id"]
    sandbox.ok(
        "POST",
        f"/tickets/{ticket['id']}/reply",
        {"message_type": "note", "type": "admin", "admin_id": ADMIN_ID, "body": "<p>memo</p>"},
    )
    sandbox.ok("PUT", f"/tickets/{ticket['id']}", {"open": False})
    read = sandbox.ok("GET", f"/conversations/{ticket['id']}")
    assert (read["type"], read["id"], read["title"], read["open"], read["state"]) == (
        "conversation",
        ticket["id"],
        "Printer",
        False,
        "closed",
    )
    assert read["created_at"] == 1_600_000_000 and read["source"]["author"]["id"] == contact["id"]
    assert read["contacts"]["contacts"][0]["id"] == contact["id"]
    assert "memo" in [p["body"] for p in read["conversation_parts"]["conversation_parts"]][-1]
    conversation_id = conversation["conversation_id"]
    assert sandbox.ok("GET", f"/conversations/{conversation_id}")["id"] == conversation_id
