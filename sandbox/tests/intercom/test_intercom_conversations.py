"""Conversation history import: create with created_at, replies/notes keep order and timestamps, parts, search."""

from __future__ import annotations

from intercom_sandbox_testkit import ADMIN_ID, Sandbox, make_attributes


def _conversation(sandbox: Sandbox, contact_id: str, created_at: int = 1_600_000_000) -> str:
    message = sandbox.ok(
        "POST",
        "/conversations",
        {"from": {"type": "user", "id": contact_id}, "body": "Printer broken", "created_at": created_at},
    )
    assert message["type"] == "user_message" and message["created_at"] == created_at
    assert message["conversation_id"].isdigit()
    return message["conversation_id"]


def test_history_import_keeps_order_and_timestamps(sandbox: Sandbox) -> None:
    make_attributes(sandbox)
    contact = sandbox.contact(email="req@example.com", external_id="P-7")
    conv_id = _conversation(sandbox, contact["id"])
    replies = [
        {
            "message_type": "comment",
            "type": "admin",
            "admin_id": ADMIN_ID,
            "body": "Did you restart it?",
            "created_at": 1_600_000_100,
        },
        {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact["id"],
            "body": "Yes",
            "created_at": 1_600_000_200,
        },
        {
            "message_type": "note",
            "type": "admin",
            "admin_id": ADMIN_ID,
            "body": "Internal memo",
            "created_at": 1_600_000_300,
        },
        {
            "message_type": "comment",
            "type": "user",
            "user_id": "P-7",
            "body": "Still broken",
            "created_at": 1_600_000_400,
        },
    ]
    for reply in replies:
        body = sandbox.ok("POST", f"/conversations/{conv_id}/reply", reply)
        assert body["type"] == "conversation"
    closed = sandbox.ok(
        "POST",
        f"/conversations/{conv_id}/parts",
        {"message_type": "close", "type": "admin", "admin_id": ADMIN_ID, "body": "Done"},
    )
    assert closed["state"] == "closed" and closed["open"] is False
    conv = sandbox.ok("GET", f"/conversations/{conv_id}")
    assert conv["created_at"] == 1_600_000_000
    parts = conv["conversation_parts"]["conversation_parts"]
    assert [p["part_type"] for p in parts] == ["comment", "comment", "note", "comment", "close"]
    assert [p["created_at"] for p in parts[:4]] == [1_600_000_100, 1_600_000_200, 1_600_000_300, 1_600_000_400]
    assert parts[2]["body"] == "<p>Internal memo</p>" and parts[2]["author"]["id"] == ADMIN_ID
    assert conv["source"]["body"] == "<p>Printer broken</p>"
    assert conv["conversation_parts"]["total_count"] == 5
    assert conv["statistics"]["count_conversation_parts"] == 6
    plain = sandbox.ok("GET", f"/conversations/{conv_id}", params={"display_as": "plaintext"})
    assert plain["conversation_parts"]["conversation_parts"][2]["body"] == "Internal memo"
    assert conv["admin_assignee_id"] == 0 and conv["priority"] == "none"
    old = sandbox.get(f"/conversations/{conv_id}", headers={"Intercom-Version": "2.14"}).json()
    assert old["admin_assignee_id"] is None and old["priority"] == "not_priority"


