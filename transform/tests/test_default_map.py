"""The default map on real sandbox-shaped records: the tap's output for build_dataset(scale=300, seed=7)."""

from __future__ import annotations

import jsonschema
import pytest

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import load_map, output_schema
from topdesk2intercom_testing.transform import OTHER_STRATEGIES, engine_for, tap_messages, tap_records


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_map())


def mapped(engine: Engine, stream: str) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for record in tap_records(stream):
        for out_stream, out in engine.apply(stream, record):
            result.setdefault(out_stream, []).append(out)
    return result


@pytest.mark.parametrize("strategies", [(), tuple(sorted(OTHER_STRATEGIES.items()))], ids=["default", "other"])
def test_every_output_matches_its_json_schema(strategies):
    engine = engine_for(strategies)
    validators: dict[str, jsonschema.Draft7Validator] = {}
    seen: set[str] = set()
    for message in tap_messages():
        if message["type"] != "RECORD":
            continue
        for out_stream, record in engine.apply(message["stream"], message["record"]):
            if out_stream not in validators:
                validators[out_stream] = jsonschema.Draft7Validator(output_schema(out_stream))
            validators[out_stream].validate(record)
            seen.add(out_stream)
    spec = engine.spec
    for stream, items in (
        ("ticket_types", spec.ticket_types),
        ("attribute_definitions", spec.attributes),
        ("custom_object_types", spec.custom_object_types),
    ):
        for item in spec.active(items):
            jsonschema.validate(item.record(), output_schema(stream))
    expected = {
        "contacts",
        "contact_companies",
        "companies",
        "admins",
        "teams",
        "team_memberships",
        "articles",
        "collections",
        "inventory_items",
        "custom_object_instances",
        "flagged",
    }
    expected |= (
        {"tickets", "ticket_parts", "custom_object_links"}
        if not strategies
        else {"conversations", "conversation_parts", "contact_notes", "custom_object_links"}
    )
    assert seen == expected


def test_persons_become_user_contacts(engine):
    persons = {p["id"]: p for p in tap_records("persons")}
    out = mapped(engine, "persons")
    contacts = {c["external_id"]: c for c in out["contacts"]}
    assert set(contacts) == set(persons)
    person = next(p for p in persons.values() if p.get("email") and p.get("department"))
    contact = contacts[person["id"]]
    assert contact["source_key"] == f"person:{person['id']}" and contact["role"] == "user"
    assert contact["email"] == person["email"].lower()
    assert contact["name"] == person["dynamicName"]
    assert contact["custom_attributes"]["topdesk_department"] == person["department"]["name"]
    assert contact["custom_attributes"]["topdesk_branch"] == person["branch"]["name"]
    assert isinstance(contact["signed_up_at"], int)


def test_email_case_duplicates_are_lowercased(engine):
    contacts = mapped(engine, "persons")["contacts"]
    emails = [c["email"] for c in contacts if c["email"].startswith("pair.0.contact@")]
    assert emails == ["pair.0.contact@kiemstra.example"] * 2  # the target adopts the second on 409


def test_persons_without_email_get_a_placeholder_and_a_flag(engine):
    without = {p["id"] for p in tap_records("persons") if not p.get("email")}
    assert len(without) == 3
    out = mapped(engine, "persons")
    placeholders = {c["external_id"]: c for c in out["contacts"] if c["email"].endswith("@placeholder.invalid")}
    assert set(placeholders) == without
    assert all(c["custom_attributes"]["topdesk_placeholder_email"] is True for c in placeholders.values())
    flags = out["flagged"]
    assert {f["record_id"] for f in flags} == without
    assert {(f["severity"], f["field"], f["output"]) for f in flags} == {("warning", "email", "contacts")}


def test_a_person_with_an_invalid_email_gets_a_placeholder_and_a_flag_naming_the_address(engine):
    person = {**tap_records("persons")[0], "email": "not-an-email@@hostile..example"}
    out = dict(engine.apply("persons", person))
    contact, flag = out["contacts"], out["flagged"]
    assert contact["email"] == f"topdesk-person-{person['id']}@placeholder.invalid"
    assert contact["custom_attributes"]["topdesk_placeholder_email"] is True
    assert (flag["record_id"], flag["field"], flag["severity"]) == (person["id"], "email", "warning")
    assert flag["reason"].startswith("invalid e-mail 'not-an-email@@hostile..example'")


def test_persons_attached_to_their_branch_company(engine):
    links = mapped(engine, "persons")["contact_companies"]
    person = tap_records("persons")[0]
    assert {"contact": f"person:{person['id']}", "company": f"branch:{person['branch']['id']}"} in [
        link["refs"] for link in links
    ]


