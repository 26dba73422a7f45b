"""The stream schemas in ``tap_topdesk/schemas`` against the sandbox generator's records.

Every record of every resource in a generated dataset, after the transformations the tap applies (child keys,
one knowledge record per language, sandbox ``_`` keys dropped, dates normalised to RFC 3339), must validate
against its stream's schema with the date-time format checker, and every key it carries must be declared
(completeness). ``STREAMS`` below is the explicit stream -> generator resource mapping.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest

from tap_topdesk import schemas as schemas_pkg

SCALE, SEED = 500, 7

Record = dict[str, Any]

# --------------------------------------------------------------------------- tap-side transformations

_TOPDESK_OFFSET = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(\d\d)$")
_NO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?$")


def normalise_dates(value: Any) -> Any:
    """What the tap does to dates: ``...000+0000`` -> ``...000+00:00``; asset dates without offset -> UTC."""
    if isinstance(value, dict):
        return {k: normalise_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_dates(v) for v in value]
    if isinstance(value, str):
        m = _TOPDESK_OFFSET.match(value)
        if m:
            return f"{m.group(1)}{m.group(2)}:{m.group(3)}"
        if _NO_OFFSET.match(value):
            return value + "+00:00"
    return value


def strip_sandbox_keys(record: Record) -> Record:
    """Sandbox metadata keys start with ``_`` and are never served."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# Persons lines also carry the v1-only keys (sandbox README "Persons"); the v2 endpoint the tap uses leaves
# them out (topdesk_sandbox/routes/supporting.py ``_V1_ONLY``).
PERSON_V1_ONLY = ("status", "gender", "clientReferenceNumber", "attentionComment", "departmentFree")


def _same(ds: Any) -> Callable[[str], Iterator[Record]]:
    def gen(resource: str) -> Iterator[Record]:
        for r in ds.records.get(resource, []):
            yield strip_sandbox_keys(r)

    return gen


def incident_children(ds: Any, resource: str) -> Iterator[Record]:
    for r in ds.records[resource]:
        yield {**strip_sandbox_keys(r), "incident_id": r["_incidentId"]}


def incident_attachments(ds: Any, resource: str) -> Iterator[Record]:
    for r in incident_children(ds, resource):
        too_big = r["size"] > 10 * 1024 * 1024
        yield {
            **r,
            "download_skipped_reason": "size over max_attachment_bytes" if too_big else None,
            "content_base64": None if too_big else "aGVsbG8=",
        }


def incident_emails(ds: Any, resource: str) -> Iterator[Record]:
    """``/emails/id/{id}`` has no incident link; the tap knows it from the progress trail entry (same id)."""
    owner = {e["id"]: e["_incidentId"] for e in ds.records["incident_progresstrail"] if "sender" in e}
    for r in ds.records[resource]:
        yield {**strip_sandbox_keys(r), "incident_id": owner[r["id"]]}


def persons_v2(ds: Any, resource: str) -> Iterator[Record]:
    for r in ds.records[resource]:
        yield {k: v for k, v in strip_sandbox_keys(r).items() if k not in PERSON_V1_ONLY}


def operator_group_members(ds: Any, resource: str) -> Iterator[Record]:
    for r in ds.records[resource]:
        yield {"operator_id": r["_operatorId"], "operator_group_id": r["id"], "operator_group_name": r["name"]}


def changes_list_all(ds: Any, resource: str) -> Iterator[Record]:
    """``/operatorChanges?fields=all``: the detail shape as stored (rendered by the sandbox server's own
    projection)."""
    from topdesk_sandbox.routes.changes import change_list_item

    for r in ds.records[resource]:
        yield strip_sandbox_keys(change_list_item(r, None, True))


def change_children(ds: Any, resource: str) -> Iterator[Record]:
    for r in ds.records[resource]:
        yield {**strip_sandbox_keys(r), "change_id": r["_changeId"]}


def asset_links(ds: Any, resource: str) -> Iterator[Record]:
    """The stored links are ``{linkId, sourceId, targetId, capabilityId}``; ``/assetLinks?sourceId=X`` renders
    each side's view (the sandbox server's own renderer), to which the tap adds ``sourceId`` = X and
    ``targetId`` = the other asset."""
    from topdesk_sandbox.routes.assets import _linked

    assets = {a["id"]: a for a in ds.records["assets"]}
    for link in ds.records[resource]:
        src, dst = link["sourceId"], link["targetId"]
        yield {**_linked(assets.get(dst), dst, link, "child"), "sourceId": src, "targetId": dst}
        yield {**_linked(assets.get(src), src, link, "parent"), "sourceId": dst, "targetId": src}


def per_language(ds: Any, resource: str) -> Iterator[Record]:
    """The generator already stores one line per item and language; the tap adds ``language``."""
    for r in ds.records[resource]:
        yield {**strip_sandbox_keys(r), "language": r["translation"]["language"]}