def test_parts_attributes_tags_and_errors(sandbox: Sandbox) -> None:
    make_attributes(sandbox)
    contact = sandbox.contact(email="p@example.com")
    conv_id = _conversation(sandbox, contact["id"])
    snoozed = sandbox.ok(
        "POST",
        f"/conversations/{conv_id}/parts",
        {"message_type": "snoozed", "admin_id": ADMIN_ID, "snoozed_until": 1_900_000_000},
    )
    assert snoozed["state"] == "snoozed" and snoozed["snoozed_until"] == 1_900_000_000
    opened = sandbox.ok("POST", f"/conversations/{conv_id}/parts", {"message_type": "open", "admin_id": ADMIN_ID})
    assert opened["state"] == "open"
    assigned = sandbox.ok(
        "POST",
        f"/conversations/{conv_id}/parts",
        {"message_type": "assignment", "type": "admin", "admin_id": ADMIN_ID, "assignee_id": ADMIN_ID},
    )
    assert assigned["admin_assignee_id"] == int(ADMIN_ID)
    bad_assignee = sandbox.post(
        f"/conversations/{conv_id}/parts",
        {"message_type": "assignment", "type": "admin", "admin_id": ADMIN_ID, "assignee_id": "42"},
    )
    assert bad_assignee.status_code == 404
    updated = sandbox.ok(
        "PUT", f"/conversations/{conv_id}", {"custom_attributes": {"topdesk_number": "I 2401 001"}, "read": True}
    )
    assert updated["custom_attributes"] == {"topdesk_number": "I 2401 001"}
    assert sandbox.put(f"/conversations/{conv_id}", {"custom_attributes": {"nope": 1}}).status_code == 400
    tag = sandbox.ok("POST", "/tags", {"name": "Hardware"})
    assert (
        sandbox.ok("POST", f"/conversations/{conv_id}/tags", {"id": tag["id"], "admin_id": ADMIN_ID})["name"]
        == "Hardware"
    )
    missing = sandbox.post("/conversations/999999/tags", {"id": tag["id"], "admin_id": ADMIN_ID})
    assert missing.status_code == 404 and missing.json()["errors"][0]["message"] == "Conversation not found"
    assert (
        sandbox.request("DELETE", f"/conversations/{conv_id}/tags/{tag['id']}", json={"admin_id": ADMIN_ID}).status_code
        == 200
    )
    unknown_contact = sandbox.post("/conversations", {"from": {"type": "user", "id": "0" * 24}, "body": "x"})
    assert unknown_contact.status_code == 404 and unknown_contact.json()["errors"][0]["message"] == "User Not Found"
    bad_admin = sandbox.post(
        f"/conversations/{conv_id}/reply", {"message_type": "note", "type": "admin", "admin_id": "1", "body": "x"}
    )
    assert bad_admin.status_code == 404
    assert (
        sandbox.post(
            "/conversations/999999/reply", {"message_type": "note", "type": "admin", "admin_id": ADMIN_ID, "body": "x"}
        ).json()["errors"][0]["message"]
        == "Resource Not Found"
    )
    found = sandbox.ok(
        "POST",
        "/conversations/search",
        {"query": {"field": "custom_attributes.topdesk_number", "operator": "=", "value": "I 2401 001"}},
    )
    assert [c["id"] for c in found["conversations"]] == [conv_id]
    assert sandbox.ok("DELETE", f"/conversations/{conv_id}") == {
        "id": conv_id,
        "object": "conversation",
        "deleted": True,
    }
    assert sandbox.get(f"/conversations/{conv_id}").status_code == 404


def test_list_and_search_pages(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="many@example.com")
    ids = [_conversation(sandbox, contact["id"], 1_600_000_000 + i) for i in range(12)]
    # tap-intercom's query: id > "" (string id compared numerically) and updated_at >= float epoch
    query = {"operator": "AND", "value": [
        {"operator": "OR", "value": [{"field": "id", "operator": ">", "value": ""},
                                     {"field": "id", "operator": "=", "value": ""}]},
        {"operator": "OR", "value": [{"field": "updated_at", "operator": ">", "value": 1577836800.0},
                                     {"field": "updated_at", "operator": "=", "value": 1577836800.0}]},
    ]}  # fmt: skip
    seen, after = [], None
    while True:
        body = {
            "query": query,
            "pagination": {"per_page": 5, **({"starting_after": after} if after else {})},
            "sort": {"field": "id", "order": "ascending"},
        }
        page = sandbox.ok("POST", "/conversations/search", body)
        seen += [c["id"] for c in page["conversations"]]
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert seen == ids  # ascending numeric ids, each once
    listed, after = [], None
    while True:
        page = sandbox.ok(
            "GET", "/conversations", params={"per_page": 4, **({"starting_after": after} if after else {})}
        )
        assert page["type"] == "conversation.list"
        listed += [c["id"] for c in page["conversations"]]
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert sorted(listed, key=int) == ids


def test_contact_reply_to_last_conversation(sandbox: Sandbox) -> None:
    contact = sandbox.contact(email="last@example.com")
    _conversation(sandbox, contact["id"], 1_600_000_000)
    newest = _conversation(sandbox, contact["id"], 1_600_000_500)
    reply = {"message_type": "comment", "type": "user", "email": "LAST@example.com", "body": "again"}
    conversation = sandbox.ok("POST", "/conversations/last/reply", reply)
    assert conversation["id"] == newest
    assert conversation["conversation_parts"]["conversation_parts"][-1]["author"]["id"] == contact["id"]
