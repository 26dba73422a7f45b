"""`intercom-sandbox`: serve a local Intercom workspace."""

from __future__ import annotations

from pathlib import Path

import click

from intercom_sandbox.capabilities import CAPABILITIES, MODES, parse_deny
from sandbox_common.server import serve as run_server


def _deny(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``--deny`` values as the ``deny`` setting; an unknown name or mode is a usage error listing the valid ones."""
    try:
        return parse_deny(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def _locales(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    locales = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    from intercom_sandbox.routes.articles import spec_locales

    unknown = [x for x in locales if x not in spec_locales()]
    if not locales or unknown:
        raise click.BadParameter(f"locales of the 2.16 spec, at least one; unknown: {unknown}", ctx=ctx, param=param)
    return locales


@click.group()
def main() -> None:
    """A local Intercom workspace for demos and tests."""


@main.command()
@click.option("--port", type=int, default=8182, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    default=("sandbox-intercom-token",),
    show_default=True,
    help="Accepted Bearer token: one private app of the workspace. Repeatable (more apps of the same workspace).",
)
@click.option(
    "--app-rate-limit",
    "--rate-limit",
    "app_rate_limit",
    type=click.IntRange(min=6),
    default=10000,
    show_default=True,
    help="Requests/minute per app (each token its own budget). --rate-limit is an alias.",
)
@click.option(
    "--workspace-rate-limit",
    type=click.IntRange(min=6),
    default=25000,
    show_default=True,
    help="Requests/minute all apps of the workspace share.",
)
@click.option(
    "--foreign-token",
    "foreign_tokens",
    multiple=True,
    help="Token of an app of ANOTHER workspace: GET /me answers that app, every other request 401. Repeatable.",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 5xx or cut before they are handled.",
)
@click.option(
    "--lost-answer-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests handled (writes applied) whose answer is lost: 502/503/504 or a cut body.",
)
@click.option("--fault-seed", type=int, default=None, help="Seed for the fault draws (reproducible faults).")
@click.option("--admins", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSON file of admins.")
@click.option("--teams", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSON file of teams.")
@click.option("--custom-object-types", default="", help="Comma-separated custom object types that exist (name only).")
@click.option(
    "--custom-objects",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON file of custom object types as an admin defines them in the UI: [{"name", "attributes": [{"name", '
    '"data_type"}], "relationships": [{"name", "from": ["contact", "conversation", "ticket", "<type>"], '
    '"cardinality": "one|many"}]}].',
)
@click.option(
    "--default-version",
    default="2.16",
    show_default=True,
    help="Intercom-Version used when a request sends none (the app's setting in Developer Hub).",
)
@click.option("--timezone", default="UTC", show_default=True, help="Workspace time zone (search by calendar day).")
@click.option(
    "--search-delay",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds before a new contact shows up in search (Intercom's search is eventually consistent).",
)
@click.option(
    "--ticket-type-attributes-key",
    type=click.Choice(["data", "ticket_type_attributes"]),
    default="data",
    show_default=True,
    help="Where a ticket type lists its attributes: 'data' (the 2.16 spec's examples) or 'ticket_type_attributes' "
    "(its schema).",
)
@click.option(
    "--deny",
    "deny",
    multiple=True,
    callback=_deny,
    metavar="CAP[:MODE][,CAP[:MODE]...]",
    help=f"Play a workspace lacking a capability the migration assumes; MODE {' or '.join(MODES)} (default "
    f"refused: 400; ignored: 200, the value dropped). Repeatable. Capabilities: {', '.join(CAPABILITIES)}.",
)
@click.option(
    "--help-center-locales",
    default="en",
    show_default=True,
    callback=_locales,
    help="Comma-separated locales of the help center, the default first (translated_content of articles, collections).",
)
def serve(
    port: int,
    host: str,
    tokens: tuple[str, ...],
    app_rate_limit: int,
    workspace_rate_limit: int,
    foreign_tokens: tuple[str, ...],
    latency_ms: float,
    fault_rate: float,
    lost_answer_rate: float,
    fault_seed: int | None,
    admins: Path | None,
    teams: Path | None,
    custom_object_types: str,
    custom_objects: Path | None,
    default_version: str,
    timezone: str,
    search_delay: float,
    ticket_type_attributes_key: str,
    deny: dict[str, str],
    help_center_locales: tuple[str, ...],
) -> None:
    """Serve an Intercom workspace; teammates, teams and custom object types exist only when seeded here."""
    from intercom_sandbox.app import WorkspaceSettings, create_app

    settings = WorkspaceSettings(
        token=tokens[0],
        extra_tokens=tuple(tokens[1:]),
        rate_limit_per_minute=app_rate_limit,
        workspace_rate_limit_per_minute=workspace_rate_limit,
        foreign_tokens=tuple(foreign_tokens),
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        lost_answer_rate=lost_answer_rate,
        fault_seed=fault_seed,
        admins_file=admins,
        teams_file=teams,
        custom_object_types=tuple(t.strip() for t in custom_object_types.split(",") if t.strip()),
        custom_objects_file=custom_objects,
        default_version=default_version,
        timezone=timezone,
        search_delay_seconds=search_delay,
        ticket_type_attributes_key=ticket_type_attributes_key,
        deny=deny,
        help_center_locales=help_center_locales,
    )
    try:
        app = create_app(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    foreign = f", {len(foreign_tokens)} foreign token(s)" if foreign_tokens else ""
    click.echo(
        f"Intercom sandbox on http://{host}:{port} (rate limit {app_rate_limit}/min per app, "
        f"{workspace_rate_limit}/min per workspace; {len(tokens)} app(s){foreign})"
    )
    run_server(app, host=host, port=port)


if __name__ == "__main__":
    main()
