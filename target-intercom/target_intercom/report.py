"""The reconciliation report of one run: what arrived, what was written, what was not and why. One page of
sections (figures, tables, charts of the counts and of the run's timeline) that html_page renders as Markdown and as
a self-contained HTML page for people, beside the JSON for machines; no secrets (the config is never copied into
it)."""

from __future__ import annotations

import typing as t
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from target_intercom import html_page as hp
from target_intercom.capabilities import FAILED, CheckResult

INVENTORY = "rebuild_inventory"  # issues of this category are the handoff's list of what has no Intercom home
MD_LIMIT = 100  # records with issues listed in the Markdown; the JSON has them all
HTML_LIMIT = 1000  # records with issues listed in the HTML page (folded); the JSON has them all
GUESTS = "contacts (callers without a person)"
COLUMNS = (
    "received",
    "created",
    "updated",
    "unchanged",
    "matched",
    "merged",
    "listed",
    "skipped",
    "failed",
    "flagged",
    "held",
)


def build(target: t.Any, *, orphans: int) -> dict:
    """Counts per entity kind, issues by category and reason, the manual-review queue."""
    ledger, run_id = target.ledger, target.run_id
    stats = target.loader.stats.snapshot() if target.loader else {}
    issues = ledger.issues(run_id)
    flagged = Counter(i["kind"] for i in issues if i["category"] == "flagged" and i["severity"] == "error")
    held = ledger.held_counts()
    kinds = sorted(set(stats) | set(flagged) | set(held))
    rows = {kind: {c: stats.get(kind, {}).get(c, 0) for c in COLUMNS} for kind in kinds}
    for kind in kinds:
        rows[kind]["flagged"] = flagged.get(kind, 0)
        rows[kind]["held"] = held.get(kind, 0)
    guests = ledger.guests(run_id)  # callers without a person record: contacts their tickets made
    if any(guests.values()):
        rows[GUESTS] = {c: guests.get(c, 0) for c in COLUMNS}
    by_reason = Counter((i["category"], i["kind"], i["reason"]) for i in issues if i["category"] != INVENTORY)
    totals = {c: sum(r[c] for r in rows.values()) for c in COLUMNS}
    bucket_s, timeline = target.loader.timeline.points() if target.loader else (0, [])
    return {
        "run_id": run_id,
        "entities": rows,
        "totals": {**totals, "orphans": orphans},
        "issues_by_reason": [
            {"category": c, "kind": k, "reason": r, "count": n} for (c, k, r), n in by_reason.most_common()
        ],
        "manual_review": [i for i in issues if i["category"] == "manual_review"],
        "issues": [i for i in issues if i["category"] not in ("manual_review", INVENTORY)],
        "rebuild_inventory": [
            {"source_key": i["source_key"], "kind": i.get("field"), **(i.get("detail") or {})}
            for i in issues
            if i["category"] == INVENTORY
        ],
        "completeness": target.completeness,
        "preflight": target.preflight.as_dict() if target.preflight else None,
        "capabilities": (
            target.workspace_capabilities.as_dict() if getattr(target, "workspace_capabilities", None) else None
        ),
        # the pacer's counters, and the reads the writers made beyond their records' own requests (what a change to
        # a record the run did not create overwrites, kept for its rollback)
        "requests": {**target.client.stats, **(dict(target.loader.ctx.tallies) if target.loader else {})},
        "timeline_bucket_s": bucket_s,
        "timeline": timeline,  # records written and requests sent per bucket of the run
    }


def markdown(summary: dict) -> str:
    """The report as Markdown: the page's sections (html_page renders both)."""
    return hp.markdown(page(summary))


def _detail(detail: dict | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (detail or {}).items() if v not in (None, ""))


def html(summary: dict) -> str:
    """The report as one page: key figures, the per-kind table and chart, the timeline, then the lists."""
    return hp.render(page(summary))


