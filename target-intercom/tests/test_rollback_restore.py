"""A rollback puts back what a run changed in records it did not create (issue #19): a pre-existing contact or company
gets its own values back, one changed since by someone else is listed and left alone (unless --force), a record a
later run changed again waits for that run's rollback, a dry run shows what it would restore, and a rollback killed
with SIGKILL and started again ends as an uninterrupted one does."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_rollback import (
    BIN,
    Split,
    config,
    contact_of,
    load,
    preexisting,
    records,
    rollback,
    sandbox,
    snapshot,
    split,
)

from target_intercom.ledger import Ledger
from topdesk2intercom_testing.target import RunningSandbox
from topdesk2intercom_testing.target_acceptance import content, differences


def persons_changed(data: Split, suffix: str) -> list[dict]:
    """A delta with only the changed persons of ``data`` (their surname with ``suffix``): updates, no creates."""
    schemas = [m for m in data.first if m["type"] == "SCHEMA"]
    changed = [p for p in records(data.first, "persons") if p["id"] in data.changed_persons]
    return schemas + [
        {
            "type": "RECORD",
            "stream": "persons",
            "record": {**p, "surName": p["surName"] + suffix, "dynamicName": p["dynamicName"] + suffix},
        }
        for p in changed
    ]


def crm_company(sb: RunningSandbox, company_id: str) -> str:
    """A company Intercom has before the migration with a branch's id as its company_id (from a CRM, say)."""
    client = sb.client()
    try:
        made = client.request("POST", "/companies", json={"company_id": company_id, "name": "Name In The CRM"})
    finally:
        client.close()
    return str(made["id"])


def read(sb: RunningSandbox, path: str) -> dict:
    client = sb.client()
    try:
        return client.request("GET", path)
    finally:
        client.close()


def test_a_preexisting_record_gets_its_values_back_unless_someone_changed_it_since(tmp_path: Path) -> None:
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        pre = preexisting(sb, data)
        company = crm_company(sb, data.changed_branch)
        before, crm = snapshot(sb), read(sb, f"/companies/{company}")
        run_1 = load(data.first, cfg)
        after_1 = snapshot(sb)
        assert after_1["companies"][company]["name"] != "Name In The CRM"  # matched by company_id and updated
        client = sb.client()  # an agent renames the adopted contact after the load
        client.request("PUT", f"/contacts/{pre['adopted']}", json={"name": "Renamed By An Agent"})
        client.close()

        summary = rollback(cfg, run_1)
        assert summary["status"] == "completed", summary["failed"]
        after = snapshot(sb)
        # the matched company is the CRM's: not deleted, its own values back but for the fields it had no value in
        # (Intercom takes no null for them): listed
        mine = read(sb, f"/companies/{company}")
        assert mine["name"] == "Name In The CRM" and summary["entities"]["companies"]["restored"] == 1
        unset = {k for k in set(mine) | set(crm) if mine.get(k) != crm.get(k) and k != "updated_at"}
        assert unset == {"website"} and crm.get("website") is None
        listed = " ".join(n["reason"] for n in summary["not_restorable"] if n["intercom_id"] == company)
        assert all(f"Intercom's API cannot clear a {name}" in listed for name in unset), listed
        # the adopted contact changed since the load: left as the agent made it, and listed with the field
        assert after["contacts"][pre["adopted"]]["name"] == "Renamed By An Agent"
        [listed] = [n for n in summary["not_restored"] if n["intercom_id"] == pre["adopted"]]
        assert "changed in Intercom after the run" in listed["reason"] and "name" in listed["fields"]
        report = (tmp_path / "reports" / summary["rollback_run_id"] / "rollback.md").read_text()
        assert "## Not restored (1)" in report and pre["adopted"] in report

        # --force puts the values from before the run back anyway
        summary = rollback(cfg, run_1, force=True)
        assert summary["entities"]["contacts"]["restored"] == 1 and not summary["not_restored"]
        assert snapshot(sb)["contacts"][pre["adopted"]] == before["contacts"][pre["adopted"]]


