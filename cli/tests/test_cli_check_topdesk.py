"""``topdesk2intercom check topdesk``: the tap's module probe and request check as a user runs them (a table, the
check-topdesk.{md,json,html} report, exit 1 when the sync would stop), against the strict TOPdesk sandbox."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from tap_topdesk.streams.supporting import BranchesStream
from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.cli import TOPDESK_PASSWORD, Migration


def _line(output: str, stream: str) -> str:
    return next(x for x in output.splitlines() if x.strip().startswith(f"{stream} "))


def test_check_topdesk_reports_change_api_14_and_its_fallback(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15, topdesk={"variants": frozenset({"change-1.4"})}) as m:
        result = m.cli("check", "topdesk")
        assert "refused" in _line(result.output, "changes") and "accepted" in _line(result.output, "incidents")
        assert "HTTP 400: Unknown query parameter 'fields'" in result.output
        assert "-> fallback: reads the whole list (change API 1.4.0)" in result.output
        assert "STOPS THE SYNC" not in result.output and "requests (" in result.output
        report = json.loads(m.reports("check-topdesk-*/check-topdesk.json")[-1].read_text())
        streams = {s["stream"]: s for s in report["request_check"]["streams"]}
        assert streams["changes"]["verdict"] == "refused" and streams["changes"]["status"] == 400
        assert streams["changes"]["fallback"] and not streams["changes"]["stops"]
        assert streams["change_progress_trail"]["verdict"] == "accepted"  # parent id from the whole list's answer
        assert report["sync_would_fail"] is False and report["modules"]["changes"]["status"] == "data"
        assert m.reports("check-topdesk-*/check-topdesk.md") and m.reports("check-topdesk-*/check-topdesk.html")
        markdown = m.reports("check-topdesk-*/check-topdesk.md")[-1].read_text()
        assert "| changes | refused |" in markdown
        for text in (result.output, json.dumps(report), markdown):
            assert TOPDESK_PASSWORD not in text


def test_check_topdesk_exits_1_when_a_selected_stream_would_stop_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the tenant refuses (an undocumented parameter: the strict sandbox answers 400 as TOPdesk does), on a
    stream without fallback; only the streams the catalog selects are checked."""
    original = BranchesStream.get_url_params

    def with_unknown(self: BranchesStream, context: t.Any, next_page_token: t.Any) -> dict[str, t.Any]:
        return {**original(self, context, next_page_token), "colour": "blue"}

    monkeypatch.setattr(BranchesStream, "get_url_params", with_unknown)
    with Migration.started(tmp_path, scale=15) as m:
        config = json.loads(m.tap_config_path.read_text())
        catalog = TapTopdesk(config=config, parse_env_config=False).catalog_dict
        for entry in catalog["streams"]:
            top = next(x for x in entry["metadata"] if x["breadcrumb"] == [])
            top["metadata"]["selected"] = entry["tap_stream_id"] in ("branches", "departments")
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps(catalog))
        result = m.cli("check", "topdesk", "--catalog", str(path), expect=1)
        assert "refused" in _line(result.output, "branches") and "accepted" in _line(result.output, "departments")
        assert "incidents" not in {x.split()[0] for x in result.output.splitlines() if x.startswith("  ") and x.split()}
        assert "the sync would stop before it starts" in result.output
        assert "stream 'branches': GET /tas/api/branches?" in result.output and "colour=blue" in result.output
        assert "select: ['*.*', '!branches.*']" in result.output
        report = json.loads(m.reports("check-topdesk-*/check-topdesk.json")[-1].read_text())
        assert report["sync_would_fail"] is True and report["request_check"]["stops"] == ["branches"]
        assert len(report["request_check"]["streams"]) == 2 and report["request_check"]["requests"] == 2
