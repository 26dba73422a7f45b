"""The whole default map with every strategy set to its other value (calls: conversations, changes: attributes,
known_errors: article, assets: companies, reservations: notes), from real tap output through the target in
process into the Intercom sandbox; then a re-run that writes nothing."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import typing as t
from collections import Counter
from pathlib import Path

import pytest

from intercom_sandbox.app import WorkspaceSettings, create_app
from map_topdesk_intercom.mapfile import DEFAULT_MAP
from sandbox_common.server import ServerThread
from target_intercom.ledger import Ledger
from target_intercom.rollback import rollback_from_config
from target_intercom.target import TargetIntercom

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "writers-e2e-token"
SCALE = 30
STRATEGIES = {
    "calls": "conversations",
    "changes": "attributes",
    "known_errors": "article",
    "assets": "companies",
    "reservations": "notes",
}


@functools.lru_cache(maxsize=1)
def tap_messages() -> tuple[dict, ...]:
    import topdesk2intercom_testing.tap as tap_kit
    from topdesk_sandbox.generator import build_dataset

    url = tap_kit.shared_sandbox(scale=SCALE, seed=7)
    exports = Path(__import__("tempfile").mkdtemp(prefix="writers-e2e-exports-"))
    for name, text in build_dataset(scale=SCALE, seed=7).exports.items():
        with (exports / name).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    config = tap_kit.config(url, exports_dir=str(exports), download_attachments=True)
    return tuple(tap_kit.sync(config).messages)


def records(stream: str) -> list[dict]:
    if stream.endswith("*"):
        return [m["record"] for m in tap_messages() if m["type"] == "RECORD" and m["stream"].startswith(stream[:-1])]
    return [m["record"] for m in tap_messages() if m["type"] == "RECORD" and m["stream"] == stream]


def map_variant(folder: Path) -> Path:
    text = DEFAULT_MAP.read_text()
    for name, value in STRATEGIES.items():
        text, count = re.subn(rf"^  {name}: \S+", f"  {name}: {value}", text, count=1, flags=re.MULTILINE)
        assert count == 1, name
    path = folder / "other-strategies.yaml"
    path.write_text(text)
    return path


def run_target(config: dict) -> None:
    target = TargetIntercom(config={"access_token": TOKEN, **config})
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in tap_messages())))


@pytest.fixture
def sandbox(tmp_path: Path) -> t.Iterator[t.Any]:
    # the admin created a team per operator group (teams are UI-only); with these strategies only
    # ProcessDefinition (operations management) remains a custom object type
    teams = [
        {"id": str(100 + n), "name": g["groupName"], "admin_ids": []} for n, g in enumerate(records("operator_groups"))
    ]
    (tmp_path / "teams.json").write_text(json.dumps(teams))
    app = create_app(
        WorkspaceSettings(
            token=TOKEN, custom_object_types=("ProcessDefinition",), teams_file=str(tmp_path / "teams.json")
        )
    )
    with ServerThread(app) as server:
        yield server.url, app.state.workspace


def test_other_strategies_load_everything_once(sandbox, tmp_path: Path) -> None:
    url, ws = sandbox
    config = {
        "api_url": url,
        "ledger_url": Ledger.url_for_path(tmp_path / "ledger.db"),
        "report_dir": str(tmp_path / "reports"),
        "fallback_admin_email": "fallback@sandbox.example",
        "map_file": str(map_variant(tmp_path)),
        "skip_missing_ui_objects": True,
    }
    run_target(config)
    report = json.loads(next((tmp_path / "reports").glob("*/reconciliation.json")).read_text())
    assert report["totals"]["failed"] == 0, report["manual_review"][:3]
    assert not [i for i in report["issues"] if i["category"] in ("not_loaded", "orphan")]
    entities = report["entities"]

    incidents, changes = records("incidents"), records("changes")
    assert len(ws.conversations) == len(incidents) + len(changes)
    assert len(ws.tickets) == 0
    conversations = {
        c["custom_attributes"].get("Call number") or c["custom_attributes"].get("Change number"): c
        for c in ws.conversations.values()
    }
    closed = [i for i in incidents if i.get("closed")]
    assert sum(conversations[i["number"]]["state"] == "closed" for i in incidents) == len(closed)
    sample = incidents[0]
    assert conversations[sample["number"]]["title"].startswith(sample["number"])
    # every trail entry, e-mail, attachment and change activity/entry is a part, in chronological order
    parts = [p for c in ws.conversations.values() for p in c["parts"] if p["part_type"] in ("comment", "note")]
    expected = sum(
        len(records(s))
        for s in (
            "incident_progress_trail",
            "incident_emails",
            "incident_attachments",
            "change_activities",
            "change_progress_trail",
        )
    )
    assert len(parts) == expected - entities.get("conversation_parts", {}).get("flagged", 0)
    for conversation in ws.conversations.values():
        dated = [p["created_at"] for p in conversation["parts"] if p["part_type"] in ("comment", "note")]
        assert dated == sorted(dated)
    assert any(p.get("attachments") for p in parts)

    # assets: companies (one per asset, beside the branches); known errors and knowledge items: articles
    assets = records("assets_*")
    assert len(ws.companies) == len(records("branches")) + len(assets)
    assert len(ws.collections) == len(records("knowledge_folders"))
    assert len(ws.articles) == len(records("knowledge_items")) + len(records("known_errors"))
    assert all(str(a["author_id"]) in ws.admins for a in ws.articles.values())
    # reservations: notes on the requester
    assert len(ws.notes) == len([r for r in records("reservations") if (r.get("requester") or {}).get("id")])
    # operations management stays a custom object (series and activities), activities linked to their series
    process = ws.custom_objects["ProcessDefinition"]
    assert len(process) == len(records("operational_series")) + len(records("operational_activities"))
    linked = [i for i in process.values() if i["custom_attributes"].get("Series")]
    assert len(linked) == len([a for a in records("operational_activities") if (a.get("series") or {}).get("id")])
    # what has no Intercom home is listed, not sent
    assert entities["inventory_items"]["received"] > 0
    assert len(report["rebuild_inventory"]) == entities["inventory_items"]["listed"]
    assert "timestamp_lost" in {i["category"] for i in report["issues"]}

    before = Counter(
        {
            name: len(getattr(ws, name))
            for name in ("contacts", "companies", "conversations", "notes", "articles", "collections")
        }
    )
    parts_before = len(parts)
    run_target(config)
    reports = sorted((tmp_path / "reports").glob("*/reconciliation.json"), key=lambda p: p.stat().st_mtime)
    second = json.loads(reports[-1].read_text())
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0, second["entities"]
    assert second["totals"]["failed"] == 0
    after = Counter({name: len(getattr(ws, name)) for name in before})
    assert after == before
    assert (
        len([p for c in ws.conversations.values() for p in c["parts"] if p["part_type"] in ("comment", "note")])
        == parts_before
    )


def test_rollback_removes_what_the_other_strategies_created(sandbox, tmp_path: Path) -> None:
    url, ws = sandbox
    ledger_url = Ledger.url_for_path(tmp_path / "ledger.db")
    config = {
        "api_url": url,
        "ledger_url": ledger_url,
        "report_dir": str(tmp_path / "reports"),
        "fallback_admin_email": "fallback@sandbox.example",
        "map_file": str(map_variant(tmp_path)),
        "skip_missing_ui_objects": True,
    }
    run_target(config)
    assert ws.conversations and ws.articles and ws.collections and ws.notes
    ledger = Ledger(ledger_url)
    try:
        summary = rollback_from_config(
            {"access_token": TOKEN, **config}, ledger, run_id=None, dry_run=False, progress=False
        )
    finally:
        ledger.close()
    assert summary["status"] == "completed" and not summary["failed"] and not summary["manual"], summary["totals"]
    for name in ("contacts", "companies", "conversations", "notes", "articles", "collections"):
        assert len(getattr(ws, name)) == 0, name
    assert all(not instances for instances in ws.custom_objects.values())
