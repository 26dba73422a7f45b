"""How the ledger writes values into its text columns: JSON and timestamps, one encoding for every table."""

from __future__ import annotations

import decimal
import json
import typing as t
from datetime import UTC, datetime


def dumps(obj: t.Any, *, sort_keys: bool = False) -> str:
    return json.dumps(obj, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, default=plain)


def plain(value: t.Any) -> t.Any:
    """JSON for what the json module cannot write: singer-sdk reads JSON numbers with a fraction as ``Decimal``, and
    Intercom types its attributes, so a number stays the number it was in the tap's JSON (``7.0``, ``1.5``), never
    text; the same JSON (and content hash) as the record read without singer-sdk. Anything else as text."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return float(value)
    return str(value)


def loads(text: str | None, default: t.Any = None) -> t.Any:
    return json.loads(text) if text else default


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


def now() -> str:
    return iso(datetime.now(UTC))
