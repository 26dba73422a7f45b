"""Conversations and conversation parts against the Intercom sandbox: create, unchanged re-run, update, state,
order of parts, attachments, crash settle."""

from __future__ import annotations

import base64
import copy
import json
import logging
import typing as t
from pathlib import Path

import pytest

from target_intercom import rollback as rb
from target_intercom.loader import Loader
from target_intercom.writers.conversations import ConversationWriter
from target_intercom.writers.support import decoded_size, split_attachments
from topdesk2intercom_testing.target import intercom_sandbox
from topdesk2intercom_testing.target_writers import ADMIN, FALLBACK, Harness, admin, contact


@pytest.fixture
def harness(tmp_path: Path):
    teams = [{"id": "7", "name": "Service desk", "admin_ids": [int(ADMIN)]}]
    (tmp_path / "teams.json").write_text(json.dumps(teams))
    with intercom_sandbox(teams_file=str(tmp_path / "teams.json")) as sb:
        h = Harness(sb, tmp_path, teams=teams, settings={"max_attachment_mb": 0.001})
        for name in ("Call number", "Priority"):
            h.post("/conversations/attributes", {"name": name, "data_type": "string"})
        yield h
        h.close()


def call(n: int, *, closed: bool = False, priority: str = "P2", **extra) -> dict:
    return {
        "source_key": f"call:{n}",
        "alias_key": f"call-number:I{n}",
        "refs": {"contact": "person:p1", "admin": "operator:o1", **extra.pop("refs", {})},
        "created_at": 1_600_000_000 + n,
        "open": not closed,
        "title": f"I{n} printer",
        "body": f"My printer {n} is broken\nplease help",
        "custom_attributes": {"Call number": f"I{n}", "Priority": priority, "Closed at": None},
        **extra,
    }


def part(n: int, conv: int, at: int, **extra) -> dict:
    return {
        "source_key": f"entry:{n}",
        "refs": {"conversation": f"call:{conv}", "author": "operator:o1"},
        "author_type": "admin",
        "message_type": "comment",
        "body": f"<p>entry {n}</p>",
        "created_at": 1_600_000_000 + at,
        **extra,
    }


def test_conversations_create_rerun_update_and_close(harness: Harness) -> None:
    people = [contact("p1")]
    admins = [admin("o1", "admin@sandbox.example")]
    # calls arrive before operators and persons (the tap's alphabetical order): they wait for their contact
    counts = harness.run(
        ("conversations", [call(1), call(2, closed=True, refs={"team": "operator-group:g"})]),
        ("teams", [{"source_key": "operator-group:g", "name": "Service desk"}]),
        ("admins", admins),
        ("contacts", people),
    )
    assert counts["conversations"]["created"] == 2
    ws = harness.ws
    assert len(ws.conversations) == 2
    first = ws.conversations[harness.id_of("conversations", "call:1")]
    second = ws.conversations[harness.id_of("conversations", "call:2")]
    assert first["created_at"] == 1_600_000_001 and first["title"] == "I1 printer"
    assert first["custom_attributes"] == {"Call number": "I1", "Priority": "P2"}
    assert first["state"] == "open" and second["state"] == "closed"
    assert first["contact_ids"] == [harness.id_of("contacts", "person:p1")]
    assert first["admin_assignee_id"] == ADMIN
    assert second["team_assignee_id"] == "7"
    # the alias (call number) points at the same conversation, for links by number
    assert harness.id_of("conversations", "call-number:I1") == first["id"]
    assert any(i["field"] == "state" for i in harness.issues("timestamp_lost"))

    # unchanged re-run: nothing sent
    counts = harness.run(("conversations", [call(1), call(2, closed=True, refs={"team": "operator-group:g"})]))
    assert counts["conversations"] == {"received": 2, "unchanged": 2}
    assert len(ws.conversations) == 2

    # a changed call updates its conversation (attributes, state), never a second copy
    counts = harness.run(("conversations", [call(1, priority="P1", closed=True)]))
    assert counts["conversations"]["updated"] == 1
    assert len(ws.conversations) == 2
    assert first["custom_attributes"]["Priority"] == "P1" and first["state"] == "closed"
    assert sum(p["part_type"] == "close" for p in first["parts"]) == 1


