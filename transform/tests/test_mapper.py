"""The Singer mapper over real tap output: accounting per stream, SCHEMA before records, STATE passthrough."""

from __future__ import annotations

import copy
import logging
import typing as t
from collections import Counter

import pytest

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import load_map
from map_topdesk_intercom.rules import get_path, inline_images, is_empty
from topdesk2intercom_testing.transform import (
    OTHER_STRATEGIES,
    UNMAPPED_STREAMS,
    map_with_strategies,
    run_mapper,
    tap_messages,
    tap_records,
)

DEFINITIONS = {"attribute_definitions", "ticket_types", "custom_object_types"}


def has(record: dict, path: str) -> bool:
    return not is_empty(get_path(record, path))


def expected_outputs(records: dict[str, list[dict]], strategies: dict[str, str]) -> dict[str, Counter]:
    """What the default map documents (MAPS.md, "What the default map covers"), counted straight from the tap's
    records: input stream -> Counter((output stream, source-key prefix) -> records)."""
    calls = strategies["calls"]
    parts = "ticket_parts" if calls == "tickets" else "conversation_parts"
    objects = {
        name: strategies[name] == "custom_object" for name in ("changes", "known_errors", "assets", "reservations")
    }

    def n(stream: str, predicate: t.Callable[[dict], bool] = lambda r: True) -> int:
        return sum(1 for r in records.get(stream, []) if predicate(r))

    assets = [r for stream, rs in records.items() if stream.startswith("assets_") for r in rs]
    assigned = sum(
        1
        for r in assets
        for a in (r.get("@assignments") or {}).get("persons") or []
        if (a.get("person") or {}).get("id")
    )
    linked_calls = sum(len(r.get("linked_calls") or []) for r in records.get("problems", []))
    known_error_calls = sum(len(r.get("linked_calls") or []) for r in records.get("problems", []) if r["known_error"])
    reserved_assets = sum(
        1
        for r in records.get("reservations", [])
        for f in r.get("reservedFacilities") or []
        if (f.get("asset") or {}).get("id")
    )
    table: dict[str, dict[tuple[str, str], int]] = {
        "persons": {
            ("contacts", "person"): n("persons"),
            ("contact_companies", "person-branch"): n("persons", lambda r: has(r, "branch.id")),
        },
        "branches": {("companies", "branch"): n("branches")},
        "operators": {
            ("admins", "operator"): n("operators"),
            ("inventory_items", "operator-permissions"): n("operators"),
        },
        "operator_groups": {("teams", "operator-group"): n("operator_groups")},
        "operator_group_members": {("team_memberships", "operator-group-member"): n("operator_group_members")},
        "incidents": {
            (calls, "call"): n("incidents"),
            ("custom_object_links", "call-asset"): n("incidents", lambda r: has(r, "asset.id")) * objects["assets"],
        },
        "incident_progress_trail": {(parts, "call-entry"): n("incident_progress_trail")},
        "incident_emails": {(parts, "call-email"): n("incident_emails")},
        "incident_attachments": {(parts, "call-attachment"): n("incident_attachments")},
        "changes": {
            ("custom_object_instances", "change"): n("changes"),
            ("custom_object_links", "change-requester"): n("changes", lambda r: has(r, "requester.id")),
        }
        if objects["changes"]
        else {(calls, "change"): n("changes")},
        "change_activities": {
            ("custom_object_instances", "change-activity"): n("change_activities"),
            ("custom_object_links", "change-activity-change"): n("change_activities"),
        }
        if objects["changes"]
        else {(parts, "change-activity"): n("change_activities")},
        "change_progress_trail": {
            ("custom_object_instances", "change-entry"): n("change_progress_trail"),
            ("custom_object_links", "change-entry-change"): n("change_progress_trail"),
        }
        if objects["changes"]
        else {(parts, "change-entry"): n("change_progress_trail")},
        "known_errors": {
            ("custom_object_instances", "known-error"): n("known_errors"),
            ("custom_object_links", "known-error-problem"): n("known_errors", lambda r: has(r, "problem")),
        }
        if objects["known_errors"]
        else {("articles", "known-error"): n("known_errors")},
        "problems": {
            ("custom_object_instances", "problem"): n("problems"),
            ("custom_object_links", "problem-call"): linked_calls,
            ("custom_object_links", "known-error-call"): known_error_calls,
        }
        if objects["known_errors"]
        else {("inventory_items", "problem"): n("problems")},
        "assets_*": {
            ("custom_object_instances", "asset"): len(assets),
            ("custom_object_links", "asset-person"): assigned,
        }
        if objects["assets"]
        else {("companies", "asset"): len(assets), ("contact_companies", "asset-person"): assigned},
        "asset_links": {
            ("custom_object_links" if objects["assets"] else "inventory_items", "asset-link"): n("asset_links")
        },
        "asset_templates": {("inventory_items", "asset-template"): n("asset_templates")},
        "reservations": {
            ("custom_object_instances", "reservation"): n("reservations"),
            ("custom_object_links", "reservation-requester"): n("reservations", lambda r: has(r, "requester.id")),
            ("custom_object_links", "reservation-asset"): reserved_assets * objects["assets"],
        }
        if objects["reservations"]
        else {("contact_notes", "reservation"): n("reservations")},
        "operational_series": {
            ("custom_object_instances", "operational-series"): n("operational_series"),
            ("inventory_items", "operational-series"): n("operational_series"),
        },
        "operational_activities": {
            ("custom_object_instances", "operational-activity"): n("operational_activities"),
            ("custom_object_links", "operational-activity-series"): n(
                "operational_activities", lambda r: has(r, "series.id")
            ),
        },
        "knowledge_folders": {("collections", "knowledge-folder"): n("knowledge_folders")},
        "knowledge_items": {("articles", "knowledge-item"): n("knowledge_items")},
        "events_actions": {("inventory_items", "event-action"): n("events_actions")},
        "activity_templates": {("inventory_items", "activity-template"): n("activity_templates")},
    }
    return {stream: Counter({k: v for k, v in outputs.items() if v}) for stream, outputs in table.items()}


