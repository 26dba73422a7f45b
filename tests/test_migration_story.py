"""The migration as a user runs it, end to end, through the commands the README gives (``meltano`` and
``topdesk2intercom`` as processes, settings from the project's meltano.yml + the plugins' environment variables):
audit -> map propose/confirm -> provision -> plan -> sample -> full migration -> a change in TOPdesk -> delta ->
verify -> rollback of the delta -> handoff. Asserts on the reports and on the Intercom sandbox's contents."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from topdesk2intercom_testing.e2e import Sandboxes, change_topdesk, cli, meltano, project_env, reports

SCALE = 40
STATE_ID = "sandbox:tap-topdesk-to-target-intercom"


def latest(workdir: Path, pattern: str) -> dict:
    return json.loads(reports(workdir, pattern)[-1].read_text())


def ticket_numbers(sb: Sandboxes) -> list[str]:
    """Every ticket's TOPdesk call number, read from the Intercom sandbox's whole workspace."""
    tickets = requests.get(f"{sb.intercom_url}/__sandbox/export", timeout=30).json()["tickets"]
    return [t["attributes"]["Call number"] for t in tickets if "Call number" in (t.get("attributes") or {})]


def ticket(sb: Sandboxes, number: str) -> dict:
    tickets = requests.get(f"{sb.intercom_url}/__sandbox/export", timeout=30).json()["tickets"]
    return next(t for t in tickets if (t.get("attributes") or {}).get("Call number") == number)


def test_the_migration_as_a_user_runs_it(tmp_path: Path) -> None:
    with Sandboxes.started(tmp_path, scale=SCALE) as sb:
        env = project_env(sb, tmp_path)

        # 1. audit: counts as TOPdesk has them, and the gap inventory
        cli("audit", env=env)
        audit = latest(tmp_path, "audit-*/audit.json")
        assert json.dumps(audit).count(str(sb.counts["incidents"])) >= 1
        assert reports(tmp_path, "audit-*/audit.html")

        # 2. map: propose from the audit and the workspace, confirm; the load refuses an unconfirmed map
        map_file = tmp_path / "topdesk-intercom.map.yml"
        cli("map", "propose", "--out", str(map_file), env=env)
        env["TARGET_INTERCOM_MAP_FILE"] = str(map_file)
        refused = cli("plan", env=env, expect=None)
        assert refused.returncode != 0 and "confirm" in (refused.stdout + refused.stderr)
        cli("map", "confirm", str(map_file), env=env)

        # 3. provision: blocked until an admin creates the custom object types it lists (sandbox admin API = the UI)
        assert cli("provision", env=env, expect=1).returncode == 1
        to_create = latest(tmp_path, "provision-*/provision.json")["ui_objects_to_create"]
        requests.post(f"{sb.intercom_url}/__sandbox/custom_object_types", json=to_create, timeout=30).raise_for_status()
        cli("provision", env=env)

        # 4. plan: everything to create, nothing written
        before = sb.intercom_objects()
        cli("plan", env=env)
        plan = latest(tmp_path, "plan-*/plan.json")
        assert sb.intercom_objects() == before
        assert json.dumps(plan).count("create") >= 1

        # 5. sample: 3 calls end to end
        cli("sample", "--calls", "3", env=env)
        assert sb.intercom_objects()["tickets"] == 3

        # 6. full migration through Meltano; the sampled calls are not duplicated
        meltano("install", "extractor", "tap-topdesk", env=env)
        meltano("install", "loader", "target-intercom", env=env)
        meltano("state", "clear", "--force", STATE_ID, env=env, expect=None)  # Meltano's system dir is shared
        meltano("run", "tap-topdesk", "target-intercom", env=env)
        full = latest(tmp_path, "*/reconciliation.json")["entities"]
        numbers = ticket_numbers(sb)
        assert len(numbers) == len(set(numbers)) == sb.counts["incidents"]
        assert full["tickets"]["created"] == sb.counts["incidents"] - 3
        assert reports(tmp_path, "*/reconciliation.html")

        # 7. a change in TOPdesk, then the delta: the 2 changed calls are read (and those of the bookmark's second,
        # read again inclusively and found unchanged); one new ticket, one updated
        edited, logged = change_topdesk(sb.topdesk_url, sb.dataset)
        meltano("run", "migrate", env=env)  # the job: same pipeline, same state ID
        delta_report = latest(tmp_path, "*/reconciliation.json")
        delta = delta_report["entities"]
        assert delta["tickets"]["received"] == 2 + delta["tickets"]["unchanged"] <= 2 + 3
        assert delta["tickets"]["created"] == 1 and delta["tickets"]["updated"] == 1
        assert sorted(set(ticket_numbers(sb)) - set(numbers)) == [logged]
        assert "Edited before cutover" in json.dumps(ticket(sb, edited))

        # 8. verify: zero unexplained differences
        out = cli("verify", env=env).stdout
        verify = latest(tmp_path, "verify-*/verify.json")
        assert verify["unexplained"] == 0, out
        assert 25 <= verify["sample_size"] == len(verify["sample"]) <= 50

        # 9. rollback of the delta: the new ticket goes, the rest stays
        cli("rollback", "--run", delta_report["run_id"], env=env)
        assert sorted(ticket_numbers(sb)) == sorted(numbers)

        # 10. handoff documents
        cli("handoff", env=env)
        handoff = latest(tmp_path, "handoff-*/handoff.json")
        assert handoff and reports(tmp_path, "handoff-*/handoff.html")