#: stream name -> (generator resource, transformation)
STREAMS: dict[str, tuple[str, Callable[[Any, str], Iterator[Record]] | None]] = {
    "incidents": ("incidents", None),
    "incident_progress_trail": ("incident_progresstrail", incident_children),
    "incident_attachments": ("incident_attachments", incident_attachments),
    "incident_emails": ("emails", incident_emails),
    "persons": ("persons", persons_v2),
    "operators": ("operators", None),
    "operator_groups": ("operatorgroups", None),
    "operator_group_members": ("operator_operatorgroups", operator_group_members),
    "branches": ("branches", None),
    "departments": ("departments", None),
    "budget_holders": ("budgetholders", None),
    "locations": ("locations", None),
    "suppliers": ("suppliers", None),
    "changes": ("changes", changes_list_all),
    "change_activities": ("change_activities", None),
    "change_progress_trail": ("change_progresstrail", change_children),
    "asset_templates": ("asset_templates", None),
    "asset_links": ("asset_links", asset_links),
    "operational_activities": ("operational_activities", None),
    "operational_series": ("operational_series", None),
    "knowledge_items": ("knowledge_items", per_language),
    "knowledge_folders": ("knowledge_folders", per_language),
    "reservations": ("reservations", None),
}
#: CSV export streams: records come from ``streams/exports.py`` (validated in test_exports.py)
CSV_STREAMS = ("problems", "known_errors", "events_actions", "activity_templates")


def load_schema(name: str) -> dict:
    return json.loads(importlib.resources.files(schemas_pkg).joinpath(f"{name}.json").read_text("utf-8"))


def schema_names() -> set[str]:
    return {
        p.name[: -len(".json")] for p in importlib.resources.files(schemas_pkg).iterdir() if p.name.endswith(".json")
    }


@pytest.fixture(scope="module")
def dataset() -> Any:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(scale=SCALE, seed=SEED)


def stream_records(ds: Any, stream: str) -> list[Record]:
    resource, transform = STREAMS[stream]
    raw = transform(ds, resource) if transform else _same(ds)(resource)
    return [normalise_dates(copy.deepcopy(r)) for r in raw]


def validator(schema: dict) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def undeclared_keys(value: Any, schema: dict, path: str = "$") -> list[str]:
    """Keys of ``value`` (recursively) that the schema does not declare where it declares ``properties``."""
    out: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for k, v in value.items():
            if k not in schema["properties"]:
                out.append(f"{path}.{k}")
            else:
                out += undeclared_keys(v, schema["properties"][k], f"{path}.{k}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for v in value:
            out += undeclared_keys(v, schema["items"], f"{path}[]")
    return out


# --------------------------------------------------------------------------- tests


def test_schema_files_are_exactly_the_streams() -> None:
    assert schema_names() == set(STREAMS) | set(CSV_STREAMS)


@pytest.mark.parametrize("name", sorted(set(STREAMS) | set(CSV_STREAMS)))
def test_schema_is_valid_draft7(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert "additionalProperties" not in schema, "keep additionalProperties unset at top level"


@pytest.mark.parametrize("name", sorted(set(STREAMS) | set(CSV_STREAMS)))
def test_schema_conventions(name: str) -> None:
    """Date-times are nullable strings with format date-time; every non-key field is nullable."""

    def walk(s: dict, path: str) -> Iterator[tuple[str, dict]]:
        yield path, s
        for k, sub in s.get("properties", {}).items():
            yield from walk(sub, f"{path}.{k}")
        if isinstance(s.get("items"), dict):
            yield from walk(s["items"], f"{path}[]")

    schema = load_schema(name)
    for path, s in walk(schema, "$"):
        if path == "$":
            continue
        types = s.get("type")
        assert types, f"{name} {path}: no type"
        if s.get("format") == "date-time":
            assert types == ["string", "null"], f"{name} {path}"
        if path.count(".") > 1 or path.endswith("[]") or "[]" in path:
            assert "null" in types or path.endswith("[]"), f"{name} {path} must be nullable"
    non_null = [k for k, s in schema["properties"].items() if "null" not in s["type"]]
    for k in non_null:
        assert schema["properties"][k]["type"] == "string", f"{name}.{k}: only key strings are non-nullable"


def test_format_checker_is_active() -> None:
    """Guard: the date-time checker really rejects TOPdesk's raw ``+0000`` (needs rfc3339-validator)."""
    v = validator({"type": "string", "format": "date-time"})
    assert not v.is_valid("2024-01-25T11:14:25.000+0000")
    assert v.is_valid("2024-01-25T11:14:25.000+00:00")
    assert normalise_dates("2024-01-25T11:14:25.000+0000") == "2024-01-25T11:14:25.000+00:00"
    assert normalise_dates("2025-08-19T13:49:58.187") == "2025-08-19T13:49:58.187+00:00"


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_generated_records_validate(dataset: Any, stream: str) -> None:
    records = stream_records(dataset, stream)
    assert records, f"no generated records for {stream}"
    v = validator(load_schema(stream))
    errors = []
    for i, rec in enumerate(records):
        errors.extend(
            f"record {i} ({rec.get('id', rec.get('linkId'))}) {e.json_path}: {e.message[:200]}"
            for e in v.iter_errors(rec)
        )
    assert not errors, f"{len(errors)} errors, first: " + "\n".join(errors[:10])


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_generated_records_are_fully_declared(dataset: Any, stream: str) -> None:
    schema = load_schema(stream)
    records = stream_records(dataset, stream)
    top = sorted({k for r in records for k in r} - set(schema["properties"]))
    assert not top, f"{stream}: top-level keys missing from the schema: {top}"
    nested = sorted({p for r in records for p in undeclared_keys(r, schema)})
    assert not nested, f"{stream}: nested keys missing from the schema: {nested[:20]}"


def test_key_fields_present(dataset: Any) -> None:
    """The non-nullable (key) fields are present in every transformed record."""
    for stream in STREAMS:
        schema = load_schema(stream)
        keys = [k for k, s in schema["properties"].items() if s["type"] == "string"]
        for rec in stream_records(dataset, stream):
            missing = [k for k in keys if not rec.get(k)]
            assert not missing, f"{stream}: {missing} missing in {rec}"
