"""The map file: load it (with line numbers), check it against the tap catalog and Intercom's constraints, and
turn it into the structures the engine applies. Every problem is collected and reported at once as ``file:line: …``.
"""

from __future__ import annotations

import json
import typing as t
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from map_topdesk_intercom.rules import HTML_MODES, MISSING, Condition, Rule, template_paths
from map_topdesk_intercom.yamlines import LineDict, LineList, load_with_lines

DEFAULT_MAP = Path(__file__).parent / "maps" / "topdesk-intercom.yaml"
SCHEMA_DIR = Path(__file__).parent / "schemas"
FORMAT_VERSION = 1

#: output streams the engine can produce from a map (each has a JSON Schema in ``schemas/``).
OUTPUT_KINDS = ("contacts", "companies", "contact_companies", "tickets", "ticket_parts")
#: streams the mapper itself writes.
FIXED_STREAMS = ("attribute_definitions", "ticket_types", "flagged")
#: output kind -> attribute model of its ``custom_attributes`` / ``ticket_attributes``.
ATTRIBUTE_FIELDS = {
    "contacts": ("custom_attributes", "contact"),
    "companies": ("custom_attributes", "company"),
    "tickets": ("ticket_attributes", "ticket_type"),
}
BUILTIN_TICKET_ATTRIBUTES = {"_default_title_", "_default_description_"}
DATA_TYPES = {
    "contact": {"string", "integer", "float", "boolean", "date", "datetime", "options"},
    "company": {"string", "integer", "float", "boolean", "date", "datetime", "options"},
    "conversation": {"string", "integer", "list", "decimal", "boolean", "datetime"},
    "ticket_type": {"string", "list", "integer", "decimal", "boolean", "datetime", "files"},
}
WITH_OPTIONS = {"options", "list"}
TICKET_CATEGORIES = {"Customer", "Back-office", "Tracker"}
#: strategy -> (allowed values, values implemented in this version).
STRATEGIES = {
    "calls": ({"tickets", "conversations"}, {"tickets"}),
    "changes": ({"attributes", "custom_object"}, set()),
    "known_errors": ({"custom_object", "article"}, set()),
    "assets": ({"custom_object", "companies"}, set()),
    "reservations": ({"custom_object", "notes"}, set()),
}
TOP_KEYS = {"version", "confirmed", "strategies", "attributes", "ticket_types", "streams"}
OUTPUT_KEYS = {"output", "source_key", "when", "fields"}
RULE_KEYS = {"from", "template", "value", "first_of", "html", "lowercase", "enum", "unix", "when", "default",
             "flag_default", "required"}
SOURCE_KEYS = ("from", "template", "value", "first_of")
CONFIRM_HINT = ("the map is not confirmed: review it, then set `confirmed: true` at the top of the file "
                "(a `map confirm` command will do this too)")


