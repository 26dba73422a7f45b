"""What a run overwrote in Intercom records that existed before it, so that its rollback can put those values back.

A load changes records it did not create: a contact adopted after a 409, a company matched by ``company_id``, a
ticket, conversation or instance an earlier run wrote. Before the first request that changes one, the writer keeps
the values it is about to overwrite (:meth:`Changes.keep`: exactly the request's fields, as Intercom returned them),
and after it the values Intercom answered (:meth:`Changes.changed`), so a rollback can tell its own values from a
later change by someone else. One row per run and record: a record changed twice in a run keeps the first value of
each field as "before" and the last as "after". The ledger's own row as it was before the run is kept with it, so a
restored record is, for the next load, what it was before that run.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_intercom.ledger_schema import changes_table, entities_table
from target_intercom.ledger_values import dumps as _dumps
from target_intercom.ledger_values import loads as _loads
from target_intercom.ledger_values import now as _now

C = changes_table.c
E = entities_table.c
KEPT, RESTORED = "kept", "restored"
#: the mark a restored record's ledger row carries (its ``extra``) until a load writes it again
RESTORED_BY = "restored_by"


@dataclass(frozen=True)
class Change:
    """One run's changes to one record that existed before it."""

    id: int
    run_id: str
    kind: str
    source_key: str
    intercom_id: str
    before: dict
    after: dict | None
    entity: dict | None
    status: str
    restored_by: str | None


