"""``RecordConformer`` against the pipeline it replaces.

The reference is what the tap and singer-sdk did per record: ``normalise_dates`` (client.py), then the SDK's
``pop_deselected_record_properties`` and ``conform_record_data_types(level=RECURSIVE)`` (as
``Stream._generate_record_messages`` calls them). Records are generated from every stream schema (seeded): present
or missing properties, nulls, nested objects, lists of objects, unknown properties at several depths, TOPdesk
date-time spellings, NaN/inf floats, 0/1 for booleans, and (in the "odd" records) values of the wrong shape,
datetimes, decimals and bytes. Outputs are compared as JSON text (key order and ``1`` vs ``true`` count), and the
unmapped-properties warnings are compared too.

``python tests/test_conform.py`` prints a micro-benchmark (records/s, SDK pipeline vs conformer).
"""

from __future__ import annotations

import copy
import datetime
import decimal
import json
import logging
import random
import zlib
from collections.abc import Iterable
from importlib import resources
from typing import Any

import pytest
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import MetadataMapping, SelectionMask

from tap_topdesk.client import load_schema, normalise_datetime
from tap_topdesk.conform import RecordConformer


def normalise_dates(value: Any) -> Any:
    """The tap's date walk before the conformer (the reference): every date-time string, in place."""
    if isinstance(value, dict):
        slots: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        slots = enumerate(value)
    else:
        return value
    for key, item in slots:
        if isinstance(item, str):
            fixed = normalise_datetime(item)
            if fixed is not None:
                value[key] = fixed  # replaces an existing slot: safe while iterating
        elif isinstance(item, dict | list):
            normalise_dates(item)
    return value


SCHEMAS = sorted(
    p.name.removesuffix(".json") for p in resources.files("tap_topdesk.schemas").iterdir() if p.name.endswith(".json")
)
RECORDS_PER_SCHEMA = 300

