"""Record-level helpers shared by every module: archived state, field selection, id keys."""

from __future__ import annotations

from collections.abc import Iterable


def is_archived(record: dict) -> bool:
    """Archived in any of TOPdesk's spellings: ``archived: true``, OM's ``archived: {value: true}``, or a
    ``status`` ending in ``Archived`` (``firstLineArchived``, ``personArchived``, ``operatorArchived`` ...)."""
    flag = record.get("archived")
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, dict):
        return bool(flag.get("value"))
    status = record.get("status")
    return isinstance(status, str) and status.endswith("Archived")


def archive(record: dict, reason: object = None) -> dict:
    """The same record, archived, in the spelling its resource uses."""
    changes: dict = {}
    status = record.get("status")
    if isinstance(status, str) and not status.endswith("Archived") and status in _ARCHIVABLE_STATUSES:
        changes["status"] = status + "Archived"
    if isinstance(record.get("archived"), dict):
        changes["archived"] = {"value": True, "reason": reason}
    elif "archived" in record or "status" not in record:
        changes["archived"] = True
    if "archivingReason" in record:
        changes["archivingReason"] = reason
    return {**record, **changes}


_ARCHIVABLE_STATUSES = {
    "firstLine",
    "secondLine",
    "partial",
    "person",
    "operator",
    "operatorGroup",
    "branch",
    "location",
    "supplier",
}


def select_fields(records: Iterable[dict], fields: list[str] | None) -> list[dict]:
    """Keep only the requested top-level keys (in the record's own order); ``None`` keeps everything."""
    if fields is None:
        return list(records)
    wanted = set(fields)
    return [{k: v for k, v in rec.items() if k in wanted} for rec in records]


def parse_fields(raw: str | None) -> list[str] | None:
    """``a,b, c`` → ``["a","b","c"]``; ``*``/``all``/absent → None (everything)."""
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    if not names or any(n in ("*", "all") for n in names):
        return None
    return names


def record_id(record: dict) -> str | None:
    """The identifying key of a record: ``id``, else the assets grid's ``unid``, else an asset link's ``linkId``."""
    for key in ("id", "unid", "linkId"):
        value = record.get(key)
        if isinstance(value, str):
            return value
    return None
