"""``topdesk2intercom check intercom``: the live check of the workspace as a user runs it (table, reports, the
result kept in the load's ledger); a dry run writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from cli_testkit import Migration

from target_intercom.ledger import Ledger


def test_check_intercom_reports_each_capability_and_keeps_the_result(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15, intercom={"deny": {"placeholder_emails": "ignored"}}) as m:
        provisioned = m.cli("provision")
        assert "placeholder_emails" in provisioned.output  # provision checks too, once the ticket types exist
        before = m.intercom("GET", "/__sandbox/export").json()
        dry = m.cli("check", "intercom", "--dry-run")
        assert "nothing written" in dry.output and "would write" in dry.output
        assert m.intercom("GET", "/__sandbox/export").json() == before

        result = m.cli("check", "intercom")
        assert "topdesk2intercom-check" in result.output  # said before it writes
        line = next(x for x in result.output.splitlines() if x.strip().startswith("placeholder_emails "))
        assert "ignored" in line, result.output
        assert "-> the load: such persons are written without an e-mail" in result.output
        report = json.loads(m.reports("check-*/check.json")[-1].read_text())
        verdicts = {v["name"]: v["verdict"] for v in report["verdicts"]}
        assert verdicts["placeholder_emails"] == "ignored" and verdicts["created_at"] == "holds"
        assert report["requests"] > 0 and m.reports("check-*/check.html") and m.reports("check-*/check.md")
        assert "access_token" not in json.dumps(report) and "sandbox-intercom-token" not in result.output

        ledger = Ledger(f"sqlite:///{m.ledger_path}")
        kept = ledger.latest_check(report["workspace"]["app_id"], report["map_digest"])
        ledger.close()
        assert kept is not None and kept["verdicts"] == report["verdicts"]