NAN, INF = float("nan"), float("inf")
DATES = [
    "2024-01-25T11:14:25.000+0000",
    "2025-08-19T13:49:58.187",
    "2024-01-25T11:14:25Z",
    "2023-06-30T23:59:59.999-0130",
    "2024-03-31T01:30:00+02:00",
    "2024-13-01T00:00:00.000+0000",  # matches the pattern, no such month: left alone
    "2024-01-25",
]
STRINGS = ["Open", "", "first line", "2024-01-25 11:14", "1", "0", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"]


# --------------------------------------------------------------------------- the reference pipeline


def sdk_pipeline(record: dict, schema: dict, mask: SelectionMask, stream: str, logger: logging.Logger) -> dict:
    normalise_dates(record)
    pop_deselected_record_properties(record, schema, mask)
    return conform_record_data_types(
        stream_name=stream, record=record, schema=schema, level=TypeConformanceLevel.RECURSIVE, logger=logger
    )


def as_text(value: Any) -> str:
    """JSON text: key order, ``true`` vs ``1`` and ``NaN`` all visible; non-JSON leftovers by repr."""
    return json.dumps(value, default=lambda v: f"<{type(v).__name__} {v!r}>")


class Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def quiet_logger(name: str) -> tuple[logging.Logger, Messages]:
    logger = logging.getLogger(name)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = Messages()
    logger.addHandler(handler)
    return logger, handler


# --------------------------------------------------------------------------- records from a schema


class RecordMaker:
    """Seeded records shaped by a schema; ``odd`` adds values of the wrong shape and non-JSON types."""

    def __init__(self, seed: int, *, odd: bool, presence: float = 0.7, extras: float = 0.25) -> None:
        self.rng = random.Random(seed)
        self.odd = odd
        self.presence = presence
        self.extras = extras

    def record(self, schema: dict) -> dict:
        return self.object(schema, 0)

    def object(self, schema: dict, depth: int) -> dict:
        rng = self.rng
        out: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            if rng.random() < self.presence:
                out[name] = self.value(prop, depth + 1)
        if rng.random() < self.extras:
            out[f"unknown{rng.randint(0, 2)}"] = self.free(depth + 1) if rng.random() < 0.5 else rng.choice(DATES)
        if self.odd and rng.random() < 0.1:
            keys = list(out)
            rng.shuffle(keys)
            out = {k: out[k] for k in keys}
        return out

    def value(self, schema: dict, depth: int) -> Any:
        rng = self.rng
        kinds = schema.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if "null" in kinds and rng.random() < 0.15:
            return None
        if self.odd and rng.random() < 0.04:
            return self.oddity(depth)
        kind = next((k for k in kinds if k != "null"), "string")
        if kind == "object":
            return self.object(schema, depth) if "properties" in schema else self.free(depth)
        if kind == "array":
            items = schema.get("items", {})
            return [self.value(items, depth + 1) for _ in range(rng.randint(0, 3))]
        if kind == "boolean":
            return rng.choice([True, False, 0, 1, *([2, 1.0, "yes", None] if self.odd else [])])
        if kind == "integer":
            return rng.randint(-5, 100_000)
        if kind == "number":
            return rng.choice([1.5, 0.0, 3, 2.25, NAN, INF, -INF] if self.odd else [1.5, 0.0, 3, 2.25, 1.0, NAN])
        if schema.get("format") == "date-time" or rng.random() < 0.05:
            return rng.choice(DATES)
        return rng.choice(STRINGS)

    def free(self, depth: int) -> Any:
        """A value no schema describes (an object without properties, an unknown property)."""
        rng = self.rng
        if depth > 5:
            return rng.choice(DATES)
        out: dict[str, Any] = {"k0": rng.choice(DATES + STRINGS), "k1": rng.choice([1, NAN, None, True])}
        if rng.random() < 0.5:
            out["nested"] = {"k0": rng.choice(DATES), "k2": [rng.choice(DATES), {"when": rng.choice(DATES)}]}
        if rng.random() < 0.3:
            out["items"] = [self.free(depth + 2), rng.choice(DATES), 5]
        return out

    def oddity(self, depth: int) -> Any:
        rng = self.rng
        return rng.choice(
            [
                self.free(depth + 1),
                [rng.choice(DATES), {"k0": rng.choice(DATES)}],
                datetime.datetime(2024, 1, 25, 11, 14, 25),
                datetime.datetime(2024, 1, 25, 11, 14, 25, tzinfo=datetime.UTC),
                datetime.date(2024, 1, 25),
                decimal.Decimal("1.5"),
                decimal.Decimal("NaN"),
                b"\x00",
                b"\x01",
                rng.choice(DATES),
                7,
                2.5,
                INF,
            ]
        )


# --------------------------------------------------------------------------- masks


def standard_mask(schema: dict, deselect: list[tuple[str, ...]]) -> SelectionMask:
    """The mask the SDK resolves from standard metadata with ``deselect`` set ``selected: false``."""
    keys = ["id"] if "id" in schema.get("properties", {}) else None
    metadata = MetadataMapping.get_standard_metadata(schema=schema, key_properties=keys)
    metadata[()].selected = True  # the stream is selected (as in a catalog the tap syncs)
    for crumb in deselect:
        metadata[crumb].selected = False
    return metadata.resolve_selection()


def some_deselections(schema: dict, seed: int) -> list[tuple[str, ...]]:
    """A few top-level and nested property breadcrumbs (never ``id``)."""
    rng = random.Random(seed)
    metadata = MetadataMapping.get_standard_metadata(schema=schema)
    crumbs = [c for c in metadata if c and c[-1] != "id"]
    top = [c for c in crumbs if len(c) == 2]
    nested = [c for c in crumbs if len(c) > 2]
    return rng.sample(top, min(len(top), 3, max(1, len(top) // 3))) + rng.sample(nested, min(3, len(nested)))


def odd_mask_entries(schema: dict) -> dict[tuple[str, ...], bool]:
    """Hand-set breadcrumbs the standard metadata never holds: an unknown property, and keys inside values the
    schema does not describe (the SDK's deselection still walks into any dict)."""
    entries: dict[tuple[str, ...], bool] = {("properties", "unknown1"): False}
    for name, prop in schema["properties"].items():
        if "properties" not in prop and name != "id":
            entries[("properties", name, "properties", "k0")] = False
            break
    for name, prop in schema["properties"].items():
        if "properties" in prop:
            entries[("properties", name, "properties", "unknown2")] = False
            entries[("properties", name, "properties", "k1")] = False
            break
    return entries


# --------------------------------------------------------------------------- comparison


def compare(stream: str, schema: dict, mask: SelectionMask, records: list[dict]) -> int:
    """Assert the conformer matches the SDK pipeline on every record; the number of records that differed from
    their input (so a test can check it exercised something)."""
    sdk_logger, sdk_messages = quiet_logger(f"test-conform.sdk.{stream}")
    our_logger, our_messages = quiet_logger(f"test-conform.ours.{stream}")
    conformer = RecordConformer(stream, schema, mask, our_logger, normalise_datetime)
    changed = kept = 0
    for index, record in enumerate(records):
        before = as_text(record)
        expected = as_text(sdk_pipeline(copy.deepcopy(record), schema, mask, stream, sdk_logger))
        mine = copy.deepcopy(record)
        result = conformer(mine)
        assert result is mine
        assert as_text(result) == expected, f"{stream} record {index}: {before}"
        changed += expected != before
        kept += bool(result)
    assert kept > len(records) // 2  # most records keep properties: the mask selects the stream
    assert our_messages.messages == sdk_messages.messages
    return changed


@pytest.mark.parametrize("name", SCHEMAS)
def test_same_as_sdk_pipeline(name: str) -> None:
    schema = load_schema(name)
    seed = zlib.crc32(name.encode())
    maker = RecordMaker(seed, odd=False)
    records = [maker.record(schema) for _ in range(RECORDS_PER_SCHEMA)]
    assert compare(name, schema, standard_mask(schema, []), records) > 0


@pytest.mark.parametrize("name", SCHEMAS)
def test_same_as_sdk_pipeline_with_deselection_and_odd_values(name: str) -> None:
    schema = load_schema(name)
    seed = zlib.crc32(name.encode()) + 1
    mask = standard_mask(schema, some_deselections(schema, seed))
    assert not all(mask.values())
    maker = RecordMaker(seed, odd=True, presence=0.8, extras=0.4)
    records = [maker.record(schema) for _ in range(RECORDS_PER_SCHEMA)]
    compare(f"{name}-deselected", schema, mask, records)
    mask.update(odd_mask_entries(schema))
    compare(f"{name}-hand-mask", schema, mask, records)


@pytest.mark.parametrize("name", ["incidents", "asset_templates", "knowledge_items"])
def test_same_as_sdk_pipeline_with_additional_properties(name: str) -> None:
    schema = copy.deepcopy(load_schema(name))

    def open_up(node: dict, depth: int) -> None:
        if "properties" in node and depth % 2 == 0:
            node["additionalProperties"] = True
        for prop in node.get("properties", {}).values():
            open_up(prop, depth + 1)
        if isinstance(node.get("items"), dict):
            open_up(node["items"], depth + 1)

    open_up(schema, 0)
    seed = zlib.crc32(name.encode()) + 2
    mask = standard_mask(schema, some_deselections(schema, seed))
    mask.update(odd_mask_entries(schema))
    maker = RecordMaker(seed, odd=True, presence=0.8, extras=0.6)
    compare(f"{name}-open", schema, mask, [maker.record(schema) for _ in range(RECORDS_PER_SCHEMA)])


ODD_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "flag": {"type": "boolean"},
        "flags": {"type": ["boolean"]},
        "anyOf": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "empty": {},
        "untyped": {"description": "no type"},
        "freeItems": {"type": "array", "items": {"type": "object"}},
        "grid": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "tuple": {"type": "array", "items": [{"type": "string"}]},
        "boolList": {"type": "array", "items": {"type": ["boolean", "null"]}},
        "objList": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "boolean"}}}},
        "open": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True},
        "closed": {"type": "object", "properties": {}},
    },
}