def merged(old: dict, new: dict, *, first_wins: bool) -> dict:
    """``new`` merged into ``old`` field by field (attribute maps key by key); ``first_wins``: a value already in
    ``old`` stays (what a run overwrote first), otherwise ``new`` replaces it (what the run left last)."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value, first_wins=first_wins)
        elif not (first_wins and key in out):
            out[key] = value
    return out


def covers(kept: dict, fields: dict) -> bool:
    """Whether every field (and attribute) of ``fields`` has a value in ``kept`` already."""
    return all(
        key in kept and (not isinstance(value, dict) or (isinstance(kept[key], dict) and covers(kept[key], value)))
        for key, value in fields.items()
    )


class Changes:
    """The ledger's change log (``Ledger.changes``), on the ledger's own transactions."""

    def __init__(self, write: Callable[[Callable[[Connection], t.Any]], t.Any], read: Callable[..., t.Any]) -> None:
        self._write = write
        self._read = read

    def keep(self, run_id: str, kind: str, source_key: str, intercom_id: str, before: dict) -> None:
        """Before ``run_id`` changes the record: the values it is about to overwrite (fields kept earlier in the
        run stay as they were: the record's values before the run)."""

        def run(conn: Connection) -> None:
            row = conn.execute(_one(run_id, kind, source_key)).mappings().first()
            if row is not None:
                stored = _loads(row["before"])
                if not covers(stored, before):
                    conn.execute(
                        changes_table.update()
                        .where(C.id == row["id"])
                        .values(before=_dumps(merged(stored, before, first_wins=True)), updated_at=_now())
                    )
                return
            entity = conn.execute(
                sa.select(E.content_hash, E.extra, E.run_id, E.status).where(E.kind == kind, E.source_key == source_key)
            ).first()
            snapshot = (
                {"content_hash": entity[0], "extra": _loads(entity[1]), "run_id": entity[2]}
                if entity is not None and entity[3] == "written"
                else None
            )
            conn.execute(
                changes_table.insert().values(
                    run_id=run_id,
                    kind=kind,
                    source_key=source_key,
                    intercom_id=str(intercom_id),
                    before=_dumps(before),
                    after=None,
                    entity=_dumps(snapshot) if snapshot is not None else None,
                    status=KEPT,
                    updated_at=_now(),
                )
            )

        self._write(run)

    def kept(self, run_id: str, kind: str, source_key: str) -> Change | None:
        """This run's change row of the record, if it has one."""
        return self._read(lambda c: _change(c.execute(_one(run_id, kind, source_key)).mappings().first()))

    def changed(self, run_id: str, kind: str, source_key: str, after: dict) -> None:
        """After ``run_id``'s request changed the record: the values Intercom answered (the latest stay)."""

        def run(conn: Connection) -> None:
            row = conn.execute(_one(run_id, kind, source_key)).mappings().first()
            if row is not None:
                now = merged(_loads(row["after"]) or {}, after, first_wins=False)
                conn.execute(changes_table.update().where(C.id == row["id"]).values(after=_dumps(now)))

        self._write(run)

    def of_run(
        self, run_id: str | None, kind: str | None = None, *, limit: int = 500, before_id: int | None = None
    ) -> list[Change]:
        """Changes ``run_id`` (None: any run) made and no rollback restored yet, newest first; pass the last
        page's smallest ``id`` as ``before_id`` for the next page."""
        q = sa.select(changes_table).where(C.status == KEPT)
        if run_id is not None:
            q = q.where(C.run_id == run_id)
        if kind is not None:
            q = q.where(C.kind == kind)
        if before_id is not None:
            q = q.where(C.id < before_id)
        q = q.order_by(C.id.desc()).limit(limit)
        return self._read(lambda c: [t.cast(Change, _change(r)) for r in c.execute(q).mappings()])

    def counts(self, run_id: str | None) -> Counter:
        """kind -> changes ``run_id`` (None: any run) made that are still to restore."""
        q = sa.select(C.kind, sa.func.count()).where(C.status == KEPT).group_by(C.kind)
        if run_id is not None:
            q = q.where(C.run_id == run_id)
        return Counter({kind: int(n) for kind, n in self._read(lambda c: c.execute(q).all())})

    def later(self, change: Change) -> list[str]:
        """Runs that changed the same record after ``change`` and were not rolled back (oldest first)."""
        q = (
            sa.select(C.run_id)
            .where(C.kind == change.kind, C.source_key == change.source_key, C.id > change.id, C.status == KEPT)
            .order_by(C.id)
        )
        return self._read(lambda c: list(c.execute(q).scalars()))

    def restored_by(self, kind: str, source_key: str, rollback_run: str) -> Change | None:
        """The change of the record whose values ``rollback_run`` put back last (the earliest run's, when it
        restored several): what the record holds since."""
        q = (
            sa.select(changes_table)
            .where(C.kind == kind, C.source_key == source_key, C.status == RESTORED, C.restored_by == rollback_run)
            .order_by(C.id)
            .limit(1)
        )
        return self._read(lambda c: _change(c.execute(q).mappings().first()))

    def restored(self, change: Change, rollback_run: str) -> None:
        """The record has its values from before ``change.run_id`` again: the change is settled, and the ledger's
        row is what it was before that run (an adopted or matched record's row gets no content hash, so the next
        load writes TOPdesk's values again), marked ``restored_by`` for verify."""

        def run(conn: Connection) -> None:
            conn.execute(
                changes_table.update()
                .where(C.id == change.id)
                .values(status=RESTORED, restored_by=rollback_run, updated_at=_now())
            )
            row = conn.execute(
                sa.select(E.extra, E.status, E.intercom_id).where(
                    E.kind == change.kind, E.source_key == change.source_key
                )
            ).first()
            if row is None or row[1] != "written" or str(row[2]) != change.intercom_id:
                return  # deleted since, or now another Intercom record: nothing of the ledger's to put back
            snapshot = change.entity or {}
            before: dict = (snapshot.get("extra") if change.entity else _loads(row[0])) or {}
            extra = {**before, RESTORED_BY: rollback_run}
            values: dict[str, t.Any] = {"content_hash": snapshot.get("content_hash") or "", "extra": _dumps(extra)}
            if snapshot.get("run_id"):
                values["run_id"] = snapshot["run_id"]
            conn.execute(
                entities_table.update().where(E.kind == change.kind, E.source_key == change.source_key).values(values)
            )

        self._write(run)


def _one(run_id: str, kind: str, source_key: str) -> sa.Select:
    return sa.select(changes_table).where(C.run_id == run_id, C.kind == kind, C.source_key == source_key)


def _change(row: t.Mapping[str, t.Any] | None) -> Change | None:
    if row is None:
        return None
    return Change(
        id=int(row["id"]),
        run_id=row["run_id"],
        kind=row["kind"],
        source_key=row["source_key"],
        intercom_id=row["intercom_id"],
        before=_loads(row["before"]) or {},
        after=_loads(row["after"]),
        entity=_loads(row["entity"]),
        status=row["status"],
        restored_by=row["restored_by"],
    )
