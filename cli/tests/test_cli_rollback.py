"""`topdesk2intercom rollback` is the target's rollback with the project's target settings."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import requests

from topdesk2intercom_testing.cli import TOPDESK_LOGIN, TOPDESK_PASSWORD, Migration


def test_rollback_all_removes_what_the_load_created(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        m.migrate()
        listed = m.cli("rollback", "--list-runs").output
        assert "load" in listed and "completed" in listed
        contacts = m.intercom("GET", "/contacts", params={"per_page": 150}).json()["total_count"]
        assert contacts > 0
        dry = m.cli("rollback", "--all", "--dry-run").output
        assert m.intercom("GET", "/contacts").json()["total_count"] == contacts, dry
        m.cli("rollback", "--all")
        assert m.intercom("GET", "/contacts").json()["total_count"] == 0


def test_load_rollback_load_again_verifies(tmp_path: Path) -> None:
    """Intercom archives a deleted company (it does not delete it): a load after a rollback finds the archived
    companies by company_id and verifies with no unexplained difference. The rollback says what a delete did."""
    with Migration.started(tmp_path, scale=15) as m:
        m.migrate()
        companies = m.intercom("GET", "/__sandbox/export").json()["companies"]
        assert companies
        m.cli("rollback", "--all")
        export = m.intercom("GET", "/__sandbox/export").json()
        archived = [c for c in export["archived_companies"] if not c["company_id"].startswith("topdesk2intercom-check")]
        assert export["companies"] == [] and len(archived) == len(companies)  # (the live check's own one left out)
        [report] = m.reports("*/rollback.md")
        assert "| companies | archived, not deleted" in report.read_text()
        m.migrate()
        again = m.intercom("GET", "/__sandbox/export").json()
        assert sorted(c["id"] for c in again["companies"]) == sorted(c["id"] for c in companies)
        out = m.cli("verify", "--seed", "5").output
        assert "verify: 0 unexplained difference(s)" in out, out


#: fields Intercom changes by itself on any touch: not content
VOLATILE = {"updated_at", "statistics"}


def _topdesk(m: Migration, path: str, **params: t.Any) -> t.Any:
    auth = (TOPDESK_LOGIN, TOPDESK_PASSWORD)
    return requests.get(f"{m.topdesk_url}/tas/api{path}", params=params, auth=auth, timeout=30).json()


def _records(export: dict) -> dict[tuple[str, str], dict]:
    return {
        (name, str(r["id"])): {k: v for k, v in r.items() if k not in VOLATILE and v not in (None, [], {})}
        for name in ("contacts", "companies", "tickets", "conversations", "notes", "articles", "collections")
        for r in export[name]
    }


def test_rollback_of_a_delta_gives_back_the_workspace_before_it_and_verifies(tmp_path: Path) -> None:
    """Load; change calls, persons and branches in TOPdesk; delta; rollback of the delta: Intercom's export equals
    the one before the delta but for what the report lists as not restorable, each with its reason; verify after
    the rollback agrees with the ledger (issue #19)."""
    with Migration.started(tmp_path, scale=15) as m:
        m.migrate()
        before = _records(m.intercom("GET", "/__sandbox/export").json())
        call = next(c for c in _topdesk(m, "/incidents", pageSize=50) if c.get("caller"))
        person = next(p for p in _topdesk(m, "/persons", pageSize=50) if p.get("email"))
        branch = _topdesk(m, "/branches")[0]
        m.topdesk_admin(
            "PATCH",
            f"/incidents/{call['id']}",
            json={  # a new title, and reopened (or closed)
                "briefDescription": "Changed before the cutover",
                "closed": not call.get("closed"),
                "processingStatus": {
                    **(call.get("processingStatus") or {}),
                    "name": "In progress" if call.get("closed") else "Closed",
                },
            },
        ).raise_for_status()
        m.topdesk_admin(
            "PATCH", f"/persons/{person['id']}", json={"dynamicName": "Renamed In TOPdesk", "surName": "Renamed"}
        ).raise_for_status()
        m.topdesk_admin("PATCH", f"/branches/{branch['id']}", json={"name": "Renamed Branch"}).raise_for_status()
        m.migrate()
        delta = _records(m.intercom("GET", "/__sandbox/export").json())
        changed = {key for key in before if delta.get(key) != before[key]}
        assert {name for name, _ in changed} >= {"contacts", "companies", "tickets"}, changed
        run_id = m.cli("rollback", "--list-runs").output.split()[0]  # newest first: the delta

        dry = m.cli("rollback", "--run", run_id, "--dry-run").output
        assert "Would restore in Intercom" in dry and "companies" in dry and "tickets" in dry, dry
        assert _records(m.intercom("GET", "/__sandbox/export").json()) == delta

        out = m.cli("rollback", "--run", run_id).output
        assert "Restored in Intercom" in out, out
        back = _records(m.intercom("GET", "/__sandbox/export").json())
        [report] = [json.loads(p.read_text()) for p in m.reports("*/rollback.json") if "dry" not in p.parent.name]
        assert report["status"] == "completed" and not report["not_restored"], report["not_restored"]
        listed = {(item["kind"], item["intercom_id"]) for item in report["not_restorable"]}
        assert all(item["reason"] for item in report["not_restorable"])
        differing = {key for key in set(before) | set(back) if before.get(key) != back.get(key)}
        assert differing <= listed, (differing - listed, [(k, before.get(k), back.get(k)) for k in differing - listed])

        result = m.cli(
            "verify",
            "--seed",
            "5",
            "--include",
            f"tickets:call:{call['id']}",
            "--include",
            f"contacts:person:{person['id']}",
            "--include",
            f"companies:branch:{branch['id']}",
        )
        assert "verify: 0 unexplained difference(s)" in result.output, result.output
        verify = json.loads(m.reports("verify-*/verify.json")[-1].read_text())
        explained = {(c["kind"], c["source_key"]) for c in verify["sample"] if c["explained"]}
        assert {("tickets", f"call:{call['id']}"), ("contacts", f"person:{person['id']}")} <= explained
