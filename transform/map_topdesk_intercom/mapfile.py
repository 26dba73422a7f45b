"""The map file: load it (with line numbers), check it against the tap catalog and Intercom's constraints, and
turn it into the structures the engine applies. Every problem is collected and reported at once as ``file:line: …``.
"""

from __future__ import annotations

import fnmatch
import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from map_topdesk_intercom.catalog import (
    catalog_from_file,
    common_schema,
    is_pattern,
    matching_streams,
    schema_at,
    tap_catalog,
    types_of,
)
from map_topdesk_intercom.definition_checks import DefinitionChecks
from map_topdesk_intercom.definitions import (
    ATTRIBUTE_JSON_TYPES,
    STRATEGIES,
    AttributeDef,
    CustomObjectTypeDef,
    TicketTypeDef,
    attribute_name_problem,
)
from map_topdesk_intercom.rule_checks import RULE_KEYS, RuleChecks, json_type
from map_topdesk_intercom.rules import MISSING, Condition, Rule, all_hold, template_paths
from map_topdesk_intercom.yamlines import LineDict, LineList, load_with_lines

__all__ = [
    "RULE_KEYS",
    "STRATEGIES",
    "AttributeDef",
    "CustomObjectTypeDef",
    "TicketTypeDef",
    "attribute_name_problem",
    "catalog_from_file",
    "schema_at",
    "tap_catalog",
]

T = t.TypeVar("T", AttributeDef, TicketTypeDef, CustomObjectTypeDef)
DEFAULT_MAP = Path(__file__).parent / "maps" / "topdesk-intercom.yaml"
SCHEMA_DIR = Path(__file__).parent / "schemas"
FORMAT_VERSION = 1

#: output streams the engine can produce from a map (each has a JSON Schema in ``schemas/``).
OUTPUT_KINDS = (
    "contacts",
    "companies",
    "contact_companies",
    "contact_notes",
    "admins",
    "teams",
    "team_memberships",
    "tickets",
    "ticket_parts",
    "conversations",
    "conversation_parts",
    "custom_object_instances",
    "custom_object_links",
    "articles",
    "collections",
    "inventory_items",
)
#: streams the mapper itself writes (definitions first, then flags).
FIXED_STREAMS = ("attribute_definitions", "ticket_types", "custom_object_types", "flagged")
#: output kind -> (field holding its attributes, attribute model; "custom_object" = the instance's object_type).
ATTRIBUTE_FIELDS = {
    "contacts": ("custom_attributes", "contact"),
    "companies": ("custom_attributes", "company"),
    "tickets": ("ticket_attributes", "ticket_type"),
    "conversations": ("custom_attributes", "conversation"),
    "custom_object_instances": ("custom_attributes", "custom_object"),
}
#: output kind -> the field whose constant names the definition its attributes belong to.
SCOPE_FIELDS = {"tickets": "ticket_type", "custom_object_instances": "object_type"}
BUILTIN_TICKET_ATTRIBUTES = {"_default_title_", "_default_description_"}
TOP_KEYS = {
    "version",
    "confirmed",
    "catalog",
    "strategies",
    "attributes",
    "ticket_types",
    "custom_object_types",
    "streams",
}
OUTPUT_KEYS = {"output", "source_key", "when", "for_each", "warn", "fields"}
CONFIRM_COMMAND = "topdesk-map confirm"
CONFIRM_HINT = (
    f"the map is not confirmed: review it, then run `{CONFIRM_COMMAND} <map file>` (or set "
    "`confirmed: true` at the top of the file)"
)


