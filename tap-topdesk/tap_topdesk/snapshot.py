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
import pickle
import tempfile
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DIGEST_KEY = "content_sha256"


#: Each record's SHA-256, as an integer, summed modulo 2**256: the same list in any order gives the same digest, and
#: nothing per record is held to compute it (a multiset hash: only a deliberate collision could hide a change).
_MODULUS = 1 << 256


def record_digest(record: dict) -> int:
    text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest())


class SnapshotMixin:
    """Mix in before the stream class: ``class DepartmentsStream(SnapshotMixin, TopdeskStream)``.

    The records are spooled to a temporary file while read, and emitted from it when the digest changed: memory
    does not follow the size of the list."""

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        total = count = 0
        with tempfile.TemporaryFile() as spool:
            for record in super().get_records(context):  # type: ignore[misc]
                total += record_digest(record)
                count += 1
                pickle.dump(record, spool, pickle.HIGHEST_PROTOCOL)
            digest = f"{total % _MODULUS:064x}"
            state = self.get_context_state(context)  # type: ignore[attr-defined]
            if state.get(DIGEST_KEY) == digest:
                self.logger.info(  # type: ignore[attr-defined]
                    "Stream '%s': %d records, unchanged since the last run: nothing to emit",
                    self.name,  # type: ignore[attr-defined]
                    count,
                )
                return
            spool.seek(0)
            for _ in range(count):
                yield pickle.load(spool)  # the file written just above
        state[DIGEST_KEY] = digest
