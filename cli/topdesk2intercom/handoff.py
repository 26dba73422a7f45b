"""``topdesk2intercom handoff``: the documents an Intercom admin needs after the migration — the automation
inventory (what has no Intercom home and is rebuilt by hand), the knowledge-base article map (TOPdesk knowledge item
-> Intercom article and its URL) and the asset/CI schema document (each custom object type, where its records come
from, and whether Intercom has it). Sources: the target's ledger (what the migration wrote or listed), the map, the
Intercom API and, unless ``--no-topdesk``, TOPdesk read again through the tap (knowledge item numbers, and inventory
items no load has listed yet)."""

from __future__ import annotations

import json
import typing as t
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import quote

import click
from tqdm import tqdm

from map_topdesk_intercom.api import DEFAULT_MAP, Engine, MapInvalid, MapSpec, load_map
from target_intercom.api import Bars, IntercomClient, IntercomError, Ledger, Section, Table, Text, open_ledger
from topdesk2intercom.audit_gaps import INVENTORY, active_outputs
from topdesk2intercom.plugins import discover_catalog, select_only, tap_messages
from topdesk2intercom.project import Project, intercom_client, pass_project
from topdesk2intercom.reports import write_report

KNOWLEDGE_STREAM = "knowledge_items"


# ---------------------------------------------------------------- TOPdesk, read again


def read_topdesk(config: dict[str, t.Any], spec: MapSpec) -> tuple[dict[str, dict], dict[str, dict]]:
    """(knowledge item id -> {number, title}, inventory source_key -> item) from one extraction of only the
    knowledge items and the streams the map sends wholly to the inventory (events/actions, activity templates,
    asset templates); the inventory items are what the map makes of them (the target lists the same)."""
    catalog = discover_catalog(config)
    names = {s["tap_stream_id"] for s in catalog.get("streams") or []}
    inventory_streams = {
        n for n in names if (outs := active_outputs(spec, n)) and all(o.output == INVENTORY for o in outs)
    }
    engine = Engine(spec)
    knowledge: dict[str, dict] = {}
    items: dict[str, dict] = {}
    wanted = inventory_streams | ({KNOWLEDGE_STREAM} & names)
    with tqdm(desc="reading TOPdesk", unit=" records", disable=None) as bar:
        for message in tap_messages(config, catalog=select_only(catalog, wanted)):
            if message.get("type") != "RECORD":
                continue
            bar.update(1)
            stream, record = message["stream"], message.get("record") or {}
            if stream == KNOWLEDGE_STREAM:
                title = ((record.get("translation") or {}).get("content") or {}).get("title")
                knowledge[str(record.get("id"))] = {"number": record.get("number"), "title": title}
            elif stream in inventory_streams:
                for output, produced in engine.apply(stream, record):
                    if output == INVENTORY:
                        items[str(produced.get("source_key"))] = {
                            key: produced.get(key) for key in ("kind", "name", "module", "detail")
                        }
    return knowledge, items


# ---------------------------------------------------------------- the three documents


def automation_inventory(ledger: Ledger, from_topdesk: dict[str, dict]) -> list[dict[str, t.Any]]:
    """Every inventory item the migration listed (ledger), plus those TOPdesk has that no load listed yet."""
    rows: dict[str, dict[str, t.Any]] = {}
    for entity in tqdm(ledger.entities(INVENTORY), desc="inventory", unit=" items", disable=None):
        extra = entity.extra or {}
        rows[entity.source_key] = {
            "source_key": entity.source_key,
            "kind": extra.get("kind"),
            "name": extra.get("name"),
            "module": extra.get("module"),
            "detail": extra.get("detail"),
            "related": extra.get("related"),
            "listed_by_migration": True,
        }
    for key, item in from_topdesk.items():
        if key not in rows:
            rows[key] = {"source_key": key, **item, "related": None, "listed_by_migration": False}
    return sorted(rows.values(), key=lambda r: (str(r["kind"]), str(r["module"]), str(r["name"])))


def collection_map(ledger: Ledger, client: IntercomClient) -> list[dict[str, t.Any]]:
    """TOPdesk knowledge folder -> Intercom collection (name and URL from the Help Center)."""
    online = {str(c.get("id")): c for c in client.paginate("/help_center/collections", params={"per_page": 150})}
    rows = []
    for entity in ledger.entities("collections"):
        found = online.get(str(entity.intercom_id), {})
        rows.append(
            {
                "source_key": entity.source_key,
                "intercom_id": entity.intercom_id,
                "name": found.get("name"),
                "url": found.get("url"),
                "alias_of": (entity.extra or {}).get("alias_of"),
                "in_intercom": bool(found),
            }
        )
    return rows


