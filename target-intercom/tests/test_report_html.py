"""The reconciliation report's HTML page (tables, charts, escaping), the run timeline behind its chart and the
progress lines of a long load."""

from __future__ import annotations

import json
import logging
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_target_load import intercom, records, run_target, tap_messages

from target_intercom import loader as loader_module
from target_intercom import report
from target_intercom.html_page import Page, Table, render
from target_intercom.progress import ProgressLog, RunTimeline, progress_text
from target_intercom.report import GUESTS

HOSTILE = "<script>alert('x')</script>"


class Dom(HTMLParser):
    """Tags, the text of each table's first column and whether anything active slipped in."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.row_labels: list[str] = []
        self.text: list[str] = []
        self._cell = 0
        self._in_first = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self._cell = 0
        if tag in ("td", "th"):
            self._cell += 1
            self._in_first = self._cell == 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_first = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_first:
            self.row_labels.append(data)


def summary(**changes: object) -> dict:
    """A summary shaped as report.build makes it."""
    entities = {
        "contacts": dict.fromkeys(report.COLUMNS, 0) | {"received": 120, "created": 100, "unchanged": 15, "failed": 5},
        "tickets": dict.fromkeys(report.COLUMNS, 0) | {"received": 40, "created": 30, "updated": 8, "held": 2},
    }
    totals = {c: sum(row[c] for row in entities.values()) for c in report.COLUMNS} | {"orphans": 2}
    issue = {"kind": "contacts", "source_key": "p-1", "category": "skipped", "reason": "no e-mail", "field": "email"}
    base = {
        "run_id": "run-1",
        "entities": entities,
        "totals": totals,
        "issues_by_reason": [{"category": "skipped", "kind": "contacts", "reason": "no e-mail", "count": 40}],
        "manual_review": [{"kind": "contacts", "source_key": f"p-{i}", "reason": "500 server error"} for i in range(5)],
        "issues": [{**issue, "source_key": f"p-{i}"} for i in range(40)],
        "rebuild_inventory": [{"source_key": "c-1", "kind": "change_activities"}],
        "completeness": {"checked": 3, "mismatches": []},
        "requests": {"requests_sent": 321, "requests_over_limit": 1},
        "timeline_bucket_s": 10,
        "timeline": [
            {"t": "2026-11-24T10:00:00+00:00", "written": 50, "requests": 140},
            {"t": "2026-11-24T10:00:10+00:00", "written": 88, "requests": 181},
        ],
    }
    return base | changes


def test_page_has_the_tables_figures_and_charts_of_a_summary() -> None:
    page = report.html(summary())
    dom = Dom(page)
    assert dom.tags.count("table") == 5  # per object, issues by reason, manual review, issues, inventory
    assert {"contacts", "tickets", "total"} <= set(dom.row_labels)
    assert dom.tags.count("svg") == 3  # counts per object, written per 10 s, requests per 10 s
    assert "script" not in dom.tags
    text = " ".join(dom.text)
    for heading in (
        "Per object",
        "Counts per object",
        "Records written per 10 s",
        "API requests per 10 s",
        "Issues by reason",
        "Manual review queue",
        "Rebuild inventory",
        "Completeness",
    ):
        assert heading in text
    assert "321" in text and "API requests" in text  # the summary box
    # 40 records with issues: folded; the numbers of the per-object table are right-aligned
    assert "<details><summary>40 rows" in page
    assert "<td class='n'>100</td>" in page
    assert "<th class='n'>received</th>" in page


def test_hostile_text_is_escaped_and_nothing_can_run() -> None:
    hostile = summary(run_id=HOSTILE, manual_review=[{"kind": "contacts", "source_key": HOSTILE, "reason": HOSTILE}])
    hostile["entities"][HOSTILE] = hostile["entities"].pop("tickets")
    page = report.html(hostile)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert HOSTILE in Dom(page).row_labels  # shown as text, as a row label of the per-object table
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    other = render(Page(title=HOSTILE, sections=[Table(HOSTILE, [HOSTILE], [[f"\"'><img src=x onerror={HOSTILE}"]])]))
    assert "<script" not in other.lower() and "<img" not in other.lower()


def test_timeline_counts_writes_and_requests_per_bucket() -> None:
    now, sent = [1_000_000.0], [0]
    timeline = RunTimeline(lambda: sent[0], clock=lambda: now[0])
    timeline.wrote(3)
    sent[0] = 7
    timeline.sample()
    now[0] += 25  # two buckets later, nothing happened in between
    timeline.wrote(2)
    sent[0] = 12
    width, points = timeline.points()
    assert width == 10
    assert [(p["written"], p["requests"]) for p in points] == [(3, 7), (0, 0), (2, 5)]
    assert points[0]["t"] == "1970-01-12T13:46:40+00:00"
    now[0] += 3600  # a long run: per minute
    timeline.wrote(1)
    width, points = timeline.points()
    assert width == 60
    assert sum(p["written"] for p in points) == 6 and sum(p["requests"] for p in points) == 12


def test_progress_lines_every_ten_seconds_not_more_often() -> None:
    now, sent, lines = [0.0], [0], []
    timeline = RunTimeline(lambda: sent[0], clock=lambda: 1000 + now[0])
    progress = ProgressLog(timeline, lambda fmt, *args: lines.append(fmt % args), clock=lambda: now[0])
    counts = {
        "contacts": {"received": 1000, "created": 850, "updated": 50, "unchanged": 40},
        "tickets": {"received": 400, "created": 12, "failed": 1},
    }
    for step in range(1, 250):  # 0.1 s steps: 24.9 s
        now[0] = step / 10
        sent[0] = step * 3
        progress.tick(lambda: counts)
    assert len(lines) == 2
    assert lines[0] == (
        "progress: contacts 900/1,000 written (40 unchanged), tickets 12/400 written (1 failed); 1,800 requests/min"
    )
    assert progress_text({}) == "nothing received yet"


def test_a_load_writes_the_html_page_and_a_timeline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = tap_messages(60)
    monkeypatch.setattr(loader_module, "PROGRESS_S", 0.5)  # the load takes seconds: a line every half second
    caplog.set_level(logging.INFO)
    with intercom() as (url, _ws):
        run_target(
            messages,
            api_url=url,
            ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            report_dir=str(tmp_path / "reports"),
            fallback_admin_email="fallback@sandbox.example",
        )
    folder = next((tmp_path / "reports").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == [
        "reconciliation.html",
        "reconciliation.json",
        "reconciliation.md",
    ]
    data = json.loads((folder / "reconciliation.json").read_text())
    timeline = data["timeline"]
    assert timeline and data["timeline_bucket_s"] == 10
    written = sum(row["created"] + row["updated"] for kind, row in data["entities"].items() if kind != GUESTS)
    guests = data["entities"].get(GUESTS, {}).get("created", 0)  # made by the ticket writes, not records of their own
    assert (
        sum(p["written"] for p in timeline) == written == data["totals"]["created"] + data["totals"]["updated"] - guests
    )
    assert sum(p["requests"] for p in timeline) == data["requests"]["requests_sent"]
    page = (folder / "reconciliation.html").read_text()
    dom = Dom(page)
    assert {"contacts", "tickets", "ticket_parts"} <= set(dom.row_labels)
    assert dom.tags.count("svg") == 3
    assert data["entities"]["tickets"]["created"] == len(records(messages, "incidents"))
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress: ")]
    assert progress, "progress lines while the load runs"
    assert "tickets" in progress[-1] and "requests/min" in progress[-1]
