"""``topdesk2intercom plan``: create / update / unchanged per kind against the ledger, writing nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import requests

from topdesk2intercom.plugins import tap_messages
from topdesk2intercom_testing.cli import INTERCOM_TOKEN, TOPDESK_LOGIN, TOPDESK_PASSWORD, Migration


def _plan(m: Migration) -> dict:
    m.cli("plan")
    return json.loads(m.reports("plan-*/plan.json")[-1].read_text())


def _ledger_bytes(m: Migration) -> str:
    return hashlib.sha256(m.ledger_path.read_bytes()).hexdigest()


def test_the_plan_counts_the_budget_of_every_token(tmp_path: Path) -> None:
    """1 app: its own 10,000/min (1,666 per window); 3 apps: the workspace's 25,000/min, shared (3 x 1,388)."""
    others = ["plan-second-app-token", "plan-third-app-token"]
    with Migration.started(tmp_path, scale=3, intercom={"extra_tokens": tuple(others)}) as m:
        assert _plan(m)["rate_limit_per_minute"] == 1_666 * 6
        m.write_configs(target={"access_tokens": [INTERCOM_TOKEN, *others]})
        assert _plan(m)["rate_limit_per_minute"] == 3 * 1_388 * 6


def test_plan_follows_the_ledger_and_writes_nothing(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        stats = m.intercom("GET", "/__sandbox/stats").json()["objects"]
        before = _plan(m)
        assert not m.ledger_path.exists(), "plan created the ledger"
        assert m.intercom("GET", "/__sandbox/stats").json()["objects"] == stats, "plan wrote to Intercom"
        totals = before["totals"]
        assert totals["create"] > 0 and totals["update"] == 0 and totals["unchanged"] == 0
        tickets = before["kinds"]["tickets"]
        assert tickets["create"] > 0 and tickets["requests"] == 2 * tickets["create"]
        assert before["rate_limit_per_minute"] > 0 and before["minutes"] > 0
        # one answer cannot show the window's length: the plan says it assumed Intercom's documented 10 s
        assert before["rate_limit"]["window_s"] == 10 and before["rate_limit"]["window_assumed"]
        assert "10-s windows assumed" in before["rate_limit_note"]
        assert "to create" in before["summary"]

        m.migrate()
        loaded = m.intercom("GET", "/__sandbox/stats").json()["objects"]
        ledger = _ledger_bytes(m)
        after = _plan(m)
        assert after["totals"]["create"] == 0 and after["totals"]["update"] == 0, after["kinds"]
        done = after["totals"]
        assert (
            done["unchanged"] + done["skipped_before"] + done["waiting"] + done["match_or_list"]
            == totals["create"] + totals["match_or_list"]
        )
        assert done["unchanged"] > 0.9 * totals["create"]
        assert after["totals"]["requests"] == 0
        assert m.intercom("GET", "/__sandbox/stats").json()["objects"] == loaded
        assert _ledger_bytes(m) == ledger, "plan changed the ledger"

        state = [
            msg["value"] for msg in tap_messages(json.loads(m.tap_config_path.read_text())) if msg["type"] == "STATE"
        ][-1]
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps({"singer_state": state}))  # as `meltano state get` prints it

        call = requests.get(
            f"{m.topdesk_url}/tas/api/incidents",
            params={"pageSize": 1},
            auth=(TOPDESK_LOGIN, TOPDESK_PASSWORD),
            timeout=30,
        ).json()[0]
        m.topdesk_admin("PATCH", f"/incidents/{call['id']}", json={"briefDescription": "changed for the plan"})
        changed = _plan(m)
        updates = {kind: v["update"] for kind, v in changed["kinds"].items() if v["update"]}
        assert updates == {"tickets": 1}, changed["kinds"]
        assert changed["totals"]["create"] == 0
        m.cli("plan", "--state", str(state_file))
        delta = json.loads(m.reports("plan-*/plan.json")[-1].read_text())
        assert delta["state_file"] == str(state_file)
        assert {kind: v["update"] for kind, v in delta["kinds"].items() if v["update"]} == {"tickets": 1}
        assert delta["totals"]["create"] == 0
        assert delta["totals"]["unchanged"] < changed["totals"]["unchanged"] / 2, "the state did not make a delta"
        html = m.reports("plan-*/plan.html")[-1].read_text()
        assert "tickets" in html
