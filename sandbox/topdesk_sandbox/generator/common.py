"""Shared helpers: a seeded RNG that also mints UUIDs, fixed-anchor dates in TOPdesk's formats, empty records.

Everything here must stay deterministic for a given seed: no wall clock, no hash-order iteration, no library
whose output could change with an upgrade.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, overload

from .plan import Plan

#: A generated record, or an object one embeds: JSON with TOPdesk's (wide, literal) shapes.
Record = dict[str, Any]

#: The dataset's "now". Never the wall clock, so the same scale and seed give the same bytes on any day.
ANCHOR = int(datetime(2025, 10, 1, 9, 0, 0, tzinfo=UTC).timestamp())
DAY = 86_400
HOUR = 3_600
#: How far back the history goes: a little over three years, i.e. many 90-day windows.
HISTORY_DAYS = 3 * 365 + 30

_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_BITS = (4 << 76) | (0x8000 << 48)


class Rng(random.Random):
    """`random.Random` plus the few draws every module needs (ids, dates, picks)."""

    def uuid(self) -> str:
        """A version-4 UUID drawn from this generator (not from os.urandom), as TOPdesk's lower-case string."""
        h = "%032x" % ((self.getrandbits(128) & _VERSION_MASK) | _VERSION_BITS)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def upper_uuid(self) -> str:
        """Asset management writes some ids (templates, fields) in upper case."""
        return self.uuid().upper()

    def chance(self, p: float) -> bool:
        return self.random() < p

    def between(self, lo: int, hi: int) -> int:
        """A timestamp (seconds) in [lo, hi]; tolerates hi < lo by returning lo."""
        return lo if hi <= lo else self.randint(lo, hi)

    def weighted(self, items: list[Any], weights: list[float]) -> Any:
        return self.choices(items, weights)[0]


_day_cache: dict[int, str] = {}


def _day(days: int) -> str:
    s = _day_cache.get(days)
    if s is None:
        s = datetime.fromtimestamp(days * DAY, tz=UTC).strftime("%Y-%m-%d")
        _day_cache[days] = s
    return s


@overload
def td(ts: int) -> str: ...
@overload
def td(ts: None) -> None: ...
@overload
def td(ts: int | None) -> str | None: ...
def td(ts: int | None) -> str | None:
    """TOPdesk's default date format: `2024-01-25T11:14:25.000+0000` (UTC)."""
    if ts is None:
        return None
    d, s = divmod(ts, DAY)
    h, s = divmod(s, HOUR)
    m, s = divmod(s, 60)
    return f"{_day(d)}T{h:02d}:{m:02d}:{s:02d}.000+0000"


@overload
def asset_date(ts_ms: int) -> str: ...
@overload
def asset_date(ts_ms: None) -> None: ...
@overload
def asset_date(ts_ms: int | None) -> str | None: ...
def asset_date(ts_ms: int | None) -> str | None:
    """Asset management's format: `2025-08-19T13:49:58.187` (milliseconds, no offset, UTC)."""
    if ts_ms is None:
        return None
    secs, ms = divmod(ts_ms, 1000)
    d, s = divmod(secs, DAY)
    h, s = divmod(s, HOUR)
    m, s = divmod(s, 60)
    return f"{_day(d)}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def ui_date(ts: int | None) -> str:
    """The UI's (and CSV export's) format: `25-01-2024 11:14`; empty when unset."""
    if ts is None:
        return ""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%d-%m-%Y %H:%M")


