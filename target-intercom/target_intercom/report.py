"""The reconciliation report of one run: what arrived, what was written, what was not and why. Markdown for
people, JSON for machines; no secrets (the config is never copied into it)."""

from __future__ import annotations

import json
import typing as t
from collections import Counter
from pathlib import Path

INVENTORY = "rebuild_inventory"  # issues of this category are the handoff's list of what has no Intercom home
MD_LIMIT = 100  # per issue category in the Markdown; the JSON has them all
COLUMNS = ("received", "created", "updated", "unchanged", "matched", "merged", "listed", "skipped", "failed", "flagged",
           "held")


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
    by_reason = Counter((i["category"], i["kind"], i["reason"]) for i in issues if i["category"] != INVENTORY)
    totals = {c: sum(r[c] for r in rows.values()) for c in COLUMNS}
    return {
        "run_id": run_id,
        "entities": rows,
        "totals": {**totals, "orphans": orphans},
        "issues_by_reason": [{"category": c, "kind": k, "reason": r, "count": n}
                             for (c, k, r), n in by_reason.most_common()],
        "manual_review": [i for i in issues if i["category"] == "manual_review"],
        "issues": [i for i in issues if i["category"] not in ("manual_review", INVENTORY)],
        "rebuild_inventory": [{"source_key": i["source_key"], "kind": i.get("field"), **(i.get("detail") or {})}
                              for i in issues if i["category"] == INVENTORY],
        "completeness": target.completeness,
        "preflight": target.preflight.as_dict() if target.preflight else None,
        "requests": target.client.stats,
    }


def markdown(summary: dict) -> str:
    totals = summary["totals"]
    columns = [c for c in COLUMNS if totals[c] or c in ("received", "created", "failed")]
    lines = [f"# Reconciliation report: run {summary['run_id']}", "",
             "| entity | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for kind, row in summary["entities"].items():
        lines.append(f"| {kind} | " + " | ".join(f"{row[c]:,}" for c in columns) + " |")
    lines.append("| **total** | " + " | ".join(f"**{totals[c]:,}**" for c in columns) + " |")
    if summary["issues_by_reason"]:
        lines += ["", "## Issues by reason", "", "| category | entity | reason | count |", "|---|---|---|---:|"]
        lines += [f"| {i['category']} | {i['kind']} | {i['reason']} | {i['count']:,} |"
                  for i in summary["issues_by_reason"]]
    if summary["manual_review"]:
        lines += ["", "## Manual review queue", "", "| entity | source key | last error |", "|---|---|---|"]
        lines += [f"| {i['kind']} | {i['source_key']} | {i['reason']} |" for i in summary["manual_review"]]
    shown: Counter = Counter()
    listed = []
    for issue in summary["issues"]:
        shown[issue["category"]] += 1
        if shown[issue["category"]] <= MD_LIMIT:
            listed.append(issue)
    if listed:
        lines += ["", "## Records with issues", "", "| category | entity | source key | field | reason | detail |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {i['category']} | {i['kind']} | {i['source_key']} | {i.get('field') or ''} | {i['reason']} | "
                  f"{_detail(i.get('detail'))} |" for i in listed]
        more = {c: n - MD_LIMIT for c, n in shown.items() if n > MD_LIMIT}
        if more:
            lines.append("\n" + ", ".join(f"{n:,} more {c}" for c, n in more.items()) + ": see reconciliation.json")
    if summary.get("completeness") and summary["completeness"]["checked"]:
        check = summary["completeness"]
        lines += ["", f"Completeness: parts read back for {check['checked']} ticket(s)/conversation(s): "
                      f"{len(check['mismatches'])} with fewer parts than their trail entries."]
    if summary["rebuild_inventory"]:
        kinds = Counter(item["kind"] for item in summary["rebuild_inventory"])
        lines += ["", "## Rebuild inventory (no Intercom home: rebuild by hand)", "", "| kind | items |", "|---|---:|"]
        lines += [f"| {kind} | {n:,} |" for kind, n in kinds.most_common()]
    if totals.get("orphans"):
        lines += ["", f"{totals['orphans']:,} record(s) wait for a parent that never arrived; they stay staged and "
                      "are written by a later run once the parent is loaded."]
    return "\n".join(lines) + "\n"


def _detail(detail: dict | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (detail or {}).items() if v not in (None, ""))


def write(directory: Path, summary: dict) -> list[Path]:
    directory = directory / summary["run_id"]
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / "reconciliation.md", directory / "reconciliation.json"
    md.write_text(markdown(summary), encoding="utf-8")
    js.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return [md, js]