def output_schema(stream: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{stream}.json").read_text())


# ---------------------------------------------------------------- the parsed map


@dataclass
class OutputSpec:
    """One Intercom entity a TOPdesk record becomes."""

    source_stream: str
    output: str
    source_key: str
    fields: dict[str, Rule]
    when: list[Condition] = field(default_factory=list)
    line: int = 0
    #: path of an array: one output per element, the element being ``item`` in rules and templates
    for_each: str | None = None
    #: template of a warning flag sent along with every output (the record is output, and reported)
    warn: str | None = None


@dataclass
class MapSpec:
    path: str
    version: int
    confirmed: bool
    strategies: dict[str, str]
    attributes: list[AttributeDef]
    ticket_types: list[TicketTypeDef]
    streams: dict[str, list[OutputSpec]]
    custom_object_types: list[CustomObjectTypeDef] = field(default_factory=list)
    #: ``file:line: message`` remarks that are not problems (streams this catalog does not offer)
    notes: list[str] = field(default_factory=list)
    _resolved: dict[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def output_streams(self) -> list[str]:
        seen: list[str] = []
        for outputs in self.streams.values():
            for spec in outputs:
                if spec.output not in seen:
                    seen.append(spec.output)
        return seen

    def map_key(self, stream: str) -> str | None:
        """The ``streams`` key that maps a TOPdesk stream: its own name, else the first pattern matching it."""
        if stream not in self._resolved:
            key = (
                stream
                if stream in self.streams
                else next((k for k in self.streams if is_pattern(k) and fnmatch.fnmatchcase(stream, k)), None)
            )
            self._resolved[stream] = key
        return self._resolved[stream]

    def active(self, definitions: t.Iterable[T]) -> list[T]:
        """The definitions the chosen strategies need (a definition's ``when`` names strategies; a ticket-type
        attribute follows its ticket type)."""
        types: set[str] = {tt.name for tt in self.ticket_types if all_hold(tt.when, {}, self.strategies)}
        return [
            d
            for d in definitions
            if all_hold(d.when, {}, self.strategies) and getattr(d, "ticket_type", None) in (None, *types)
        ]

    def ui_custom_objects(self) -> list[dict]:
        """The custom object types this map needs, as an admin creates them in Intercom's UI (the API cannot):
        name, attributes and relationships. The provisioning list, and the Intercom sandbox's ``--custom-objects``."""
        objects = []
        for object_type in self.custom_object_types:
            record = object_type.record()
            objects.append(
                {
                    "name": record["name"],
                    "attributes": [
                        {"name": a["name"], "data_type": a.get("data_type", "string")}
                        for a in record.get("attributes") or []
                    ],
                    "relationships": [
                        {"name": r["name"], "from": r["from"], "cardinality": r.get("cardinality") or "many"}
                        for r in record.get("relationships") or []
                    ],
                }
            )
        return objects

    def outputs_for(self, stream: str) -> list[OutputSpec]:
        key = self.map_key(stream)
        return self.streams[key] if key is not None else []


class MapInvalid(Exception):
    """The map cannot be used; ``problems`` are ``file:line: message`` strings, all of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the map is invalid:\n" + "\n".join(problems))


# ---------------------------------------------------------------- loading and validation


class _Checker(DefinitionChecks, RuleChecks):
    """Collects every problem of one map file as (line, message)."""

    def __init__(self, path: str, catalog: dict[str, dict] | None, known: dict[str, dict] | None = None) -> None:
        self.path = path
        self.catalog = catalog
        self.known = known  # every stream tap-topdesk can emit (its packaged schemas), when catalog is narrower
        self.problems: list[tuple[int, str]] = []
        self.result_types: dict[int, set[str]] = {}
        self.object_types: dict[str, CustomObjectTypeDef] = {}
        self.require_confirmed = True
        self.notes: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    # ---- top level

    def check(self, doc: t.Any) -> MapSpec | None:
        if not isinstance(doc, LineDict):
            self.add(getattr(doc, "line", 1), "the map must be a YAML mapping with version, confirmed and streams")
            return None
        for key in doc:
            if key not in TOP_KEYS:
                self.add(doc.line_of(key), f"unknown top-level key {key!r} (expected one of {sorted(TOP_KEYS)})")
        version = doc.get("version")
        if version != FORMAT_VERSION:
            self.add(doc.line_of("version"), f"version must be {FORMAT_VERSION} (found {version!r})")
        confirmed = doc.get("confirmed", False)
        if confirmed is not True and self.require_confirmed:
            self.add(doc.line_of("confirmed") if "confirmed" in doc else doc.line, CONFIRM_HINT)
        strategies = self.check_strategies(doc)
        ticket_types = self.check_ticket_types(doc)
        self.object_types = {o.name: o for o in self.check_custom_object_types(doc)}
        attributes = self.check_attributes(doc, {tt.name for tt in ticket_types})
        streams = self.check_streams(doc, attributes, {tt.name for tt in ticket_types})
        return MapSpec(
            self.path,
            version if isinstance(version, int) else 0,
            confirmed is True,
            strategies,
            attributes,
            ticket_types,
            streams,
            list(self.object_types.values()),
        )

    def check_strategies(self, doc: LineDict) -> dict[str, str]:
        raw = doc.get("strategies") or LineDict()
        if not isinstance(raw, dict):
            self.add(doc.line_of("strategies"), "strategies must be a mapping, e.g. `calls: tickets`")
            return {}
        result: dict[str, str] = {}
        for name, value in raw.items():
            line = raw.line_of(name) if isinstance(raw, LineDict) else doc.line_of("strategies")
            if name not in STRATEGIES:
                self.add(line, f"unknown strategy {name!r} (known: {sorted(STRATEGIES)})")
                continue
            if value not in STRATEGIES[name]:
                self.add(line, f"strategy {name}: {value!r} is not one of {list(STRATEGIES[name])}")
                continue
            result[name] = value
        for name, allowed in STRATEGIES.items():
            result.setdefault(name, allowed[0])
        return result

    def check_streams(
        self, doc: LineDict, attributes: list[AttributeDef], ticket_types: set[str]
    ) -> dict[str, list[OutputSpec]]:
        result: dict[str, list[OutputSpec]] = {}
        raw = doc.get("streams")
        if not isinstance(raw, LineDict) or not raw:
            self.add(doc.line_of("streams"), "streams must map TOPdesk stream names to lists of outputs")
            return result
        for stream, outputs in raw.items():
            line = raw.line_of(stream)
            schema = self.stream_schema(str(stream), line)
            if not isinstance(outputs, LineList):
                self.add(line, f"stream {stream}: expected a list of outputs")
                continue
            specs = []
            for index, item in enumerate(outputs):
                spec = self.check_output(stream, schema, item, outputs.line_of(index), attributes, ticket_types)
                if spec is not None:
                    specs.append(spec)
            result[stream] = specs
        return result

    def stream_schema(self, stream: str, line: int) -> dict | None:
        """The schema a stream key's rules are checked against: the stream's, or for a pattern (``assets_*``) the
        columns shared by every catalog stream it matches; a key naming nothing in the catalog is a problem."""
        if self.catalog is None:
            return None
        catalog = self.catalog
        matched = matching_streams(catalog, stream)
        if not matched and self.known:  # a tap-topdesk stream this tap configuration does not offer (no CSV
            catalog = self.known  # exports folder, no asset templates): valid, it just brings no records
            matched = matching_streams(catalog, stream)
            if matched:
                what = "matches no stream" if is_pattern(stream) else "is not"
                self.notes.append(
                    (
                        line,
                        f"{stream!r} {what} in this catalog: the tap does not offer it as "
                        "configured, so it brings no records",
                    )
                )
        if not matched:
            what = "matches no stream of" if is_pattern(stream) else "is not in"
            self.add(line, f"unknown TOPdesk stream {stream!r} (it {what} the tap catalog)")
            return None
        return catalog[matched[0]] if len(matched) == 1 else common_schema([catalog[m] for m in matched])

    def check_output(
        self,
        stream: str,
        schema: dict | None,
        item: t.Any,
        line: int,
        attributes: list[AttributeDef],
        ticket_types: set[str],
    ) -> OutputSpec | None:
        if not isinstance(item, LineDict):
            self.add(line, f"stream {stream}: an output is a mapping with output, source_key and fields")
            return None
        for key in item:
            if key not in OUTPUT_KEYS:
                self.add(item.line_of(key), f"unknown output key {key!r} (expected one of {sorted(OUTPUT_KEYS)})")
        kind = item.get("output")
        if kind not in OUTPUT_KINDS:
            self.add(item.line_of("output"), f"output {kind!r} is not an output stream (one of {list(OUTPUT_KINDS)})")
            return None
        for_each = None
        if "for_each" in item:
            for_each = item["for_each"]
            schema = self.element_schema(schema, for_each, item.line_of("for_each"))
        source_key = self.check_source_key(kind, schema, item, for_each)
        warn = self.check_warn(kind, schema, item)
        when = self.check_when(schema, item.get("when"), item.line_of("when")) if "when" in item else []
        fields_raw = item.get("fields")
        if not isinstance(fields_raw, LineDict):
            self.add(item.line_of("fields"), f"{kind}: fields must be a mapping of output field -> rule")
            return None
        out_schema = output_schema(kind)
        scope = self.scope(kind, fields_raw, ticket_types)
        fields: dict[str, Rule] = {}
        for name, raw_rule in fields_raw.items():
            fline = fields_raw.line_of(name)
            self.check_output_field(kind, out_schema, str(name), fline, attributes, scope)
            rule = self.check_rule(schema, raw_rule, fline, f"{kind}.{name}", top=True)
            if rule is not None:
                fields[str(name)] = rule
                self.check_result_type(kind, out_schema, str(name), rule, fline, attributes, scope)
        for group in out_schema.get("x-required-any", []):
            if not any(name in fields for name in group):
                what = group[0] if len(group) == 1 else "one of " + ", ".join(group)
                self.add(item.line_of("fields"), f"{kind}: Intercom needs {what}; the output has no rule for it")
        if kind == "custom_object_links":
            self.check_link(fields, fields_raw)
        return OutputSpec(stream, kind, source_key, fields, when, item.line, for_each, warn)

    def check_source_key(self, kind: str, schema: dict | None, item: LineDict, for_each: t.Any) -> str:
        """An output's ``source_key`` (a template naming the record; with ``for_each``, the element too), or ""."""
        source_key = item.get("source_key")
        if not isinstance(source_key, str) or not template_paths(source_key):
            self.add(
                item.line_of("source_key"),
                f'{kind}: source_key must be a template with the record\'s id, e.g. "person:{{id}}"',
            )
            return ""
        self.check_template_paths(schema, source_key, item.line_of("source_key"))
        if for_each and not any(p == "item" or p.startswith("item.") for p in template_paths(source_key)):
            self.add(
                item.line_of("source_key"),
                f"{kind}: with for_each, the source_key needs an {{item…}} "
                "placeholder, or every element gets the same key",
            )
        return source_key

    def check_warn(self, kind: str, schema: dict | None, item: LineDict) -> str | None:
        """An output's ``warn`` (the template of a warning flag), or None."""
        warn = item.get("warn")
        if warn is None:
            return None
        if not isinstance(warn, str) or not warn.strip():
            self.add(item.line_of("warn"), f"{kind}: warn is the text (a template) of the warning flag")
            return None
        self.check_template_paths(schema, warn, item.line_of("warn"))
        return warn

    def element_schema(self, schema: dict | None, path: t.Any, line: int) -> dict | None:
        """``for_each: path``: the path must be an array; rules then see its element as ``item``."""
        node = self.check_path(schema, path, line)
        if node is None or schema is None or not node:
            return schema
        if "array" not in types_of(node):
            self.add(line, f"for_each: '{path}' is not an array")
            return schema
        return {**schema, "properties": {**schema.get("properties", {}), "item": node.get("items", {})}}

    def scope(self, kind: str, fields_raw: LineDict, ticket_types: set[str]) -> str | None:
        """The ticket type / custom object type an output's attributes belong to (a `value:` constant)."""
        name = SCOPE_FIELDS.get(kind)
        if name is None or name not in fields_raw:
            return None
        raw = fields_raw[name]
        value = raw.get("value") if isinstance(raw, dict) else raw
        known = ticket_types if kind == "tickets" else set(self.object_types)
        what = "ticket_types" if kind == "tickets" else "custom_object_types"
        if not isinstance(value, str) or value not in known or (isinstance(raw, dict) and set(raw) != {"value"}):
            self.add(
                fields_raw.line_of(name),
                f"{kind}: {name} must be a `value:` naming one of the map's {what} ({sorted(known)})",
            )
            return None
        return value

    def find_attribute(
        self, kind: str, name: str, attributes: list[AttributeDef], scope: str | None
    ) -> tuple[t.Any, str]:
        """(the definition of an output's attribute or None, where it should be defined)."""
        model = ATTRIBUTE_FIELDS[kind][1]
        if model == "custom_object":
            type_def = self.object_types.get(scope or "")
            return (type_def.attribute(name) if type_def else None), f"the attributes of custom object type {scope!r}"
        found = next(
            (
                a
                for a in attributes
                if a.name == name and a.model == model and (scope is None or a.ticket_type == scope)
            ),
            None,
        )
        where = f"`attributes` with model {model}" + (f" and ticket_type {scope!r}" if scope else "")
        return found, where

    def check_output_field(
        self, kind: str, out_schema: dict, name: str, line: int, attributes: list[AttributeDef], scope: str | None
    ) -> None:
        head, _, rest = name.partition(".")
        props = out_schema["properties"]
        if head not in props or head == "source_key":
            allowed = sorted(p for p in props if p != "source_key")
            self.add(line, f"{kind}: unknown output field {name!r} (allowed: {', '.join(allowed)})")
            return
        sub = props[head]
        if sub.get("additionalProperties") is True and "properties" not in sub:
            if not rest:
                self.add(line, f"{kind}: write attributes one by one, as {head}.<attribute name>")
                return
            if ATTRIBUTE_FIELDS[kind][1] == "ticket_type" and rest in BUILTIN_TICKET_ATTRIBUTES:
                return
            problem = attribute_name_problem(rest)
            if problem:
                self.add(line, problem)
                return
            found, where = self.find_attribute(kind, rest, attributes, scope)
            if found is None and (scope or ATTRIBUTE_FIELDS[kind][1] != "custom_object"):
                self.add(line, f"{kind}: {head}.{rest} is not defined under {where}")
            return
        if "properties" in sub:
            if rest not in sub["properties"]:
                self.add(
                    line,
                    f"{kind}: unknown output field {name!r} "
                    f"(allowed: {', '.join(f'{head}.{p}' for p in sub['properties'])})",
                )
            return
        if rest:
            self.add(line, f"{kind}: {head} is not an object; {name!r} is not a field")

    def check_result_type(
        self,
        kind: str,
        out_schema: dict,
        name: str,
        rule: Rule,
        line: int,
        attributes: list[AttributeDef],
        scope: str | None,
    ) -> None:
        produced = set(self.result_types.get(id(rule), set()))
        if rule.default is not MISSING and not isinstance(rule.default, dict):
            produced.add(json_type(rule.default))
        if not produced:
            return
        head, _, rest = name.partition(".")
        prop = out_schema["properties"].get(head, {})
        if "properties" in prop:
            prop = prop["properties"].get(rest, {})
        if prop.get("additionalProperties") is True and rest:
            found, _where = self.find_attribute(kind, rest, attributes, scope)
            if found is None or found.data_type not in ATTRIBUTE_JSON_TYPES:
                return
            expected, what = ATTRIBUTE_JSON_TYPES[found.data_type], f"attribute {rest!r} ({found.data_type})"
        else:
            expected, what = types_of(prop) - {"null"}, f"{kind}.{name}"
            if "number" in expected:
                expected |= {"integer"}
        if expected and not produced <= expected:
            hint = " (dates need `unix: true`)" if expected == {"integer"} and "string" in produced else ""
            self.add(
                line,
                f"{kind}.{name}: the rule gives {'/'.join(sorted(produced))} but {what} takes "
                f"{'/'.join(sorted(expected))}{hint}",
            )

    def check_link(self, fields: dict[str, Rule], fields_raw: LineDict) -> None:
        """A link names the relationship by (to_type, relationship) constants; a constant from_kind/from_type must
        be one of the relationship's declared hosts."""
        to_type = fields.get("to_type")
        if to_type is None:
            return
        type_def = self.object_types.get(to_type.value) if isinstance(to_type.value, str) else None
        if type_def is None:
            self.add(
                fields_raw.line_of("to_type"),
                f"custom_object_links: to_type must be a `value:` naming one of "
                f"the map's custom_object_types ({sorted(self.object_types)})",
            )
            return
        relationship = fields.get("relationship")
        found = (
            type_def.relationship(relationship.value) if relationship and isinstance(relationship.value, str) else None
        )
        if found is None:
            self.add(
                fields_raw.line_of("relationship"),
                f"custom_object_links: relationship must be a `value:` naming a relationship of {type_def.name} "
                f"({[r.name for r in type_def.relationships]})",
            )
            return
        from_kind, from_type = fields.get("from_kind"), fields.get("from_type")
        host = (
            from_type.value
            if from_kind and from_kind.value == "custom_object" and from_type
            else (from_kind.value if from_kind else MISSING)
        )
        if isinstance(host, str) and host not in found.hosts:
            self.add(
                fields_raw.line_of("from_type" if from_kind and from_kind.value == "custom_object" else "from_kind"),
                f"custom_object_links: {type_def.name}.{found.name} lives on {found.hosts}, not on {host!r}",
            )


def _own_catalog(path: Path, doc: t.Any, problems: list[tuple[int, str]]) -> dict[str, dict] | None:
    """The catalog a map names (``catalog: FILE``, relative to the map): the tenant's own discovery, with its
    freely definable asset types, which tap-topdesk's packaged schemas cannot know."""
    name = doc.get("catalog") if isinstance(doc, dict) else None
    if name is None:
        return None
    try:
        return catalog_from_file(path.parent / str(name))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append((doc.line_of("catalog"), f"cannot read the catalog {name!r}: {type(exc).__name__}: {exc}"))
        return None


def load_map(
    path: str | Path | None = None, catalog: dict[str, dict] | bool | None = True, *, require_confirmed: bool = True
) -> MapSpec:
    """Load and check a map file; raises MapInvalid with every problem.

    ``catalog``: stream -> JSON Schema; True (default) = the catalog file the map names (``catalog:``), else
    tap-topdesk's schemas when installed; None/False = skip the source-side checks. ``require_confirmed=False``:
    an unconfirmed map is not a problem (review, confirm).
    """
    path = Path(path) if path else DEFAULT_MAP
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapInvalid([f"{path}:0: cannot read the map: {exc.strerror}"]) from None
    doc, problems = load_with_lines(text)
    packaged = tap_catalog() if catalog is not None and catalog is not False else None
    if catalog is True:
        catalog = _own_catalog(path, doc, problems) or packaged
    checker = _Checker(str(path), catalog or None, packaged)
    checker.require_confirmed = require_confirmed
    checker.problems.extend(problems)
    spec = checker.check(doc) if doc is not None or not problems else None
    if checker.problems:
        ordered = sorted(set(checker.problems), key=lambda p: (p[0], p[1]))
        raise MapInvalid([f"{path}:{line}: {message}" for line, message in ordered])
    assert spec is not None
    spec.notes = [f"{path}:{line}: {message}" for line, message in checker.notes]
    return spec
