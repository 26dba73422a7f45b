"""What each writer declares about its kind, and the one create/update/unchanged decision the loader acts on and
``plan`` and ``verify`` report (``decide``)."""

from __future__ import annotations

import pytest

from target_intercom.ledger import Entity
from target_intercom.writers import WRITERS
from target_intercom.writers.base import (
    CREATE,
    LISTED,
    MATCHED,
    NOT_UPDATABLE,
    SETTLED,
    UNCHANGED,
    UPDATE,
    WRITTEN,
    decide,
)


def entity(status: str = "written", digest: str | None = "h1") -> Entity:
    return Entity("kind", "k1", "ic-1", digest, status, "run", "run", 1)


@pytest.mark.parametrize(
    ("kind", "existing", "digest", "want"),
    [
        ("tickets", None, "h1", CREATE),  # new
        ("tickets", entity(status="deleted"), "h1", CREATE),  # rolled back: created afresh
        ("tickets", entity(status="intent"), "h1", CREATE),  # an interrupted create (settled first)
        ("tickets", entity(), "h1", UNCHANGED),
        ("tickets", entity(), "h2", UPDATE),
        ("tickets", entity(digest=SETTLED), "h1", UPDATE),  # found after a crash: its follow-up still to send
        ("ticket_parts", entity(), "h2", NOT_UPDATABLE),  # Intercom cannot edit a part
        ("ticket_parts", entity(digest=SETTLED), "h1", UNCHANGED),  # a settled part is the part
        ("contact_notes", entity(), "h2", NOT_UPDATABLE),
    ],
)
def test_decide(kind: str, existing: Entity | None, digest: str, want: str) -> None:
    assert decide(WRITERS[kind], existing, digest) == want


def test_requests_follow_the_writers_declarations() -> None:
    assert [WRITERS[k].requests_for(CREATE) for k in ("contacts", "tickets", "conversations")] == [1, 2, 3]
    assert WRITERS["tickets"].requests_for(UPDATE) == 2  # the read that keeps what it overwrites, the update
    assert WRITERS["ticket_parts"].requests_for(NOT_UPDATABLE) == 0
    for writer in WRITERS:  # teammates and teams are matched, the inventory only listed: no request
        if writer.represented in (MATCHED, LISTED):
            assert (writer.requests_for(CREATE), writer.requests_for(UPDATE)) == (0, 0), writer.kind
    assert {w.kind for w in WRITERS if w.represented != WRITTEN} == {
        "admins",
        "teams",
        "team_memberships",
        "inventory_items",
    }


def test_optional_parents() -> None:
    ticket = {"refs": {"contact": "p1", "company": "b1", "admin": "op1", "team": None}}
    assert WRITERS["tickets"].optional_parents(ticket) == [("companies", "b1"), ("admins", "op1")]
    caller_comment = {"refs": {"author": "p1"}, "author_type": "user", "message_type": "comment"}
    operator_note = {"refs": {"author": "op1"}, "author_type": "admin", "message_type": "note"}
    assert WRITERS["ticket_parts"].optional_parents(caller_comment) == [("contacts", "p1")]
    assert WRITERS["conversation_parts"].optional_parents(operator_note) == [("admins", "op1")]
    article = {"refs": {"collection": "f1", "author": "op1"}, "locale": "de"}
    assert WRITERS["articles"].optional_parents(article) == [("collections", "f1:de")]
    assert [w.kind for w in WRITERS if w.caller_by_email] == ["tickets", "conversations"]
