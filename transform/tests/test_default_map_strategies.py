"""The default map with every strategy set to its other value, on real sandbox-shaped records: calls as
conversations, changes as ticket/conversation attributes, known errors as articles, assets as companies,
reservations as contact notes."""

from __future__ import annotations

from datetime import datetime

import pytest

from map_topdesk_intercom.engine import Engine
from topdesk2intercom_testing.transform import OTHER_STRATEGIES, engine_for, mapped, tap_records


def with_strategies(**overrides: str) -> Engine:
    return engine_for(tuple(sorted({**OTHER_STRATEGIES, **overrides}.items())))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return with_strategies()


def by_key(records: list[dict]) -> dict[str, dict]:
    return {r["source_key"]: r for r in records}


def test_calls_become_conversations_from_the_caller(engine):
    incidents = tap_records("incidents")
    out = mapped(engine, "incidents")
    assert set(out) == {"conversations"}  # assets: companies -> no asset links
    conversations = by_key(out["conversations"])
    assert len(conversations) == len(incidents)
    incident = next(i for i in incidents if i["closed"] and (i.get("caller") or {}).get("id"))
    conversation = conversations[f"call:{incident['id']}"]
    assert conversation["refs"]["contact"] == f"person:{incident['caller']['id']}"
    assert conversation["created_at"] == int(datetime.fromisoformat(incident["callDate"]).timestamp())
    assert conversation["open"] is False and conversation["title"].startswith(incident["number"])
    assert "<" not in conversation["body"]  # POST /conversations takes no HTML
    assert conversation["custom_attributes"]["Call number"] == incident["number"]
    assert conversation["alias_key"] == f"call-number:{incident['number']}"
    guest = next(i for i in incidents if not (i.get("caller") or {}).get("id"))
    assert conversations[f"call:{guest['id']}"]["contact_email"] == guest["caller"]["email"]
    spec = engine.spec
    assert [t.name for t in spec.active(spec.ticket_types)] == []
    models = {a.model for a in spec.active(spec.attributes)}
    assert "ticket_type" not in models and "conversation" in models


def test_trail_emails_and_attachments_become_conversation_parts(engine):
    trail = tap_records("incident_progress_trail")
    parts = by_key(mapped(engine, "incident_progress_trail")["conversation_parts"])
    assert len(parts) == len(trail)
    entry = trail[0]
    assert parts[f"call-entry:{entry['id']}"]["refs"]["conversation"] == f"call:{entry['incident_id']}"
    assert len(mapped(engine, "incident_emails")["conversation_parts"]) == len(tap_records("incident_emails"))
    out = mapped(engine, "incident_attachments")
    files = [p for p in out["conversation_parts"] if "attachment_files" in p]
    assert len(files) == len(out["conversation_parts"]) - 2 and len(out["flagged"]) == 2


def test_changes_as_attributes_are_conversations_when_calls_are(engine):
    change = tap_records("changes")[0]
    out = mapped(engine, "changes")
    assert set(out) == {"conversations"}
    conversation = by_key(out["conversations"])[f"change:{change['id']}"]
    assert conversation["custom_attributes"]["Change number"] == change["number"]
    assert conversation["custom_attributes"]["Change phase"] == change["processingStatus"]
    assert conversation["refs"]["contact"] == f"person:{change['requester']['id']}"
    notes = mapped(engine, "change_activities")["conversation_parts"]
    activity = tap_records("change_activities")[0]
    note = by_key(notes)[f"change-activity:{activity['id']}"]
    assert note["message_type"] == "note" and note["refs"]["conversation"] == f"change:{activity['change']['id']}"
    assert f"Activity {activity['number']}" in note["body"]
    assert len(mapped(engine, "change_progress_trail")["conversation_parts"]) == len(
        tap_records("change_progress_trail")
    )


def test_changes_as_attributes_are_change_tickets_when_calls_are_tickets():
    engine = with_strategies(calls="tickets")
    change = next(c for c in tap_records("changes") if c["processingStatus"].endswith("closed"))
    out = mapped(engine, "changes")
    ticket = by_key(out["tickets"])[f"change:{change['id']}"]
    assert ticket["ticket_type"] == "TOPdesk Change" and ticket["open"] is False
    assert ticket["ticket_attributes"]["Change number"] == change["number"]
    assert ticket["ticket_attributes"]["Change type"] == change["changeType"]
    assert isinstance(ticket["ticket_attributes"]["Target date"], int)
    assert [t.name for t in engine.spec.active(engine.spec.ticket_types)] == ["TOPdesk Call", "TOPdesk Change"]
    parts = mapped(engine, "change_activities")["ticket_parts"]
    assert {p["message_type"] for p in parts} == {"note"}


def test_known_errors_become_articles_and_problems_inventory(engine):
    known_error = tap_records("known_errors")[0]
    articles = by_key(mapped(engine, "known_errors")["articles"])
    article = articles[f"known-error:{known_error['number']}"]
    assert article["title"] == f"{known_error['number']}: {known_error['brief_description']}"
    assert f"<h2>Cause</h2><p>{known_error['cause']}</p>" in article["body"]
    assert article["state"] == ("published" if known_error["published_in_knowledge_base"] else "draft")
    problem = next(p for p in tap_records("problems") if p["linked_calls"])
    item = by_key(mapped(engine, "problems")["inventory_items"])[f"problem:{problem['number']}"]
    assert item["kind"] == "problem" and ", ".join(problem["linked_calls"]) in item["detail"]


def test_assets_become_companies_with_device_attributes(engine):
    computer = tap_records("assets_computer")[0]
    out = mapped(engine, "assets_*")
    company = by_key(out["companies"])[f"asset:{computer['id']}"]
    assert company["company_id"] == f"topdesk-asset-{computer['id']}"
    assert company["name"] == f"{computer['name']} (Computer)"
    assert company["custom_attributes"]["topdesk_asset"] is True
    assert company["custom_attributes"]["topdesk_asset_template"] == "Computer"
    assert "serialnumber: " in company["custom_attributes"]["topdesk_asset_details"]
    person = computer["@assignments"]["persons"][0]["person"]["id"]
    assert {"contact": f"person:{person}", "company": f"asset:{computer['id']}"} in [
        link["refs"] for link in out["contact_companies"]
    ]
    links = mapped(engine, "asset_links")["inventory_items"]
    assert len(links) == len(tap_records("asset_links")) and {i["kind"] for i in links} == {"asset_link"}
    assert [o.name for o in engine.spec.active(engine.spec.custom_object_types)] == ["ProcessDefinition"]


def test_reservations_become_notes_on_the_requester(engine):
    reservation = tap_records("reservations")[0]
    notes = by_key(mapped(engine, "reservations")["contact_notes"])
    note = notes[f"reservation:{reservation['id']}"]
    assert note["refs"] == {"contact": f"person:{reservation['requester']['id']}"}
    assert f"TOPdesk reservation {reservation['number']}" in note["body"]
    assert reservation["reservedFacilities"][0]["location"]["name"] in note["body"]
