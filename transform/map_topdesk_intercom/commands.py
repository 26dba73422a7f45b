"""``topdesk-map``: the map commands (propose, validate, confirm) as one click group, so a project CLI can mount
it (as ``map``)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from map_topdesk_intercom.mapfile import CONFIRM_COMMAND, MapInvalid, MapSpec, catalog_from_file, load_map
from map_topdesk_intercom.propose import main as propose

CONFIRMED_LINE = re.compile(r"^confirmed:[ \t]*[^#\n]*?(?P<rest>[ \t]*(#.*)?)$", re.MULTILINE)


@click.group(name="topdesk-map")
def cli() -> None:
    """Propose, validate and confirm TOPdesk -> Intercom map files."""


cli.add_command(propose, name="propose")


def _check(path: str, catalog_path: str | None) -> MapSpec:
    """Every problem of the map (confirmation aside) on stderr as file:line, then exit 1."""
    try:
        catalog = catalog_from_file(catalog_path) if catalog_path else True
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{catalog_path}:0: cannot read the catalog: {exc}") from None
    try:
        return load_map(path, catalog, require_confirmed=False)
    except MapInvalid as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None


def _summary(spec: MapSpec) -> str:
    outputs = sum(len(specs) for specs in spec.streams.values())
    return f"{len(spec.streams)} streams, {outputs} outputs"


CATALOG_OPTION = click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(exists=True, dir_okay=False),
    help="a Singer catalog (tap-topdesk --discover); default: tap-topdesk's own schemas",
)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@CATALOG_OPTION
def validate(file: str, catalog_path: str | None) -> None:
    """Check FILE against the tap catalog and Intercom's constraints: every problem as file:line, exit 1."""
    spec = _check(file, catalog_path)
    for remark in spec.notes:
        click.echo(f"note: {remark}", err=True)
    note = "" if spec.confirmed else f" (not confirmed yet: `{CONFIRM_COMMAND} {file}`)"
    click.echo(f"OK: {_summary(spec)}{note}")


def set_confirmed(text: str) -> str:
    """``confirmed: true`` as a line edit: the existing top-level line's value (its comment kept), or a new line
    after ``version:`` — comments and layout stay as the user wrote them."""
    if CONFIRMED_LINE.search(text):
        return CONFIRMED_LINE.sub(lambda m: f"confirmed: true{m.group('rest')}", text, count=1)
    lines = text.splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("version:")), 0)
    lines.insert(at, "confirmed: true\n")
    return "".join(lines)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@CATALOG_OPTION
def confirm(file: str, catalog_path: str | None) -> None:
    """Validate FILE, then set `confirmed: true` in it (refused, file untouched, if it has problems)."""
    spec = _check(file, catalog_path)
    if spec.confirmed:
        click.echo(f"{file}: already confirmed ({_summary(spec)})")
        return
    path = Path(file)
    path.write_text(set_confirmed(path.read_text(encoding="utf-8")), encoding="utf-8")
    try:
        load_map(path, catalog_from_file(catalog_path) if catalog_path else True)
    except MapInvalid as exc:  # the edit must give a confirmed, valid map; anything else is a bug to see
        raise click.ClickException("\n".join(exc.problems)) from None
    click.echo(f"{file}: confirmed ({_summary(spec)})")


if __name__ == "__main__":
    cli()
