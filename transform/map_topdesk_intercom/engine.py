"""Apply a map to one TOPdesk record: zero or more Intercom-shaped records, or flagged records — never a silent drop."""

from __future__ import annotations

import re
import typing as t

from map_topdesk_intercom.mapfile import MapSpec, OutputSpec, output_schema
from map_topdesk_intercom.rules import FieldError, all_hold, get_path, is_empty, render

FLAGGED = "flagged"
#: a str holding a code point of the surrogate range is a lone surrogate (TOPdesk's JSON may carry ``\\udc80``):
#: no UTF-8 encoder (HTML sanitizer, JSON writer, HTTP body) accepts it
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(value: t.Any) -> bool:
    """A walk without copying: almost no record has any, so only those few are rebuilt."""
    if isinstance(value, str):
        return LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_surrogates(v) for v in value.values())
    if isinstance(value, list):
        return any(has_surrogates(v) for v in value)
    return False


def scrub_surrogates(value: t.Any, path: str = "", found: list[str] | None = None) -> tuple[t.Any, list[str]]:
    """``value`` with every lone surrogate replaced by U+FFFD, and the dotted paths where that happened."""
    found = [] if found is None else found
    if isinstance(value, str):
        if LONE_SURROGATE.search(value):
            found.append(path)
            return LONE_SURROGATE.sub("\ufffd", value), found
        return value, found
    if isinstance(value, dict):
        return {k: scrub_surrogates(v, f"{path}.{k}" if path else str(k), found)[0] for k, v in value.items()}, found
    if isinstance(value, list):
        return [scrub_surrogates(v, f"{path}[{i}]", found)[0] for i, v in enumerate(value)], found
    return value, found


def _set_path(target: dict, dotted: str, value: t.Any) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        target[head] = value
        return
    # attribute names may not contain dots, so one level of nesting is all a map can ask for
    target.setdefault(head, {})[rest] = value


class Engine:
    """Applies a checked map; ``apply(stream, record)`` -> list of (output stream, record). A stream is mapped by its
    own ``streams`` key or a pattern; ``for_each`` outputs repeat per array element (as ``item``); ``warn`` outputs
    bring a warning flag along."""

    def __init__(self, spec: MapSpec) -> None:
        self.spec = spec
        self.required_any = {o: output_schema(o).get("x-required-any", []) for o in spec.output_streams}

    def maps(self, stream: str) -> bool:
        return self.spec.map_key(stream) is not None

    def outputs_for(self, stream: str) -> list[OutputSpec]:
        return self.spec.outputs_for(stream)

    def apply(self, stream: str, record: dict) -> list[tuple[str, dict]]:
        record, repaired = scrub_surrogates(record) if has_surrogates(record) else (record, [])
        results: list[tuple[str, dict]] = []
        for spec in self.spec.outputs_for(stream):
            if spec.for_each is None:
                produced = self.apply_output(spec, record, stream)
            else:
                elements = get_path(record, spec.for_each)
                produced = [
                    out
                    for element in (elements if isinstance(elements, list) else [])
                    for out in self.apply_output(spec, {**record, "item": element}, stream)
                ]
            results.extend(produced)
            if repaired:  # loaded with U+FFFD in place of the invalid characters, and said so
                results.extend(
                    self.flag(
                        spec,
                        record,
                        out["source_key"],
                        f"invalid text (lone UTF-16 surrogate escapes) in {', '.join(repaired)}: replaced by U+FFFD",
                        repaired[0],
                        "warning",
                        stream,
                    )
                    for name, out in produced
                    if name != FLAGGED
                )
        return results

    def flag(
        self,
        spec: OutputSpec,
        record: dict,
        source_key: str | None,
        reason: str,
        field: str | None,
        severity: str = "error",
        stream: str | None = None,
    ) -> tuple[str, dict]:
        record_id = record.get("id", record.get("number"))  # CSV-export records are keyed by number
        flagged = {
            "source_key": source_key or f"{stream or spec.source_stream}:{record_id}",
            "source_stream": stream or spec.source_stream,
            "record_id": None if record_id is None else str(record_id),
            "output": spec.output,
            "severity": severity,
            "reason": reason,
            "field": field,
        }
        return FLAGGED, flagged

    def apply_output(self, spec: OutputSpec, record: dict, stream: str | None = None) -> list[tuple[str, dict]]:
        if not all_hold(spec.when, record, self.spec.strategies):
            return []
        source_key = render(spec.source_key, record)
        if source_key is None:
            return [
                self.flag(
                    spec,
                    record,
                    None,
                    f"cannot build the source key {spec.source_key!r}: a value it needs is empty",
                    "source_key",
                    stream=stream,
                )
            ]
        out: dict[str, t.Any] = {"source_key": source_key}
        warnings: list[tuple[str, dict]] = []
        for name, rule in spec.fields.items():
            try:
                value, warning = rule.evaluate(record, self.spec.strategies)
            except FieldError as exc:
                return [self.flag(spec, record, source_key, str(exc), name, stream=stream)]
            if warning:
                warnings.append(self.flag(spec, record, source_key, warning, name, "warning", stream))
            if value is not None:
                _set_path(out, name, value)
        for group in self.required_any[spec.output]:
            if all(is_empty(get_path(out, name)) for name in group):
                what = group[0] if len(group) == 1 else "one of " + ", ".join(group)
                return [self.flag(spec, record, source_key, f"missing required value: {what}", group[0], stream=stream)]
        if spec.warn:
            reason = render(spec.warn, record) or spec.warn
            warnings.append(self.flag(spec, record, source_key, reason, None, "warning", stream))
        return [(spec.output, out), *warnings]
