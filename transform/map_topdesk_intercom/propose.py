"""``topdesk-map propose``: write a proposed map for the user to review and confirm.

The proposal is the default map's text with ``confirmed: false`` plus sections built here as text (PyYAML cannot
write comments, and every addition explains itself in one):

- a custom attribute and a field rule for every optional field (``optionalFields1/2.*`` of persons, branches and
  incidents) that the catalog declares and that a sample of tap records (``--sample``, JSONL of Singer messages)
  shows filled — a catalog has no values, so without a sample no optional field is proposed;
- per freely definable asset type (an ``assets_<template>`` stream whose template is not one of TOPdesk's standard
  hardware/software/licence/network/CI types) a custom object type declaration (one attribute per template field;
  the type itself is created in Intercom's UI) and the stream's own entry (instances + assignee links), which takes
  precedence over the default map's ``assets_*`` pattern;
- for each proposed attribute that already exists in Intercom (``--intercom-attributes``) with another data type,
  a comment saying so, and a distinct name.
"""

from __future__ import annotations

import json
import re
import shutil
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

from map_topdesk_intercom.mapfile import (
    CONFIRM_COMMAND,
    DEFAULT_MAP,
    attribute_name_problem,
    catalog_from_file,
    schema_at,
)

#: stream -> (output, model, field holder, attribute name prefix); contact and company names differ because
#: Intercom keeps people and company data attribute names in one namespace.
OPTIONAL_TARGETS = {
    "persons": ("contacts", "contact", "custom_attributes", "topdesk"),
    "branches": ("companies", "company", "custom_attributes", "topdesk_branch"),
    "incidents": ("tickets", "ticket_type", "ticket_attributes", "topdesk"),
}
OPTIONAL_GROUPS = ("optionalFields1", "optionalFields2")
TICKET_TYPE = "TOPdesk Call"
#: slugs of TOPdesk's standard asset templates (hardware, software, licences, network, telephony); any stream
#: ``assets_<slug>`` whose slug is not here and does not end in ``_ci`` (configuration items) is freely definable.
STANDARD_ASSET_TYPES = {
    "computer", "desktop", "laptop", "notebook", "monitor", "printer", "scanner", "tablet", "mobile_phone",
    "telephone", "phone", "hardware", "peripheral", "software", "licence", "license", "software_licence",
    "software_license", "network", "network_device", "network_component", "switch", "router", "server",
}  # fmt: skip
#: asset columns every asset stream has (not template fields).
ASSET_BUILTINS = {
    "id",
    "name",
    "archived",
    "creationDate",
    "modificationDate",
    "@etag",
    "type_id",
    "@type",
    "@@summary",
    "@status",
    "@assignments",
}


def is_filled(value: t.Any) -> bool:
    """Filled = not null, not empty, not false and not 0 (TOPdesk returns false/0 for unused optional fields)."""
    if value is None or value is False or value == "" or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, dict):
        return any(is_filled(v) for k, v in value.items() if k in ("name", "id")) if value else False
    if isinstance(value, list):
        return bool(value)
    return True


def filled_optional_fields(sample_lines: t.Iterable[str]) -> dict[str, set[str]]:
    """Stream -> ``optionalFieldsN.field`` paths filled in at least one RECORD of the sample."""
    found: dict[str, set[str]] = {}
    for line in sample_lines:
        line = line.strip()
        if not line:
            continue
        message = json.loads(line)
        if (
            not isinstance(message, dict)
            or message.get("type") != "RECORD"
            or message.get("stream") not in OPTIONAL_TARGETS
        ):
            continue
        record = message.get("record") or {}
        for group in OPTIONAL_GROUPS:
            for name, value in (record.get(group) or {}).items():
                if is_filled(value):
                    found.setdefault(message["stream"], set()).add(f"{group}.{name}")
    return found


