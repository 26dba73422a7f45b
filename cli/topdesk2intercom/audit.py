"""``topdesk2intercom audit``: the scoping report and migration specification, from one full read of TOPdesk through
the tap itself (what a migration would see), the tap's module probe and the default map. It also leaves in its
folder what ``map propose`` needs: the tap's catalog and a sample of records."""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime
from pathlib import Path

import click

from map_topdesk_intercom.api import DEFAULT_MAP, MapInvalid, is_freely_definable, load_map
from target_intercom.api import Bars, Section, Table, Text
from topdesk2intercom.audit_gaps import (
    RATE_PER_MIN,
    Gap,
    complexity,
    duration,
    estimate,
    gap_inventory,
    requests_per_record,
)
from topdesk2intercom.audit_probe import deployment, probe_modules
from topdesk2intercom.audit_scan import Scan, run_scan
from topdesk2intercom.plugins import discover_catalog
from topdesk2intercom.project import Project, pass_project
from topdesk2intercom.reports import write_report

CATALOG_FILE, SAMPLE_FILE = "catalog.json", "sample.jsonl"


@click.command(name="audit")
@click.option(
    "--map",
    "map_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="map the gap inventory and the timeline are judged by (default: the default map)",
)
@click.option(
    "--rate-per-min",
    type=click.IntRange(min=1),
    default=RATE_PER_MIN,
    show_default=True,
    help="Intercom requests per minute the timeline assumes",
)
@pass_project
def audit(project: Project, map_path: str | None, rate_per_min: int) -> None:
    """Scoping report: counts per object type (active/archived), optional fields and their use, freely definable
    asset types, module access, deployment model, timeline, complexity and the gap inventory (a full read of
    TOPdesk; nothing is written anywhere)."""
    config = project.tap
    try:
        spec = load_map(map_path or DEFAULT_MAP, catalog=False, require_confirmed=False)
    except MapInvalid as exc:
        raise click.ClickException("\n".join(exc.problems)) from None
    out = project.report_dir("audit")
    click.echo("Discovering the tap's catalog ...", err=True)
    catalog = discover_catalog(config)
    (out / CATALOG_FILE).write_text(json.dumps(catalog, indent=1), encoding="utf-8")
    click.echo("Probing TOPdesk's modules ...", err=True)
    probe = probe_modules(config)
    deploy = deployment(config)
    scan = run_scan(config, spec, out / SAMPLE_FILE)
    catalog_streams = [s["tap_stream_id"] for s in catalog.get("streams") or []]
    gaps = gap_inventory(spec, scan.streams, catalog_streams, probe)
    est = estimate(scan.streams, rate_per_min)
    level, reasons = complexity(scan.streams, est, gaps, probe)
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "map": str(spec.path),
        "deployment": deploy,
        "modules": probe,
        "streams": {name: _stream_data(stats) for name, stats in sorted(scan.streams.items())},
        "asset_types": _asset_types(scan),
        "estimate": {
            "writes": est.writes,
            "calls": est.calls,
            "total_calls": est.total_calls,
            "rate_per_min": est.rate_per_min,
            "hours": round(est.hours, 3),
            "calls_per_record": {k: requests_per_record(k) for k in est.writes},
        },
        "complexity": {"level": level, "reasons": [{"level": lv, "reason": r} for lv, r in reasons]},
        "gaps": [vars(g) for g in gaps],
        "files": {"catalog": str(out / CATALOG_FILE), "sample": str(out / SAMPLE_FILE)},
    }
    title = "TOPdesk audit and migration specification"
    subtitle = (
        f"{config['url']} ({deploy['model']}), {sum(s.records for s in scan.streams.values()):,} records "
        f"in {len(scan.streams)} streams; complexity {level}"
    )
    sections = _sections(scan, probe, deploy, est, level, reasons, gaps, out)
    paths = write_report(out, "audit", data, title, sections, subtitle)
    hidden = [m for m, e in probe.items() if e.get("status") in ("probably hidden", "forbidden")]
    if hidden:
        click.echo(f"WARNING: hidden from this operator: {', '.join(sorted(hidden))} (see the module table)", err=True)
    click.echo(f"Complexity {level}; ≈ {duration(est.hours)} of Intercom writes; {len(gaps)} gap(s).")
    click.echo(f"Next: `topdesk2intercom map propose` (uses {out / CATALOG_FILE} and {out / SAMPLE_FILE})")
    for path in paths:
        click.echo(str(path))


def _stream_data(stats: t.Any) -> dict[str, t.Any]:
    return {
        "records": stats.records,
        "active": stats.active,
        "archived": stats.archived,
        "no_archive_marker": stats.unmarked,
        "outputs": dict(stats.outputs),
        "flagged": sum(stats.flags.values()),
        "optional_fields": {
            path: {"type": kind, "filled": stats.optional_filled.get(path, 0)}
            for path, kind in sorted(stats.optional_declared.items())
        },
    }


