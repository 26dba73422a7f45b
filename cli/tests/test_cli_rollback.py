"""`topdesk2intercom rollback` is the target's rollback with the project's target settings."""

from __future__ import annotations

from pathlib import Path

from topdesk2intercom_testing.cli import Migration


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