def article_map(
    ledger: Ledger, client: IntercomClient, knowledge: dict[str, dict], collections: dict[str, dict]
) -> list[dict[str, t.Any]]:
    """TOPdesk knowledge item (number, id, language) -> Intercom article (id, URL, collection, state)."""
    entities = list(ledger.entities("articles"))
    rows = []
    for entity in tqdm(entities, desc="articles", unit=" articles", disable=None):
        _prefix, _, rest = entity.source_key.partition(":")
        item_id, _, language = rest.partition(":")
        row: dict[str, t.Any] = {
            "source_key": entity.source_key,
            "topdesk_id": item_id,
            "language": language or None,
            "topdesk_number": (knowledge.get(item_id) or {}).get("number"),
            "intercom_id": entity.intercom_id,
            "title": (entity.extra or {}).get("title"),
        }
        try:
            article = client.request("GET", f"/articles/{quote(str(entity.intercom_id), safe='')}")
        except IntercomError as exc:
            row.update(
                url=None,
                state=None,
                collection=None,
                problem=f"GET /articles/{entity.intercom_id}: HTTP {exc.status} {exc.message}",
            )
        else:
            parents = article.get("parent_ids") or [article.get("parent_id")]  # 2.16+ lists, older versions one
            parent = str(parents[0]) if parents and parents[0] is not None else None
            collection = collections.get(parent) if parent is not None else None
            row.update(
                url=article.get("url"),
                state=article.get("state"),
                title=article.get("title") or row["title"],
                collection=(collection or {}).get("name") or parent,
                problem=None,
            )
        rows.append(row)
    return rows


def object_schema(spec: MapSpec, client: IntercomClient) -> list[dict[str, t.Any]]:
    """Each custom object type the map uses: attributes, relationships, the TOPdesk streams its records and links
    come from, and whether Intercom has it (with its instance count)."""
    sources: dict[str, set[str]] = {}
    links: dict[str, set[str]] = {}
    for key, outputs in spec.streams.items():
        for output in outputs:
            if not all(c.holds({}, spec.strategies) for c in output.when if c.strategy is not None):
                continue
            field = "object_type" if output.output == "custom_object_instances" else "to_type"
            rule = (
                output.fields.get(field)
                if output.output in ("custom_object_instances", "custom_object_links")
                else None
            )
            value = getattr(rule, "value", None)
            if isinstance(value, str):
                (sources if field == "object_type" else links).setdefault(value, set()).add(key)
    types = []
    for object_type in spec.active(spec.custom_object_types):
        record = object_type.record()
        entry: dict[str, t.Any] = {
            "name": object_type.name,
            "description": object_type.description,
            "attributes": record.get("attributes") or [],
            "relationships": record.get("relationships") or [],
            "topdesk_streams": sorted(sources.get(object_type.name, set())),
            "linked_from_streams": sorted(links.get(object_type.name, set())),
        }
        try:
            body = client.request(
                "GET", f"/custom_object_instances/{quote(object_type.name, safe='')}", params={"per_page": 1}
            )
            entry.update(in_intercom=True, instances=body.get("total_count"))
        except IntercomError as exc:
            entry.update(
                in_intercom=False if exc.status == 404 else None,
                instances=None,
                problem=f"HTTP {exc.status} {exc.message}",
            )
        types.append(entry)
    return types


# ---------------------------------------------------------------- the command


@click.command(name="handoff")
@click.option(
    "--topdesk/--no-topdesk",
    "use_topdesk",
    default=True,
    show_default=True,
    help="read TOPdesk again through the tap (knowledge item numbers, inventory items not listed yet)",
)
@pass_project
def handoff(project: Project, use_topdesk: bool) -> None:
    """Handoff documents: automation inventory, knowledge-base article map, asset/CI schema document."""
    target = project.target
    try:
        spec = load_map(target.get("map_file") or DEFAULT_MAP, catalog=False, require_confirmed=False)
    except MapInvalid as exc:
        raise click.ClickException("\n".join(exc.problems)) from None
    knowledge, topdesk_items = read_topdesk(project.tap, spec) if use_topdesk else ({}, {})
    client = intercom_client(target)
    try:
        with open_ledger(target) as ledger:
            if not ledger.runs(limit=1):
                click.echo(
                    "WARNING: the ledger has no run yet: migrate first (`meltano run tap-topdesk "
                    "target-intercom`); the documents below are empty where they depend on it",
                    err=True,
                )
            inventory = automation_inventory(ledger, topdesk_items)
            collections = collection_map(ledger, client)
            by_id = {str(c["intercom_id"]): c for c in collections}
            articles = article_map(ledger, client, knowledge, by_id)
        schema = object_schema(spec, client)
    except IntercomError as exc:
        raise click.ClickException(f"Intercom: {exc}") from None
    finally:
        client.close()
    out = project.report_dir("handoff")
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "map": str(spec.path),
        "automation_inventory": inventory,
        "articles": articles,
        "collections": collections,
        "custom_object_types": schema,
    }
    title = "Migration handoff"
    subtitle = (
        f"{len(inventory)} item(s) to rebuild by hand, {len(articles)} article(s), {len(schema)} custom object type(s)"
    )
    sections = _sections(inventory, articles, collections, schema)
    paths = write_report(out, "handoff", data, title, sections, subtitle)
    missing = [s["name"] for s in schema if s.get("in_intercom") is False]
    broken = [a["source_key"] for a in articles if a.get("problem")]
    if missing:
        click.echo(f"WARNING: custom object type(s) missing in Intercom: {', '.join(missing)}", err=True)
    if broken:
        click.echo(
            f"WARNING: {len(broken)} article(s) of the ledger not found in Intercom (see the article map)", err=True
        )
    click.echo(subtitle)
    for path in paths:
        click.echo(str(path))


