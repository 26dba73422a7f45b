"""``topdesk2intercom check intercom``: the live check of the workspace the load will write to. What the map relies
on that Intercom does not document is tried with throwaway records (written, read back, deleted), so the load knows
before its first record which capability holds and which fallback to take (target_intercom.capabilities). Its sibling
``check topdesk`` (check_topdesk.py) is the read check of the TOPdesk the sync reads."""

from __future__ import annotations

import click

from target_intercom.api import (
    BY_NAME,
    FAILED,
    CheckResult,
    Ledger,
    PreflightError,
    check_workspace,
    needed_by_ledger,
    run_preflight,
)
from topdesk2intercom.check_topdesk import check_topdesk
from topdesk2intercom.project import (
    Project,
    existing_ledger,
    intercom_client,
    map_definitions,
    pass_project,
    target_map,
)
from topdesk2intercom.reports import write_report


@click.group(name="check")
def check_group() -> None:
    """Live checks of the services the migration talks to."""


check_group.add_command(check_topdesk)


@check_group.command(name="intercom")
@click.option("--dry-run", is_flag=True, help="write nothing: say what the check would write")
@pass_project
def check_intercom(project: Project, dry_run: bool) -> None:
    """Try in the configured Intercom workspace what the map relies on beyond Intercom's documentation (a few
    dozen requests; every throwaway record is named `topdesk2intercom-check` and deleted at the end), report each
    capability as holds / refused / ignored with the fallback the load will take, and keep the result for the load."""
    target = project.target
    definitions = map_definitions(target_map(target))
    with intercom_client(target) as client:
        try:
            preflight = run_preflight(
                client,
                definitions,
                {
                    "fallback_admin_email": target.get("fallback_admin_email"),
                    "dry_run": True,
                    "skip_missing_ui_objects": True,
                },
            )
        except PreflightError as exc:
            raise click.ClickException(str(exc)) from None
        if not dry_run:
            click.echo(
                "Checking the workspace with throwaway records (each named topdesk2intercom-check, deleted at "
                "the end; a few dozen requests):"
            )
            for capability in BY_NAME.values():
                if target.get("bulk_preview") or not capability.name.startswith("bulk_"):  # bulk: with bulk_preview
                    click.echo(f"  {capability.name}: {capability.writes}")
        bulk = bool(target.get("bulk_preview"))  # the load's setting: its check judges bulk contacts too
        result = check_workspace(client, definitions, preflight, dry_run=dry_run, bulk_preview=bulk)
    blocking = keep_and_show(project, result)
    if blocking:  # exit 1: the load would refuse to start
        raise click.ClickException("the load would refuse to start:\n" + "\n".join(f"  - {b}" for b in blocking))


def keep_and_show(project: Project, result: CheckResult) -> list[str]:
    """The result kept in the load's ledger (the load uses it while it is fresh), then shown and reported; returns
    why the load would refuse to start (``CheckResult.blocking`` with what the ledger needs)."""
    ledger = existing_ledger(project.target) if result.dry_run else Ledger(Ledger.url_from_config(project.target))
    try:
        if ledger is not None and not result.dry_run:
            ledger.save_check(
                str(result.workspace.get("app_id")), result.map_digest, result.checked_at, result.as_dict()
            )
        blocking = result.blocking(needed=needed_by_ledger(ledger))
    finally:
        if ledger is not None:
            ledger.close()
    show(project, result)
    return blocking


def show(project: Project, result: CheckResult) -> None:
    """The verdicts as a table on the terminal, and check.{md,json,html} in the command's report folder."""
    rows = result.rows()
    widths = [max(len(r[i]) for r in [*rows, ["capability", "verdict", "", ""]]) for i in range(2)]
    click.echo(
        f"{result.title()}: workspace {result.workspace.get('name')!r} (app {result.workspace.get('app_id')}), "
        + ("nothing written" if result.dry_run else f"{result.requests} requests in {result.seconds:.1f} s")
    )
    for name, verdict, detail, does in rows:
        click.echo(f"  {name:<{widths[0]}}  {verdict:<{widths[1]}}  {detail}")
        if verdict in FAILED:
            click.echo(f"  {'':<{widths[0]}}  {'':<{widths[1]}}  -> the load: {does}")
    for item in result.leftovers:
        click.echo(f"  left in Intercom: {item}")
    paths = write_report(project.report_dir("check"), "check", result.as_dict(), result.title(), result.sections())
    click.echo("Report: " + ", ".join(str(p) for p in paths))