def test_unregistered_caller_gets_one_contact_by_email(harness: Harness) -> None:
    guest = call(5, refs={"contact": None})
    guest["refs"].pop("contact")
    guest["contact_email"] = "Guest@Example.test"
    harness.run(("conversations", [guest, {**call(6, refs={"contact": None}), "contact_email": "guest@example.test"}]))
    assert len(harness.ws.conversations) == 2
    contacts = [c for c in harness.ws.contacts.values() if c.get("email") == "guest@example.test"]
    assert len(contacts) == 1


def test_parts_in_order_with_original_dates_and_attachments(harness: Harness) -> None:
    small = base64.b64encode(b"x" * 100).decode()
    big = base64.b64encode(b"y" * 5000).decode()
    parts = [
        part(3, 1, 30),
        part(1, 1, 10, author_type="user", refs={"conversation": "call:1", "author": "person:p1"}),
        part(
            2,
            1,
            20,
            message_type="note",
            attachment_files=[
                {"name": "small.txt", "content_type": "text/plain", "data": small},
                {"name": "big.bin", "content_type": "application/octet-stream", "data": big},
            ],
        ),
        part(4, 1, 40, author_type="user", refs={"conversation": "call:1", "author": "person:p1"}),
    ]
    # parts first, then the conversation, then its contact: everything waits for its parent
    harness.run(
        ("conversation_parts", parts),
        ("conversations", [call(1, closed=True)]),
        ("admins", [admin("o1", "admin@sandbox.example")]),
        ("contacts", [contact("p1")]),
    )
    conv = harness.ws.conversations[harness.id_of("conversations", "call:1")]
    written = [p for p in conv["parts"] if p["part_type"] in ("comment", "note")]
    assert [p["created_at"] for p in written] == [1_600_000_010, 1_600_000_020, 1_600_000_030, 1_600_000_040]
    assert [p["author"][0] for p in written] == ["user", "admin", "admin", "user"]
    note = written[1]
    assert [a["name"] for a in note["attachments"]] == ["small.txt"]
    assert "big.bin" in note["body"]
    assert [i["detail"]["file"] for i in harness.issues("attachment_not_uploaded")] == ["big.bin"]
    # the caller's replies reopened it; a call closed in TOPdesk ends closed
    assert conv["state"] == "closed"
    # re-run: no second copy of any part
    harness.run(("conversation_parts", parts), ("conversations", [call(1, closed=True)]))
    assert len([p for p in conv["parts"] if p["part_type"] in ("comment", "note")]) == 4
    # an edited entry is reported, not duplicated
    harness.run(("conversation_parts", [{**parts[0], "body": "<p>edited</p>"}]))
    assert len([p for p in conv["parts"] if p["part_type"] in ("comment", "note")]) == 4
    assert harness.issues("not_updatable")


def test_interrupted_create_is_settled_not_repeated(harness: Harness) -> None:
    harness.run(("contacts", [contact("p1")]), ("admins", [admin("o1", "admin@sandbox.example")]))
    ctx = harness.context()
    record = call(9)
    contact_id = harness.id_of("contacts", "person:p1")
    # a crash right after Intercom created the conversation: the intent is in the ledger, the id is not
    harness.ledger.record_intent(
        "conversations",
        "call:9",
        "",
        ctx.run_id,
        extra={
            "contact_id": contact_id,
            "created_at": record["created_at"],
            "body": record["body"],
            "custom_attributes": {},
        },
    )
    made = harness.client.request(
        "POST",
        "/conversations",
        json={"from": {"type": "user", "id": contact_id}, "body": record["body"], "created_at": record["created_at"]},
    )
    assert ConversationWriter().settle(ctx, harness.ledger.lookup("conversations", "call:9")) == made["conversation_id"]
    harness.run(("conversations", [record]))
    assert len(harness.ws.conversations) == 1
    conv = harness.ws.conversations[made["conversation_id"]]
    assert conv["custom_attributes"]["Call number"] == "I9"  # finished by the update after the settle


def test_fallback_admin_closes_when_the_operator_is_unknown(harness: Harness) -> None:
    record = call(3, closed=True)
    record["refs"].pop("admin")
    harness.run(("contacts", [contact("p1")]), ("conversations", [record]))
    conv = harness.ws.conversations[harness.id_of("conversations", "call:3")]
    close = [p for p in conv["parts"] if p["part_type"] == "close"]
    assert close and close[0]["author"] == ["admin", FALLBACK]


