"""Changes to Intercom records a run did not create, sent so that the run's rollback can undo them.

Before the first request of a run that changes such a record (an adopted contact, a matched company, an earlier
run's ticket, conversation or instance), the ledger keeps the values it is about to overwrite: exactly the fields
the request changes, read from the answer the writer already has or from one ``GET``; after it, the values Intercom
answered (:mod:`target_intercom.ledger_changes`). Values are kept in the shape of the update request (a ticket's
state as ``ticket_state_id``, a company's plan by name: each writer's ``request_shape``), so the rollback sends them
back as they are.
"""

from __future__ import annotations

import typing as t

from target_intercom.ledger_changes import covers
from target_intercom.writers.base import WriteContext, Writer

#: request options that are not values of the record (who acts, whether to notify)
OPTIONS = frozenset({"skip_notifications", "admin_id"})


def fields_of(body: dict) -> dict:
    """The record's values a request body sets (its options left out)."""
    return {k: v for k, v in body.items() if k not in OPTIONS}


def project(found: dict, fields: dict) -> dict:
    """The values ``found`` (request-shaped) holds for the fields of ``fields``, attribute maps key by key; a field
    it lacks is None (unset before the change)."""
    out: dict = {}
    for key, value in fields.items():
        have = found.get(key)
        out[key] = project(have if isinstance(have, dict) else {}, value) if isinstance(value, dict) else have
    return out


def keep_before(
    ctx: WriteContext,
    writer: Writer,
    source_key: str,
    intercom_id: str,
    fields: dict,
    current: dict | None = None,
    extra: dict | None = None,
) -> None:
    """Keep what ``fields`` will overwrite, unless this run kept it already: from ``current`` (the record as the
    writer just read it) or one read (counted as ``reads_before_change``; ``extra``: what the writer's path needs)."""
    kept = ctx.ledger.changes.kept(ctx.run_id, writer.kind, source_key)
    if kept is not None and covers(kept.before, fields):
        return
    if current is None:
        current = ctx.client.request("GET", writer.read_path(intercom_id, extra))
        ctx.tally("reads_before_change")
    before = project(writer.request_shape(current), fields)
    ctx.ledger.changes.keep(ctx.run_id, writer.kind, source_key, intercom_id, before)


def keep_after(ctx: WriteContext, writer: Writer, source_key: str, fields: dict, answer: dict) -> None:
    """The values Intercom answered the change with (a rollback compares them with what it finds later)."""
    ctx.ledger.changes.changed(ctx.run_id, writer.kind, source_key, project(writer.request_shape(answer), fields))


def update(
    ctx: WriteContext,
    writer: Writer,
    source_key: str,
    intercom_id: str,
    method: str,
    path: str,
    body: dict,
    *,
    keep: bool,
    fields: dict | None = None,
    current: dict | None = None,
    extra: dict | None = None,
    idempotent: bool | None = None,
) -> dict:
    """Send one request that changes an existing record; with ``keep`` (a record this run did not create) the
    ledger keeps what it overwrites first and what Intercom answered after. ``fields``: the values the request
    changes when the body does not name them as the record does (a ticket's ``assignee_id``)."""
    changes = fields_of(body) if fields is None else fields
    if keep:
        keep_before(ctx, writer, source_key, intercom_id, changes, current, extra)
    answer = ctx.client.request(method, path, json=body, idempotent=idempotent)
    if keep:
        keep_after(ctx, writer, source_key, changes, answer)
    return answer


def assignee(value: t.Any) -> str | None:
    """An assignee as the update requests name it: Intercom answers 0 (or null) for none."""
    return str(value) if value not in (None, 0, "0", "") else None


def not_ours(ctx: WriteContext, entity: t.Any) -> bool:
    """A ledger entity this run did not create (None: nothing in the ledger, so not this run's either)."""
    return entity is None or entity.created_run_id != ctx.run_id