def output_schema(stream: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{stream}.json").read_text())


def attribute_name_problem(name: t.Any) -> str | None:
    """Intercom accepts attribute names of letters, digits, currency symbols, hyphens (and, in practice, spaces
    and underscores); a dot would also break ``custom_attributes.<name>`` paths."""
    if not isinstance(name, str) or not name.strip():
        return "attribute name must be a non-empty string"
    if name != name.strip():
        return f"attribute name {name!r} must not start or end with a space"
    bad = sorted({c for c in name if not (c.isalnum() or c in "-_ " or unicodedata.category(c) == "Sc")})
    if bad:
        return (f"attribute name {name!r} is rejected by Intercom: only letters, digits, currency symbols, hyphens, "
                f"underscores and spaces are allowed (found {''.join(bad)!r})")
    return None


# ---------------------------------------------------------------- the parsed map


@dataclass
class AttributeDef:
    name: str
    model: str
    data_type: str
    options: list[str] | None = None
    ticket_type: str | None = None
    description: str | None = None

    @property
    def source_key(self) -> str:
        scope = f"{self.model}:{self.ticket_type}" if self.ticket_type else self.model
        return f"attribute:{scope}:{self.name}"

    def record(self) -> dict:
        out = {"source_key": self.source_key, "name": self.name, "model": self.model, "data_type": self.data_type}
        for key in ("options", "ticket_type", "description"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class TicketTypeDef:
    name: str
    category: str = "Customer"
    description: str | None = None
    icon: str | None = None

    def record(self) -> dict:
        out = {"source_key": f"ticket_type:{self.name}", "name": self.name, "category": self.category}
        for key in ("description", "icon"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class OutputSpec:
    """One Intercom entity a TOPdesk record becomes."""

    source_stream: str
    output: str
    source_key: str
    fields: dict[str, Rule]
    when: list[Condition] = field(default_factory=list)
    line: int = 0


@dataclass
class MapSpec:
    path: str
    version: int
    confirmed: bool
    strategies: dict[str, str]
    attributes: list[AttributeDef]
    ticket_types: list[TicketTypeDef]
    streams: dict[str, list[OutputSpec]]

    @property
    def output_streams(self) -> list[str]:
        seen: list[str] = []
        for outputs in self.streams.values():
            for spec in outputs:
                if spec.output not in seen:
                    seen.append(spec.output)
        return seen


class MapInvalid(Exception):
    """The map cannot be used; ``problems`` are ``file:line: message`` strings, all of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the map is invalid:\n" + "\n".join(problems))


# ---------------------------------------------------------------- catalog


def tap_catalog() -> dict[str, dict] | None:
    """Stream -> JSON Schema from tap-topdesk's packaged schema files (None if tap-topdesk is not installed)."""
    try:
        folder = resources.files("tap_topdesk") / "schemas"
    except ModuleNotFoundError:
        return None
    return {p.name[:-5]: json.loads(p.read_text()) for p in folder.iterdir() if p.name.endswith(".json")}


def catalog_from_file(path: str | Path) -> dict[str, dict]:
    """Stream -> JSON Schema from a Singer catalog file (``tap-topdesk --discover``)."""
    document = json.loads(Path(path).read_text())
    return {entry.get("stream") or entry["tap_stream_id"]: entry["schema"] for entry in document["streams"]}


def schema_at(schema: dict, path: str) -> tuple[dict | None, str | None]:
    """The sub-schema at a dotted path, or (None, reason)."""
    node = schema
    walked: list[str] = []
    for part in path.split("."):
        types = _types(node)
        if "array" in types and "object" not in types:
            return None, f"'{'.'.join(walked)}' is an array; paths cannot go into arrays"
        props = node.get("properties")
        if props is None:
            if "object" in types or node.get("additionalProperties") not in (None, False):
                return {}, None  # a free-form object: nothing more to check
            return None, f"'{'.'.join(walked)}' has no fields (it is {'/'.join(sorted(types - {'null'}))})"
        if part not in props:
            return None, f"unknown field '{'.'.join([*walked, part])}'"
        node = props[part]
        walked.append(part)
    return node, None


def _types(node: dict) -> set[str]:
    declared = node.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


# ---------------------------------------------------------------- loading and validation


class _Checker:
    def __init__(self, path: str, catalog: dict[str, dict] | None) -> None:
        self.path = path
        self.catalog = catalog
        self.problems: list[tuple[int, str]] = []
        self.result_types: dict[int, set[str]] = {}

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
        if confirmed is not True:
            self.add(doc.line_of("confirmed") if "confirmed" in doc else doc.line, CONFIRM_HINT)
        strategies = self.check_strategies(doc)
        ticket_types = self.check_ticket_types(doc)
        attributes = self.check_attributes(doc, {tt.name for tt in ticket_types})
        streams = self.check_streams(doc, attributes, {tt.name for tt in ticket_types})
        return MapSpec(self.path, version if isinstance(version, int) else 0, confirmed is True, strategies,
                       attributes, ticket_types, streams)

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
            allowed, implemented = STRATEGIES[name]
            if value not in allowed:
                self.add(line, f"strategy {name}: {value!r} is not one of {sorted(allowed)}")
            elif value not in implemented:
                self.add(line, f"strategy {name}: {value!r} is not implemented yet "
                               f"(implemented: {sorted(implemented) or 'none'})")
            result[name] = value
        result.setdefault("calls", "tickets")
        return result

    def check_ticket_types(self, doc: LineDict) -> list[TicketTypeDef]:
        result: list[TicketTypeDef] = []
        raw = doc.get("ticket_types") or []
        if not isinstance(raw, list):
            self.add(doc.line_of("ticket_types"), "ticket_types must be a list")
            return result
        for item in raw:
            line = getattr(item, "line", doc.line_of("ticket_types"))
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.add(line, "a ticket type needs a name")
                continue
            unknown = set(item) - {"name", "category", "description", "icon"}
            if unknown:
                self.add(line, f"ticket type {item['name']!r}: unknown keys {sorted(unknown)}")
            category = item.get("category", "Customer")
            if category not in TICKET_CATEGORIES:
                self.add(item.line_of("category"), f"ticket type category must be one of {sorted(TICKET_CATEGORIES)}")
            result.append(TicketTypeDef(item["name"], category, item.get("description"), item.get("icon")))
        return result

    def check_attributes(self, doc: LineDict, ticket_types: set[str]) -> list[AttributeDef]:
        result: list[AttributeDef] = []
        raw = doc.get("attributes") or []
        if not isinstance(raw, list):
            self.add(doc.line_of("attributes"), "attributes must be a list")
            return result
        seen: dict[tuple, int] = {}
        for item in raw:
            line = getattr(item, "line", doc.line_of("attributes"))
            if not isinstance(item, LineDict):
                self.add(line, "an attribute is a mapping with name, model and data_type")
                continue
            unknown = set(item) - {"name", "model", "data_type", "options", "ticket_type", "description"}
            if unknown:
                self.add(line, f"attribute: unknown keys {sorted(unknown)}")
            name, model, data_type = item.get("name"), item.get("model"), item.get("data_type")
            problem = attribute_name_problem(name)
            if problem:
                self.add(item.line_of("name"), problem)
            if model not in DATA_TYPES:
                self.add(item.line_of("model"), f"attribute {name!r}: model must be one of {sorted(DATA_TYPES)}")
                continue
            if data_type not in DATA_TYPES[model]:
                self.add(item.line_of("data_type"),
                         f"attribute {name!r}: data_type {data_type!r} is not valid for model {model} "
                         f"(one of {sorted(DATA_TYPES[model])})")
            options = item.get("options")
            if data_type in WITH_OPTIONS and (not isinstance(options, list) or len(options) < 2):
                self.add(item.line_of("options"), f"attribute {name!r}: data_type {data_type} needs at least 2 options")
            ticket_type = item.get("ticket_type")
            if model == "ticket_type" and ticket_type not in ticket_types:
                self.add(item.line_of("ticket_type") if "ticket_type" in item else line,
                         f"attribute {name!r}: ticket_type must name one of the map's ticket_types "
                         f"({sorted(ticket_types)})")
            key = (model, ticket_type, name)
            if key in seen:
                self.add(line, f"attribute {name!r} is defined twice for {model} (first at line {seen[key]})")
            seen[key] = line
            result.append(AttributeDef(str(name), model, str(data_type),
                                       [str(o) for o in options] if isinstance(options, list) else None,
                                       ticket_type, item.get("description")))
        return result

    # ---- streams and outputs

    def check_streams(self, doc: LineDict, attributes: list[AttributeDef],
                      ticket_types: set[str]) -> dict[str, list[OutputSpec]]:
        result: dict[str, list[OutputSpec]] = {}
        raw = doc.get("streams")
        if not isinstance(raw, LineDict) or not raw:
            self.add(doc.line_of("streams"), "streams must map TOPdesk stream names to lists of outputs")
            return result
        for stream, outputs in raw.items():
            line = raw.line_of(stream)
            schema = None
            if self.catalog is not None:
                schema = self.catalog.get(stream)
                if schema is None:
                    self.add(line, f"unknown TOPdesk stream {stream!r} (not in the tap catalog)")
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

    def check_output(self, stream: str, schema: dict | None, item: t.Any, line: int,
                     attributes: list[AttributeDef], ticket_types: set[str]) -> OutputSpec | None:
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
        source_key = item.get("source_key")
        if not isinstance(source_key, str) or not template_paths(source_key):
            self.add(item.line_of("source_key"),
                     f"{kind}: source_key must be a template with the record's id, e.g. \"person:{{id}}\"")
            source_key = ""
        else:
            self.check_template_paths(schema, source_key, item.line_of("source_key"))
        when = self.check_when(schema, item.get("when"), item.line_of("when")) if "when" in item else []
        fields_raw = item.get("fields")
        if not isinstance(fields_raw, LineDict):
            self.add(item.line_of("fields"), f"{kind}: fields must be a mapping of output field -> rule")
            return None
        out_schema = output_schema(kind)
        fields: dict[str, Rule] = {}
        for name, raw_rule in fields_raw.items():
            fline = fields_raw.line_of(name)
            self.check_output_field(kind, out_schema, str(name), fline, attributes, fields_raw)
            rule = self.check_rule(schema, raw_rule, fline, f"{kind}.{name}", top=True)
            if rule is not None:
                fields[str(name)] = rule
                self.check_result_type(kind, out_schema, str(name), rule, fline, attributes)
        for group in out_schema.get("x-required-any", []):
            if not any(name in fields for name in group):
                what = group[0] if len(group) == 1 else "one of " + ", ".join(group)
                self.add(item.line_of("fields"), f"{kind}: Intercom needs {what}; the output has no rule for it")
        if kind == "tickets" and "ticket_type" in fields:
            value = fields["ticket_type"].value
            if value is MISSING or value not in ticket_types:
                self.add(fields_raw.line_of("ticket_type"),
                         f"tickets: ticket_type must be a `value:` naming one of the map's ticket_types "
                         f"({sorted(ticket_types)})")
        return OutputSpec(stream, kind, source_key, fields, when, item.line)

    def check_output_field(self, kind: str, out_schema: dict, name: str, line: int,
                           attributes: list[AttributeDef], fields_raw: LineDict) -> None:
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
            _field_name, model = ATTRIBUTE_FIELDS[kind]
            if model == "ticket_type" and rest in BUILTIN_TICKET_ATTRIBUTES:
                return
            problem = attribute_name_problem(rest)
            if problem:
                self.add(line, problem)
                return
            if not any(a.name == rest and a.model == model for a in attributes):
                self.add(line, f"{kind}: {head}.{rest} is not defined under `attributes` with model {model}")
            return
        if "properties" in sub:
            if rest not in sub["properties"]:
                self.add(line, f"{kind}: unknown output field {name!r} "
                               f"(allowed: {', '.join(f'{head}.{p}' for p in sub['properties'])})")
            return
        if rest:
            self.add(line, f"{kind}: {head} is not an object; {name!r} is not a field")

    def check_result_type(self, kind: str, out_schema: dict, name: str, rule: Rule, line: int,
                          attributes: list[AttributeDef]) -> None:
        produced = set(self.result_types.get(id(rule), set()))
        if rule.default is not MISSING and not isinstance(rule.default, dict):
            produced.add(_json_type(rule.default))
        if not produced:
            return
        head, _, rest = name.partition(".")
        prop = out_schema["properties"].get(head, {})
        if "properties" in prop:
            prop = prop["properties"].get(rest, {})
        if prop.get("additionalProperties") is True and rest:
            model = ATTRIBUTE_FIELDS[kind][1]
            found = next((a for a in attributes if a.name == rest and a.model == model), None)
            if found is None or found.data_type not in ATTRIBUTE_JSON_TYPES:
                return
            expected, what = ATTRIBUTE_JSON_TYPES[found.data_type], f"attribute {rest!r} ({found.data_type})"
        else:
            expected, what = _types(prop) - {"null"}, f"{kind}.{name}"
            if "number" in expected:
                expected |= {"integer"}
        if expected and not produced <= expected:
            hint = " (dates need `unix: true`)" if expected == {"integer"} and "string" in produced else ""
            self.add(line, f"{kind}.{name}: the rule gives {'/'.join(sorted(produced))} but {what} takes "
                           f"{'/'.join(sorted(expected))}{hint}")

    def check_when(self, schema: dict | None, raw: t.Any, line: int) -> list[Condition]:
        items = raw if isinstance(raw, list) else [raw]
        result = []
        for item in items:
            iline = getattr(item, "line", line)
            if not isinstance(item, dict) or ("path" in item) == ("strategy" in item):
                self.add(iline, "when: a condition is {path: X, present|equals|in: …} or {strategy: S, equals: V}")
                continue
            unknown = set(item) - {"path", "strategy", "present", "equals", "in"}
            if unknown:
                self.add(iline, f"when: unknown keys {sorted(unknown)}")
            tests = [k for k in ("present", "equals", "in") if k in item]
            if len(tests) > 1:
                self.add(iline, f"when: use one test, not {tests}")
            if "in" in item and not isinstance(item["in"], list):
                self.add(iline, "when: `in` takes a list")
            if "strategy" in item:
                if item["strategy"] not in STRATEGIES:
                    self.add(iline, f"when: unknown strategy {item['strategy']!r}")
            else:
                self.check_path(schema, item["path"], iline)
            result.append(Condition(path=item.get("path"), strategy=item.get("strategy"), present=item.get("present"),
                                    equals=item.get("equals", MISSING), among=item.get("in")))
        return result

    def check_path(self, schema: dict | None, path: t.Any, line: int) -> dict | None:
        if not isinstance(path, str) or not path:
            self.add(line, f"a source path must be a dotted field name (found {path!r})")
            return None
        if schema is None:
            return None
        node, problem = schema_at(schema, path)
        if problem:
            self.add(line, problem)
        return node

    def check_template_paths(self, schema: dict | None, template: str, line: int) -> None:
        for path in template_paths(template):
            self.check_path(schema, path, line)

    def check_rule(self, schema: dict | None, raw: t.Any, line: int, where: str, *, top: bool) -> Rule | None:
        if not isinstance(raw, dict):
            raw = LineDict(value=raw)  # shorthand: a bare scalar is a constant
            raw.line, raw.key_lines = line, {}
        line = getattr(raw, "line", line) or line
        lines = raw.line_of if isinstance(raw, LineDict) else (lambda _key: line)
        unknown = set(raw) - RULE_KEYS
        if unknown:
            self.add(line, f"{where}: unknown rule keys {sorted(unknown)} (rule kinds: {', '.join(sorted(RULE_KEYS))})")
        sources = [k for k in SOURCE_KEYS if k in raw]
        if len(sources) > 1:
            self.add(line, f"{where}: use one source, not {sources}")
        if not top:
            for key in ("default", "flag_default", "required"):
                if key in raw:
                    self.add(lines(key), f"{where}: `{key}` belongs on the field, not inside first_of")
        rule = Rule(line=line)
        source_schema: dict | None = None
        if "from" in raw:
            rule.from_ = raw["from"]
            source_schema = self.check_path(schema, raw["from"], lines("from"))
        if "template" in raw:
            if not isinstance(raw["template"], str):
                self.add(lines("template"), f"{where}: template must be a string")
            else:
                rule.template = raw["template"]
                self.check_template_paths(schema, raw["template"], lines("template"))
        if "value" in raw:
            rule.value = raw["value"]
        if "first_of" in raw:
            alternatives = raw["first_of"]
            if not isinstance(alternatives, list) or not alternatives:
                self.add(lines("first_of"), f"{where}: first_of takes a list of rules")
            else:
                rule.first_of = [r for i, a in enumerate(alternatives)
                                 if (r := self.check_rule(schema, a, alternatives.line_of(i), where, top=False))]
        if "when" in raw:
            rule.when = self.check_when(schema, raw["when"], lines("when"))
        types = _types(source_schema) if source_schema else set()
        is_string_source = "string" in types
        if "html" in raw:
            if raw["html"] not in HTML_MODES:
                self.add(lines("html"), f"{where}: html must be one of {list(HTML_MODES)}")
            elif source_schema is not None and source_schema and not is_string_source:
                self.add(lines("html"), f"{where}: html on a non-text field ({rule.from_})")
            rule.html = raw["html"]
        if "lowercase" in raw:
            rule.lowercase = raw["lowercase"] is True
            if source_schema and not is_string_source:
                self.add(lines("lowercase"), f"{where}: lowercase on a non-text field ({rule.from_})")
        if "unix" in raw:
            rule.unix = raw["unix"] is True
            if source_schema and not (is_string_source and source_schema.get("format") in ("date-time", "date")):
                self.add(lines("unix"), f"{where}: unix needs a date-time field; {rule.from_!r} is "
                                        f"{'/'.join(sorted(types - {'null'})) or 'untyped'} without a date format")
            if "value" in raw:
                self.add(lines("unix"), f"{where}: unix on a constant")
        if "enum" in raw:
            enum = raw["enum"]
            if not isinstance(enum, dict) or not isinstance(enum.get("map"), dict) or set(enum) - {"map", "default"}:
                self.add(lines("enum"), f"{where}: enum takes {{map: {{from: to, …}}, default: …}}")
            else:
                rule.enum = dict(enum["map"])
                rule.enum_default = enum.get("default", MISSING)
        if "default" in raw:
            rule.default = raw["default"]
            if isinstance(rule.default, dict):
                if set(rule.default) != {"template"}:
                    self.add(lines("default"), f"{where}: a default is a constant or {{template: …}}")
                else:
                    self.check_template_paths(schema, rule.default["template"], lines("default"))
        if "flag_default" in raw:
            rule.flag_default = str(raw["flag_default"])
            if "default" not in raw:
                self.add(lines("flag_default"), f"{where}: flag_default needs a default")
        if "required" in raw:
            rule.required = raw["required"] is True
        rule_types = _result_types(rule, _types(source_schema) - {"null"} if source_schema else set())
        self.result_types[id(rule)] = rule_types
        return rule


def _result_types(rule: Rule, source_types: set[str]) -> set[str]:
    """JSON types a rule yields, as far as the map tells (empty set: unknown, not checked)."""
    if rule.enum is not None:
        values = [*rule.enum.values()] + ([] if rule.enum_default is MISSING else [rule.enum_default])
        return {_json_type(v) for v in values}
    if rule.unix:
        return {"integer"}
    if rule.template is not None:
        return {"string"}
    if rule.value is not MISSING:
        return {_json_type(rule.value)}
    if rule.from_ is not None:
        return set(source_types)
    return set()


def _json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "object"


#: attribute data type -> the JSON type its value must have (dates as unix seconds).
ATTRIBUTE_JSON_TYPES = {"string": {"string"}, "options": {"string"}, "list": {"string"}, "integer": {"integer"},
                        "float": {"number", "integer"}, "decimal": {"number", "integer"}, "boolean": {"boolean"},
                        "date": {"integer"}, "datetime": {"integer"}}


def load_map(path: str | Path | None = None, catalog: dict[str, dict] | bool | None = True) -> MapSpec:
    """Load and check a map file; raises MapInvalid with every problem.

    ``catalog``: stream -> JSON Schema; True (default) = tap-topdesk's schemas when installed; None/False = skip
    the source-side checks.
    """
    path = Path(path) if path else DEFAULT_MAP
    if catalog is True:
        catalog = tap_catalog()
    checker = _Checker(str(path), catalog or None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapInvalid([f"{path}:0: cannot read the map: {exc.strerror}"]) from None
    doc, problems = load_with_lines(text)
    checker.problems.extend(problems)
    spec = checker.check(doc) if doc is not None or not problems else None
    if checker.problems:
        ordered = sorted(set(checker.problems), key=lambda p: (p[0], p[1]))
        raise MapInvalid([f"{path}:{line}: {message}" for line, message in ordered])
    assert spec is not None
    return spec
