"""Validation of field rules and conditions against a source schema: every rule kind's keys, paths and the JSON
types it can produce (so the map checker can compare them with the destination field)."""

from __future__ import annotations

import typing as t

from map_topdesk_intercom.catalog import schema_at, types_of
from map_topdesk_intercom.definitions import STRATEGIES
from map_topdesk_intercom.rules import HTML_MODES, MISSING, Condition, Rule, template_paths
from map_topdesk_intercom.yamlines import LineDict

RULE_KEYS = {
    "from",
    "template",
    "value",
    "first_of",
    "join",
    "separator",
    "object",
    "flags",
    "details",
    "escape",
    "html",
    "lowercase",
    "email",
    "mimetype",
    "enum",
    "unix",
    "as_list",
    "when",
    "default",
    "flag_default",
    "required",
}
SOURCE_KEYS = ("from", "template", "value", "first_of", "join", "object", "flags", "details")


class RuleChecks:
    """Rule and condition checks for the map checker (which provides ``add`` and ``result_types``)."""

    result_types: dict[int, set[str]]
    add: t.Callable[[int, str], None]

    def check_when(self, schema: dict | None, raw: t.Any, line: int) -> list[Condition]:
        items = raw if isinstance(raw, list) else [raw]
        result = []
        for item in items:
            iline = getattr(item, "line", line)
            if not isinstance(item, dict) or ("path" in item) == ("strategy" in item):
                self.add(
                    iline, "when: a condition is {path: X, present|email|equals|in: …} or {strategy: S, equals: V}"
                )
                continue
            unknown = set(item) - {"path", "strategy", "present", "email", "equals", "in"}
            if unknown:
                self.add(iline, f"when: unknown keys {sorted(unknown)}")
            tests = [k for k in ("present", "email", "equals", "in") if k in item]
            if len(tests) > 1:
                self.add(iline, f"when: use one test, not {tests}")
            if "in" in item and not isinstance(item["in"], list):
                self.add(iline, "when: `in` takes a list")
            if "strategy" in item:
                if item["strategy"] not in STRATEGIES:
                    self.add(iline, f"when: unknown strategy {item['strategy']!r}")
            else:
                self.check_path(schema, item["path"], iline)
            result.append(
                Condition(
                    path=item.get("path"),
                    strategy=item.get("strategy"),
                    present=item.get("present"),
                    email=item.get("email"),
                    equals=item.get("equals", MISSING),
                    among=item.get("in"),
                )
            )
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
        for key in ("first_of", "join"):  # both take a list of rules
            if key not in raw:
                continue
            items = raw[key]
            if not isinstance(items, list) or not items:
                self.add(lines(key), f"{where}: {key} takes a list of rules")
            else:
                setattr(
                    rule,
                    key,
                    [
                        r
                        for i, a in enumerate(items)
                        if (r := self.check_rule(schema, a, items.line_of(i), where, top=False))
                    ],
                )
        if "separator" in raw:
            if "join" not in raw or not isinstance(raw["separator"], str):
                self.add(lines("separator"), f"{where}: separator is a text and goes with join")
            else:
                rule.separator = raw["separator"]
        if "object" in raw:
            members = raw["object"]
            if not isinstance(members, LineDict) or not members:
                self.add(lines("object"), f"{where}: object maps member names to rules")
            else:
                rule.object = {
                    str(k): r
                    for k, a in members.items()
                    if (r := self.check_rule(schema, a, members.line_of(k), f"{where}.{k}", top=False))
                }
        if "flags" in raw:
            paths = raw["flags"]
            if not isinstance(paths, list) or not paths:
                self.add(lines("flags"), f"{where}: flags takes a list of boolean fields")
            else:
                rule.flags = [str(path) for path in paths]
                for path in paths:
                    node = self.check_path(schema, path, lines("flags"))
                    if node and "boolean" not in types_of(node):
                        self.add(lines("flags"), f"{where}: flags: '{path}' is not a boolean field")
        if "details" in raw:
            spec = raw["details"]
            exclude = spec.get("exclude", []) if isinstance(spec, dict) else MISSING
            if not isinstance(exclude, list) or (isinstance(spec, dict) and set(spec) - {"exclude"}):
                self.add(lines("details"), f"{where}: details takes {{exclude: [field, …]}}")
                exclude = []
            rule.details = [str(key) for key in exclude]
        if "escape" in raw:
            if raw["escape"] != "html" or "template" not in raw:
                self.add(lines("escape"), f"{where}: escape: html goes with a template")
            rule.escape = "html"
        if "when" in raw:
            rule.when = self.check_when(schema, raw["when"], lines("when"))
        types = types_of(source_schema) if source_schema else set()
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
        if "email" in raw:
            rule.email = raw["email"] is True
            if source_schema and not is_string_source:
                self.add(lines("email"), f"{where}: email on a non-text field ({rule.from_})")
        if "unix" in raw:
            rule.unix = raw["unix"] is True
            if source_schema and not (is_string_source and source_schema.get("format") in ("date-time", "date")):
                self.add(
                    lines("unix"),
                    f"{where}: unix needs a date-time field; {rule.from_!r} is "
                    f"{'/'.join(sorted(types - {'null'})) or 'untyped'} without a date format",
                )
            if "value" in raw:
                self.add(lines("unix"), f"{where}: unix on a constant")
        if "mimetype" in raw:
            rule.mimetype = raw["mimetype"] is True
            if source_schema and not is_string_source:
                self.add(lines("mimetype"), f"{where}: mimetype needs a file name (text), not {rule.from_!r}")
        if "as_list" in raw:
            rule.as_list = raw["as_list"] is True
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
        rule_types = _result_types(rule, types_of(source_schema) - {"null"} if source_schema else set())
        self.result_types[id(rule)] = rule_types
        return rule


def _result_types(rule: Rule, source_types: set[str]) -> set[str]:
    """JSON types a rule yields, as far as the map tells (empty set: unknown, not checked)."""
    if rule.as_list or rule.flags is not None:
        return {"array"}
    if rule.object is not None:
        return {"object"}
    if rule.join is not None or rule.details is not None or rule.mimetype:
        return {"string"}
    if rule.enum is not None:
        values = [*rule.enum.values()] + ([] if rule.enum_default is MISSING else [rule.enum_default])
        return {json_type(v) for v in values}
    if rule.unix:
        return {"integer"}
    if rule.template is not None:
        return {"string"}
    if rule.value is not MISSING:
        return {json_type(rule.value)}
    if rule.from_ is not None:
        return set(source_types)
    return set()


def json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "object"