def yymm(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%y%m")


@overload
def ref(rec: Record, name_key: str = "name") -> Record: ...
@overload
def ref(rec: None, name_key: str = "name") -> None: ...
@overload
def ref(rec: Record | None, name_key: str = "name") -> Record | None: ...
def ref(rec: Record | None, name_key: str = "name") -> Record | None:
    """The `{id, name}` reference other records embed."""
    if rec is None:
        return None
    return {"id": rec["id"], "name": rec[name_key]}


def empty_optional_fields(n: int = 5, *, int_numbers: bool = False) -> dict[str, Any]:
    """An optional-fields tab with nothing filled in: false, 0, "", null (TOPdesk's defaults)."""
    zero: float | int = 0 if int_numbers else 0.0
    of: dict[str, Any] = {}
    for i in range(1, n + 1):
        of[f"boolean{i}"] = False
    for i in range(1, n + 1):
        of[f"number{i}"] = zero
    for i in range(1, n + 1):
        of[f"text{i}"] = ""
    for i in range(1, n + 1):
        of[f"memo{i}"] = None
    for i in range(1, n + 1):
        of[f"date{i}"] = None
    for i in range(1, n + 1):
        of[f"searchlist{i}"] = None
    return of


#: Shared, never mutated: most records leave their second tab empty. Records are read-only after generation.
EMPTY_OF = empty_optional_fields()
EMPTY_OF_CHANGE = {"boolean1": False, "number1": 0, "text1": "", "memo1": None, "date1": None, "searchlist1": None}


def filled_optional_fields(rng: Rng, base_ts: int, searchlist: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A first tab with a few typical fields in use (cost centre code, a flag, a number, sometimes a date)."""
    of = dict(EMPTY_OF)
    of["boolean1"] = rng.chance(0.3)
    of["number1"] = float(rng.randint(0, 40))
    of["text1"] = f"KP-{rng.randint(1000, 9999)}"
    if rng.chance(0.3):
        of["date1"] = td(base_ts + rng.randint(0, 30) * DAY)
    if searchlist and rng.chance(0.5):
        of["searchlist1"] = rng.choice(searchlist)
    return of


def is_empty_optional_fields(of: dict[str, Any]) -> bool:
    return all(v in ("", None, False, 0, 0.0) for v in of.values())


class Context:
    """What the generator modules share while building one dataset: the RNG, the plan, records so far, and
    lookup tables one module leaves for the next (e.g. persons for calls). Modules run in dependency order.

    The lookup tables are declared here (annotation only, no value) and set by the step named above each group;
    an attribute does not exist before its step ran (`people._stamp` relies on that for `op_refs`)."""

    rng: Rng
    plan: Plan
    records: dict[str, list[Record]]
    planted: dict[str, dict[str, Any]]
    exports: dict[str, str]

    # people
    countries: dict[str, Record]
    languages: dict[str, Record]
    op_ids: list[Record]
    admin: Record
    dept_refs: list[Record]
    bh_refs: list[Record]
    branch_country: dict[str, str]
    branch_full: dict[str, Record]
    branch_v2: dict[str, Record]
    locations_by_branch: dict[str, list[Record]]
    group_refs: list[Record]
    op_refs: list[Record]
    members: dict[str, list[Record]]
    op_groups: dict[str, list[Record]]
    person_created: dict[str, int]
    early_persons: list[Record]
    person_caller: dict[str, Record]
    person_refs: list[Record]
    # reference: (category ref, subcategory ref, brief description templates); (duration ref, seconds)
    cat_subs: list[tuple[Record, Record, tuple[str, ...]]]
    ref_lists: dict[str, list[Record]]
    durations: list[tuple[Record, int]]
    archiving_reasons: list[Record]
    # assets
    make_ids: dict[str, str]
    branch_of_asset: dict[str, tuple[Record, Record]]
    asset_created: dict[str, int]
    ci_assets: list[Record]
    asset_tpl: dict[str, str]
    assets_by_tpl: dict[str, list[Record]]
    # calls
    calls: list[Record]
    call_created: list[int]
    # exports
    export_counts: dict[str, int]

    def __init__(self, rng: Rng, plan: Plan) -> None:
        self.rng = rng
        self.plan = plan
        self.records = {}
        self.planted = {}
        self.exports = {}

    def plant(self, case: str, ids: list[str], *, max_ids: int | None = None) -> None:
        """Record a planted hard case with its exact count; `max_ids` keeps the manifest small for huge cases."""
        entry: dict[str, Any] = {"count": len(ids), "ids": ids if max_ids is None else ids[:max_ids]}
        if max_ids is not None and len(ids) > max_ids:
            entry["idsTruncated"] = True
        self.planted[case] = entry