def with_bad_records(scale: int) -> list[dict]:
    """The tap's messages plus three records that cannot be mapped, placed inside their streams."""
    messages = [copy.deepcopy(m) for m in tap_messages(scale)]
    incident = dict(tap_records("incidents", scale)[1], id="bad-date", callDate="not a date")
    entry = dict(tap_records("incident_progress_trail", scale)[0], id="orphan", incident_id=None)
    branch = dict(tap_records("branches", scale)[0], id="nameless", name="")
    for stream, record in (("incidents", incident), ("incident_progress_trail", entry), ("branches", branch)):
        index = max(i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == stream)
        messages.insert(index + 1, {"type": "RECORD", "stream": stream, "record": record})
    return messages


def prefix(source_key: str) -> str:
    return source_key.split(":", 1)[0]


@pytest.mark.parametrize(
    ("scale", "strategies"),
    [(300, {}), (1000, {}), (300, OTHER_STRATEGIES)],
    ids=["300-default", "1000-default", "300-other-strategies"],
)
def test_every_input_record_yields_its_outputs_or_a_flag(scale, strategies, tmp_path):
    map_file = map_with_strategies(tmp_path, **strategies) if strategies else None
    spec = load_map(map_file)
    messages = with_bad_records(scale)
    out = run_mapper(messages, **({"map_file": str(map_file)} if map_file else {}))
    records: dict[str, list[dict]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    expected = expected_outputs(records, spec.strategies)
    # every input stream is documented: mapped (by name or by the assets_* pattern) or deliberately left alone
    for stream in records:
        assert stream in UNMAPPED_STREAMS or stream in expected or spec.map_key(stream) in expected, stream
    produced, errors, warnings = Counter(), Counter(), Counter()
    for message in out:
        if message["type"] != "RECORD" or message["stream"] in DEFINITIONS:
            continue
        record = message["record"]
        if message["stream"] != "flagged":
            produced[message["stream"], prefix(record["source_key"])] += 1
        elif record["severity"] == "error":
            errors[record["output"], prefix(record["source_key"])] += 1
        else:
            warnings[record["source_stream"], record["output"]] += 1
    total = sum(expected.values(), Counter())
    assert produced + errors == total  # one documented output per input (or element), or an error flag
    calls = spec.strategies["calls"]
    parts = "ticket_parts" if calls == "tickets" else "conversation_parts"
    assert errors == {(calls, "call"): 1, (parts, "call-entry"): 1, ("companies", "branch"): 1}
    assert len(records["incidents"]) == scale + 1
    no_email = sum(1 for p in records["persons"] if not p.get("email"))
    not_downloaded = sum(1 for a in records["incident_attachments"] if not a.get("content_base64"))
    pasted = sum(1 for e in records["incident_progress_trail"] if inline_images(e.get("memoText")))
    assert no_email and not_downloaded and pasted
    # persons without e-mail: contact with a placeholder; attachments over the limit: a note naming the file;
    # images pasted into a memo (data: URLs): a note in the text and a warning naming the record
    assert warnings == {
        ("persons", "contacts"): no_email,
        ("incident_attachments", parts): not_downloaded,
        ("incident_progress_trail", parts): pasted,
    }
    assert not any(stream in UNMAPPED_STREAMS for stream, _prefix in produced)
    definitions = Counter(m["stream"] for m in out if m["type"] == "RECORD" and m["stream"] in DEFINITIONS)
    assert definitions["attribute_definitions"] == len(spec.active(spec.attributes))
    assert definitions["ticket_types"] == len(spec.active(spec.ticket_types))
    assert definitions["custom_object_types"] == len(spec.active(spec.custom_object_types))


def test_schema_precedes_the_first_record_of_every_output_stream():
    out = run_mapper(tap_messages())
    seen: set[str] = set()
    for message in out:
        if message["type"] == "SCHEMA":
            assert message["stream"] not in seen, "one SCHEMA per output stream"
            assert message["key_properties"] == ["source_key"]
            seen.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in seen, f"RECORD of {message['stream']} before its SCHEMA"
    assert seen == {
        "contacts",
        "contact_companies",
        "companies",
        "admins",
        "teams",
        "team_memberships",
        "tickets",
        "ticket_parts",
        "custom_object_instances",
        "custom_object_links",
        "articles",
        "collections",
        "inventory_items",
        "flagged",
        *DEFINITIONS,
    }
    # definitions come before any mapped record, so the target can provision first
    first_mapped = next(i for i, m in enumerate(out) if m["type"] == "RECORD" and m["stream"] not in DEFINITIONS)
    assert all(m["stream"] in DEFINITIONS for m in out[:first_mapped] if m["type"] == "RECORD")


def test_state_passes_through_unchanged_and_in_order():
    messages = list(tap_messages())
    out = run_mapper(messages)
    engine = Engine(load_map())
    expected, produced = [], 0
    for message in messages:
        if message["type"] == "RECORD":
            produced += len(engine.apply(message["stream"], message["record"]))
        elif message["type"] == "STATE":
            expected.append((produced, message["value"]))
    actual, produced = [], 0
    for message in out:
        if message["type"] == "RECORD" and message["stream"] not in DEFINITIONS:
            produced += 1
        elif message["type"] == "STATE":
            actual.append((produced, message["value"]))
    assert actual == expected  # same values, each after exactly the records that preceded it upstream
    assert actual[-1][1]["bookmarks"].keys() >= {"incidents", "persons"}  # tap stream names, not renamed


def test_unmapped_streams_are_logged_once(caplog):
    messages = [m for m in tap_messages() if m.get("stream") in ("suppliers", None)]
    with caplog.at_level(logging.INFO):
        out = run_mapper(messages)
    assert [m["type"] for m in out] == ["STATE"] * sum(1 for m in messages if m["type"] == "STATE")
    lines = [r.getMessage() for r in caplog.records if "'suppliers' is not mapped" in r.getMessage()]
    assert len(lines) == 1


def test_time_extracted_survives(tmp_path):
    record = dict(tap_records("branches")[0])
    messages = [
        {"type": "SCHEMA", "stream": "branches", "schema": {"type": "object"}, "key_properties": ["id"]},
        {
            "type": "RECORD",
            "stream": "branches",
            "record": record,
            "time_extracted": "2026-01-02T03:04:05.000000+00:00",
        },
    ]
    out = run_mapper(messages)
    [company] = [m for m in out if m["type"] == "RECORD" and m["stream"] == "companies"]
    assert company["time_extracted"].startswith("2026-01-02T03:04:05")
