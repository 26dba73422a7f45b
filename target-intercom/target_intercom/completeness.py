"""Completeness per ticket/conversation: the parts Intercom holds versus the trail entries that came in, read back
for a sample (every ticket would double the run's requests)."""

from __future__ import annotations

import random
from collections import Counter

from target_intercom.client import IntercomError
from target_intercom.writers.base import WriteContext

#: part kind -> (container kind, the ref naming the container, the container's path, the parts list in its answer)
CONTAINERS = {
    "ticket_parts": ("tickets", "ticket", "/tickets/{}", "ticket_parts"),
    "conversation_parts": ("conversations", "conversation", "/conversations/{}", "conversation_parts"),
}
MESSAGE_PARTS = {"comment", "note"}  # not state changes, assignments or the opening message


def parts_received(kind: str, records: list[dict]) -> Counter:
    """How many parts each container received in this batch."""
    ref = CONTAINERS[kind][1] if kind in CONTAINERS else None
    return Counter((kind, (r.get("refs") or {}).get(ref)) for r in records) if ref else Counter()


def check_sample(ctx: WriteContext, received: Counter, sample: int = 25) -> dict:
    """Reads back up to ``sample`` containers that received parts in this run; returns the checked count and the
    mismatches (container, expected, found) for the report."""
    containers = sorted(key for key in received if key[1])
    chosen = random.Random(ctx.run_id).sample(containers, min(sample, len(containers)))
    mismatches, checked = [], 0
    for part_kind, key in chosen:
        kind, _ref, path, listing = CONTAINERS[part_kind]
        entity = ctx.ledger.lookup(kind, key)
        if not entity or entity.status != "written" or not entity.intercom_id:
            continue
        try:
            body = ctx.client.request("GET", path.format(entity.intercom_id))
        except IntercomError as exc:
            mismatches.append(
                {
                    "kind": kind,
                    "source_key": key,
                    "expected": received[(part_kind, key)],
                    "found": None,
                    "error": exc.message,
                }
            )
            continue
        checked += 1
        parts = (body.get(listing) or {}).get(listing) or []
        found = sum(1 for p in parts if p.get("part_type") in MESSAGE_PARTS)
        if found < received[(part_kind, key)]:
            mismatches.append(
                {
                    "kind": kind,
                    "source_key": key,
                    "intercom_id": entity.intercom_id,
                    "expected": received[(part_kind, key)],
                    "found": found,
                }
            )
    return {"checked": checked, "mismatches": mismatches}