def page(summary: dict) -> hp.Page:
    totals, requests = summary["totals"], summary.get("requests") or {}
    timeline, bucket = summary.get("timeline") or [], summary.get("timeline_bucket_s") or 0
    figures = {c: totals[c] for c in ("received", "created", "updated", "unchanged", "failed", "flagged", "held")}
    figures["orphans"] = totals.get("orphans", 0)
    figures["manual review"] = len(summary["manual_review"])
    if requests:
        figures["API requests"] = requests.get("requests_sent", 0)
        figures["rate limited (429)"] = requests.get("requests_over_limit", 0)
    subtitle = f"Run {summary['run_id']}"
    if timeline:
        end = datetime.fromisoformat(timeline[-1]["t"]) + timedelta(seconds=bucket)
        subtitle += f", {timeline[0]['t'][:19].replace('T', ' ')} to {end.isoformat()[:19].replace('T', ' ')} UTC"
        figures["duration"] = _duration(len(timeline) * bucket)
    sections: list[hp.Section] = [
        hp.Figures("Summary", figures),
        hp.Table(
            "Per object",
            ["entity", *COLUMNS],
            [[kind, *(row[c] for c in COLUMNS)] for kind, row in summary["entities"].items()],
            footer=[["total", *(totals[c] for c in COLUMNS)]],
            note="received: records that came in this run; held: records staged and not yet written (their "
            "parent is missing, or they failed and are retried by the next run)",
        ),
        hp.Bars(
            "Counts per object",
            {
                what: {kind: row[what] for kind, row in summary["entities"].items()}
                for what in ("created", "updated", "unchanged")
                if what == "created" or totals[what]
            },
        ),
    ]
    if timeline:
        per = _duration(bucket)
        sections += [
            hp.Timeline(
                f"Records written per {per}",
                [(_clock(p["t"]), p["written"]) for p in timeline],
                unit="records",
                note="records created or updated in Intercom; time in UTC",
            ),
            hp.Timeline(
                f"API requests per {per}",
                [(_clock(p["t"]), p["requests"]) for p in timeline],
                unit="requests",
                note="every request sent to Intercom (reads and retries included)",
            ),
        ]
    lacking = _lacking(summary)
    if lacking:
        sections.append(
            hp.Table(
                "Fallbacks",
                ["capability", "verdict", "Intercom said / showed", "the load"],
                lacking,
                note="the workspace lacks a capability (see `topdesk2intercom check intercom`): what the "
                "workspace's live check found missing, and what the load did instead",
            )
        )
    if summary["issues_by_reason"]:
        sections.append(
            hp.Table(
                "Issues by reason",
                ["category", "entity", "reason", "count"],
                [[i["category"], i["kind"], i["reason"], i["count"]] for i in summary["issues_by_reason"]],
            )
        )
    if summary["manual_review"]:
        sections.append(
            hp.Table(
                "Manual review queue",
                ["entity", "source key", "last error"],
                [[i["kind"], i["source_key"], i["reason"]] for i in summary["manual_review"]],
                note="kept staged: the next run retries them",
            )
        )
    if summary["issues"]:
        listed = summary["issues"][:HTML_LIMIT]
        more = len(summary["issues"]) - len(listed)
        sections.append(
            hp.Table(
                "Records with issues",
                ["category", "entity", "source key", "field", "reason", "detail"],
                [
                    [
                        i["category"],
                        i["kind"],
                        i["source_key"],
                        i.get("field") or "",
                        i["reason"],
                        _detail(i.get("detail")),
                    ]
                    for i in listed
                ],
                note=f"{more:,} more: see reconciliation.json" if more else "",
                markdown_limit=MD_LIMIT,
            )
        )
    if summary["rebuild_inventory"]:
        kinds = Counter(item["kind"] for item in summary["rebuild_inventory"])
        sections.append(
            hp.Table(
                "Rebuild inventory (no Intercom home: rebuild by hand)",
                ["kind", "items"],
                [[kind, n] for kind, n in kinds.most_common()],
            )
        )
    check = summary.get("completeness") or {}
    if check.get("checked"):
        sections.append(
            hp.Text(
                "Completeness",
                f"Parts read back for {check['checked']} ticket(s)/conversation(s): "
                f"{len(check['mismatches'])} with fewer parts than their trail "
                "entries.",
            )
        )
        if check["mismatches"]:
            sections.append(
                hp.Table(
                    "Incomplete tickets and conversations",
                    ["entity", "source key", "expected", "found"],
                    [[m["kind"], m["source_key"], m["expected"], m.get("found")] for m in check["mismatches"]],
                )
            )
    if totals.get("orphans"):
        sections.append(
            hp.Text(
                "Orphans",
                f"{totals['orphans']:,} record(s) wait for a parent that never arrived; "
                "they stay staged and are written by a later run once the parent is "
                "loaded.",
            )
        )
    return hp.Page(title="Reconciliation report", subtitle=subtitle, sections=sections)


def _clock(iso: str) -> str:
    """``2026-11-24T22:33:40+00:00`` -> ``22:33:40`` (the page's subtitle has the date)."""
    return iso[11:19] or iso


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def write(directory: Path, summary: dict) -> list[Path]:
    """reconciliation.{md,json,html} in the run's folder under ``directory``."""
    return hp.write(directory / summary["run_id"], "reconciliation", summary, page(summary))


def _lacking(summary: dict) -> list[list[str]]:
    """The live check's rows for capabilities the workspace refused or ignored (the fallbacks this run took)."""
    checked = summary.get("capabilities")
    return [row for row in CheckResult.from_dict(checked).rows() if row[1] in FAILED] if checked else []
