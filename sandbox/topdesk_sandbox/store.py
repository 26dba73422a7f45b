"""The dataset in memory: one ``Resource`` per JSON Lines file, with lazy indexes that keep big datasets fast.

Records are kept exactly as served; the ``_``-prefixed sandbox metadata (parent links, attachment bodies) is split
off at load time into a parallel list, so serving a page never has to strip keys. Indexes (sorted by a date
field, or grouped by a key) are built on first use and dropped whenever the resource changes (``version``).
"""

from __future__ import annotations

import bisect
import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import cast

import orjson

from topdesk_sandbox.dates import parse_instant
from topdesk_sandbox.records import record_id

#: Files whose lines carry sandbox metadata keys; other files are scanned only if a raw line contains ``"_``.
_META_HINT = b'"_'


class Resource:
    """One resource (file stem): its records, metadata and indexes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[dict | None] = []
        self.meta: list[dict | None] = []
        self.by_id: dict[str, int] = {}
        self.version = 0
        self._sorted: dict[str, tuple[array, array, list[int]]] = {}
        self._groups: dict[str, dict[object, list[int]]] = {}
        self._live: list[int] | None = None

    def __len__(self) -> int:
        return len(self.live())

    def _changed(self) -> None:
        self.version += 1
        self._sorted.clear()
        self._groups.clear()
        self._live = None

    def append(self, record: dict, meta: dict | None = None) -> int:
        """Add a record (already split from its metadata); returns its position."""
        pos = len(self.items)
        self.items.append(record)
        self.meta.append(meta or None)
        rid = record_id(record)
        if rid is not None and rid not in self.by_id:
            self.by_id[rid] = pos
        self._changed()
        return pos

    def add_raw(self, raw: dict) -> int:
        """Add a record that may still carry ``_`` metadata keys."""
        record, meta = split_meta(raw)
        return self.append(record, meta)

    def replace(self, pos: int, record: dict, meta: dict | None = None) -> None:
        """Swap the record at ``pos`` (admin patch/archive)."""
        self.items[pos] = record
        if meta is not None:
            self.meta[pos] = {**(self.meta[pos] or {}), **meta}
        self._changed()

    def delete(self, pos: int) -> None:
        """Remove a record; positions of the others stay stable."""
        record = self.items[pos]
        if record is not None:
            rid = record_id(record)
            if rid is not None and self.by_id.get(rid) == pos:
                del self.by_id[rid]
                for other in self.group("id").get(rid, []) if rid else []:
                    if other != pos and self.items[other] is not None:
                        self.by_id[rid] = other
                        break
        self.items[pos] = None
        self._changed()

    def live(self) -> list[int]:
        """Positions of all records that are not deleted, in load order."""
        if self._live is None:
            self._live = [i for i, rec in enumerate(self.items) if rec is not None]
        return self._live

    def records(self, positions: Iterable[int]) -> Iterator[dict]:
        """The records at ``positions``."""
        items = self.items
        for pos in positions:
            rec = items[pos]
            if rec is not None:
                yield rec

    def get(self, rid: str) -> dict | None:
        """The record with this id, or None."""
        pos = self.by_id.get(rid)
        return None if pos is None else self.items[pos]

    def find(self, identifier: str) -> dict | None:
        """The record with this id, else the first with this ``number``, or None."""
        record = self.get(identifier)
        if record is None:
            hits = self.group("number").get(identifier)
            record = self.items[hits[0]] if hits else None
        return record

    def sorted_by(self, field: str) -> tuple[array, array, list[int]]:
        """(instants, positions, positions-without-a-date) for a date field, sorted by (instant, id)."""
        cached = self._sorted.get(field)
        if cached is None:
            dated: list[tuple[int, str, int]] = []
            undated: list[int] = []
            for pos in self.live():
                rec = self.items[pos]
                value = rec.get(field) if rec is not None else None
                ms = parse_instant(value) if isinstance(value, str) else None
                if ms is None:
                    undated.append(pos)
                else:
                    dated.append((ms, record_id(rec) or "", pos))  # type: ignore[arg-type]
            dated.sort()
            cached = (array("q", [d[0] for d in dated]), array("q", [d[2] for d in dated]), undated)
            self._sorted[field] = cached
        return cached

    def range(self, field: str, low: int | None, low_inc: bool, high: int | None, high_inc: bool) -> Sequence[int]:
        """Positions whose date ``field`` lies in the range, ordered by (instant, id): a bisect, not a scan."""
        keys, positions, _ = self.sorted_by(field)
        start = 0 if low is None else (bisect.bisect_left if low_inc else bisect.bisect_right)(keys, low)
        end = len(keys) if high is None else (bisect.bisect_right if high_inc else bisect.bisect_left)(keys, high)
        return positions[start:end] if start < end else array("q")

    def group(self, key: str) -> dict[object, list[int]]:
        """Positions grouped by a record key (or a ``_`` metadata key), e.g. children by ``_incidentId``."""
        cached = self._groups.get(key)
        if cached is None:
            cached = {}
            source = self.meta if key.startswith("_") else self.items
            for pos in self.live():
                holder = source[pos]
                value = holder.get(key) if holder else None
                if value is not None:
                    cached.setdefault(value, []).append(pos)
            self._groups[key] = cached
        return cached


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> object:
    """Any valid JSON text. orjson first (fast); what it refuses although valid — a lone surrogate escape
    (``"\\ud800"``), an integer beyond 64 bits — the standard library reads. ``NaN``/``Infinity`` stay refused."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as fast_error:
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except ValueError:
            raise fast_error from None


def split_meta(raw: dict) -> tuple[dict, dict | None]:
    """Separate the served record from its ``_`` metadata keys."""
    if not any(k.startswith("_") for k in raw):
        return raw, None
    record = {k: v for k, v in raw.items() if not k.startswith("_")}
    meta = {k: v for k, v in raw.items() if k.startswith("_")}
    return record, meta


class Store:
    """All resources of a dataset; a missing resource is an empty one."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}

    def __getitem__(self, name: str) -> Resource:
        res = self.resources.get(name)
        if res is None:
            res = self.resources[name] = Resource(name)
        return res

    def counts(self) -> dict[str, int]:
        """Live record counts per resource."""
        return {name: len(res) for name, res in sorted(self.resources.items())}

    @classmethod
    def from_directory(cls, directory: Path) -> Store:
        """Load every ``*.jsonl`` file of a dataset directory (orjson, one pass, no per-key scan unless needed)."""
        store = cls()
        for path in sorted(directory.glob("*.jsonl")):
            res = store[path.stem]
            items, metas, by_id = res.items, res.meta, res.by_id
            for lineno, line in enumerate(path.read_bytes().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    # A dataset line is one record, a JSON object (the format of sandbox/README.md).
                    raw = cast(dict, loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
                record, meta = split_meta(raw) if _META_HINT in line else (raw, None)
                rid = record_id(record)
                if rid is not None and rid not in by_id:
                    by_id[rid] = len(items)
                items.append(record)
                metas.append(meta)
            res._changed()
        return store

    @classmethod
    def from_records(cls, records: dict[str, list[dict]]) -> Store:
        """Build from an in-memory dataset (``build_dataset(...).records``)."""
        store = cls()
        for name, rows in records.items():
            res = store[name]
            for raw in rows:
                record, meta = split_meta(raw)
                rid = record_id(record)
                if rid is not None and rid not in res.by_id:
                    res.by_id[rid] = len(res.items)
                res.items.append(record)
                res.meta.append(meta)
            res._changed()
        return store
