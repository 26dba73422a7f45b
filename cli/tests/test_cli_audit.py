"""`topdesk2intercom audit` reads the sandbox through the tap: its counts are the sandbox's, a hidden module is
reported as such, the gap inventory comes from the map, and map propose's inputs are saved."""

from __future__ import annotations

import json
from pathlib import Path

from map_topdesk_intercom.propose import filled_optional_fields
from topdesk2intercom_testing.cli import Migration

#: tap stream -> the sandbox's resource name in /__sandbox/health counts
SANDBOX_RESOURCES = {
    "incidents": "incidents",
    "persons": "persons",
    "branches": "branches",
    "changes": "changes",
    "knowledge_items": "knowledge_items",
    "operators": "operators",
    "operational_activities": "operational_activities",
    "reservations": "reservations",
}


def test_audit_counts_hidden_module_gaps_and_files(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=20, topdesk={"hidden_modules": frozenset({"assets"})}) as m:
        health = m.topdesk_admin("GET", "/health").json()["counts"]
        output = m.cli("audit").output
        [report] = m.reports("audit-*/audit.json")
    data = json.loads(report.read_text())
    folder = report.parent
    for ext in ("md", "html"):
        assert (folder / f"audit.{ext}").stat().st_size > 1000
    assert str(report) in output and "WARNING: hidden from this operator: assets" in output

    streams = data["streams"]
    for stream, resource in SANDBOX_RESOURCES.items():
        assert streams[stream]["records"] == health[resource], stream
        entry = streams[stream]
        assert entry["active"] + entry["archived"] + entry["no_archive_marker"] == entry["records"]
    assert streams["incidents"]["archived"] > 0 and streams["persons"]["archived"] > 0
    assert not any(s.startswith("assets_") for s in streams)  # hidden: the tap saw no asset type

    assert data["modules"]["assets"]["status"] in ("probably hidden", "forbidden")
    assert data["modules"]["incidents"]["status"] == "data"
    assert data["deployment"]["saas"] is False and data["deployment"]["api_version"]
    assert any(g["stream"] == "module assets" for g in data["gaps"])

    gaps = {g["stream"]: g for g in data["gaps"]}
    assert "handoff inventory" in gaps["asset_templates"]["treatment"]  # from the map: inventory_items only
    assert gaps["locations"]["treatment"].startswith("not migrated")  # the default map has no entry for it
    assert "events_actions" in gaps  # no exports_dir: not extracted
    assert "incidents" not in gaps and "knowledge_items" not in gaps

    est = data["estimate"]
    assert est["writes"]["tickets"] == health["incidents"] and est["calls"]["tickets"] == 2 * health["incidents"]
    assert est["total_calls"] == sum(est["calls"].values()) > 0
    assert data["complexity"]["level"] == "high"  # a hidden module

    catalog = json.loads((folder / "catalog.json").read_text())
    assert {"incidents", "persons"} <= {s["tap_stream_id"] for s in catalog["streams"]}
    sample = (folder / "sample.jsonl").read_text().splitlines()
    filled = filled_optional_fields(sample)  # what map propose reads from it
    used = {path for path, f in streams["persons"]["optional_fields"].items() if f["filled"]}
    assert filled.get("persons", set()) == used
