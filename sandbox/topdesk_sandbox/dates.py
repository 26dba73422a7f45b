"""Dates as TOPdesk writes them, parsed to instants so that comparisons ignore the offset spelling."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_TOPDESK = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?$")


def looks_like_datetime(value: object) -> bool:
    """True for strings that start like an ISO-8601 date-time (what TOPdesk stores in date fields)."""
    return isinstance(value, str) and _DATE_LIKE.match(value) is not None


def parse_instant(value: str) -> int | None:
    """Epoch milliseconds of a TOPdesk date (``.000+0000``, ``Z``, ``+00:00``, or no offset = UTC), else None."""
    if not value or not _TOPDESK.match(value):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_topdesk(ms: int) -> str:
    """TOPdesk's default date format: ``2024-01-25T11:14:25.000+0000``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def format_asset(ms: int) -> str:
    """The asset API's format: no offset, UTC, milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def format_iso8601(ms: int) -> str:
    """``dateFormat=iso8601`` on incidents: ``2020-10-01T14:10:00Z`` (milliseconds only when not zero)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms % 1000:03d}Z" if ms % 1000 else base + "Z"


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def to_iso8601_deep(value: object) -> object:
    """Rewrite every TOPdesk date string inside a record to the iso8601 form."""
    if isinstance(value, dict):
        return {k: to_iso8601_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_iso8601_deep(v) for v in value]
    if isinstance(value, str) and _DATE_LIKE.match(value):
        ms = parse_instant(value)
        return format_iso8601(ms) if ms is not None else value
    return value
