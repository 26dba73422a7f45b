"""The ledger's hot statements in the driver's own SQL (sqlite3, psycopg), for the transactions every record written
goes through (intent, written, released, issues).

SQLAlchemy's statement machinery (execution context, parameter processing, result wrapping) cost more CPU than the
statements themselves: about a third of the target's CPU in a load. These few statements are fixed text built once
from the tables' definitions (:mod:`target_intercom.ledger_schema`), in SQLite's ``:name`` style and PostgreSQL's
``%(name)s``; everything else in the ledger stays SQLAlchemy Core.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from target_intercom.ledger_schema import entities_table, held_refs_table, held_table, issues_table, meta_table


@dataclass(frozen=True)
class Stmt:
    sqlite: str
    postgresql: str


def stmt(text: str, *, pg_suffix: str = "") -> Stmt:
    return Stmt(text, re.sub(r":(\w+)", r"%(\1)s", text) + pg_suffix)


class Sql:
    """One transaction's statements on the driver connection underneath SQLAlchemy's (the caller owns the
    transaction). ``returning``: the database takes ``UPDATE … RETURNING`` (PostgreSQL, SQLite >= 3.35)."""

    __slots__ = ("_pg", "_raw", "returning")

    def __init__(self, raw: t.Any, *, postgresql: bool, returning: bool) -> None:
        self._raw = raw
        self._pg = postgresql
        self.returning = returning

    def run(self, statement: Stmt, params: t.Mapping[str, t.Any]) -> t.Any:
        """Execute; returns the driver's cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
        return self._raw.execute(statement.postgresql if self._pg else statement.sqlite, params)

    def many(self, statement: Stmt, rows: Sequence[t.Mapping[str, t.Any]]) -> None:
        if rows:
            self._raw.cursor().executemany(statement.postgresql if self._pg else statement.sqlite, rows)


def _where(*columns: str) -> str:
    return " AND ".join(f"{c} = :w_{c}" for c in columns)


def _insert(table: t.Any) -> Stmt:
    names = [c.name for c in table.columns if c.autoincrement is not True]
    return stmt(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})")


ENTITY_COLUMNS = tuple(c.name for c in entities_table.columns)
_ENTITY = entities_table.name
_KEY = _where("kind", "source_key")

LOOKUP = stmt(f"SELECT {', '.join(ENTITY_COLUMNS)} FROM {_ENTITY} WHERE {_KEY}")
FOR_UPDATE = stmt(f"SELECT status, extra FROM {_ENTITY} WHERE {_KEY}", pg_suffix=" FOR UPDATE")
INSERT_ENTITY = _insert(entities_table)
_updates: dict[tuple[str, ...], Stmt] = {}


def update_entity(columns: Iterable[str]) -> Stmt:
    """``UPDATE`` of one entity (``w_kind``, ``w_source_key``) setting ``columns``; built once per column set."""
    names = tuple(columns)
    found = _updates.get(names)
    if found is None:
        found = _updates[names] = stmt(f"UPDATE {_ENTITY} SET {', '.join(f'{n} = :{n}' for n in names)} WHERE {_KEY}")
    return found


_META = meta_table.name
BUMP_SEQ = stmt(f"UPDATE {_META} SET value = value + :n WHERE name = :w_name")
BUMP_SEQ_RETURNING = stmt(f"UPDATE {_META} SET value = value + :n WHERE name = :w_name RETURNING value")
SEQ = stmt(f"SELECT value FROM {_META} WHERE name = :w_name")

INSERT_HELD = _insert(held_table)
INSERT_REFS = _insert(held_refs_table)
DELETE_HELD = stmt(f"DELETE FROM {held_table.name} WHERE {_KEY}")
DELETE_HELD_EXACT = stmt(f"DELETE FROM {held_table.name} WHERE {_KEY} AND seq = :w_seq")
DELETE_REFS = stmt(f"DELETE FROM {held_refs_table.name} WHERE {_KEY}")

_ISSUES = issues_table.name
_OPEN_ISSUE = _where("kind", "source_key", "category") + " AND resolved = :w_resolved"
FIND_ISSUE = stmt(f"SELECT id FROM {_ISSUES} WHERE {_OPEN_ISSUE} AND field = :w_field LIMIT 1")
INSERT_ISSUE = _insert(issues_table)
UPDATE_ISSUE = stmt(
    f"UPDATE {_ISSUES} SET run_id = :run_id, severity = :severity, reason = :reason, detail = :detail, "
    "occurrences = occurrences + 1, updated_at = :updated_at WHERE id = :w_id"
)
RESOLVE = stmt(f"UPDATE {_ISSUES} SET resolved = :resolved, resolved_at = :resolved_at WHERE {_OPEN_ISSUE}")
