"""``topdesk2intercom provision``: the preflight on its own (creates what the map needs, lists UI-only gaps)."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from topdesk2intercom_testing.cli import Migration


def _ticket_types(m: Migration) -> list[str]:
    return sorted(tt["name"] for tt in m.intercom("GET", "/ticket_types").json()["data"])


def test_provision_creates_then_finds_everything(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        before = m.intercom("GET", "/data_attributes", params={"model": "contact"}).json()["data"]
        assert _ticket_types(m) == []
        dry = m.cli("provision", "--dry-run")
        assert "would be created" in dry.output
        assert _ticket_types(m) == [], "a dry run created something"
        assert m.intercom("GET", "/data_attributes", params={"model": "contact"}).json()["data"] == before

        first = m.cli("provision")
        types = _ticket_types(m)
        assert types, first.output
        attributes = m.intercom("GET", "/data_attributes", params={"model": "contact"}).json()["data"]
        assert len(attributes) > len(before)
        report = json.loads(m.reports("provision-*/provision.json")[-1].read_text())
        created = {(e["kind"], e["name"]) for e in report["created"]}
        assert {("ticket_type", name) for name in types} <= created
        assert any(kind == "data_attribute" for kind, _ in created)
        assert all(
            path.exists()
            for path in (m.reports("provision-*/provision.md")[-1], m.reports("provision-*/provision.html")[-1])
        )

        second = m.cli("provision")
        assert "0 created" in second.output, second.output
        again = json.loads(m.reports("provision-*/provision.json")[-1].read_text())
        assert again["created"] == [] and again["updated"] == []
        assert {(e["kind"], e["name"]) for e in again["existing"]} >= created
        assert _ticket_types(m) == types


def test_provision_without_custom_object_types_exits_1_naming_them(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15, intercom={"custom_objects": ()}) as m:
        result = m.cli("provision", expect=1)
        report = json.loads(m.reports("provision-*/provision.json")[-1].read_text())
        missing = report["missing_custom_object_types"]
        assert missing
        for name in missing:
            assert name in result.output
        m.cli("provision", "--skip-missing-ui-objects")
        # the admin creates exactly what the report lists, in Intercom's UI (here: the sandbox's admin API)...
        to_create = report["ui_objects_to_create"]
        assert {d["name"] for d in to_create} == set(missing)
        requests.post(f"{m.intercom_url}/__sandbox/custom_object_types", json=to_create, timeout=30).raise_for_status()
        # ...and nothing blocks any more
        m.cli("provision")
