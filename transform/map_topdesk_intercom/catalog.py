"""The source side of validation: TOPdesk stream schemas (packaged or discovered), paths into them, and stream
patterns (``assets_*``) for the tap's dynamic streams (one ``assets_<template>`` stream per asset template)."""

from __future__ import annotations

import fnmatch
import json
import typing as t
from importlib import resources
from pathlib import Path

from tap_topdesk.streams.assets import BUILTIN_PROPERTIES

PATTERN_CHARS = set("*?[")


def is_pattern(stream: str) -> bool:
    return bool(PATTERN_CHARS & set(stream))


def tap_catalog() -> dict[str, dict]:
    """Stream -> JSON Schema from tap-topdesk's packaged schema files (a dependency: the map's source contract),
    plus the dynamic family of asset streams, ``assets_*`` (one per asset template): the columns every member has,
    template fields open."""
    folder = resources.files("tap_topdesk") / "schemas"
    catalog = {p.name[:-5]: json.loads(p.read_text()) for p in folder.iterdir() if p.name.endswith(".json")}
    catalog["assets_*"] = {"type": "object", "properties": dict(BUILTIN_PROPERTIES), "additionalProperties": True}
    return catalog


def catalog_from_file(path: str | Path) -> dict[str, dict]:
    """Stream -> JSON Schema from a Singer catalog file (``tap-topdesk --discover``)."""
    document = json.loads(Path(path).read_text())
    return {entry.get("stream") or entry["tap_stream_id"]: entry["schema"] for entry in document["streams"]}


def matching_streams(catalog: t.Mapping[str, dict], pattern: str) -> list[str]:
    """Catalog streams a map key names: itself, or for a pattern every stream it matches (a packaged family
    entry under the pattern's own name counts)."""
    if not is_pattern(pattern):
        return [pattern] if pattern in catalog else []
    return sorted(s for s in catalog if s == pattern or (not is_pattern(s) and fnmatch.fnmatchcase(s, pattern)))


def common_schema(schemas: list[dict]) -> dict:
    """The columns every schema has (a pattern's rules may only use those), open for the rest."""
    first, *rest = schemas
    props = {k: v for k, v in first.get("properties", {}).items() if all(k in s.get("properties", {}) for s in rest)}
    open_ = all(s.get("additionalProperties") is True for s in schemas)
    return {"type": "object", "properties": props, **({"additionalProperties": True} if open_ else {})}


def schema_at(schema: dict, path: str) -> tuple[dict | None, str | None]:
    """The sub-schema at a dotted path (a numeric step indexes an array), or (None, reason)."""
    node = schema
    walked: list[str] = []
    for part in path.split("."):
        types = types_of(node)
        if "array" in types and "object" not in types:
            if not part.isdigit():
                return None, (
                    f"'{'.'.join(walked)}' is an array; index it ('{'.'.join([*walked, '0'])}') or use for_each"
                )
            node = node.get("items", {})
            walked.append(part)
            continue
        props = node.get("properties")
        if props is None:
            if "object" in types or node.get("additionalProperties") not in (None, False):
                return {}, None  # a free-form object: nothing more to check
            return None, f"'{'.'.join(walked)}' has no fields (it is {'/'.join(sorted(types - {'null'}))})"
        if part not in props:
            if node.get("additionalProperties") is True:
                return {}, None  # an open schema (a dynamic stream family): template fields are not known here
            return None, f"unknown field '{'.'.join([*walked, part])}'"
        node = props[part]
        walked.append(part)
    return node, None


def types_of(node: dict) -> set[str]:
    declared = node.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)
