"""`topdesk2intercom map`: propose gathers its inputs (catalog, sample, Intercom attributes) itself, from the latest
audit or a fresh small extraction, and the proposal goes through validate and confirm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from map_topdesk_intercom.mapfile import catalog_from_file, load_map
from topdesk2intercom_testing.cli import Migration


def test_propose_validate_confirm_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Migration.started(tmp_path, scale=20) as m:
        # a conflicting attribute in the workspace: propose must have asked Intercom for its attributes
        created = m.intercom(
            "POST", "/data_attributes", json={"name": "topdesk_job_title", "model": "contact", "data_type": "integer"}
        )
        assert created.status_code == 200, created.text
        conversation = m.intercom(
            "POST", "/conversations/attributes", json={"name": "Escalation reason", "data_type": "string"}
        )
        assert conversation.status_code == 200, conversation.text
        proposed = m.cli("map", "propose").output
        out = tmp_path / "topdesk-intercom.map.yml"
        assert out.is_file() and "map_file" in proposed and "map confirm" in proposed
        [work] = m.reports("map-propose-*/intercom-attributes.json")
        assert "topdesk_job_title" in work.read_text()
        # 2.16 lists conversation attributes apart (GET /data_attributes?model=conversation is 422 there)
        assert {"name": "Escalation reason", "model": "conversation"}.items() <= next(
            a for a in json.loads(work.read_text())["data"] if a["name"] == "Escalation reason"
        ).items()
        assert "CONFLICT: the map's contact attribute 'topdesk_job_title'" in out.read_text()
        catalog = work.parent / "catalog.json"
        sample = (work.parent / "sample.jsonl").read_text()
        assert '"RECORD"' in sample and '"stream": "persons"' in sample
        doc = yaml.safe_load(out.read_text())
        assert doc["confirmed"] is False
        # the sample's freely definable asset types became custom object types of the proposal
        default_types = {c.name for c in load_map(catalog=False).custom_object_types}
        assert {c["name"] for c in doc["custom_object_types"]} - default_types

        # the map names its own catalog (copied beside it): validate, confirm and the load need no --catalog, and
        # the tenant's freely definable asset streams, unknown to the tap's packaged schemas, are checked against it
        assert doc["catalog"] == "topdesk-intercom.map.catalog.json"
        assert catalog_from_file(str(catalog)) == catalog_from_file(str(tmp_path / doc["catalog"]))
        validated = m.cli("map", "validate", str(out)).output
        assert "OK:" in validated and "not confirmed" in validated
        m.cli("map", "confirm", str(out))
        assert load_map(out).confirmed
        (tmp_path / doc["catalog"]).unlink()
        assert "cannot read the catalog" in m.cli("map", "validate", str(out), expect=1).output

        # with an audit, propose takes its catalog and sample (no new extraction)
        m.cli("audit")
        [audit_catalog] = m.reports("audit-*/catalog.json")
        again = m.cli("map", "propose", "--out", str(tmp_path / "second.yml")).output
        assert f"Using the audit in {audit_catalog.parent}" in again
        assert len(m.reports("map-propose-*/sample.jsonl")) == 1
        m.cli("map", "validate", str(tmp_path / "second.yml"))

    # the audit's freely definable asset types (with their fields) are the ones the proposal declares
    asset_types = json.loads((audit_catalog.parent / "audit.json").read_text())["asset_types"]
    free = {name for name, a in asset_types.items() if a["freely_definable"]}
    assert free and all(asset_types[name]["fields"] and asset_types[name]["records"] for name in free)
    second = (tmp_path / "second.yml").read_text()
    assert all(f"\n  {name}:\n" in second for name in free)
