"""The Singer mapper over real tap output: accounting per stream, SCHEMA before records, STATE passthrough."""

from __future__ import annotations

import copy
import logging
from collections import Counter

import pytest
from transform_testkit import run_mapper, tap_messages, tap_records

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import load_map

DEFINITIONS = {"attribute_definitions", "ticket_types"}


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


@pytest.mark.parametrize("scale", [300, 1000])
def test_every_input_record_yields_its_outputs_or_a_flag(scale):
    messages = with_bad_records(scale)
    out = run_mapper(messages)
    inputs = Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    records = [m for m in out if m["type"] == "RECORD"]
    produced = Counter(m["stream"] for m in records)
    errors = Counter((m["record"]["source_stream"], m["record"]["output"]) for m in records
                     if m["stream"] == "flagged" and m["record"]["severity"] == "error")
    warnings = [m["record"] for m in records if m["stream"] == "flagged" and m["record"]["severity"] == "warning"]
    with_branch = sum(1 for p in tap_records("persons", scale) if (p.get("branch") or {}).get("id"))
    # one documented output per input record (contact_companies: persons with a branch), or an error flag
    assert produced["contacts"] + errors["persons", "contacts"] == inputs["persons"]
    assert produced["contact_companies"] + errors["persons", "contact_companies"] == with_branch
    assert produced["companies"] + errors["branches", "companies"] == inputs["branches"]
    assert produced["tickets"] + errors["incidents", "tickets"] == inputs["incidents"]
    assert produced["ticket_parts"] + errors["incident_progress_trail", "ticket_parts"] == inputs[
        "incident_progress_trail"]
    assert errors == {("incidents", "tickets"): 1, ("incident_progress_trail", "ticket_parts"): 1,
                      ("branches", "companies"): 1}
    assert inputs["incidents"] == scale + 1
    no_email = sum(1 for p in tap_records("persons", scale) if not p.get("email"))
    assert no_email and len(warnings) == no_email  # persons without e-mail: contact with a placeholder, flagged
    assert "operators" not in produced  # unmapped stream: ignored
    spec = load_map()
    assert produced["attribute_definitions"] == len(spec.attributes)
    assert produced["ticket_types"] == len(spec.ticket_types)


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
    assert seen == {"contacts", "contact_companies", "companies", "tickets", "ticket_parts", "flagged",
                    *DEFINITIONS}
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
    messages = [m for m in tap_messages() if m.get("stream") in ("operators", None)]
    with caplog.at_level(logging.INFO):
        out = run_mapper(messages)
    assert [m["type"] for m in out] == ["STATE"] * sum(1 for m in messages if m["type"] == "STATE")
    lines = [r.getMessage() for r in caplog.records if "'operators' is not mapped" in r.getMessage()]
    assert len(lines) == 1


def test_time_extracted_survives(tmp_path):
    record = dict(tap_records("branches")[0])
    messages = [{"type": "SCHEMA", "stream": "branches", "schema": {"type": "object"}, "key_properties": ["id"]},
                {"type": "RECORD", "stream": "branches", "record": record,
                 "time_extracted": "2026-01-02T03:04:05.000000+00:00"}]
    out = run_mapper(messages)
    [company] = [m for m in out if m["type"] == "RECORD" and m["stream"] == "companies"]
    assert company["time_extracted"].startswith("2026-01-02T03:04:05")