def _sections(
    inventory: list[dict], articles: list[dict], collections: list[dict], schema: list[dict]
) -> list[Section]:
    kinds = Counter(str(i["kind"]) for i in inventory)
    intro = Text(
        "What this is",
        "\n\n".join(
            [
                "Automation inventory: TOPdesk configuration with no Intercom home (events and actions, activity "
                "templates, schedules, permission levels, asset templates, ...). Rebuild each as Intercom workflows, "
                "macros, roles or custom object types; the detail column says what it did in TOPdesk.",
                "Article map: every TOPdesk knowledge item the migration turned into an Intercom article, with its URL "
                "(redirect old links, update macros that quote knowledge item numbers).",
                "Schema document: each custom object type, its attributes and relationships, and the TOPdesk data it "
                "holds.",
            ]
        ),
    )
    sections: list[Section] = [intro]
    if kinds:
        sections.append(Bars("Inventory items per kind", {"items": dict(sorted(kinds.items()))}))
    sections.append(
        Table(
            "Automation inventory (rebuild by hand)",
            ["kind", "module", "name", "detail", "related", "listed by the migration"],
            [
                [
                    i["kind"],
                    i["module"],
                    i["name"],
                    i["detail"],
                    i["related"],
                    "yes" if i["listed_by_migration"] else "no (not loaded yet)",
                ]
                for i in inventory
            ],
        )
    )
    sections.append(
        Table(
            "Knowledge-base article map",
            ["TOPdesk number", "TOPdesk id", "language", "title", "Intercom article", "URL", "collection", "state"],
            [
                [
                    a["topdesk_number"],
                    a["topdesk_id"],
                    a["language"],
                    a["title"],
                    a["intercom_id"],
                    a["url"] or a.get("problem") or "(not published: no public URL)",
                    a["collection"],
                    a["state"],
                ]
                for a in articles
            ],
        )
    )
    sections.append(
        Table(
            "Collections (TOPdesk knowledge folders)",
            ["TOPdesk folder", "Intercom collection", "name", "URL"],
            [[c["source_key"], c["intercom_id"], c["name"], c["url"]] for c in collections],
        )
    )
    templates = sorted({str(i["name"]) for i in inventory if i["kind"] == "asset_template"})
    sections.append(
        Table(
            "Custom object types",
            ["type", "TOPdesk source", "links made from", "in Intercom", "instances", "description"],
            [
                [
                    s["name"],
                    ", ".join(s["topdesk_streams"])
                    + (
                        f" (asset templates: {', '.join(templates)})"
                        if templates and any(x.startswith("assets_") for x in s["topdesk_streams"])
                        else ""
                    ),
                    ", ".join(s["linked_from_streams"]),
                    {True: "yes", False: "MISSING", None: "unknown"}[s["in_intercom"]],
                    s["instances"],
                    s["description"],
                ]
                for s in schema
            ],
        )
    )
    sections.append(
        Table(
            "Custom object attributes",
            ["type", "attribute", "data type", "details"],
            [
                [
                    s["name"],
                    a.get("name"),
                    a.get("data_type", "string"),
                    "; ".join(
                        f"{k}: {json.dumps(v) if not isinstance(v, str) else v}"
                        for k, v in a.items()
                        if k not in ("name", "data_type")
                    ),
                ]
                for s in schema
                for a in s["attributes"]
            ],
        )
    )
    sections.append(
        Table(
            "Custom object relationships",
            ["type", "relationship", "from", "cardinality"],
            [
                [s["name"], r.get("name"), r.get("from"), r.get("cardinality") or "many"]
                for s in schema
                for r in s["relationships"]
            ],
        )
    )
    return sections