def asset_type_names(sample_lines: t.Iterable[str]) -> dict[str, str]:
    """Asset stream -> template name as TOPdesk writes it (``@type.name`` of its records), from the sample."""
    names: dict[str, str] = {}
    for line in sample_lines:
        line = line.strip()
        if not line:
            continue
        message = json.loads(line)
        if not isinstance(message, dict):
            continue
        stream = str(message.get("stream") or "")
        if message.get("type") == "RECORD" and stream.startswith("assets_") and stream not in names:
            name = ((message.get("record") or {}).get("@type") or {}).get("name")
            if isinstance(name, str) and name.strip():
                names[stream] = name.strip()
    return names


def intercom_attributes(path: str | Path) -> list[dict]:
    """The JSON of ``GET /data_attributes`` (a list, or ``{"data": [...]}``; several responses may be a list of
    those)."""
    document = json.loads(Path(path).read_text())
    items = document.get("data", []) if isinstance(document, dict) else document
    result: list[dict] = []
    for item in items or []:
        if isinstance(item, dict) and "data" in item and isinstance(item["data"], list):
            result.extend(i for i in item["data"] if isinstance(i, dict))
        elif isinstance(item, dict):
            result.append(item)
    return result


def _intercom_name(item: dict) -> str:
    name = str(item.get("name") or "")
    full = str(item.get("full_name") or "")
    return full.removeprefix("custom_attributes.") if full.startswith("custom_attributes.") else name


def is_freely_definable(stream: str) -> bool:
    if not stream.startswith("assets_"):
        return False
    slug = stream.removeprefix("assets_")
    return slug not in STANDARD_ASSET_TYPES and not slug.endswith("_ci")


# ---------------------------------------------------------------- the proposal


@dataclass
class Proposal:
    attributes: list[str] = field(default_factory=list)  # YAML lines inside `attributes:`
    fields: dict[str, list[str]] = field(default_factory=dict)  # stream -> YAML lines inside the output's fields
    object_types: list[str] = field(default_factory=list)  # lines inside `custom_object_types:`
    custom_objects: list[str] = field(default_factory=list)  # stream entries appended to `streams:`
    header: list[str] = field(default_factory=list)  # comment lines at the top


def _data_type(model: str, schema: dict) -> tuple[str, dict]:
    """(attribute data type, extra rule keys) for an optional field's schema."""
    types = set(schema.get("type", [])) if isinstance(schema.get("type"), list) else {schema.get("type")}
    if "boolean" in types:
        return "boolean", {}
    if "number" in types or "integer" in types:
        return ("float" if model in ("contact", "company") else "decimal"), {}
    if "string" in types and schema.get("format") in ("date-time", "date"):
        return ("date" if model in ("contact", "company") else "datetime"), {"unix": "true"}
    return "string", {}


