"""target-intercom end to end in process: real tap output (TOPdesk sandbox) into a real Intercom sandbox."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import typing as t
from collections import Counter
from pathlib import Path

import pytest

from intercom_sandbox.app import WorkspaceSettings, create_app
from sandbox_common.server import ServerThread
from target_intercom.ledger import Ledger
from target_intercom.target import TargetIntercom
from topdesk2intercom_testing.target import map_custom_objects

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "load-test-token-4711"
STREAMS = ["persons", "branches", "incidents", "incident_progress_trail", "operators"]
#: created by the workspace admin in Intercom's UI before the migration (the preflight checks them)
OBJECT_TYPES = ("Asset", "Change", "ChangeActivity", "ChangeLogEntry", "KnownError", "ProcessDefinition", "Reservation")


@functools.lru_cache(maxsize=2)
def tap_messages(scale: int) -> tuple[dict, ...]:
    import topdesk2intercom_testing.tap as tap_kit

    url = tap_kit.shared_sandbox(scale=scale, seed=11)
    return tuple(tap_kit.sync(tap_kit.config(url), streams=STREAMS).messages)


@contextlib.contextmanager
def intercom(**settings: t.Any) -> t.Iterator[tuple[str, t.Any]]:
    app = create_app(WorkspaceSettings(token=TOKEN, **{"custom_objects": map_custom_objects(), **settings}))
    with ServerThread(app) as server:
        yield server.url, app.state.workspace


def run_target(messages: t.Iterable[dict], **config: t.Any) -> list[dict]:
    """Feed Singer messages to the target in process; returns the STATE lines it printed."""
    target = TargetIntercom(config={"access_token": TOKEN, **config})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


@pytest.fixture
def load_config(tmp_path: Path) -> t.Callable[[str], dict]:
    def make(url: str) -> dict:
        return {
            "api_url": url,
            "ledger_url": Ledger.url_for_path(tmp_path / "ledger.db"),
            "report_dir": str(tmp_path / "reports"),
            "fallback_admin_email": "fallback@sandbox.example",
        }

    return make


def records(messages: t.Iterable[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_topdesk_streams_load_in_dependency_order_and_rerun_writes_nothing(load_config, tmp_path: Path) -> None:
    # calls first (our tap sends persons before calls; another tap, or a delta of calls only, may not): tickets
    # must wait for their contacts; STATE after the records
    messages = sorted(tap_messages(60), key=lambda m: 2 if "stream" not in m else 0 if "incident" in m["stream"] else 1)
    persons, incidents = records(messages, "persons"), records(messages, "incidents")
    trail = records(messages, "incident_progress_trail")
    order = [m["stream"] for m in messages if m["type"] == "RECORD"]
    assert order.index("incidents") < order.index("persons")
    with intercom() as (url, ws):
        states = run_target(messages, **load_config(url))
        emails = {(p.get("email") or f"placeholder-{p['id']}").lower() for p in persons}
        # unregistered callers (no person, an e-mail only): Intercom creates their contact with the ticket
        guests = {
            i["caller"]["email"].lower()
            for i in incidents
            if not (i.get("caller") or {}).get("id") and (i.get("caller") or {}).get("email")
        }
        assert len(ws.contacts) == len(emails | guests)
        assert len(ws.tickets) == len(incidents)
        parts = sum(
            len([p for p in tk["parts"] if p.get("part_type") != "ticket_state_updated_by_admin"])
            for tk in ws.tickets.values()
        )
        assert parts == len(trail)
        assert states, "the target emits the tap's state once the records are written"
        first = next((tmp_path / "reports").glob("*/reconciliation.json"))
        report = json.loads(first.read_text())
        assert report["entities"]["tickets"]["created"] == len(incidents)
        assert report["totals"]["failed"] == 0

        before = (len(ws.contacts), len(ws.tickets), parts)
        run_target(messages, **load_config(url))
        after_parts = sum(
            len([p for p in tk["parts"] if p.get("part_type") != "ticket_state_updated_by_admin"])
            for tk in ws.tickets.values()
        )
        assert (len(ws.contacts), len(ws.tickets), after_parts) == before
        # the other run's report (run ids of two runs in one second do not sort by start)
        [path] = [p for p in (tmp_path / "reports").glob("*/reconciliation.json") if p != first]
        second = json.loads(path.read_text())
        assert second["totals"]["created"] == 0
        assert second["entities"]["tickets"]["unchanged"] == len(incidents)


def test_secrets_stay_out_of_state_ledger_and_reports(load_config, tmp_path: Path) -> None:
    messages = tap_messages(60)
    with intercom() as (url, _ws):
        states = run_target(messages, **load_config(url))
    assert TOKEN not in json.dumps(states)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_tickets_close_as_they_were_closed_in_topdesk(load_config) -> None:
    messages = tap_messages(60)
    closed = Counter(bool(i.get("closed")) for i in records(messages, "incidents"))
    with intercom() as (url, ws):
        run_target(messages, **load_config(url))
        assert Counter(not tk["open"] for tk in ws.tickets.values()) == closed


def test_completeness_check_reports_tickets_missing_parts(load_config, tmp_path: Path) -> None:
    messages = tap_messages(60)
    with intercom() as (url, ws):
        run_target(messages, **load_config(url))
        # parts lost in Intercom after the load (the read-back must notice, not the ledger)
        for ticket in ws.tickets.values():
            messages_parts = [p for p in ticket["parts"] if p.get("part_type") in ("comment", "note")]
            if messages_parts:
                ticket["parts"].remove(messages_parts[-1])
        run_target(messages, **load_config(url))
    second = json.loads(max((tmp_path / "reports").glob("*/reconciliation.json")).read_text())
    check = second["completeness"]
    assert check["checked"] == 25
    assert check["mismatches"] and all(m["found"] == m["expected"] - 1 for m in check["mismatches"])
    assert {i["category"] for i in second["issues"]} >= {"incomplete"}


def test_building_the_target_opens_no_ledger_and_starts_no_run(tmp_path: Path) -> None:
    """Construction reads the configuration only: the ledger, the run and the client open with the first message
    that needs them (so `plan` builds the real target without starting a run)."""
    path = tmp_path / "state" / "ledger.db"
    target = TargetIntercom(config={"access_token": TOKEN, "ledger_url": Ledger.url_for_path(path)})
    assert not path.exists()
    run_id = target.run_id  # the first record, flag or definition asks for it
    assert path.exists()
    ledger = Ledger(Ledger.url_for_path(path))
    try:
        assert [r["run_id"] for r in ledger.runs()] == [run_id]
    finally:
        ledger.close()
        target.ledger.close()