@pytest.mark.parametrize(
    "record",
    [
        {"id": "1", "flag": 1, "flags": "no", "anyOf": DATES[0], "empty": {"k0": DATES[1]}, "untyped": DATES[0]},
        {"flag": 0.0, "flags": b"\x00", "empty": 5, "untyped": {"k": [DATES[0]]}, "freeItems": [{}, 3, None]},
        {"grid": [[DATES[0], "x"], [], None], "tuple": [DATES[1], 5], "boolList": [0, 1, None, "", 2.0, NAN]},
        {"objList": [{"a": 0, "b": DATES[0]}, 4, {"a": None}], "open": {"a": DATES[0], "b": {"c": DATES[1]}}},
        {"closed": {"x": 1, "y": {"z": 2}}, "open": {"b": [DATES[0]], "a": 5}, "extra": {"x": 1}},
        {"flag": {"x": 1}, "flags": [], "objList": {"a": 1}, "grid": "x", "closed": [1], "open": None},
        {"empty": [1]},  # the SDK raises (empty schema, list value)
        {"untyped": [DATES[0]]},  # the SDK raises (no type, list value)
        {"freeItems": [{"k": 1}]},  # the SDK raises (object items without properties)
        {"freeItems": [{}], "id": decimal.Decimal("Infinity")},
    ],
)
def test_odd_schema_shapes(record: dict) -> None:
    mask = standard_mask(ODD_SCHEMA, [("properties", "open", "properties", "a")])
    sdk_logger, sdk_messages = quiet_logger("test-conform.sdk.odd")
    our_logger, our_messages = quiet_logger("test-conform.ours.odd")
    try:
        expected: Any = as_text(sdk_pipeline(copy.deepcopy(record), ODD_SCHEMA, mask, "odd", sdk_logger))
    except Exception as error:  # noqa: BLE001  whatever the SDK raises, the conformer must raise the same
        expected = type(error)
    conformer = RecordConformer("odd", ODD_SCHEMA, mask, our_logger, normalise_datetime)
    try:
        got: Any = as_text(conformer(copy.deepcopy(record)))
    except Exception as error:  # noqa: BLE001  compared with what the SDK raised
        got = type(error)
    assert got == expected
    assert our_messages.messages == sdk_messages.messages


