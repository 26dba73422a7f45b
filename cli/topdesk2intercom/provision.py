"""``topdesk2intercom provision``: the target's preflight on its own, before any record moves. It creates the data
attributes, conversation attributes, ticket types and their attributes the map needs, checks what only an admin can
create in Intercom's UI (custom object types, teams), and reports it all, so the first load never stops halfway."""

from __future__ import annotations

import click

from map_topdesk_intercom.api import MapSpec
from target_intercom.api import (
    CheckResult,
    PreflightError,
    PreflightReport,
    Section,
    Text,
    check_workspace,
    preflight_for,
    preflight_sections,
    run_preflight,
    with_fallbacks,
)
from topdesk2intercom.check import keep_and_show
from topdesk2intercom.project import Project, intercom_client, map_definitions, pass_project, target_map
from topdesk2intercom.reports import write_report


def ui_objects_to_create(spec: MapSpec, report: PreflightReport, check: CheckResult | None = None) -> list[dict]:
    """The custom object types an admin must create (or complete with a relationship) in Intercom's UI, each as a
    whole definition: name, attributes with data types (with the text attributes a fallback needs where the
    workspace's check found instances unable to link each other), relationships with their hosts and cardinality."""
    missing = {p.name for p in report.problems if p.kind == "custom_object_type"}
    relationships = {p.name for p in report.problems if p.kind == "relationship"}
    objects = with_fallbacks({"custom_object_types": spec.ui_custom_objects()}, check)["custom_object_types"]
    return [
        d for d in objects if d["name"] in missing or relationships & {r["name"] for r in d.get("relationships") or []}
    ]


def _rows(report: PreflightReport) -> list[tuple[str, str, str, str]]:
    """(status, kind, name, in) for every object the preflight handled: the provisioning list."""
    rows = [("created", e.kind, e.name, e.scope or "") for e in report.created]
    rows += [("updated", e.kind, e.name, e.scope or "") for e in report.updated]
    rows += [("would create/update", e.kind, e.name, e.scope or "") for e in report.planned]
    rows += [("already there", e.kind, e.name, e.scope or "") for e in report.existing]
    return rows


@click.command(name="provision")
@click.option("--dry-run", is_flag=True, help="check only: list what would be created, create nothing")
@click.option(
    "--skip-missing-ui-objects",
    is_flag=True,
    help="exit 0 even when UI-only objects (custom object types, teams) are missing",
)
@pass_project
def provision(project: Project, dry_run: bool, skip_missing_ui_objects: bool) -> None:
    """Create the attributes and ticket types the map needs in Intercom, check the UI-only objects, and report.
    Exits 1 when something blocks the load (unless --skip-missing-ui-objects lets missing UI-only objects pass)."""
    target = project.target
    spec = target_map(target)
    definitions = map_definitions(spec)
    settings = {
        "fallback_admin_email": target.get("fallback_admin_email"),
        "dry_run": dry_run,
        "skip_missing_ui_objects": skip_missing_ui_objects or bool(target.get("skip_missing_ui_objects")),
    }
    with intercom_client(target) as client:
        try:
            report = run_preflight(client, definitions, settings)
        except PreflightError as exc:
            raise click.ClickException(str(exc)) from None
        # what the map relies on beyond the documentation, now that its ticket types exist (the load uses it)
        bulk = bool(target.get("bulk_preview"))
        checking = target.get("live_check", True) and not dry_run
        check = check_workspace(client, definitions, report, bulk_preview=bulk) if checking else None
        report = preflight_for(client, definitions, settings, report, check)  # as the load will see it
    blocking = report.blocking()
    rows = _rows(report)
    verb = "would be created or updated" if dry_run else "created"
    done = len(report.planned) if dry_run else len(report.created) + len(report.updated)
    click.echo(
        f"Provision{' (dry run)' if dry_run else ''}: {done} {verb}, {len(report.existing)} already there, "
        f"{len(report.problems)} problem(s) ({len(blocking)} blocking)"
    )
    for status, kind, name, scope in rows:
        click.echo(f"  {status:<20} {kind:<24} {name}" + (f"  (in {scope})" if scope else ""))
    if report.problems:
        click.echo("To do in Intercom (differs / missing; UI-only objects must be created by an admin):")
        for problem in report.problems:
            click.echo(f"  - {problem.message}" + ("  [UI-only]" if problem.ui_only else ""))
    for warning in report.warnings:
        click.echo(f"  warning: {warning}")

    data = {
        "dry_run": dry_run,
        "blocking": [p.message for p in blocking],
        "ui_objects_to_create": ui_objects_to_create(spec, report, check),
        **report.as_dict(),
    }
    sections: list[Section] = [
        Text(
            "Summary",
            f"{done} {verb}, {len(report.existing)} already there, {len(report.problems)} "
            f"problem(s), {len(blocking)} blocking the load.",
        ),
        *preflight_sections(report),
    ]
    title = "Provision (dry run)" if dry_run else "Provision"
    paths = write_report(project.report_dir("provision"), "provision", data, title, sections)
    click.echo("Report: " + ", ".join(str(p) for p in paths))
    refusals = keep_and_show(project, check) if check is not None else []
    if blocking or refusals:
        raise click.ClickException(
            "; ".join(
                (
                    [
                        f"{len(blocking)} problem(s) block the load: "
                        + "; ".join(f"{p.kind} `{p.name}`" for p in blocking)
                    ]
                    if blocking
                    else []
                )
                + [f"the load would refuse to start: {r}" for r in refusals]
            )
        )
