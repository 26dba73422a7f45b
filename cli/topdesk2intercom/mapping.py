"""``topdesk2intercom map``: transform's map commands with the project's settings. ``validate`` and ``confirm`` are
transform's own; ``propose`` gathers its inputs itself — the tap catalog and a record sample from the latest audit
(or a fresh discovery and a small extraction), and the Intercom workspace's attributes — then runs transform's
propose with them."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import click
from tqdm import tqdm

from map_topdesk_intercom.api import OPTIONAL_GROUPS, OPTIONAL_TARGETS, is_filled, topdesk_map
from map_topdesk_intercom.api import propose as transform_propose
from target_intercom.api import IntercomError
from topdesk2intercom.audit import CATALOG_FILE, SAMPLE_FILE
from topdesk2intercom.audit_scan import SAMPLE_PER_STREAM
from topdesk2intercom.plugins import discover_catalog, select_only, tap_messages
from topdesk2intercom.project import Project, intercom_client, pass_project

DEFAULT_OUT = "topdesk-intercom.map.yml"
ATTRIBUTES_FILE = "intercom-attributes.json"


@click.group(name="map")
def map_group() -> None:
    """Propose, validate and confirm the TOPdesk -> Intercom map file (transform's `topdesk-map`)."""


map_group.add_command(topdesk_map.commands["validate"], name="validate")
map_group.add_command(topdesk_map.commands["confirm"], name="confirm")


def latest_audit(project: Project) -> Path | None:
    """The newest ``audit-*`` report folder holding a catalog and a sample (stamps sort in time order)."""
    base = Path(project.target.get("report_dir") or (project.root or Path.cwd()) / "reports")
    folders = sorted(
        (p for p in base.glob("audit-*") if (p / CATALOG_FILE).is_file() and (p / SAMPLE_FILE).is_file()),
        key=lambda p: p.name,
    )
    return folders[-1] if folders else None


def sample_streams(catalog: dict[str, t.Any]) -> set[str]:
    """What propose reads records of: the streams with optional fields it maps, and every asset type."""
    names = {s["tap_stream_id"] for s in catalog.get("streams") or []}
    return {n for n in names if n in OPTIONAL_TARGETS or n.startswith("assets_")}


def extract_sample(
    config: dict[str, t.Any], catalog: dict[str, t.Any], path: Path, per_stream: int = SAMPLE_PER_STREAM
) -> None:
    """A small extraction for propose: only the streams it reads; keeps the SCHEMAs and, per stream, the first
    ``per_stream`` records plus any record filling an optional field no kept record fills."""
    kept: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    with path.open("w", encoding="utf-8") as out, tqdm(desc="sampling", unit=" records", disable=None) as bar:
        for message in tap_messages(config, catalog=select_only(catalog, sample_streams(catalog))):
            if message.get("type") == "SCHEMA":
                out.write(json.dumps(message) + "\n")
            if message.get("type") != "RECORD":
                continue
            bar.update(1)
            stream, record = message["stream"], message.get("record") or {}
            new = {
                (stream, f"{g}.{k}") for g in OPTIONAL_GROUPS for k, v in (record.get(g) or {}).items() if is_filled(v)
            } - seen
            if kept.get(stream, 0) < per_stream or new:
                seen |= new
                kept[stream] = kept.get(stream, 0) + 1
                out.write(json.dumps(message) + "\n")


def intercom_attributes(config: dict[str, t.Any]) -> list[dict]:
    """The workspace's attributes: contact and company (``GET /data_attributes``) and, in 2.16, conversation
    attributes (``GET /conversations/attributes``; ``/data_attributes`` no longer lists them), each with its
    ``model``."""
    client = intercom_client(config)
    try:
        found = list(client.request("GET", "/data_attributes").get("data") or [])
        conversation = client.request("GET", "/conversations/attributes").get("data") or []
    except IntercomError as exc:
        raise click.ClickException(f"reading the workspace's attributes failed: {exc}") from None
    finally:
        client.close()
    return found + [{**a, "model": "conversation"} for a in conversation if isinstance(a, dict)]


@map_group.command(name="propose")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="the proposed map file (default: in the project root, i.e. here)",
)
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(exists=True, dir_okay=False),
    help="the tap's catalog (default: the latest audit's, else a fresh discovery)",
)
@click.option(
    "--sample",
    "sample_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSONL of tap messages (default: the latest audit's, else a small extraction)",
)
@click.option(
    "--intercom-attributes",
    "attributes_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON of the workspace's data and conversation attributes (default: asked of the workspace now)",
)
@click.pass_context
@pass_project
def propose(
    project: Project,
    ctx: click.Context,
    out_path: str,
    catalog_path: str | None,
    sample_path: str | None,
    attributes_path: str | None,
) -> None:
    """Write a proposed map (unconfirmed) from the audit's catalog and sample and the workspace's attributes."""
    audit_dir = latest_audit(project) if not (catalog_path and sample_path) else None
    work: Path | None = None
    if audit_dir is not None:
        click.echo(f"Using the audit in {audit_dir}", err=True)
        catalog_path = catalog_path or str(audit_dir / CATALOG_FILE)
        sample_path = sample_path or str(audit_dir / SAMPLE_FILE)
    if not (catalog_path and sample_path and attributes_path):
        work = project.report_dir("map-propose")
    if not catalog_path:
        assert work is not None
        click.echo("No audit found: discovering the tap's catalog ...", err=True)
        catalog_path = str(work / CATALOG_FILE)
        Path(catalog_path).write_text(json.dumps(discover_catalog(project.tap), indent=1), encoding="utf-8")
    if not sample_path:
        assert work is not None
        click.echo("No audit found: extracting a small sample ...", err=True)
        sample_path = str(work / SAMPLE_FILE)
        catalog = json.loads(Path(catalog_path).read_text(encoding="utf-8"))
        extract_sample(project.tap, catalog, Path(sample_path))
    if not attributes_path:
        assert work is not None
        attributes = intercom_attributes(project.target)
        attributes_path = str(work / ATTRIBUTES_FILE)
        Path(attributes_path).write_text(json.dumps({"data": attributes}, indent=1), encoding="utf-8")
        click.echo(f"{len(attributes)} Intercom attribute(s) read from the workspace", err=True)
    ctx.invoke(
        transform_propose,
        catalog_path=catalog_path,
        attributes_path=attributes_path,
        sample_path=sample_path,
        out_path=out_path,
    )
    click.echo(f"Proposed map: {out_path}")
    click.echo(
        f"Next: review it, then `topdesk2intercom map validate {out_path}` and "
        f"`topdesk2intercom map confirm {out_path}` (the map names its catalog: `catalog:`)."
    )
    click.echo(
        f"Then point the target at it: `meltano config target-intercom set map_file {out_path}` "
        "(or `map_file` in the target config file)."
    )