def test_works_in_place() -> None:
    schema = load_schema("incidents")
    conformer = RecordConformer(
        "incidents", schema, standard_mask(schema, []), logging.getLogger("x"), normalise_datetime
    )
    record = {
        "id": "a",
        "modificationDate": "2024-01-25T11:14:25.000+0000",
        "caller": {"id": "c", "branch": {"name": "HQ"}},
        "requests": [],
        "majorCall": 1,
        "timeSpent": NAN,
    }
    caller = record["caller"]
    result = conformer(record)
    assert result is record
    assert record["caller"] is caller
    assert record["modificationDate"] == "2024-01-25T11:14:25.000+00:00"
    assert record["majorCall"] is True
    assert record["timeSpent"] is None


def test_unmapped_warning_once_in_sdk_words(caplog: pytest.LogCaptureFixture) -> None:
    schema = load_schema("incidents")
    stream = "incidents-warning-test"  # its own name: the SDK's warning cache is process-wide
    logger = logging.getLogger("tap-topdesk.test-conform")
    conformer = RecordConformer(stream, schema, standard_mask(schema, []), logger, normalise_datetime)

    def record() -> dict:
        return {
            "id": "a",
            "surprise": 1,
            "caller": {"id": "c", "shoeSize": 44, "branch": {"id": "b", "motto": "x"}},
            "optionalFields1": {"boolean1": True, "new": DATES[0]},
        }

    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(3):
            assert "surprise" not in conformer(record())
    warnings = [r for r in caplog.records if r.name == logger.name and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        "Properties ('surprise', 'caller.shoeSize', 'caller.branch.motto', 'optionalFields1.new') were present in "
        f"the '{stream}' stream but not found in catalog schema. Ignoring."
    )


def test_deselected_properties_are_dropped_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    schema = load_schema("incidents")
    mask = standard_mask(schema, [("properties", "request"), ("properties", "caller", "properties", "email")])
    logger = logging.getLogger("tap-topdesk.test-conform-deselected")
    conformer = RecordConformer("incidents-deselected-test", schema, mask, logger, normalise_datetime)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        result = conformer({"id": "a", "request": "x", "caller": {"id": "c", "email": "e"}})
    assert result == {"id": "a", "caller": {"id": "c"}}
    assert not [r for r in caplog.records if r.name == logger.name]


# --------------------------------------------------------------------------- micro-benchmark


def benchmark(count: int = 5_000, rounds: int = 3) -> None:
    import time

    schema = load_schema("incidents")
    mask = standard_mask(schema, [])
    maker = RecordMaker(11, odd=False, presence=0.9, extras=0.0)
    records = [maker.record(schema) for _ in range(count)]
    logger, _ = quiet_logger("test-conform.bench")
    conformer = RecordConformer("incidents", schema, mask, logger, normalise_datetime)

    def best(run: Any) -> float:
        times = []
        for _ in range(rounds):
            batch = copy.deepcopy(records)
            start = time.perf_counter()
            for record in batch:
                run(record)
            times.append(time.perf_counter() - start)
        return count / min(times)

    sdk = best(lambda r: sdk_pipeline(r, schema, mask, "incidents", logger))
    ours = best(conformer)
    print(f"{count} incident records, best of {rounds}:")
    print(f"  SDK pipeline (normalise_dates + pop_deselected + conform): {sdk:10,.0f} records/s")
    print(f"  RecordConformer:                                          {ours:10,.0f} records/s  ({ours / sdk:.1f}x)")


if __name__ == "__main__":
    benchmark()


def test_the_record_messages_still_mirror_the_sdks() -> None:
    """``TopdeskStream._generate_record_messages`` is singer-sdk's private method with its deselection and type
    conformance replaced by the conformer. singer-sdk is pinned; when an upgrade changes the method (another step
    per record, another message field), this fails and names what to carry over."""
    import inspect
    import re

    from singer_sdk.streams.core import Stream

    from tap_topdesk.client import TopdeskStream

    def calls(method: Any) -> list[str]:
        return re.findall(r"([\w.]+)\(", inspect.getsource(method))[1:]

    sdk = calls(Stream._generate_record_messages)
    assert sdk == [
        "pop_deselected_record_properties",
        "conform_record_data_types",
        "stream_map.transform",
        "singer.RecordMessage",
        "utc_now",
    ], sdk
    assert calls(TopdeskStream._generate_record_messages) == [
        "self.conformer",
        "stream_map.transform",
        "RecordMessage",
        "utc_now",
    ]
    fields = re.findall(r"(\w+)=", inspect.getsource(Stream._generate_record_messages).split("RecordMessage(")[1])
    assert fields == ["stream", "record", "version", "time_extracted"], fields
