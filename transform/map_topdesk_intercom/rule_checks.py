"""Validation of field rules and conditions against a source schema: every rule kind's keys, paths and the JSON
types it can produce (so the map checker can compare them with the destination field)."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from map_topdesk_intercom.catalog import schema_at, types_of
from map_topdesk_intercom.definitions import STRATEGIES
from map_topdesk_intercom.rules import HTML_MODES, MISSING, Condition, Rule, template_paths
from map_topdesk_intercom.yamlines import LineDict, LineList

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
        self._check_rule_keys(raw, line, lines, where, top=top)
        check = _RuleCheck(schema, raw, where, lines, Rule(line=line))
        for key, step in RULE_STEPS.items():
            if key in raw:
                step(self, check, key)
        rule, source = check.rule, check.source
        rule_types = _result_types(rule, types_of(source) - {"null"} if source else set())
        self.result_types[id(rule)] = rule_types
        return rule

    def _check_rule_keys(self, raw: dict, line: int, lines: t.Callable[[t.Any], int], where: str, *, top: bool) -> None:
        """Unknown keys, more than one source, and field-level keys inside a nested rule."""
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

    # ---- one step per rule key (``RULE_STEPS``: called in its order for each key the rule has)

    def _rule_from(self, c: _RuleCheck, key: str) -> None:
        c.rule.from_ = c.raw[key]
        c.source = self.check_path(c.schema, c.raw[key], c.lines(key))

    def _rule_template(self, c: _RuleCheck, key: str) -> None:
        if not isinstance(c.raw[key], str):
            self.add(c.lines(key), f"{c.where}: template must be a string")
        else:
            c.rule.template = c.raw[key]
            self.check_template_paths(c.schema, c.raw[key], c.lines(key))

    def _rule_value(self, c: _RuleCheck, key: str) -> None:
        c.rule.value = c.raw[key]

    def _rule_list(self, c: _RuleCheck, key: str) -> None:
        """``first_of`` and ``join``: both take a list of rules."""
        items = c.raw[key]
        if not isinstance(items, list) or not items:
            self.add(c.lines(key), f"{c.where}: {key} takes a list of rules")
            return
        listed = t.cast("LineList", items)  # every sequence of a loaded map is a LineList (``yamlines``)
        setattr(
            c.rule,
            key,
            [
                r
                for i, a in enumerate(listed)
                if (r := self.check_rule(c.schema, a, listed.line_of(i), c.where, top=False))
            ],
        )

    def _rule_separator(self, c: _RuleCheck, key: str) -> None:
        if "join" not in c.raw or not isinstance(c.raw[key], str):
            self.add(c.lines(key), f"{c.where}: separator is a text and goes with join")
        else:
            c.rule.separator = c.raw[key]

    def _rule_object(self, c: _RuleCheck, key: str) -> None:
        members = c.raw[key]
        if not isinstance(members, LineDict) or not members:
            self.add(c.lines(key), f"{c.where}: object maps member names to rules")
        else:
            c.rule.object = {
                str(k): r
                for k, a in members.items()
                if (r := self.check_rule(c.schema, a, members.line_of(k), f"{c.where}.{k}", top=False))
            }

    def _rule_flags(self, c: _RuleCheck, key: str) -> None:
        paths = c.raw[key]
        if not isinstance(paths, list) or not paths:
            self.add(c.lines(key), f"{c.where}: flags takes a list of boolean fields")
            return
        c.rule.flags = [str(path) for path in paths]
        for path in paths:
            node = self.check_path(c.schema, path, c.lines(key))
            if node and "boolean" not in types_of(node):
                self.add(c.lines(key), f"{c.where}: flags: '{path}' is not a boolean field")

    def _rule_details(self, c: _RuleCheck, key: str) -> None:
        spec = c.raw[key]
        exclude = spec.get("exclude", []) if isinstance(spec, dict) else MISSING
        if not isinstance(exclude, list) or (isinstance(spec, dict) and set(spec) - {"exclude"}):
            self.add(c.lines(key), f"{c.where}: details takes {{exclude: [field, …]}}")
            exclude = []
        c.rule.details = [str(k) for k in exclude]

    def _rule_escape(self, c: _RuleCheck, key: str) -> None:
        if c.raw[key] != "html" or "template" not in c.raw:
            self.add(c.lines(key), f"{c.where}: escape: html goes with a template")
        c.rule.escape = "html"

    def _rule_when(self, c: _RuleCheck, key: str) -> None:
        c.rule.when = self.check_when(c.schema, c.raw[key], c.lines(key))

    def _rule_html(self, c: _RuleCheck, key: str) -> None:
        if c.raw[key] not in HTML_MODES:
            self.add(c.lines(key), f"{c.where}: html must be one of {list(HTML_MODES)}")
        elif c.source is not None and c.source and not c.is_string_source():
            self.add(c.lines(key), f"{c.where}: html on a non-text field ({c.rule.from_})")
        c.rule.html = c.raw[key]

    def _rule_lowercase(self, c: _RuleCheck, key: str) -> None:
        c.rule.lowercase = c.raw[key] is True
        if c.source and not c.is_string_source():
            self.add(c.lines(key), f"{c.where}: lowercase on a non-text field ({c.rule.from_})")

    def _rule_email(self, c: _RuleCheck, key: str) -> None:
        c.rule.email = c.raw[key] is True
        if c.source and not c.is_string_source():
            self.add(c.lines(key), f"{c.where}: email on a non-text field ({c.rule.from_})")

    def _rule_unix(self, c: _RuleCheck, key: str) -> None:
        c.rule.unix = c.raw[key] is True
        source = c.source
        if source and not (c.is_string_source() and source.get("format") in ("date-time", "date")):
            self.add(
                c.lines(key),
                f"{c.where}: unix needs a date-time field; {c.rule.from_!r} is "
                f"{'/'.join(sorted(c.source_types() - {'null'})) or 'untyped'} without a date format",
            )
        if "value" in c.raw:
            self.add(c.lines(key), f"{c.where}: unix on a constant")

    def _rule_mimetype(self, c: _RuleCheck, key: str) -> None:
        c.rule.mimetype = c.raw[key] is True
        if c.source and not c.is_string_source():
            self.add(c.lines(key), f"{c.where}: mimetype needs a file name (text), not {c.rule.from_!r}")

    def _rule_as_list(self, c: _RuleCheck, key: str) -> None:
        c.rule.as_list = c.raw[key] is True

    def _rule_enum(self, c: _RuleCheck, key: str) -> None:
        enum = c.raw[key]
        if not isinstance(enum, dict) or not isinstance(enum.get("map"), dict) or set(enum) - {"map", "default"}:
            self.add(c.lines(key), f"{c.where}: enum takes {{map: {{from: to, …}}, default: …}}")
        else:
            c.rule.enum = dict(enum["map"])
            c.rule.enum_default = enum.get("default", MISSING)

    def _rule_default(self, c: _RuleCheck, key: str) -> None:
        c.rule.default = c.raw[key]
        if isinstance(c.rule.default, dict):
            if set(c.rule.default) != {"template"}:
                self.add(c.lines(key), f"{c.where}: a default is a constant or {{template: …}}")
            else:
                self.check_template_paths(c.schema, c.rule.default["template"], c.lines(key))

    def _rule_flag_default(self, c: _RuleCheck, key: str) -> None:
        c.rule.flag_default = str(c.raw[key])
        if "default" not in c.raw:
            self.add(c.lines(key), f"{c.where}: flag_default needs a default")

    def _rule_required(self, c: _RuleCheck, key: str) -> None:
        c.rule.required = c.raw[key] is True


@dataclass
class _RuleCheck:
    """One rule being checked: its input and the rule built so far."""

    schema: dict | None
    raw: dict
    where: str
    lines: t.Callable[[t.Any], int]
    rule: Rule
    #: The schema of the ``from`` field (set by ``from``, the first step), if any.
    source: dict | None = None

    def source_types(self) -> set[str]:
        return types_of(self.source) if self.source else set()

    def is_string_source(self) -> bool:
        return "string" in self.source_types()


#: Rule key -> its step, in the order the steps run (problems are reported in this order).
RULE_STEPS: dict[str, t.Callable[[RuleChecks, _RuleCheck, str], None]] = {
    "from": RuleChecks._rule_from,
    "template": RuleChecks._rule_template,
    "value": RuleChecks._rule_value,
    "first_of": RuleChecks._rule_list,
    "join": RuleChecks._rule_list,
    "separator": RuleChecks._rule_separator,
    "object": RuleChecks._rule_object,
    "flags": RuleChecks._rule_flags,
    "details": RuleChecks._rule_details,
    "escape": RuleChecks._rule_escape,
    "when": RuleChecks._rule_when,
    "html": RuleChecks._rule_html,
    "lowercase": RuleChecks._rule_lowercase,
    "email": RuleChecks._rule_email,
    "unix": RuleChecks._rule_unix,
    "mimetype": RuleChecks._rule_mimetype,
    "as_list": RuleChecks._rule_as_list,
    "enum": RuleChecks._rule_enum,
    "default": RuleChecks._rule_default,
    "flag_default": RuleChecks._rule_flag_default,
    "required": RuleChecks._rule_required,
}


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
