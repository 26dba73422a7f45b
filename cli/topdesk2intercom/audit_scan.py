"""What the audit learns from one full extraction: counters per stream (active/archived, optional-field usage, the
Intercom writes the map would make), the asset types' field lists, and a small sample for ``map propose``. The
records stream by and only counters stay in memory; the sample goes straight to its file."""

from __future__ import annotations

import contextlib
import json
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from map_topdesk_intercom.api import ASSET_BUILTINS, FLAGGED, OPTIONAL_GROUPS, Engine, MapSpec, is_filled
from topdesk2intercom.plugins import tap_messages

#: RECORDs kept per stream in the audit's sample (plus, per optional field, the first record that fills it).
SAMPLE_PER_STREAM = 25


def archived_state(record: dict) -> bool | None:
    """True/False when the record says whether it is archived, None when it has no such marker. TOPdesk spells it
    three ways: ``archived: bool``, operations' ``archived: {value: bool}``, and a status ending in ``Archived``
    (calls: ``firstLineArchived``)."""
    value = record.get("archived")
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and isinstance(value.get("value"), bool):
        return value["value"]
    status = record.get("status")
    if isinstance(status, str) and status:
        return status.lower().endswith("archived")
    return None


@dataclass
class StreamStats:
    records: int = 0
    active: int = 0
    archived: int = 0
    unmarked: int = 0  # no archived/status marker
    #: ``optionalFieldsN.field`` -> records filling it
    optional_filled: Counter = field(default_factory=Counter)
    #: ``optionalFieldsN.field`` -> declared JSON type (from the SCHEMA)
    optional_declared: dict[str, str] = field(default_factory=dict)
    #: output kind -> records the map makes of this stream
    outputs: Counter = field(default_factory=Counter)
    #: (output, field, severity) -> records the map flags instead of (or besides) writing, and one example reason
    flags: Counter = field(default_factory=Counter)
    flag_examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: asset streams: template name (``@type.name``) and fields (name, label, type) from the SCHEMA
    template_name: str | None = None
    fields: list[tuple[str, str, str]] = field(default_factory=list)


def _json_type(node: dict) -> str:
    types = node.get("type")
    types = [types] if isinstance(types, str) else [x for x in (types or []) if x != "null"]
    text = "/".join(types) or "any"
    return f"{text} ({node['format']})" if node.get("format") else text


class Scan:
    """Feed it the tap's messages (``consume``); it counts and writes the sample."""

    def __init__(self, spec: MapSpec, sample: t.TextIO | None, per_stream: int = SAMPLE_PER_STREAM) -> None:
        self.engine = Engine(spec)
        self.spec = spec
        self.sample = sample
        self.per_stream = per_stream
        self.streams: dict[str, StreamStats] = {}
        self.messages: Counter = Counter()
        self._sampled: Counter = Counter()
        self._sampled_paths: set[tuple[str, str]] = set()

    def stats(self, stream: str) -> StreamStats:
        return self.streams.setdefault(stream, StreamStats())

    def consume(self, messages: t.Iterable[dict], progress: bool | None = None) -> None:
        bar = tqdm(desc="extracting", unit=" records", disable=None if progress is None else not progress, file=None)
        try:
            for message in messages:
                kind = message.get("type")
                self.messages[kind] += 1
                if kind == "SCHEMA":
                    self._schema(message)
                elif kind == "RECORD":
                    self._record(message)
                    bar.update(1)
                    if bar.n % 200 == 0:
                        stream = message["stream"]
                        bar.set_postfix_str(f"{stream}: {self.streams[stream].records}", refresh=False)
        finally:
            bar.close()

    def _schema(self, message: dict) -> None:
        stream = message["stream"]
        stats = self.stats(stream)
        properties = (message.get("schema") or {}).get("properties") or {}
        for group in OPTIONAL_GROUPS:
            for name, node in ((properties.get(group) or {}).get("properties") or {}).items():
                stats.optional_declared[f"{group}.{name}"] = _json_type(node)
        if stream.startswith("assets_"):
            stats.fields = [
                (key, str(node.get("description") or ""), _json_type(node))
                for key, node in properties.items()
                if key not in ASSET_BUILTINS
            ]
        if self.sample is not None:
            self.sample.write(json.dumps(message) + "\n")

    def _record(self, message: dict) -> None:
        stream, record = message["stream"], message.get("record") or {}
        stats = self.stats(stream)
        stats.records += 1
        state = archived_state(record)
        if state is None:
            stats.unmarked += 1
        elif state:
            stats.archived += 1
        else:
            stats.active += 1
        new_paths = []
        for group in OPTIONAL_GROUPS:
            values = record.get(group)
            if isinstance(values, dict):
                for name, value in values.items():
                    if is_filled(value):
                        path = f"{group}.{name}"
                        stats.optional_filled[path] += 1
                        if (stream, path) not in self._sampled_paths:
                            self._sampled_paths.add((stream, path))
                            new_paths.append(path)
        if stream.startswith("assets_") and stats.template_name is None:
            name = (record.get("@type") or {}).get("name") if isinstance(record.get("@type"), dict) else None
            stats.template_name = name if isinstance(name, str) and name.strip() else None
        for output, produced in self.engine.apply(stream, record):
            if output == FLAGGED:
                key = (str(produced.get("output")), str(produced.get("field") or ""), str(produced.get("severity")))
                stats.flags[key] += 1
                stats.flag_examples.setdefault(key, str(produced.get("reason") or ""))
            else:
                stats.outputs[output] += 1
        if self.sample is not None and (self._sampled[stream] < self.per_stream or new_paths):
            self._sampled[stream] += 1
            self.sample.write(json.dumps(message) + "\n")


def run_scan(config: dict[str, t.Any], spec: MapSpec, sample_path: Path | None, progress: bool | None = None) -> Scan:
    """A full extraction without state (every record, archived included, as configured) through ``Scan``."""
    with sample_path.open("w", encoding="utf-8") if sample_path else contextlib.nullcontext() as sample:
        scan = Scan(spec, sample)
        scan.consume(tap_messages(config), progress)
    return scan
