"""Streams without any change marker: emit them only when their content changed since the last run.

Departments, budget holders, suppliers, asset templates and asset links carry no modification date, so TOPdesk can
only hand over the whole list each time. Re-emitting unchanged lists on every delta run would make a quiet TOPdesk
look busy and make every target re-upsert them; instead the stream's state keeps a digest of what was emitted,
and a run whose list has the same digest emits nothing. Without state (first run, ``--full-refresh``) everything
is emitted.
"""

from __future__ import annotations

import hashlib
import json
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DIGEST_KEY = "content_sha256"


def content_digest(records: list[dict]) -> str:
    """Order-independent: a list read in another order is the same list."""
    lines = sorted(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in records)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class SnapshotMixin:
    """Mix in before the stream class: ``class DepartmentsStream(SnapshotMixin, TopdeskStream)``."""

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        records = list(super().get_records(context))  # type: ignore[misc]
        state = self.get_context_state(context)  # type: ignore[attr-defined]
        digest = content_digest(records)
        if state.get(DIGEST_KEY) == digest:
            self.logger.info(  # type: ignore[attr-defined]
                "Stream '%s': %d records, unchanged since the last run: nothing to emit",
                self.name,  # type: ignore[attr-defined]
                len(records),
            )
            return
        yield from records
        state[DIGEST_KEY] = digest
