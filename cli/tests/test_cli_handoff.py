"""`topdesk2intercom handoff` after a migration: every migrated article in the article map with its Intercom id and
URL, the events/actions in the automation inventory, every custom object type of the map in the schema document."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from map_topdesk_intercom.mapfile import load_map
from tap_topdesk.streams.exports import EventsActionsStream
from target_intercom.ledger import Ledger
from topdesk2intercom_testing.cli import Migration
from topdesk_sandbox.generator import build_dataset

SCALE, SEED = 15, 3


def write_exports(directory: Path) -> Path:
    """The sandbox dataset's UI CSV exports (events/actions, activity templates, ...) as TOPdesk writes them."""
    directory.mkdir()
    for name, text in build_dataset(scale=SCALE, seed=SEED).exports.items():
        (directory / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return directory


def test_handoff_documents_after_migration(tmp_path: Path) -> None:
    exports = write_exports(tmp_path / "exports")
    with Migration.started(tmp_path, scale=SCALE, seed=SEED) as m:
        m.write_configs(tap={"exports_dir": str(exports)})
        m.migrate()
        output = m.cli("handoff").output
        ledger = Ledger(f"sqlite:///{m.ledger_path}")
        paged = [e.source_key for e in ledger.entities("articles", batch=5)]  # pages of 5 cover them all, once
        assert paged == [e.source_key for e in ledger.entities("articles")]
        assert len(set(paged)) == ledger.counts()["articles"]["written"]
        ledger.close()
        [report] = m.reports("handoff-*/handoff.json")
        online = {str(a["id"]): a for a in m.intercom("GET", "/articles", params={"per_page": 150}).json()["data"]}
        collections = {
            str(c["id"]): c["name"]
            for c in m.intercom("GET", "/help_center/collections", params={"per_page": 150}).json()["data"]
        }
    data = json.loads(report.read_text())
    assert str(report) in output and report.with_suffix(".html").is_file() and report.with_suffix(".md").is_file()

    articles = data["articles"]
    assert len(articles) == len(online) > 0  # every migrated article, nothing else
    for row in articles:
        assert row["intercom_id"] in online, row
        assert row["url"] == online[row["intercom_id"]]["url"]
        assert row["topdesk_number"] and row["topdesk_id"]  # numbers read again through the tap
        parents = online[row["intercom_id"]].get("parent_ids") or []
        assert row["collection"] == (collections[str(parents[0])] if parents else None)
    assert any(row["collection"] for row in articles)

    inventory = data["automation_inventory"]
    events = [i for i in inventory if i["kind"] == "event_action"]
    assert all(i["listed_by_migration"] for i in events)
    with (exports / EventsActionsStream.export_file).open(encoding="utf-8-sig", newline="") as handle:
        assert len(events) == len(list(csv.DictReader(handle, delimiter=";"))) > 0
    assert {i["kind"] for i in inventory} >= {"event_action", "activity_template", "permission_level"}

    schema = {s["name"]: s for s in data["custom_object_types"]}
    assert set(schema) == {c.name for c in load_map(catalog=False).custom_object_types}
    assert all(s["in_intercom"] and s["attributes"] for s in schema.values())
    assert schema["Asset"]["topdesk_streams"] == ["assets_*"] and schema["Asset"]["instances"] > 0
    md = report.with_suffix(".md").read_text()
    published = next(a["url"] for a in online.values() if a["url"])
    assert "Knowledge-base article map" in md and published in md