def _flow(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def build_proposal(
    catalog: dict[str, dict],
    filled: dict[str, set[str]],
    existing: list[dict],
    type_names: dict[str, str] | None = None,
    base_attributes: list[dict] | None = None,
) -> Proposal:
    """The additions to the base map; ``base_attributes`` (the base map's own) are checked against Intercom too."""
    proposal = Proposal()
    by_name, taken = _existing_attributes(existing)
    for stream, (_output, model, holder, prefix) in OPTIONAL_TARGETS.items():
        schema = catalog.get(stream)
        paths = sorted(filled.get(stream, set()))
        if schema is None or not paths:
            continue
        rules: list[str] = []
        attrs: list[str] = [f"  # proposed: optional fields of {stream} that the sample shows filled"]
        for path in paths:
            node, problem = schema_at(schema, path)
            if problem or node is None:
                continue  # filled in the sample but not declared by the catalog: not proposed
            data_type, extra = _data_type(model, node)
            source = path
            if node.get("properties") and "name" in node["properties"]:  # a searchlist: {id, name}
                source, data_type, extra = f"{path}.name", "string", {}
            group, _, sub = path.partition(".")
            name = f"{prefix}_{group.replace('optionalFields', 'optional')}_{sub}"
            comment = (
                f"TOPdesk {stream}.{path} is declared by the catalog and filled in the sample "
                f"-> {model} attribute ({data_type})"
            )
            found = by_name.get((model, name))
            if found is not None and str(found.get("data_type")) != data_type:
                new_name, n = f"{name}_{data_type}", 2
                while (model, new_name) in taken:
                    new_name, n = f"{name}_{data_type}{n}", n + 1
                attrs.append(
                    f"  # CONFLICT: Intercom already has the {model} attribute {name!r} with data type "
                    f"{found.get('data_type')!r}, not {data_type!r};"
                )
                attrs.append(f"  # a distinct name is proposed: {new_name!r} (or rename/drop it here)")
                name = new_name
            elif found is not None:
                attrs.append(f"  # {name!r} already exists in Intercom ({model}, {data_type}): it is reused")
            if attribute_name_problem(name):
                continue
            taken.add((model, name))
            attr = {"name": name, "model": model}
            if model == "ticket_type":
                attr["ticket_type"] = TICKET_TYPE
            attr["data_type"] = data_type
            attr["description"] = _quote(f"TOPdesk {stream} {path}")
            attrs.append(f"  # {comment}")
            attrs.append(f"  - {_flow(attr)}")
            rule = {"from": source, **extra}
            rules.append(f"# {comment}")
            rules.append(f"{holder}.{name}: {_flow(rule)}")
        if rules:
            proposal.attributes.extend(attrs)
            proposal.fields[stream] = rules
    proposal.header.extend(_base_conflicts(base_attributes or [], by_name))
    for stream in sorted(s for s in catalog if is_freely_definable(s)):
        declaration, entry = _custom_object(stream, catalog[stream], (type_names or {}).get(stream))
        proposal.object_types.extend(declaration)
        proposal.custom_objects.extend(entry)
    return proposal


def _existing_attributes(existing: list[dict]) -> tuple[dict[tuple[str, str], dict], set[tuple[str, str]]]:
    """Intercom's attributes by (model, name) (the first of each), and the (model, name) pairs taken."""
    by_name: dict[tuple[str, str], dict] = {}
    taken: set[tuple[str, str]] = set()
    for item in existing:
        model, name = str(item.get("model") or ""), _intercom_name(item)
        if name:
            by_name.setdefault((model, name), item)
            taken.add((model, name))
    return by_name, taken


def _base_conflicts(base_attributes: list[dict], by_name: dict[tuple[str, str], dict]) -> list[str]:
    """Header lines for the base map's attributes that Intercom already has with another data type."""
    lines: list[str] = []
    for attr in base_attributes:
        found = by_name.get((str(attr.get("model")), str(attr.get("name"))))
        if found is not None and str(found.get("data_type")) != str(attr.get("data_type")):
            lines.append(
                f"# CONFLICT: the map's {attr.get('model')} attribute {attr.get('name')!r} is "
                f"{attr.get('data_type')!r} but Intercom already has it as {found.get('data_type')!r}: "
                "rename it under `attributes` and in its field rule"
            )
    return lines


def _object_attribute(key: str, node: dict) -> tuple[str, str, str]:
    """(attribute name, custom object format, field rule) for one template field: the card's display name when
    Intercom accepts it, dates as unix seconds, untyped fields (dropdowns) as text."""
    name = str(node.get("description") or "").strip()
    if attribute_name_problem(name):
        name = key
    types = set(node.get("type") or []) if isinstance(node.get("type"), list) else {node.get("type")}
    types.discard("null")
    if node.get("format") in ("date-time", "date"):
        return name, "date", f"{{from: {_quote(key)}, unix: true}}"
    for json_type, data_type in (("boolean", "boolean"), ("integer", "integer"), ("number", "decimal")):
        if types == {json_type}:
            return name, data_type, f"{{from: {_quote(key)}}}"
    if types == {"string"}:
        return name, "string", f"{{from: {_quote(key)}}}"
    return name, "string", f"{{template: {_quote('{' + key + '}')}}}"


def _custom_object(stream: str, schema: dict, type_name: str | None) -> tuple[list[str], list[str]]:
    """(lines of its ``custom_object_types`` entry, lines of its ``streams`` entry) for a freely definable type."""
    slug = stream.removeprefix("assets_")
    object_type = re.sub(r"[^\w ]+", " ", type_name or slug.replace("_", " ").capitalize()).strip()
    object_type = " ".join(object_type.split()) or slug
    attributes: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    for key, node in (schema.get("properties") or {}).items():
        if key in ASSET_BUILTINS:
            continue
        name, data_type, rule = _object_attribute(key, node)
        if attribute_name_problem(name) or name in seen or name in ("Name", "Archived"):
            continue
        seen.add(name)
        attributes.append((name, data_type, rule, key))
    relationship = f"TOPdesk {object_type}"
    declaration = [
        f"  # PROPOSED: freely definable asset type {object_type!r} (stream {stream}): every assets_<template> stream",
        "  # whose template is not a standard TOPdesk type (hardware, software, licence, network, configuration items",
        f"  # *_ci) becomes its own custom object, with one attribute per template field. Create {object_type!r} in",
        "  # Intercom's UI (Settings > Data > Custom Objects) with these attributes: the target checks it exists.",
        f"  - name: {_quote(object_type)}",
        f"    description: {_quote(f'TOPdesk asset template {object_type} (freely definable)')}",
        "    attributes:",
        "      - {name: Name, data_type: string}",
        "      - {name: Archived, data_type: boolean}",
        *(f"      - {{name: {_quote(name)}, data_type: {data_type}}}" for name, data_type, _r, _k in attributes),
        "    relationships:",
        f"      - {{name: {_quote(relationship)}, from: contact, cardinality: many}}",
    ]
    entry = [
        "",
        f"  # PROPOSED: the records of the freely definable type {object_type!r} (this entry takes precedence over",
        "  # the assets_* pattern); the persons they are assigned to are linked to them.",
        f"  {stream}:",
        "    - output: custom_object_instances",
        '      source_key: "asset:{id}"',
        "      fields:",
        f"        object_type: {{value: {_quote(object_type)}}}",
        "        external_id: {from: id, required: true}",
        "        external_created_at: {from: creationDate, unix: true}",
        "        external_updated_at: {from: modificationDate, unix: true}",
        "        custom_attributes.Name: {from: name}",
        "        custom_attributes.Archived: {from: archived}",
        *(
            f"        custom_attributes.{name}: {rule}" + (f"   # TOPdesk field {key}" if key != name else "")
            for name, _d, rule, key in attributes
        ),
        "    - output: custom_object_links",
        '      source_key: "asset-person:{id}:{item.person.id}"',
        '      for_each: "@assignments.persons"',
        "      when: {path: item.person.id}",
        "      fields:",
        f"        relationship: {{value: {_quote(relationship)}}}",
        "        from_kind: {value: contact}",
        '        refs.from: {template: "person:{item.person.id}", required: true}',
        f"        to_type: {{value: {_quote(object_type)}}}",
        '        refs.to: {template: "asset:{id}", required: true}',
    ]
    return declaration, entry


# ---------------------------------------------------------------- writing into the default map's text


def _insert_fields(lines: list[str], stream: str, output: str, new: list[str]) -> bool:
    """Append ``new`` to the ``fields:`` of ``stream``'s ``output`` in the map text; False if not found."""
    i = next((n for n, line in enumerate(lines) if line.rstrip() == f"  {stream}:"), None)
    if i is None:
        return False
    out = next((n for n in range(i + 1, len(lines)) if re.match(rf"\s*- output: {output}\s*$", lines[n])), None)
    if out is None:
        return False
    fields_at = next((n for n in range(out + 1, len(lines)) if lines[n].strip() == "fields:"), None)
    if fields_at is None:
        return False
    indent = len(lines[fields_at]) - len(lines[fields_at].lstrip())
    end = fields_at + 1
    child = None
    for n in range(fields_at + 1, len(lines)):
        text = lines[n]
        if not text.strip():
            continue
        depth = len(text) - len(text.lstrip())
        if depth <= indent:
            break
        child = depth if child is None else child
        end = n + 1
    pad = " " * (child or indent + 2)
    lines[end:end] = [pad + line for line in new]
    return True


def render_proposal(proposal: Proposal, base: str, catalog: str | None = None) -> str:
    """The default map with the proposal's additions; ``catalog``: the catalog file (relative to the map) the map is
    checked against from now on, wherever it is loaded (validate, confirm, the mapper, the target)."""
    lines = base.splitlines()
    confirmed = next(n for n, line in enumerate(lines) if line.startswith("confirmed:"))
    lines[confirmed] = "confirmed: false"
    if catalog:
        lines.insert(confirmed + 1, f"catalog: {_quote(catalog)}  # this TOPdesk's catalog (tap-topdesk --discover)")
    lines[confirmed:confirmed] = [
        "# PROPOSAL: review every choice below (each addition says why it is there), edit what you disagree with,",
        "# then set `confirmed: true`. The mapper refuses an unconfirmed map.",
    ]
    for stream, rules in proposal.fields.items():
        output = OPTIONAL_TARGETS[stream][0]
        if not _insert_fields(lines, stream, output, rules):
            raise ValueError(f"the base map has no `{output}` output for {stream}")
    streams_at = next(n for n, line in enumerate(lines) if line.startswith("streams:"))
    if proposal.attributes:
        lines[streams_at:streams_at] = [*proposal.attributes, ""]
    if proposal.object_types:  # at the end of the custom_object_types list, i.e. just before `attributes:`
        attributes_at = next(n for n, line in enumerate(lines) if line.startswith("attributes:"))
        while attributes_at > 0 and not lines[attributes_at - 1].strip():
            attributes_at -= 1
        lines[attributes_at:attributes_at] = proposal.object_types
    lines.extend(proposal.custom_objects)
    head = [*proposal.header, "# Proposed by `topdesk-map propose` from the default map."]
    return "\n".join([*head, *lines]) + "\n"


@click.command(name="propose")
@click.option(
    "--catalog",
    "catalog_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the tap's catalog (tap-topdesk --config c.json --discover)",
)
@click.option(
    "--intercom-attributes",
    "attributes_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON of the workspace's attributes (GET /data_attributes; GET /conversations/attributes with "
    'model conversation): a list or {"data": [...]}',
)
@click.option(
    "--sample",
    "sample_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSONL of tap messages; optional fields filled in its RECORDs are proposed",
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="the proposed map file")
def main(catalog_path: str, attributes_path: str | None, sample_path: str | None, out_path: str) -> None:
    """Write a proposed map (unconfirmed) for the user to review."""
    try:
        catalog = catalog_from_file(catalog_path)
        sample = Path(sample_path).read_text(encoding="utf-8").splitlines() if sample_path else []
        existing = intercom_attributes(attributes_path) if attributes_path else []
        base = DEFAULT_MAP.read_text(encoding="utf-8")
        base_attributes = (yaml.safe_load(base) or {}).get("attributes") or []
        proposal = build_proposal(
            catalog, filled_optional_fields(sample), existing, asset_type_names(sample), base_attributes
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"cannot read the inputs: {exc}") from None
    if not sample_path:
        proposal.header.append(
            "# No --sample given: optional fields are only proposed when a sample shows them filled."
        )
    out = Path(out_path)
    kept = out.with_name(out.stem + ".catalog.json")  # beside the map, so the map stays checkable on its own
    if Path(catalog_path).resolve() != kept.resolve():
        shutil.copyfile(catalog_path, kept)
    out.write_text(render_proposal(proposal, base, kept.name), encoding="utf-8")
    n_attrs = sum(1 for line in proposal.attributes if line.lstrip().startswith("- "))
    n_objects = sum(1 for line in proposal.object_types if line.startswith("  - name: "))
    click.echo(
        f"{out_path}: {n_attrs} optional-field attribute(s), {n_objects} custom object type(s) proposed; "
        f"review it, then run `{CONFIRM_COMMAND} {out_path}`",
        err=True,
    )


if __name__ == "__main__":
    main()
