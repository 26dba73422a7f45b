"""``topdesk2intercom verify`` after a load: counts per kind and a field sample read back from Intercom. A field
edited in Intercom, a record deleted in Intercom, a call edited and a branch added in TOPdesk after the load are each
named and fail the run; deviations the load reported are explained."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import requests

from map_topdesk_intercom.mapfile import DEFAULT_MAP
from target_intercom.ledger import Entity, Ledger
from topdesk2intercom.verify_fields import compare, same
from topdesk2intercom_testing.cli import TOPDESK_LOGIN, TOPDESK_PASSWORD, Migration

OTHER_STRATEGIES = {
    "calls": "conversations",
    "changes": "attributes",
    "reservations": "notes",
    "known_errors": "article",
}


def _written(m: Migration, kind: str) -> list:
    ledger = Ledger(f"sqlite:///{m.ledger_path}")
    try:
        return [
            e for e in ledger.created_by() if e.kind == kind and e.status == "written" and not e.extra.get("email_only")
        ]
    finally:
        ledger.close()


def _other_strategies(tmp_path: Path) -> Path:
    """The default map with every other strategy (conversations, notes, articles): verify must hold for each."""
    text = DEFAULT_MAP.read_text(encoding="utf-8")
    for strategy, value in OTHER_STRATEGIES.items():
        text, n = re.subn(rf"(\n  {strategy}: )\S+", rf"\g<1>{value}", text, count=1)
        assert n == 1, strategy
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_verify_after_a_clean_load_finds_no_difference(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        m.write_configs(target={"map_file": str(_other_strategies(tmp_path))})
        assert "no ledger at" in m.cli("verify", expect=2).output  # nothing loaded yet: said, not 0 records found
        m.migrate()
        out = m.cli("verify", "--seed", "11").output
        assert "verify: 0 unexplained difference(s)" in out, out
        assert "seed 11" in out
        report = json.loads(m.reports("verify-*/verify.json")[-1].read_text())
        assert report["unexplained"] == 0 and report["differences"] == []
        assert 25 <= report["sample_size"] <= 50
        sampled_kinds = {s["kind"] for s in report["sample"]}
        for kind in (
            "contacts",
            "companies",
            "conversations",
            "conversation_parts",
            "contact_notes",
            "custom_object_instances",
            "custom_object_links",
            "articles",
            "collections",
        ):
            row = next(r for r in report["counts"] if r["kind"] == kind)
            assert row["source"] > 0 and row["found_in_intercom"] == row["written"] > 0, row
            assert kind in sampled_kinds  # stratified: every written kind is compared
        assert all(s["fields_compared"] for s in report["sample"])
        contacts = next(r for r in report["counts"] if r["kind"] == "contacts")
        assert contacts["source"] == contacts["written"] + contacts["explained_total"]
        assert contacts["other_in_intercom"] == 0  # placeholders of unregistered callers are in the ledger too
        assert all(m.reports(f"verify-*/verify.{ext}") for ext in ("md", "html"))
        # the same seed draws the same sample; the size is clamped to 25-50
        again = m.cli("verify", "--seed", "11", "--sample-size", "5").output
        assert "sample: 25 record(s), seed 11" in again
        rerun = json.loads(m.reports("verify-*/verify.json")[-1].read_text())
        assert [s["source_key"] for s in rerun["sample"]] == [s["source_key"] for s in report["sample"]][:25]


def test_values_compare_as_intercom_stores_them() -> None:
    assert same("email", "Ann.Lee@Example.com", "ann.lee@example.com")
    assert not same("name", "Ann Lee", "ann lee")
    assert same("body", "<p>Printer &amp; scanner</p>\n<p>down</p>", "<p>Printer &amp; scanner</p><p>down</p>")
    assert same("custom_attributes.Costs", 4200.0, "4200.0") and not same("custom_attributes.Costs", 4200, 4201)
    assert same("plan", "Gold", {"type": "plan", "name": "Gold"})
    assert not same("custom_attributes.Archived", False, None)


def test_verify_names_a_field_changed_and_a_record_deleted_in_intercom(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        m.migrate()
        contact, deleted = _written(m, "contacts")[:2]
        ticket = _written(m, "tickets")[0]
        assert m.intercom("PUT", f"/contacts/{contact.intercom_id}", json={"name": "Someone Else"}).ok
        assert m.intercom(
            "PUT", f"/tickets/{ticket.intercom_id}", json={"ticket_attributes": {"Priority": "P9 - Planted"}}
        ).ok
        assert m.intercom("DELETE", f"/contacts/{deleted.intercom_id}").ok
        # a call edited in TOPdesk after the load (no delta load since): Intercom holds the older version
        edited = _written(m, "tickets")[1]
        assert m.topdesk_admin(
            "PATCH",
            f"/incidents/{edited.source_key.split(':', 1)[1]}",
            json={"briefDescription": "Edited after the load"},
        ).ok
        # a branch registered in TOPdesk after the load: expected, but nowhere in the ledger
        branch_id = _written(m, "companies")[0].source_key.split(":", 1)[1]
        branch = m.topdesk_admin("GET", f"/branches/{branch_id}").json()
        new_branch = {**branch, "id": str(uuid.uuid4()), "name": "Branch opened after the load"}
        assert m.topdesk_admin("POST", "/branches", json=new_branch).status_code == 201
        result = m.cli(
            "verify",
            "--seed",
            "3",
            "--include",
            f"contacts:{contact.source_key}",
            "--include",
            f"tickets:{ticket.source_key}",
            expect=1,
        )
        out = result.output
        report = json.loads(m.reports("verify-*/verify.json")[-1].read_text())
        # what lived on the deleted contact (its company links, asset links) is named too, as gone with it
        gone_with = [d for d in report["differences"] if d["kind"] in ("contact_companies", "custom_object_links")]
        gone = f"contacts {deleted.intercom_id}, which held it, is gone"
        assert gone_with and all(
            d["intercom_id"].startswith(f"{deleted.intercom_id}:") and gone in d["actual"] for d in gone_with
        )
        assert f"verify: {5 + len(gone_with)} unexplained difference(s)" in out, out
        assert (
            f"tickets {edited.source_key} (Intercom {edited.intercom_id}): (record): expected TOPdesk's current "
            "version, got written from an older version: changed in TOPdesk since the load" in out
        )
        assert f"contacts {contact.source_key} (Intercom {contact.intercom_id}): name: expected" in out
        assert "Someone Else" in out
        assert f"tickets {ticket.source_key}" in out and "ticket_attributes.Priority" in out and "P9 - Planted" in out
        assert f"contacts {deleted.source_key} (Intercom {deleted.intercom_id}): (record)" in out
        named = {(d["kind"], d["source_key"], d["field"]) for d in report["differences"]}
        assert named == {
            ("contacts", contact.source_key, "name"),
            ("contacts", deleted.source_key, "(record)"),
            ("tickets", ticket.source_key, "ticket_attributes.Priority"),
            ("companies", f"branch:{new_branch['id']}", "(record)"),
            ("tickets", edited.source_key, "(record)"),
            *((d["kind"], d["source_key"], "(record)") for d in gone_with),
        }
        row = next(r for r in report["counts"] if r["kind"] == "contacts")
        assert row["unexplained"] == 1 and row["found_in_intercom"] == row["written"] - 1
        row = next(r for r in report["counts"] if r["kind"] == "companies")
        assert row["unexplained"] == 1 and row["source"] == row["written"] + row["explained_total"] + 1
        assert (
            f"companies branch:{new_branch['id']} (Intercom -): (record): expected in Intercom, got not in the "
            "ledger" in out
        )
        md = m.reports("verify-*/verify.md")[-1].read_text()
        assert contact.source_key in md and "Someone Else" in md and deleted.source_key in md


def test_deviations_the_load_reported_are_explained_not_differences() -> None:
    part = Entity("ticket_parts", "call-entry:1", "77", None, "written", "r", "r", 1, {"ticket_id": "5"})
    record = {
        "source_key": "call-entry:1",
        "body": "<p>Screenshot attached</p>",
        "created_at": 1700000000,
        "message_type": "comment",
        "author_type": "user",
        "refs": {"author": "person:9"},
    }
    ticket = {
        "ticket_parts": {
            "ticket_parts": [
                {
                    "id": "77",
                    "part_type": "note",
                    "created_at": 1795000000,
                    "author": {"id": "1"},
                    "body": "<p>Screenshot attached</p><p>Not uploaded (over 10 MB): big.png</p>",
                }
            ]
        }
    }
    known = {"created_at": "timestamp_lost: Intercom did not keep the original created_at"}
    result = compare("ticket_parts", "call-entry:1", record, part, ticket, known, lambda kind, key: None)
    assert result.differences == []
    assert {e["field"] for e in result.explained} == {"created_at", "body", "part_type"}
    # the same deviation, not reported by the load, is a difference naming the record and field
    result = compare("ticket_parts", "call-entry:1", record, part, ticket, {}, lambda kind, key: None)
    assert [(d.kind, d.source_key, d.intercom_id, d.field, d.expected, d.actual) for d in result.differences] == [
        ("ticket_parts", "call-entry:1", "77", "created_at", 1700000000, 1795000000)
    ]


def test_a_list_ticket_attribute_round_trips(tmp_path: Path) -> None:
    """A map's list ticket attribute: created with its options, written as option ids (Intercom takes a list value
    as its option's id), read back and verified as the labels the map wrote."""
    with Migration.started(tmp_path, scale=15) as m:
        auth = (TOPDESK_LOGIN, TOPDESK_PASSWORD)
        labels = [
            p["name"]
            for p in requests.get(f"{m.topdesk_url}/tas/api/incidents/priorities", auth=auth, timeout=30).json()
        ]
        line = "- {name: Priority, model: ticket_type, ticket_type: TOPdesk Call, data_type: string}"
        text = DEFAULT_MAP.read_text()
        assert line in text
        variant = tmp_path / "list-priority.yaml"
        variant.write_text(
            text.replace(line, line.replace("data_type: string", f"data_type: list, options: {json.dumps(labels)}"))
        )
        m.write_configs(target={"map_file": str(variant)})
        m.migrate()
        export = m.intercom("GET", "/__sandbox/export").json()
        [attribute] = [a for a in export["ticket_type_attributes"] if a["name"] == "Priority"]
        option = {o["id"]: o["label"] for o in attribute["input_options"]["list_options"]}
        written = [tk["attributes"]["Priority"] for tk in export["tickets"] if tk["attributes"].get("Priority")]
        assert written and all(value in option for value in written)
        out = m.cli("verify", "--seed", "3").output
        assert "verify: 0 unexplained difference(s)" in out, out