def test_the_size_limit_is_the_files_real_size_inclusive() -> None:
    """``max_attachment_mb`` (default 10) counts decoded bytes, the limit inclusive: base64 padding is not data. The
    three sizes end their encoding with no, two and one padding characters."""
    limit = 10 * 1024 * 1024
    files = [{"name": str(n), "data": base64.b64encode(b"z" * n).decode()} for n in (limit - 1, limit, limit + 1)]
    small, too_big = split_attachments(files, {})
    assert [f["name"] for f in small] == [str(limit - 1), str(limit)]
    assert [f["name"] for f in too_big] == [str(limit + 1)]
    assert [decoded_size(f["data"]) for f in files] == [limit - 1, limit, limit + 1]


def _sanitising(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox stores bodies as Intercom's sanitiser would (scripts removed, whitespace collapsed)."""
    import re

    from intercom_sandbox.routes import contacts, conversations, tickets

    def sanitised(text: str) -> str:
        return " ".join(contacts.as_html(re.sub(r"<script>.*?</script>", "", text, flags=re.DOTALL)).split())

    for module in (conversations, tickets):
        monkeypatch.setattr(module, "as_html", sanitised)


def test_a_part_intercom_re_renders_is_written_once_across_a_crash_and_a_rerun(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intercom keeps a part's type, time and author as sent, not its markup: a part whose words Intercom changed is
    recorded (never raised after the write), and after a crash between the write and the ledger it is found again."""
    _sanitising(monkeypatch)
    rewritten = {**part(1, 1, 10), "body": "<p>entry 1</p><script>alert(1)</script>"}
    harness.run(
        ("admins", [admin("o1", "admin@sandbox.example")]),
        ("contacts", [contact("p1")]),
        ("conversations", [call(1)]),
        ("conversation_parts", [rewritten]),
    )
    conv = harness.ws.conversations[harness.id_of("conversations", "call:1")]
    comments = [p for p in conv["parts"] if p["part_type"] == "comment"]
    assert len(comments) == 1 and harness.id_of("conversation_parts", "entry:1") == comments[0]["id"]
    assert [i["source_key"] for i in harness.issues("body_rerendered")] == ["entry:1"]
    harness.run(("conversation_parts", [rewritten]))
    assert len([p for p in conv["parts"] if p["part_type"] == "comment"]) == 1

    # a crash after the reply, before the ledger knew: the intent is settled by type, time and author
    second = {**part(2, 1, 20), "body": "<p>entry 2</p><script>x()</script>"}
    original = harness.ledger.record_done

    def crash(held: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        if held.kind == "conversation_parts":
            raise KeyboardInterrupt("killed")
        original(held, *args, **kwargs)

    monkeypatch.setattr(harness.ledger, "record_done", crash)
    with pytest.raises(RuntimeError, match="killed"):  # the writer thread dies as a killed process would
        harness.run(("conversation_parts", [second]))
    monkeypatch.setattr(harness.ledger, "record_done", original)
    assert harness.ledger.lookup("conversation_parts", "entry:2").status == "intent"
    harness.run(("conversation_parts", [second]))
    comments = [p for p in conv["parts"] if p["part_type"] == "comment"]
    assert len(comments) == 2 and harness.id_of("conversation_parts", "entry:2") == comments[1]["id"]


@pytest.mark.parametrize("order", ["newer first", "older first"])
def test_two_calls_with_one_number_are_flagged_and_the_number_goes_to_the_older(harness: Harness, order: str) -> None:
    """The number (alias) resolves to the older call whatever the order of the writes; the duplicate is named."""
    older, newer = call(1), {**call(2), "alias_key": "call-number:I1"}
    calls = [newer, older] if order == "newer first" else [older, newer]
    harness.run(
        ("admins", [admin("o1", "admin@sandbox.example")]),
        ("contacts", [contact("p1")]),
        *(("conversations", [c]) for c in calls),
        concurrency=1,
    )
    assert len(harness.ws.conversations) == 2  # both load
    assert harness.id_of("conversations", "call-number:I1") == harness.id_of("conversations", "call:1")
    [issue] = harness.issues("duplicate_key")
    assert issue["source_key"] == calls[1]["source_key"] and issue["detail"]["resolves_to"] == "call:1"
    assert "I1 is also the number of" in issue["reason"]


def test_a_call_whose_caller_person_never_came_is_loaded_with_the_callers_email(harness: Harness) -> None:
    """Held for ever before: the person it names never arrives, yet the call carries its caller's e-mail."""
    ghost = {**call(7, refs={"contact": "person:gone"}), "contact_email": "gone@example.test"}
    loader = Loader(harness.context(), concurrency=1, max_retries=3, logger=logging.getLogger("test-callers"))
    try:
        loader.stage("admins", [admin("o1", "admin@sandbox.example")])
        loader.stage("conversations", [ghost])
        loader.stage("conversation_parts", [part(1, 7, 10)])
        loader.pump()
        assert harness.id_of("conversations", "call:7") is None  # waits for person:gone
        assert loader.load_callers_by_email() == 1
        loader.pump()
        assert loader.flag_orphans() == 0
    finally:
        loader.close()
    conversation = harness.ws.conversations[harness.id_of("conversations", "call:7")]
    [contact_id] = conversation["contact_ids"]
    assert harness.ws.contacts[contact_id]["email"] == "gone@example.test"
    assert [p["part_type"] for p in conversation["parts"]].count("comment") == 1  # its trail followed
    [issue] = harness.issues("caller_not_found")
    assert issue["source_key"] == "call:7" and issue["detail"]["person"] == "person:gone"
    assert harness.ledger.guests(harness.run_id) == {"created": 1, "matched": 0}


def test_a_closed_call_with_customer_replies_ends_closed_with_one_close_part(harness: Harness) -> None:
    """Each customer reply reopens a conversation: the state is written once, after the last part, not closed,
    reopened and closed again (each close a part dated at migration time)."""
    customer = {"refs": {"conversation": "call:1", "author": "person:p1"}, "author_type": "user"}
    parts = [{**part(1, 1, 10), **customer}, part(2, 1, 20), {**part(3, 1, 30), **customer}]
    harness.run(
        ("admins", [admin("o1", "admin@sandbox.example")]),
        ("contacts", [contact("p1")]),
        ("conversations", [call(1, closed=True)]),
        ("conversation_parts", parts),
    )
    conversation = harness.ws.conversations[harness.id_of("conversations", "call:1")]
    kinds = [p["part_type"] for p in conversation["parts"]]
    assert conversation["state"] == "closed"
    assert kinds.count("close") == 1 and "open" not in kinds and kinds[-1] == "close"
    # a delta with one more customer reply: reopened by it, closed again once at the end
    harness.run(("conversation_parts", [{**part(4, 1, 40), **customer}]))
    kinds = [p["part_type"] for p in conversation["parts"]]
    assert conversation["state"] == "closed" and kinds.count("close") == 2 and kinds[-1] == "close"
    # nothing new: nothing sent
    harness.run(("conversations", [call(1, closed=True)]), ("conversation_parts", parts))
    assert [p["part_type"] for p in conversation["parts"]].count("close") == 2


def test_a_rollback_puts_back_what_a_run_changed_in_an_earlier_runs_conversation(harness: Harness) -> None:
    """Title and attributes come back by an update; the state by an open part, which stays in the history with the
    run's close part: listed as not restorable (issue #19)."""
    harness.run(("admins", [admin("o1", "admin@sandbox.example")]), ("contacts", [contact("p1")]))
    harness.run(("conversations", [call(1)]))
    conversation = harness.ws.conversations[harness.id_of("conversations", "call:1")]
    before = {k: copy.deepcopy(conversation[k]) for k in ("title", "custom_attributes", "state")}
    harness.run(("conversations", [call(1, priority="P1", closed=True, title="I1 printer, again")]))
    assert (conversation["title"], conversation["state"]) == ("I1 printer, again", "closed")

    summary = rb.rollback(harness.ledger, harness.client, run_id=harness.run_id, settings={}, progress=False)
    assert summary["entities"]["conversations"]["restored"] == 1, summary["not_restored"]
    assert {k: conversation[k] for k in before} == before
    assert [p["part_type"] for p in conversation["parts"][-2:]] == ["close", "open"]
    [listed] = summary["not_restorable"]
    assert listed["intercom_id"] == conversation["id"] and "history" in listed["reason"]