def test_branches_become_companies(engine):
    branches = tap_records("branches")
    companies = mapped(engine, "branches")["companies"]
    assert [c["company_id"] for c in companies] == [b["id"] for b in branches]
    company, branch = companies[0], branches[0]
    assert company["source_key"] == f"branch:{branch['id']}" and company["name"] == branch["name"]
    assert company["custom_attributes"]["topdesk_city"] == branch["address"]["city"]


def test_incidents_become_tickets(engine):
    incidents = {i["id"]: i for i in tap_records("incidents")}
    tickets = {t["source_key"]: t for t in mapped(engine, "incidents")["tickets"]}
    assert len(tickets) == len(incidents)
    incident = next(i for i in incidents.values() if i["closed"] and (i.get("caller") or {}).get("id"))
    ticket = tickets[f"call:{incident['id']}"]
    assert ticket["ticket_type"] == "TOPdesk Call"
    assert ticket["refs"]["contact"] == f"person:{incident['caller']['id']}"
    assert ticket["refs"]["admin"] == f"operator:{incident['operator']['id']}"
    assert ticket["open"] is False and ticket["ticket_state"] == "resolved"
    attributes = ticket["ticket_attributes"]
    assert attributes["_default_title_"] == f"{incident['number']} {incident['briefDescription']}"
    assert attributes["Call number"] == incident["number"]
    assert attributes["Priority"] == incident["priority"]["name"]
    assert attributes["Category"] == incident["category"]["name"]
    assert attributes["Subcategory"] == incident["subcategory"]["name"]
    assert attributes["Closed"] is True and isinstance(attributes["Closed at"], int)
    from datetime import datetime

    assert ticket["created_at"] == int(datetime.fromisoformat(incident["callDate"]).timestamp())
    open_ones = [t for t in tickets.values() if t["open"]]
    assert open_ones and all(t["ticket_state"] != "resolved" for t in open_ones)


def test_unregistered_callers_are_referenced_by_email(engine):
    guests = [i for i in tap_records("incidents") if not (i.get("caller") or {}).get("id")]
    assert len(guests) == 2
    tickets = {t["source_key"]: t for t in mapped(engine, "incidents")["tickets"]}
    for incident in guests:
        ticket = tickets[f"call:{incident['id']}"]
        assert "contact" not in ticket["refs"] and ticket["contact_email"] == incident["caller"]["email"]


def test_progress_trail_becomes_ticket_parts(engine):
    trail = {e["id"]: e for e in tap_records("incident_progress_trail")}
    out = mapped(engine, "incident_progress_trail")
    parts = {p["source_key"]: p for p in out["ticket_parts"]}
    assert len(parts) == len(trail)
    # only images pasted into a memo are flagged (a warning: the part is written with a note in their place)
    assert all(f["severity"] == "warning" and "pasted into the text" in f["reason"] for f in out.get("flagged", []))
    for entry_id, entry in trail.items():
        part = parts[f"call-entry:{entry_id}"]
        assert part["refs"]["ticket"] == f"call:{entry['incident_id']}"
        assert part["message_type"] == ("note" if entry.get("invisibleForCaller") else "comment")
        if (entry.get("operator") or {}).get("id"):
            assert (part["author_type"], part["refs"]["author"]) == ("admin", f"operator:{entry['operator']['id']}")
        elif (entry.get("person") or {}).get("id"):
            assert (part["author_type"], part["refs"]["author"]) == ("user", f"person:{entry['person']['id']}")
        assert part["body"] and isinstance(part["created_at"], int)
    assert {p["message_type"] for p in parts.values()} == {"note", "comment"}


def test_html_memos_are_sanitised(engine):
    planted = [e for e in tap_records("incident_progress_trail") if "<script" in (e.get("memoText") or "")]
    assert planted
    parts = {p["source_key"]: p for p in mapped(engine, "incident_progress_trail")["ticket_parts"]}
    for entry in planted:
        body = parts[f"call-entry:{entry['id']}"]["body"]
        assert "<script" not in body and "alert(" not in body and "data:image" not in body
        assert "Investigating." in body


def test_invalid_dates_and_missing_required_values_are_flagged(engine):
    incident = dict(tap_records("incidents")[0], callDate="07-09-2022 22:04", number="")
    [(stream, flag)] = engine.apply("incidents", incident)
    assert stream == "flagged" and flag["severity"] == "error" and flag["source_key"] == f"call:{incident['id']}"
    assert flag["field"] == "created_at" and "invalid date" in flag["reason"]
    entry = dict(tap_records("incident_progress_trail")[0], incident_id=None)
    [(stream, flag)] = engine.apply("incident_progress_trail", entry)
    assert (stream, flag["field"], flag["reason"]) == ("flagged", "refs.ticket", "missing required value")
    [(stream, flag), *_] = engine.apply("persons", {"email": "x@y.example"})
    assert (stream, flag["field"], flag["source_key"]) == ("flagged", "source_key", "persons:None")
