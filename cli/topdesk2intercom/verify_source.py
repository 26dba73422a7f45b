"""The source side of ``verify``: what the migration should have produced, per Intercom kind and source key.

The tap runs as a full extraction (no state: every record, not a delta) and each record goes through the mapper
plugin's own engine, built exactly as the target builds it (same ``map_file``/``catalog`` settings), so the expected
records are the ones the target received and wrote."""

from __future__ import annotations

import typing as t
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm import tqdm

from map_topdesk_intercom.api import FLAGGED, TopdeskIntercomMapper
from target_intercom.api import as_held, content_hash
from topdesk2intercom.plugins import tap_lines


@dataclass
class Expected:
    """Mapped records per Intercom kind (source key -> record) and the records the map flagged."""

    records: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    #: kind -> source key -> the content hash the ledger keeps for the record as the target staged it
    hashes: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    flagged: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    source_records: int = 0

    def kinds(self) -> list[str]:
        return sorted(set(self.records) | set(self.flagged))


def mapper_for(target_config: dict[str, t.Any]) -> TopdeskIntercomMapper:
    """The mapper as ``TargetIntercom.topdesk_mapper`` instantiates it (same settings, same code)."""
    config = {k: target_config[k] for k in ("map_file", "catalog") if target_config.get(k)}
    return TopdeskIntercomMapper(config=config)


def expected_records(
    tap_config: dict[str, t.Any], target_config: dict[str, t.Any], messages: t.Iterable[dict] | None = None
) -> Expected:
    """Run the tap (full extraction) and map every record in process; ``messages`` replaces the tap (tests)."""
    out = Expected()
    for kind, key, record, digest in mapped(tap_config, target_config, messages, counted=out):
        if digest is None:
            out.flagged[kind][key] = record
        else:
            out.records[kind][key] = record
            out.hashes[kind][key] = digest
    return out


def mapped(
    tap_config: dict[str, t.Any],
    target_config: dict[str, t.Any],
    messages: t.Iterable[dict] | None = None,
    counted: Expected | None = None,
) -> t.Iterator[tuple[str, str, dict, str | None]]:
    """(kind, source key, mapped record, its staged content hash) for every record of a full extraction, as it
    comes (streaming: ``verify --all`` stores them on disk); the hash is None for a record the map flagged. A mapped
    record comes without its attachments' content. ``counted``: its ``source_records`` counts the records read."""
    mapper = mapper_for(target_config)
    engine = mapper.engine
    # read as the target reads the tap's lines (singer-sdk: a number with a fraction is a Decimal, ``1252.50`` stays
    # that in a text the map builds), so the mapped records and their hashes are the ones the target wrote
    stream = messages if messages is not None else map(mapper.message_reader.deserialize_json, tap_lines(tap_config))
    with tqdm(desc="verify: extracting TOPdesk", unit=" records", disable=None) as bar:
        for message in stream:
            if message.get("type") != "RECORD" or not engine.maps(message["stream"]):
                continue
            if counted is not None:
                counted.source_records += 1
            bar.update()
            for kind, record in engine.apply(message["stream"], message["record"]):
                if kind == FLAGGED:
                    yield str(record.get("output") or "unknown"), str(record.get("source_key")), record, None
                else:
                    yield kind, str(record["source_key"]), _without_file_data(as_held(record)), staged_hash(record)


def staged_hash(record: dict) -> str:
    """``content_hash`` of the record as the target holds it (``as_held``: the ledger's JSON round trip, a
    ``Decimal`` as the number it was)."""
    return content_hash(as_held(record))


def _without_file_data(record: dict) -> dict:
    """Attachments keep their name and size, not their content: the comparison never reads it, and holding every
    file of a full extraction in memory would not scale."""
    files = record.get("attachment_files")
    if not files:
        return record
    return {
        **record,
        "attachment_files": [
            {k: v for k, v in f.items() if k != "data"} | {"bytes": len(f.get("data") or "") * 3 // 4} for f in files
        ],
    }