def test_a_record_a_later_run_changed_again_waits_for_that_runs_rollback(tmp_path: Path) -> None:
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        load(data.first, cfg)
        after_1 = snapshot(sb)
        run_2 = load(persons_changed(data, "-A"), cfg)
        after_2 = snapshot(sb)
        run_3 = load(persons_changed(data, "-B"), cfg)
        after_3 = snapshot(sb)
        contacts = [contact_of(cfg, p) for p in data.changed_persons]
        assert all(after_3["contacts"][c]["name"].endswith("-B") for c in contacts)

        plan = rollback(cfg, run_2, dry_run=True)
        assert plan["entities"]["contacts"]["to_restore"] == len(contacts)
        assert [p["action"].split(" (")[0] for p in plan["plan"]] == ["restore name"] * len(contacts)
        assert snapshot(sb) == after_3

        summary = rollback(cfg, run_2)  # run 3 changed them again: not under it
        assert {n["intercom_id"] for n in summary["not_restored"]} == set(contacts)
        assert all(f"changed again by run {run_3}" in n["reason"] for n in summary["not_restored"])
        assert snapshot(sb) == after_3

        assert rollback(cfg, run_3)["entities"]["contacts"]["restored"] == len(contacts)
        assert snapshot(sb) == after_2
        assert rollback(cfg, run_2)["entities"]["contacts"]["restored"] == len(contacts)
        assert snapshot(sb) == after_1
        ledger = Ledger(cfg["ledger_url"])
        try:  # the ledger is as before run 2 too: a load of the same changes writes them again
            assert all(ledger.lookup("contacts", f"person:{p}").extra.get("restored_by") for p in data.changed_persons)
        finally:
            ledger.close()
        load(persons_changed(data, "-A"), cfg)
        assert snapshot(sb) == after_2


def _delta_loaded(sb: RunningSandbox, tmp_path: Path, data: Split) -> tuple[dict, str]:
    cfg = config(sb, tmp_path)
    preexisting(sb, data)
    crm_company(sb, data.changed_branch)
    load(data.first, cfg)
    return cfg, load(data.delta, cfg)


def test_rollback_killed_at_random_points_and_started_again_ends_the_same(tmp_path: Path) -> None:
    """``target-intercom rollback`` as its own process, SIGKILLed at seeded random numbers of requests and started
    again each time; the last run goes to the end: Intercom's contents equal an uninterrupted rollback's."""
    data = split()
    with sandbox() as reference:
        cfg, run = _delta_loaded(reference, tmp_path / "reference", data)
        summary = rollback(cfg, run)
        assert summary["status"] == "completed", summary["failed"]
        want = content(reference.url)
    with sandbox() as sb:
        cfg, run = _delta_loaded(sb, tmp_path / "killed", data)
        path = tmp_path / "killed" / "config.json"
        path.write_text(json.dumps(cfg))
        rng = random.Random(19)
        killed = []
        for at in [*sorted(rng.sample(range(1, 10), 5)), None]:  # the rollback sends about 20 requests
            process = subprocess.Popen(
                [str(BIN), "rollback", "--config", str(path), "--run", run, "--no-progress"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
            )
            base = sb.stats()["requests_served"]
            while process.poll() is None:
                if at is not None and sb.stats()["requests_served"] - base >= at:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    killed.append(at)
                    break
                time.sleep(0.002)
            _, err = process.communicate()
            if at is None:
                assert process.returncode == 0, err.decode(errors="replace")[-3000:]
        got = content(sb.url)
    print(f"\n[rollback sigkill] killed after {killed} requests", file=sys.stderr)
    assert len(killed) >= 3, killed
    diff = differences(got, want)
    assert diff == [], "\n".join(diff)
