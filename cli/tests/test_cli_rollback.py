"""`topdesk2intercom rollback` is the target's rollback with the project's target settings."""

from __future__ import annotations

from pathlib import Path

from cli_testkit import Migration


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
