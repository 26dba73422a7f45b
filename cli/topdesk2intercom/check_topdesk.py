"""``topdesk2intercom check topdesk``: the live read check of the TOPdesk the sync reads. The tap's module probe, then
the tap's request check: each selected stream's first request, sent once at page size 1 exactly as the sync sends it
(tap_topdesk.request_check), so a request shape this TOPdesk refuses is known before a sync, not hours into one."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import click
from singer_sdk.exceptions import ConfigValidationError

from tap_topdesk.api import FORBIDDEN, HIDDEN, RequestCheck, TapTopdesk, run_probe, run_request_check
from target_intercom.api import Table, Text
from topdesk2intercom.project import Project, pass_project
from topdesk2intercom.reports import write_report

COLUMNS = ["stream", "verdict", "request", "TOPdesk said", "the sync"]


@click.command(name="topdesk")
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Singer catalog whose selected streams to check, e.g. from `meltano invoke --dump=catalog "
    "tap-topdesk` (default: every stream, as a sync without `select`)",
)
@pass_project
def check_topdesk(project: Project, catalog_path: str | None) -> None:
    """Ask the configured TOPdesk, read-only, what a sync would ask first: per selected stream its first request
    with a page size of 1 (one request each, a few more to find parent ids for child streams), judged accepted,
    refused (status and TOPdesk's message; the stream's fallback, or the sync stops before it starts), hidden
    (403/404) or error. Exit 1 when the sync would stop."""
    catalog = json.loads(Path(catalog_path).read_text(encoding="utf-8")) if catalog_path else None
    try:
        tap = TapTopdesk(
            config=project.tap, catalog=catalog, parse_env_config=False, validate_config=True, setup_mapper=False
        )
    except ConfigValidationError as exc:
        raise click.ClickException(f"tap-topdesk's settings are invalid: {'; '.join(exc.errors)}") from None
    click.echo(
        f"Checking {project.tap.get('url')}: the module probe, then each selected stream's first request "
        "(page size 1, read-only) ...",
        err=True,
    )
    modules = run_probe(tap, log=False)
    result = run_request_check(tap, log=False)
    show(project, str(project.tap.get("url")), modules, result, selection=catalog_path or "every stream")
    if result.sync_would_fail:
        reason = result.stop_message() if result.stopping else "TOPdesk rejected the credentials (401)"
        raise click.ClickException(f"the sync would stop before it starts:\n{reason}")


def rows(result: RequestCheck) -> list[list[t.Any]]:
    return [
        [
            c.stream,
            c.verdict,
            c.request or "-",
            f"HTTP {c.status}: {c.message}" if c.status and c.message else c.message,
            c.outcome,
        ]
        for c in result.checks
    ]


def show(
    project: Project, url: str, modules: dict[str, dict[str, t.Any]], result: RequestCheck, selection: str
) -> None:
    """The verdicts as a table on the terminal, and check-topdesk.{md,json,html} in the command's report folder."""
    click.echo(f"TOPdesk read check of {url} ({selection}): {result.summary()}")
    table = rows(result)
    width = max(len(r[0]) for r in [*table, ["stream"]])
    click.echo(f"  {'stream':<{width}}  {'verdict':<11}  request")
    for stream, verdict, request, said, does in table:
        click.echo(f"  {stream:<{width}}  {verdict:<11}  {request}")
        for line in (said, does):
            if line:
                click.echo(f"  {'':<{width}}  {'':<11}  -> {line}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    hidden = sorted(m for m, e in modules.items() if e["status"] in (HIDDEN, FORBIDDEN))
    if hidden:
        click.echo(f"  modules probably hidden from this operator: {', '.join(hidden)} (see the report)")
    title = "TOPdesk read check"
    verdict = "the sync would stop before it starts" if result.sync_would_fail else "the sync can start"
    subtitle = f"{url} ({selection}): {verdict}"
    sections: list[t.Any] = [
        Text(
            "Summary",
            f"{result.summary()}.\n\n"
            + (result.stop_message() if result.stopping else verdict.capitalize() + ".")
            + "".join(f"\n\nNote: {note}." for note in result.notes),
        ),
        Table("First request of each stream", COLUMNS, table),
        Table(
            "Modules (probe)",
            ["module", "status", "detail"],
            [[m, e["status"], e["detail"]] for m, e in sorted(modules.items())],
        ),
    ]
    data = {
        "url": url,
        "selection": selection,
        "sync_would_fail": result.sync_would_fail,
        "request_check": result.as_dict(),
        "modules": modules,
    }
    paths = write_report(
        project.report_dir("check-topdesk"),
        "check-topdesk",
        data,
        title,
        sections,
        subtitle,
    )
    click.echo("Report: " + ", ".join(str(p) for p in paths))
