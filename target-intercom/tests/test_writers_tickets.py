"""Tickets against the Intercom sandbox: assignment on create and when it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from topdesk2intercom_testing.target import intercom_sandbox
from topdesk2intercom_testing.target_writers import ADMIN, FALLBACK, Harness, admin, contact

TEAMS = [
    {"id": "7", "name": "Service desk", "admin_ids": [int(ADMIN)]},
    {"id": "8", "name": "Network", "admin_ids": []},
]


@pytest.fixture
def harness(tmp_path: Path):
    (tmp_path / "teams.json").write_text(json.dumps(TEAMS))
    with intercom_sandbox(teams_file=str(tmp_path / "teams.json")) as sb:
        h = Harness(sb, tmp_path, teams=TEAMS)
        h.directory.ticket_type_ids["Call"] = h.post("/ticket_types", {"name": "Call", "category": "Customer"})["id"]
        yield h
        h.close()


def ticket(operator: str, group: str, title: str = "Printer") -> dict:
    return {
        "source_key": "call:1",
        "ticket_type": "Call",
        "created_at": 1_600_000_000,
        "refs": {"contact": "person:p1", "admin": f"operator:{operator}", "team": f"operator-group:{group}"},
        "ticket_attributes": {"_default_title_": title},
    }


def test_tickets_carry_their_admin_and_team_and_follow_a_change(harness: Harness) -> None:
    """``assignment`` on create; on update ``assignee_id`` (one admin or team per request), only what changed."""
    people = [
        ("admins", [admin("o1", "admin@sandbox.example"), admin("o2", "fallback@sandbox.example")]),
        (
            "teams",
            [
                {"source_key": "operator-group:g1", "name": "Service desk"},
                {"source_key": "operator-group:g2", "name": "Network"},
            ],
        ),
        ("contacts", [contact("p1")]),
    ]
    harness.run(*people, ("tickets", [ticket("o1", "g1")]))
    written = harness.ws.tickets[harness.id_of("tickets", "call:1")]
    assert (written["admin_assignee_id"], written["team_assignee_id"]) == (ADMIN, "7")
    harness.run(("tickets", [ticket("o2", "g2")]))
    assert (written["admin_assignee_id"], written["team_assignee_id"]) == (FALLBACK, "8")
    sent = harness.client.stats["requests_sent"]
    harness.run(("tickets", [ticket("o2", "g2", title="Printer, again")]))  # the title only: no reassignment
    assert harness.client.stats["requests_sent"] - sent == 2  # the read keeping what it overwrites, the PUT