def _asset_types(scan: Scan) -> dict[str, dict[str, t.Any]]:
    return {
        name: {
            "template": stats.template_name,
            "freely_definable": is_freely_definable(name),
            "records": stats.records,
            "fields": [{"name": key, "label": label, "type": kind} for key, label, kind in stats.fields],
        }
        for name, stats in sorted(scan.streams.items())
        if name.startswith("assets_")
    }


def _sections(
    scan: Scan,
    probe: dict,
    deploy: dict,
    est: t.Any,
    level: str,
    reasons: list[tuple[str, str]],
    gaps: list[Gap],
    out: Path,
) -> list[Section]:
    streams = dict(sorted(scan.streams.items()))
    counted = {n: s for n, s in streams.items() if s.records}
    summary = Text(
        "Summary",
        "\n\n".join(
            [
                f"Deployment: {deploy['model']}, host {deploy['host']}; REST API version {deploy.get('api_version')}, "
                f"product version {deploy.get('product_version')}.",
                f"Complexity: {level}. Timeline: the map would make {sum(est.writes.values()):,} Intercom records with "
                f"≈ {est.total_calls:,.0f} requests, ≈ {duration(est.hours)} at {est.rate_per_min:,} requests/min "
                "(plus preflight and read-back; a delta run afterwards only writes what changed).",
                f"Saved for `topdesk2intercom map propose`: {out / CATALOG_FILE} (the tap catalog) and "
                f"{out / SAMPLE_FILE} (a sample of records).",
            ]
        ),
    )
    bars = Bars(
        "Records per object type",
        {
            "active": {n: s.active for n, s in counted.items()},
            "archived": {n: s.archived for n, s in counted.items()},
            "no archive marker": {n: s.unmarked for n, s in counted.items()},
        },
        note="active/archived from each record's `archived` flag or its status (e.g. firstLineArchived)",
    )
    counts = Table(
        "Counts per object type",
        ["stream", "records", "active", "archived", "no archive marker", "Intercom outputs (map)", "flagged"],
        [
            [
                n,
                s.records,
                s.active,
                s.archived,
                s.unmarked,
                ", ".join(f"{k} {v}" for k, v in sorted(s.outputs.items())),
                sum(s.flags.values()),
            ]
            for n, s in streams.items()
        ],
    )
    modules = Table(
        "Module access (tap probe)",
        ["module", "status", "detail"],
        [[m, e.get("status"), e.get("detail")] for m, e in sorted(probe.items())],
        note="'probably hidden': the module answers empty although calls reference its records — "
        "TOPdesk hides data from operators without permission exactly like this",
    )
    deploy_table = Table("Deployment model", ["item", "value"], [[k, v] for k, v in deploy.items() if k != "saas"])
    declared = sum(len(s.optional_declared) for s in streams.values())
    optional = Table(
        "Optional fields in use (optionalFields1/2)",
        ["stream", "field", "type", "records filling it", "of records"],
        [
            [n, path, kind, s.optional_filled[path], s.records]
            for n, s in streams.items()
            for path, kind in sorted(s.optional_declared.items())
            if s.optional_filled.get(path)
        ],
        note=f"{declared} optional fields declared in all; the others are filled by no record "
        "(filled = not empty, not false, not 0). `map propose` turns every filled one into an "
        "Intercom attribute.",
    )
    assets = _asset_types(scan)
    asset_table = Table(
        "Asset types (one stream per asset template)",
        ["stream", "template", "freely definable", "records", "fields"],
        [
            [
                n,
                a["template"] or "",
                "yes" if a["freely_definable"] else "no (standard)",
                a["records"],
                ", ".join(f"{f['label'] or f['name']} ({f['type']})" for f in a["fields"]),
            ]
            for n, a in assets.items()
        ],
        note="freely definable types become their own custom object type (`map propose`)",
    )
    timeline = Table(
        "Intercom writes under the map and the timeline",
        ["output kind", "records", "requests per record", "requests"],
        [[k, n, requests_per_record(k), round(est.calls[k])] for k, n in est.writes.items()],
        note=f"total ≈ {est.total_calls:,.0f} requests ≈ {duration(est.hours)} at "
        f"{est.rate_per_min:,}/min; requests per record as measured by `make bench-target`",
    )
    rating = Table(f"Complexity: {level}", ["level", "reason"], [list(r) for r in reasons])
    gap_table = Table(
        "Gap inventory",
        ["stream / module", "records", "treatment", "outputs", "why"],
        [[g.stream, g.records, g.treatment, ", ".join(g.outputs), g.reason] for g in gaps],
        note="derived from the map: streams it does not map, outputs to the handoff inventory, "
        "warnings, records it flags, and what the tap could not read",
    )
    return [summary, bars, counts, modules, deploy_table, optional, asset_table, timeline, rating, gap_table]
