"""The preflight's report as sections of a page: the workspace, what a person must do in Intercom, what was created,
updated, planned or found, the warnings, and the operators and groups without an Intercom home. ``provision``
shows them; :meth:`PreflightReport.as_markdown` renders them as Markdown."""

from __future__ import annotations

import typing as t

from target_intercom import html_page as hp
from target_intercom.preflight.common import PAGES

if t.TYPE_CHECKING:
    from target_intercom.preflight.model import Entry, PreflightReport

ENTRY_COLUMNS = ["kind", "name", "in", "id", "note"]


def markdown(report: PreflightReport) -> str:
    return hp.markdown(hp.Page("Preflight", sections=sections(report)))


def sections(report: PreflightReport) -> list[hp.Section]:
    """Only what the run has (no empty lists), in the order a person works through them."""
    ws = report.workspace
    out: list[hp.Section] = []
    if ws:
        out.append(
            hp.Text(
                "Workspace",
                f"Workspace {ws.get('name')} (app {ws.get('app_id')}, region {ws.get('region')}); token of "
                f"admin {ws.get('admin_name')} <{ws.get('admin_email')}>.",
            )
        )
    if report.problems:
        skipped = " (UI-only; skipped by setting)" if report.skip_missing_ui_objects else ""
        out.append(
            hp.Table(
                f"To do in Intercom before loading ({len(report.problems)})",
                ["kind", "name", "UI-only", "what to do"],
                [
                    [p.kind, p.name, "yes" if p.ui_only else "no", p.message + (skipped if p.ui_only else "")]
                    for p in report.problems
                ],
            )
        )
    out += [
        _entries(title, entries)
        for title, entries in (
            ("Created", report.created),
            ("Updated", report.updated),
            ("Would be created or updated (dry run)", report.planned),
            ("Already present", report.existing),
        )
        if entries
    ]
    if report.warnings:
        out.append(hp.Text("Warnings", "\n\n".join(report.warnings)))
    return out + _unmatched(report)


def _entries(title: str, entries: list[Entry]) -> hp.Table:
    return hp.Table(
        f"{title} ({len(entries)})",
        ENTRY_COLUMNS,
        [[e.kind, e.name, e.scope or "", e.id or "", e.detail] for e in entries],
    )


def _unmatched(report: PreflightReport) -> list[hp.Section]:
    """Operators and groups the directory could not match: their work goes to the fallback admin, or nowhere."""
    operators, groups = report.directory.unmatched_operators, report.directory.unmatched_groups
    out: list[hp.Section] = []
    if operators:
        out.append(
            hp.Table(
                f"Operators without an Intercom teammate ({len(operators)})",
                ["operator"],
                [[e] for e in operators],
                note="Their work is attributed to the fallback admin "
                f"({report.directory.fallback_admin_id or 'none'}); invite them in {PAGES['admin']} to keep "
                "authorship on a re-run.",
            )
        )
    if groups:
        out.append(
            hp.Table(
                f"Operator groups without an Intercom team ({len(groups)})",
                ["operator group"],
                [[g] for g in groups],
                note=f"Create them in {PAGES['team']}.",
            )
        )
    return out
