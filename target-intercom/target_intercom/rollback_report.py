"""The rollback's report: what was restored, deleted, kept, left for a person and dropped, per entity, as sections
of one page (html_page renders its Markdown and HTML beside the JSON summary). The summary itself is built by
target_intercom.rollback; this module only presents it."""

from __future__ import annotations

from pathlib import Path

from target_intercom import html_page as hp

MD_LIMIT = 200  # rows per list in the Markdown report; the JSON has them all
ROLLBACK_COLUMNS = (
    "to_restore",
    "restored",
    "not_restored",
    "selected",
    "deleted",
    "with_container",
    "already_gone",
    "not_created",
    "aliases",
    "manual",
    "failed",
)
#: (heading, summary key, columns, note) of each list of entities the report shows when it has any
LISTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "Not restored",
        "not_restored",
        ("kind", "source_key", "intercom_id", "run_id", "reason"),
        "Changed since the run, by a later run or by someone in Intercom: left as it is. Roll the later run back "
        "first, or restore it anyway with --force.",
    ),
    (
        "Not restorable",
        "not_restorable",
        ("kind", "source_key", "intercom_id", "run_id", "reason"),
        "Restored, except what Intercom keeps of the change.",
    ),
    (
        "Could not delete",
        "failed",
        ("kind", "source_key", "intercom_id", "reason"),
        "Still in Intercom and still in the ledger: run the rollback again to retry.",
    ),
    (
        "Remove by hand",
        "manual",
        ("kind", "source_key", "intercom_id", "container", "reason"),
        "Intercom offers no API delete for these.",
    ),
    ("Kept (not created by the rolled-back run)", "kept", ("kind", "source_key", "intercom_id", "reason"), ""),
    (
        "Held records dropped",
        "held_dropped",
        ("kind", "source_key", "run_id", "attempts"),
        "Staged by the rolled-back run but never written: re-send them by running the tap from the state before "
        "that run.",
    ),
    ("Would be removed", "plan", ("kind", "source_key", "intercom_id", "status", "action"), ""),
)


def write(directory: Path, summary: dict) -> Path:
    """rollback.{md,json,html} in ``directory``; returns the Markdown's path (the one the console names)."""
    return hp.write(directory, "rollback", summary, page(summary))[0]


def page(summary: dict) -> hp.Page:
    """Status, the per-entity counts, the lists of entities, and what a rollback never does."""
    title = "Rollback plan (dry run)" if summary["dry_run"] else f"Rollback {summary['rollback_run_id']}"
    of = "every run" if summary["of"] == "all" else "run " + summary["of"]
    totals = summary["totals"]
    sections: list[hp.Section] = [
        hp.Text(
            "Status",
            f"{summary['status']}. Order: {' → '.join(summary['order']) or '(nothing to do)'} "
            "(children before parents, newest first within a kind; what the run changed is restored first, then "
            "what it created is deleted).",
        ),
        hp.Table(
            "Per entity",
            ["entity", *(c.replace("_", " ") for c in ROLLBACK_COLUMNS)],
            [[kind, *(row[c] for c in ROLLBACK_COLUMNS)] for kind, row in summary["entities"].items()],
            footer=[["total", *(totals[c] for c in ROLLBACK_COLUMNS)]],
        ),
        hp.Bars(
            "Restored and deleted per entity",
            {
                "restored": {k: r["restored"] for k, r in summary["entities"].items()},
                "deleted": {k: r["deleted"] for k, r in summary["entities"].items()},
            },
        ),
    ]
    for heading, key, columns, note in LISTS:
        rows = summary.get(key) or []
        if rows:
            sections.append(
                hp.Table(
                    f"{heading} ({len(rows):,})",
                    list(columns),
                    [[r.get(c) for c in columns] for r in rows],
                    note=note,
                    markdown_limit=MD_LIMIT,
                )
            )
    if summary.get("what_deleting_does"):
        sections.append(
            hp.Table(
                "What a delete does in Intercom",
                ["kind", "what a delete does"],
                [[kind, effect] for kind, effect in summary["what_deleting_does"].items()],
            )
        )
    sections.append(hp.Text("Not rolled back by design", "\n\n".join(summary["not_rolled_back"])))
    return hp.Page(f"{title}: {of}", sections=sections)
