"""The target's durable memory: what was written where, what waits for a parent, what needs a human.

SQLAlchemy Core over a SQLite file by default (any SQLAlchemy URL, e.g. PostgreSQL, for shared runs); the few
statements every record written goes through are the driver's own SQL (:mod:`ledger_sql`), tables in
:mod:`ledger_schema`. The ledger is what makes a re-run idempotent (source key -> Intercom id + content hash), a
crash harmless (an ``intent`` row is committed before every create that Intercom cannot deduplicate), out-of-order
streams safe (records are staged in ``ledger_held`` until their parents are written, on disk rather than in memory)
and a rollback possible (creation order in ``seq``). It holds mapped Intercom-shaped records and ids, never
credentials.

Every method is one short transaction and safe to call from many worker threads. On SQLite, writers are serialised
by a process-level lock and ``BEGIN IMMEDIATE`` (so two processes cannot deadlock on a read-then-write upgrade);
readers run concurrently thanks to WAL. Queries return bounded batches so memory stays flat.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import typing as t
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from target_intercom import ledger_sql as sql
from target_intercom.group_commit import GroupCommit
from target_intercom.ledger_changes import RESTORED_BY, Changes
from target_intercom.ledger_schema import (
    checks_table,
    entities_table,
    held_refs_table,
    held_table,
    issues_table,
    meta_table,
    metadata,
    runs_table,
)
from target_intercom.ledger_values import dumps as _dumps
from target_intercom.ledger_values import iso as _iso
from target_intercom.ledger_values import loads as _loads
from target_intercom.ledger_values import now as _now

ENTITY_STATUSES = ("intent", "written", "deleted")
T = t.TypeVar("T")

# Bound parameters per IN list: far below SQLite's variable limit, small enough for any planner.
_CHUNK = 400
#: KiB of page cache of each thread's read connection (SQLite files).
READER_CACHE_KB = 256
_WRITE_ATTEMPTS = 5
_ANALYZE_FIRST = 500
_ANALYZE_LAST = 2_000_000


def as_held(record: dict) -> dict:
    """A record as the ledger holds it (the JSON round trip ``hold`` makes): what the loader reads back and hashes."""
    return _loads(_dumps(record))


def content_hash(record: dict) -> str:
    """sha256 of the record's canonical JSON (sorted keys, no whitespace): equal content, equal hash, across runs."""
    return hashlib.sha256(_dumps(record, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entity:
    """One source record's counterpart in Intercom. ``seq`` is the creation order (rollback goes newest first)."""

    kind: str
    source_key: str
    intercom_id: str | None
    content_hash: str | None
    status: str
    run_id: str
    created_run_id: str | None
    seq: int
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Held:
    """A staged record waiting to be written; ``waits_for`` lists the (parent_kind, parent_source_key) it needs."""

    kind: str
    source_key: str
    record: dict
    waits_for: tuple[tuple[str, str], ...]
    run_id: str
    seq: int
    attempts: int


SCHEMA_VERSION = 1
DEFAULT_LEDGER = ".target-intercom/ledger.db"  # relative to the working directory (Meltano: the project root)
_ENTITY_SEQ = "entity_seq"
_HELD_SEQ = "held_seq"

E = entities_table.c
H = held_table.c
R = held_refs_table.c
IS = issues_table.c


class Ledger:
    """Thread-safe ledger over one SQLAlchemy engine. Create one per process and share it between workers."""

    def __init__(self, url: str) -> None:
        self._url = sa.engine.make_url(url)
        self._sqlite = self._url.get_backend_name() == "sqlite"
        self._lock = threading.RLock()
        self._local = threading.local()  # each thread's read connection (SQLite files: _reader)
        self._readers: list[Connection] = []
        self._readers_lock = threading.Lock()
        self._engine = self._make_engine()
        # Write transactions go through an engine variant whose BEGIN is IMMEDIATE on SQLite (see _on_begin).
        self._write_engine = self._engine.execution_options(ledger_write=True)
        self._write_conn: Connection | None = None  # SQLite files: see _writer()
        self._read_lock = self._lock if self._memory else None
        dbapi = self._engine.dialect.loaded_dbapi
        # a concurrent writer won a race: SQLAlchemy's wrappers, and the driver's own errors (ledger_sql statements)
        self._transient: tuple[type[BaseException], ...] = (
            IntegrityError,
            OperationalError,
            dbapi.IntegrityError,
            dbapi.OperationalError,
        )
        self._returning = bool(self._engine.dialect.update_returning)
        self._group = GroupCommit(
            self._lock,
            lambda: self._writer().connection.driver_connection,
            self._retrying,
            self._transient,
        )
        # PostgreSQL plans from statistics: on tables that grew from empty within minutes (before autovacuum's
        # first ANALYZE) the ready() anti-join degrades from milliseconds to tens of seconds. So the ledger
        # analyses its own tables at start and whenever its writes since then cross a growing threshold.
        self._analyze = self._url.get_backend_name() == "postgresql"
        self._changes = {"entities": 0, "held": 0}
        self._analyze_at = {"entities": _ANALYZE_FIRST, "held": _ANALYZE_FIRST}
        metadata.create_all(self._engine)
        #: what runs overwrote in records that existed before them (a rollback restores it)
        self.changes = Changes(self._write, self._read)
        for index in entities_table.indexes:  # ledgers made before an index existed get it too
            index.create(self._engine, checkfirst=True)
        self._init_meta()
        if self._analyze:
            self._run_analyze()

    # ---------------------------------------------------------------- setup

    @property
    def _memory(self) -> bool:
        return self._sqlite and self._url.database in (None, "", ":memory:")

    @classmethod
    def url_from_config(cls, config: t.Mapping[str, t.Any]) -> str:
        """The target's ``ledger_url`` setting, or the default SQLite file."""
        return config.get("ledger_url") or cls.url_for_path(Path(DEFAULT_LEDGER))

    @staticmethod
    def url_for_path(path: str | Path) -> str:
        """The SQLite URL for a file path (absolute, so the URL does not depend on the working directory)."""
        return "sqlite:///" + Path(path).expanduser().resolve().as_posix()

    def _make_engine(self) -> Engine:
        if not self._sqlite:
            return sa.create_engine(self._url, pool_size=10, max_overflow=40, pool_pre_ping=True, future=True)
        if self._memory:
            # One shared connection, or every pooled connection would see its own empty database.
            engine = sa.create_engine(self._url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            # not the in-memory case (_memory above), so the URL names a file
            Path(t.cast(str, self._url.database)).parent.mkdir(parents=True, exist_ok=True)
            # every reading thread keeps a connection of its own (_reader): no cap, none closed until close()
            engine = sa.create_engine(
                self._url,
                pool_size=8,
                max_overflow=-1,
                connect_args={"check_same_thread": False, "timeout": 60},
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: t.Any, _record: t.Any) -> None:
            # Let SQLAlchemy (not pysqlite's implicit transactions) decide where transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses no committed transaction; only power loss may lose the last few.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("ledger_write")
            # straight to pysqlite: SQLAlchemy's statement machinery cost as much as the transaction's own queries
            driver = conn.connection.driver_connection
            assert driver is not None  # a checked-out connection has its DBAPI connection
            driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _init_meta(self) -> None:
        def run(conn: Connection) -> None:
            have: set[str] = set(conn.execute(sa.select(meta_table.c.name)).scalars())
            rows = [
                {"name": n, "value": v}
                for n, v in ((_ENTITY_SEQ, 0), (_HELD_SEQ, 0), ("schema_version", SCHEMA_VERSION))
                if n not in have
            ]
            if rows:
                conn.execute(meta_table.insert(), rows)

        self._write(run)

    def __repr__(self) -> str:
        return f"Ledger({self._url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release every pooled connection (the file stays consistent whatever the state of the run)."""
        with self._lock:
            if self._write_conn is not None:
                self._write_conn.close()
                self._write_conn = None
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._local = threading.local()
        self._engine.dispose()

    def _writer(self) -> Connection:
        """The one connection SQLite's writes go through (called with the write lock held): writes are serialised
        anyway, and a pooled connection per transaction costs a checkout and a reset each time."""
        if self._write_conn is None or self._write_conn.invalidated or self._write_conn.closed:
            self._write_conn = self._write_engine.connect()
        return self._write_conn

    # ---------------------------------------------------------------- transactions

    def _write(self, fn: Callable[[Connection], t.Any]) -> t.Any:
        """Run ``fn`` in one write transaction; retried when a concurrent writer won a race (insert of the same
        key on PostgreSQL, a deadlock, a busy SQLite file), so callers never see those transient errors."""

        def once() -> t.Any:
            if self._sqlite:
                with self._lock:
                    if self._memory:
                        with self._write_engine.begin() as conn:
                            return fn(conn)
                    conn = self._writer()
                    with conn.begin():
                        return fn(conn)
            with self._write_engine.begin() as conn:
                return fn(conn)

        return self._retrying(once)

    def _write_sql(self, fn: Callable[[sql.Sql], T]) -> T:
        """:meth:`_write` for the hot transactions (:mod:`ledger_sql`): on a SQLite file, the transaction too goes
        straight to the driver (SQLAlchemy's begin and commit cost as much as the statements), committed together
        with those other threads ask for meanwhile (:mod:`group_commit`)."""
        if not self._sqlite or self._memory:
            return self._write(lambda conn: fn(self._sql(conn)))
        return self._group.run(lambda raw: fn(sql.Sql(raw, postgresql=False, returning=self._returning)))

    def _retrying(self, once: Callable[[], T]) -> T:
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return once()
            except self._transient:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _sql(self, conn: Connection) -> sql.Sql:
        """The driver connection under ``conn``, inside ``conn``'s transaction (if any)."""
        return sql.Sql(conn.connection.driver_connection, postgresql=not self._sqlite, returning=self._returning)

    def _changed(self, group: str, n: int) -> None:
        """Count rows written to a table group; ANALYZE it (PostgreSQL) at 500, 2,000, 8,000... rows since start,
        after which autovacuum keeps up."""
        if not self._analyze:
            return
        with self._lock:
            self._changes[group] += n
            if self._changes[group] < self._analyze_at[group] or self._analyze_at[group] > _ANALYZE_LAST:
                return
            self._analyze_at[group] *= 4
        self._run_analyze(group)

    def _run_analyze(self, group: str | None = None) -> None:
        tables = {"entities": [entities_table], "held": [held_table, held_refs_table]}
        names = [tb.name for g, tbs in tables.items() if group in (None, g) for tb in tbs]
        with self._engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE " + ", ".join(names))

    def _read(self, fn: Callable[[Connection], t.Any]) -> t.Any:
        """Run ``fn`` in one read transaction (a consistent snapshot on SQLite WAL; no writer lock taken)."""
        if self._read_lock is not None:
            with self._read_lock, self._engine.connect() as conn:
                return fn(conn)
        if not self._sqlite:
            with self._engine.connect() as conn:
                return fn(conn)
        conn = self._reader()
        try:
            return fn(conn)
        finally:
            if conn.in_transaction():  # the next read sees what was committed since
                conn.rollback()

    def _reader(self) -> Connection:
        """This thread's own read connection to the SQLite file, kept for the ledger's life: a hundred writer threads
        taking turns on a shared pool queued on its lock, and each connection beyond the pool's size was opened and
        closed again (a connect and three PRAGMAs) for a single read."""
        conn: Connection | None = getattr(self._local, "reader", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._engine.connect()
            # a small page cache each (SQLite's default is 2 MB a connection: 128 of them doubled the target's RSS);
            # the pages they share stay in the OS's cache
            driver: t.Any = conn.connection.driver_connection  # a checked-out connection has its DBAPI one
            driver.execute(f"PRAGMA cache_size=-{READER_CACHE_KB}")
            self._local.reader = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @staticmethod
    def _alloc(q: sql.Sql, name: str, n: int) -> int:
        """Reserve ``n`` consecutive sequence numbers inside the caller's transaction; returns the first."""
        params: dict[str, t.Any] = {"w_name": name, "n": n}
        if q.returning:  # PostgreSQL, SQLite >= 3.35: one statement
            last = q.run(sql.BUMP_SEQ_RETURNING, params).fetchone()[0]
        else:
            q.run(sql.BUMP_SEQ, params)
            last = q.run(sql.SEQ, params).fetchone()[0]
        return int(last) - n + 1

    # ---------------------------------------------------------------- runs

    def start_run(self, info: dict | None = None) -> str:
        """Register a new run; its id sorts by start time so ``runs()`` and file names read chronologically."""
        now = datetime.now(UTC)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self._write(
            lambda c: c.execute(
                runs_table.insert().values(
                    run_id=run_id, started_at=_iso(now), status="running", info=_dumps(info or {})
                )
            )
        )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        self._write(
            lambda c: c.execute(
                runs_table.update()
                .where(runs_table.c.run_id == run_id)
                .values(finished_at=_now(), status=status, summary=_dumps(summary))
            )
        )

    def runs(self, limit: int | None = None) -> list[dict]:
        """Runs, newest first: run_id, started_at, finished_at, status, summary, info."""
        q = sa.select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.run_id.desc())
        if limit is not None:
            q = q.limit(limit)
        return self._read(lambda c: [_run_dict(r) for r in c.execute(q).mappings()])

    def get_run(self, run_id: str) -> dict | None:
        q = sa.select(runs_table).where(runs_table.c.run_id == run_id)
        row = self._read(lambda c: c.execute(q).mappings().first())
        return _run_dict(row) if row is not None else None

    # ---------------------------------------------------------------- workspace checks

    def save_check(self, workspace: str, map_digest: str, checked_at: str, result: dict) -> None:
        """Keep a capability check's result (no secret in it: verdicts, Intercom's messages, counts)."""
        row = {"workspace": workspace, "map_digest": map_digest, "checked_at": checked_at, "result": _dumps(result)}
        self._write(lambda c: c.execute(checks_table.insert(), [row]))

    def latest_check(self, workspace: str, map_digest: str) -> dict | None:
        """The newest check of this workspace for this map, or None."""
        q = (
            sa.select(checks_table.c.result)
            .where(checks_table.c.workspace == workspace, checks_table.c.map_digest == map_digest)
            .order_by(checks_table.c.id.desc())
            .limit(1)
        )
        return _loads(self._read(lambda c: c.execute(q).scalar()))

    # ---------------------------------------------------------------- entities

    def lookup(self, kind: str, source_key: str) -> Entity | None:
        params = {"w_kind": kind, "w_source_key": source_key}
        row = self._read(lambda c: self._sql(c).run(sql.LOOKUP, params).fetchone())
        return _entity(dict(zip(sql.ENTITY_COLUMNS, row, strict=True))) if row is not None else None

    def lookup_many(self, kind: str, source_keys: Iterable[str]) -> dict[str, Entity]:
        """Entities of ``kind`` for the given keys (missing keys are absent from the result)."""
        keys = list(dict.fromkeys(source_keys))

        def run(conn: Connection) -> dict[str, Entity]:
            out: dict[str, Entity] = {}
            for chunk in _chunks(keys):
                q = sa.select(entities_table).where(E.kind == kind, E.source_key.in_(chunk))
                for row in conn.execute(q).mappings():
                    out[row["source_key"]] = _entity(row)
            return out

        return self._read(run) if keys else {}

    def record_intent(
        self, kind: str, source_key: str, content_hash: str, run_id: str, extra: dict | None = None
    ) -> None:
        """Commit "about to create" before a create Intercom cannot deduplicate (tickets, conversations), so a crash
        between Intercom's answer and ``record_written`` is settled on resume by searching, never by a second create.

        A new row gets ``created_run_id = run_id`` and a new ``seq`` (a rollback of this run must settle it too).
        An existing row keeps its ``intercom_id``; a "written" one also keeps ``created_run_id`` and ``seq``, a
        "deleted" or older "intent" one is re-attributed to this run. ``extra`` is shallow-merged into the stored one.
        """

        self._write_sql(lambda q: self._intent(q, kind, source_key, content_hash, run_id, extra))
        self._changed("entities", 1)

    def record_intents(self, kind: str, source_keys: Sequence[str], run_id: str) -> None:
        """:meth:`record_intent` (no content hash, no extra) for many records of ``kind`` in one transaction: a
        bulk request's creates are all committed as intents before it is sent."""

        def run(q: sql.Sql) -> None:
            for source_key in dict.fromkeys(source_keys):
                self._intent(q, kind, source_key, "", run_id, None)

        if source_keys:
            self._write_sql(run)
            self._changed("entities", len(source_keys))

    def _intent(
        self, q: sql.Sql, kind: str, source_key: str, content_hash: str, run_id: str, extra: dict | None
    ) -> None:
        """:meth:`record_intent` inside a write transaction."""
        row = _for_update(q, kind, source_key)
        now = _now()
        if row is None:
            q.run(
                sql.INSERT_ENTITY,
                {
                    "kind": kind,
                    "source_key": source_key,
                    "intercom_id": None,
                    "content_hash": content_hash,
                    "status": "intent",
                    "run_id": run_id,
                    "created_run_id": run_id,
                    "seq": self._alloc(q, _ENTITY_SEQ, 1),
                    "extra": _dumps(extra or {}),
                    "updated_at": now,
                },
            )
            return
        values: dict[str, t.Any] = {
            "content_hash": content_hash,
            "status": "intent",
            "run_id": run_id,
            "extra": _merge_extra(row[1], extra),
            "updated_at": now,
        }
        if row[0] != "written":
            values["created_run_id"] = run_id
            values["seq"] = self._alloc(q, _ENTITY_SEQ, 1)
        if row[0] == "deleted":  # rolled back: its old Intercom id is gone, a retry must not update it
            values["intercom_id"] = None
        _update_entity(q, kind, source_key, values)

    def record_written(
        self,
        kind: str,
        source_key: str,
        intercom_id: str,
        content_hash: str,
        run_id: str,
        *,
        created: bool,
        extra: dict | None = None,
    ) -> None:
        """Record a successful write (idempotent: one row per (kind, source_key)).

        ``created=True`` (this run created it in Intercom) sets ``created_run_id = run_id`` and a new ``seq``, so a
        rollback of this run deletes it. An update (or an adopted pre-existing record) keeps ``created_run_id`` and
        ``seq`` of an existing row; a new row without creation gets ``created_run_id = None`` (never rolled back).
        ``extra`` is shallow-merged into the stored one (e.g. previous values a rollback can restore).
        """
        self._write_sql(lambda q: self._written(q, kind, source_key, intercom_id, content_hash, run_id, created, extra))
        self._changed("entities", 1)

    def record_done(
        self,
        held: Held,
        written: tuple[str, str, bool, dict | None] | None,
        run_id: str,
        resolve: str = "manual_review",
    ) -> None:
        """A held record's write is over, in one transaction: ``written`` (Intercom id, content hash, created,
        extra) recorded as :meth:`record_written` does (None: nothing was written, e.g. skipped), the held version
        released as :meth:`release_exact` does, and its open ``resolve`` issues closed (:meth:`resolve_issues`)."""

        def run(q: sql.Sql) -> None:
            if written is not None:
                intercom_id, content_hash, created, extra = written
                self._written(q, held.kind, held.source_key, intercom_id, content_hash, run_id, created, extra)
            _release(q, [held])
            _resolve(q, held.kind, held.source_key, resolve)

        self._write_sql(run)
        if written is not None:
            self._changed("entities", 1)

    def _written(
        self,
        q: sql.Sql,
        kind: str,
        source_key: str,
        intercom_id: str,
        content_hash: str,
        run_id: str,
        created: bool,
        extra: dict | None,
    ) -> None:
        """:meth:`record_written` inside a write transaction (which a missing id aborts before it writes)."""
        if intercom_id is None or intercom_id == "":
            raise ValueError(f"{kind} {source_key!r} recorded as written without an Intercom id")
        row = _for_update(q, kind, source_key)
        now = _now()
        values: dict[str, t.Any] = {
            "intercom_id": str(intercom_id),
            "content_hash": content_hash,
            "status": "written",
            "run_id": run_id,
            "updated_at": now,
        }
        if created:
            values["created_run_id"] = run_id
            values["seq"] = self._alloc(q, _ENTITY_SEQ, 1)
        if row is None:
            if not created:
                values["created_run_id"] = None
                values["seq"] = self._alloc(q, _ENTITY_SEQ, 1)
            q.run(sql.INSERT_ENTITY, {"kind": kind, "source_key": source_key, "extra": _dumps(extra or {}), **values})
            return
        if row[0] in ("deleted", "intent") and not created:  # adopted, not created: never rolled back
            values["created_run_id"] = None
            values["seq"] = self._alloc(q, _ENTITY_SEQ, 1)
        # written again: no longer what a rollback restored (verify explains differences by that mark)
        values["extra"] = _merge_extra(row[1], extra, drop=RESTORED_BY)
        _update_entity(q, kind, source_key, values)

    def intents(self, kind: str | None = None, limit: int = 1000) -> list[Entity]:
        """Pending intents (oldest first): creates that may or may not have reached Intercom, to settle on resume."""
        q = sa.select(entities_table).where(E.status == "intent")
        if kind is not None:
            q = q.where(E.kind == kind)
        q = q.order_by(E.seq).limit(limit)
        return self._read(lambda c: [_entity(r) for r in c.execute(q).mappings()])

    def mark_deleted(self, kind: str, source_key: str, run_id: str) -> None:
        """After a rollback removed it from Intercom; the row (and its id) stays as history, and a later create of
        the same key starts afresh."""
        self._write(
            lambda c: c.execute(
                entities_table.update()
                .where(E.kind == kind, E.source_key == source_key)
                .values(status="deleted", run_id=run_id, updated_at=_now())
            )
        )

    def created_by(
        self, run_id: str | None = None, *, limit: int = 1000, before_seq: int | None = None
    ) -> list[Entity]:
        """Entities (status "written" or "intent") that ``run_id`` created (None: any run), newest first: a rollback
        page. Pass the last page's smallest ``seq`` as ``before_seq`` for the next page."""
        q = sa.select(entities_table).where(E.status.in_(("written", "intent")))
        q = q.where(E.created_run_id.is_not(None) if run_id is None else E.created_run_id == run_id)
        if before_seq is not None:
            q = q.where(E.seq < before_seq)
        q = q.order_by(E.seq.desc()).limit(limit)
        return self._read(lambda c: [_entity(r) for r in c.execute(q).mappings()])

    def set_extra(self, kind: str, source_key: str, extra: dict) -> None:
        """Merge ``extra`` into a written entity's extra (nothing else changes; no row: nothing happens)."""
        self.set_extra_many([(kind, source_key, extra)])

    def set_extra_many(self, items: Sequence[tuple[str, str, dict]]) -> None:
        """:meth:`set_extra` for many entities in one transaction."""

        def run(q: sql.Sql) -> None:
            for kind, source_key, extra in items:
                row = _for_update(q, kind, source_key)
                if row is not None and row[0] == "written":
                    _update_entity(q, kind, source_key, {"extra": _merge_extra(row[1], extra)})

        if items:
            self._write_sql(run)

    def pending_states(self, kinds: Iterable[str], batch: int = 500) -> Iterator[Entity]:
        """Written entities of ``kinds`` whose final state is still to be written (extra ``state_pending``)."""
        after = -1
        while True:
            q = (
                sa.select(entities_table)
                .where(
                    E.kind.in_(list(kinds)),
                    E.status == "written",
                    E.seq > after,
                    E.extra.like('%"state_pending":true%'),
                )
                .order_by(E.seq)
                .limit(batch)
            )

            def run(c: Connection, q: sa.Select = q) -> list[Entity]:
                return [_entity(r) for r in c.execute(q).mappings()]

            page = self._read(run)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].seq

    def known_ids(self, kind: str, intercom_ids: Iterable[str]) -> dict[str, str]:
        """Which of these Intercom ids the ledger holds for ``kind`` (written): id -> source key."""
        return {str(e.intercom_id): e.source_key for e in self._written_with_ids(kind, intercom_ids)}

    def keys_for_ids(self, kind: str, intercom_ids: Iterable[str]) -> list[str]:
        """Every source key of ``kind`` written as one of these Intercom ids: a rolled-back entity's aliases too (a
        person whose contact was merged into another's), which ``known_ids`` (one key per id) would miss."""
        return [e.source_key for e in self._written_with_ids(kind, intercom_ids)]

    def written_by_ids(self, kind: str, intercom_ids: Iterable[str]) -> dict[str, list[Entity]]:
        """Written entities of ``kind`` by Intercom id (several keys may stand for one entity: aliases, merged
        persons); ids the ledger does not hold are absent."""
        out: dict[str, list[Entity]] = {}
        for entity in self._written_with_ids(kind, intercom_ids):
            out.setdefault(str(entity.intercom_id), []).append(entity)
        return out

    def _written_with_ids(self, kind: str, intercom_ids: Iterable[str]) -> list[Entity]:
        """The written entities of ``kind`` with these Intercom ids. The status is checked here, not in SQL: with it
        in the WHERE clause SQLite takes the (status, kind, seq) index and scans the whole kind per call (100k ticket
        parts: 80 % of a verify's time); on (kind, intercom_id) it is a few index lookups."""
        ids = sorted({str(i) for i in intercom_ids})
        out: list[Entity] = []
        for chunk in _chunks(ids):
            q = sa.select(entities_table).where(E.kind == kind, E.intercom_id.in_(chunk))

            def run(c: Connection, q: sa.Select = q) -> list[Entity]:
                return [_entity(r) for r in c.execute(q).mappings()]

            out += [e for e in self._read(run) if e.status == "written"]
        return out

    def written_not_created(self, run_id: str | None) -> list[Entity]:
        """Entities ``run_id`` wrote but did not create (they existed before, or an earlier run created them),
        newest first; ``None``: every written entity no run created (adopted, matched, listed)."""
        q = sa.select(entities_table).where(E.status == "written")
        if run_id is None:
            q = q.where(E.created_run_id.is_(None))
        else:
            q = q.where(E.run_id == run_id, sa.or_(E.created_run_id.is_(None), E.created_run_id != run_id))
        q = q.order_by(E.seq.desc())
        return self._read(lambda c: [_entity(r) for r in c.execute(q).mappings()])

    def guests(self, run_id: str) -> dict[str, int]:
        """Contacts this run made for callers without a person record (key ``email:<address>``): ``created``, or
        ``matched`` when Intercom already had the address."""
        # counted with FILTER, not grouped by ``created_run_id = :run``: PostgreSQL does not take two bound copies of
        # one expression as the same grouping (GroupingError), and an adopted contact's NULL would form no group
        q = sa.select(sa.func.count().filter(E.created_run_id == run_id), sa.func.count()).where(
            E.kind == "contacts", E.source_key.like("email:%"), E.run_id == run_id, E.status == "written"
        )
        created, written = self._read(lambda c: c.execute(q).one())
        return {"created": int(created), "matched": int(written) - int(created)}

    def counts(self) -> dict[str, dict[str, int]]:
        """kind -> status -> number of entities."""
        q = sa.select(E.kind, E.status, sa.func.count()).group_by(E.kind, E.status)
        out: dict[str, dict[str, int]] = {}
        for kind, status, n in self._read(lambda c: c.execute(q).all()):
            out.setdefault(kind, {})[status] = int(n)
        return out

    def entities_after(self, kind: str, after_seq: int, limit: int = 500, *, status: str = "written") -> list[Entity]:
        """One page of the entities of ``kind`` with ``status`` after ``after_seq``, oldest first (a resumable walk:
        keep the last one's ``seq``)."""
        q = (
            sa.select(entities_table)
            .where(E.kind == kind, E.status == status, E.seq > after_seq)
            .order_by(E.seq)
            .limit(limit)
        )
        return self._read(lambda c: [_entity(r) for r in c.execute(q).mappings()])

    def entities(self, kind: str, *, status: str = "written", batch: int = 500) -> Iterator[Entity]:
        """Every entity of ``kind`` with ``status``, oldest first, read in pages (handoff documents, any size)."""
        after = -1
        while True:
            page = self.entities_after(kind, after, batch, status=status)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].seq

    # ---------------------------------------------------------------- held records (staging)

    def hold(self, run_id: str, items: Iterable[tuple[str, str, dict, Iterable[tuple[str, str]]]]) -> int:
        """Stage records durably: (kind, source_key, record, waits_for). A key already held is replaced by the newer
        record (its waits_for too, attempts reset, a new ``seq``); within the batch the last occurrence wins.
        One transaction with executemany per statement, so a batch of thousands costs a few round trips.
        Returns the number of distinct records staged."""
        batch: dict[tuple[str, str], tuple[dict, list[tuple[str, str]]]] = {}
        for kind, source_key, record, waits_for in items:
            key = (kind, str(source_key))
            batch.pop(key, None)  # re-insert at the end: seq follows the arrival of the newest version
            batch[key] = (record, list(dict.fromkeys((pk, str(pkey)) for pk, pkey in waits_for)))
        if not batch:
            return 0
        serialised = [(key, _dumps(rec), refs) for key, (rec, refs) in batch.items()]

        def run(q: sql.Sql) -> int:
            first = self._alloc(q, _HELD_SEQ, len(serialised))
            rows: list[dict[str, t.Any]] = []
            refs: list[dict[str, t.Any]] = []
            keys: list[dict[str, str]] = []
            for i, ((kind, skey), rec, waits) in enumerate(serialised):
                keys.append({"w_kind": kind, "w_source_key": skey})
                rows.append(
                    {"kind": kind, "source_key": skey, "record": rec, "run_id": run_id, "seq": first + i, "attempts": 0}
                )
                refs.extend(
                    {"kind": kind, "source_key": skey, "parent_kind": pk, "parent_key": pkey, "pos": j}
                    for j, (pk, pkey) in enumerate(waits)
                )
            # Sorted key order: concurrent batches on PostgreSQL take row locks in the same order (no deadlock).
            keys.sort(key=lambda k: (k["w_kind"], k["w_source_key"]))
            q.many(sql.DELETE_REFS, keys)
            q.many(sql.DELETE_HELD, keys)
            q.many(sql.INSERT_HELD, rows)
            q.many(sql.INSERT_REFS, refs)
            return len(rows)

        n = self._write_sql(run)
        self._changed("held", n)
        return n

    def ready(self, kind: str, limit: int = 500, after_seq: int = 0) -> list[tuple[Held, dict[tuple[str, str], str]]]:
        """Held records of ``kind`` whose every parent has a "written" entity, in ``seq`` order, each with the
        resolved parent ids ``{(parent_kind, parent_key): intercom_id}``. Does not claim rows: one dispatcher per
        kind."""
        return self.ready_page(kind, limit, after_seq)[0]

    def ready_page(
        self, kind: str, limit: int = 500, after_seq: int = 0, skip: Container[str] = ()
    ) -> tuple[list[tuple[Held, dict[tuple[str, str], str]]], int, int]:
        """:meth:`ready`, leaving out the ``skip`` keys (records being written: neither parsed nor their parents
        read), with the last ``seq`` read and how many rows were read (skipped included): the next page's
        ``after_seq``, and whether this one was full. One set-based query (held rows with no unresolved held_refs
        row), then one for the kept rows' refs."""
        unresolved = _unresolved_refs_exist()
        q = sa.select(held_table).where(H.kind == kind, H.seq > after_seq, ~unresolved).order_by(H.seq).limit(limit)

        def run(conn: Connection) -> tuple[list[tuple[Held, dict[tuple[str, str], str]]], int, int]:
            read = list(conn.execute(q).mappings())
            held_rows = [r for r in read if r["source_key"] not in skip]
            refs = _refs_for(conn, [(r["kind"], r["source_key"]) for r in held_rows])
            out = []
            for r in held_rows:
                rr = refs.get((r["kind"], r["source_key"]), [])
                resolved = {(pk, pkey): iid for pk, pkey, iid in rr if iid is not None}
                out.append((_held(r, rr), resolved))
            return out, int(read[-1]["seq"]) if read else after_seq, len(read)

        return self._read(run)

    def waiting(self, kind: str | None = None, limit: int = 1000) -> list[tuple[Held, list[tuple[str, str]]]]:
        """Held records with at least one parent not written yet, with those missing parents (oldest first): what
        the end-of-run report flags as "parent never came"."""
        q = sa.select(held_table).where(_unresolved_refs_exist())
        if kind is not None:
            q = q.where(H.kind == kind)
        q = q.order_by(H.seq).limit(limit)

        def run(conn: Connection) -> list[tuple[Held, list[tuple[str, str]]]]:
            held_rows = list(conn.execute(q).mappings())
            refs = _refs_for(conn, [(r["kind"], r["source_key"]) for r in held_rows])
            out = []
            for r in held_rows:
                rr = refs.get((r["kind"], r["source_key"]), [])
                out.append((_held(r, rr), [(pk, pkey) for pk, pkey, iid in rr if iid is None]))
            return out

        return self._read(run)

    def release(self, kind: str, source_keys: Iterable[str]) -> None:
        """Drop held records of ``kind`` (written, or moved to manual review), whatever their version."""
        keys = [{"w_kind": kind, "w_source_key": str(s)} for s in dict.fromkeys(source_keys)]
        if not keys:
            return

        def run(q: sql.Sql) -> None:
            q.many(sql.DELETE_REFS, keys)
            q.many(sql.DELETE_HELD, keys)

        self._write_sql(run)

    def release_exact(self, held: Iterable[Held]) -> int:
        """Drop held records only if they are still the version that was read (same ``seq``): a newer version
        staged while the old one was being written stays held and is written next. Returns how many went."""
        versions = list(held)
        return self._write_sql(lambda q: _release(q, versions)) if versions else 0

    def bump_attempts(self, kind: str, source_key: str) -> int:
        """Count one more failed attempt at writing a held record; returns the new count (0 if not held)."""

        def run(conn: Connection) -> int:
            where = (H.kind == kind, H.source_key == source_key)
            conn.execute(held_table.update().where(*where).values(attempts=H.attempts + 1))
            n = conn.execute(sa.select(H.attempts).where(*where)).scalar()
            return int(n or 0)

        return self._write(run)

    def held_record(self, kind: str, source_key: str) -> dict | None:
        """The staged, not yet written version of one record, if there is one."""
        q = sa.select(H.record).where(H.kind == kind, H.source_key == str(source_key))
        row = self._read(lambda conn: conn.execute(q).scalar())
        return None if row is None else json.loads(row)

    def held_for(self, kind: str, parent_kind: str, parent_keys: Iterable[str]) -> list[dict]:
        """The staged records of ``kind`` waiting for the ``parent_kind`` record under any of ``parent_keys`` (its
        key and aliases): the links a host about to be created can carry (by the parent index)."""
        keys = list(dict.fromkeys(str(k) for k in parent_keys if k))
        q = (
            sa.select(H.record)
            .join(held_refs_table, (R.kind == H.kind) & (R.source_key == H.source_key))
            .where(H.kind == kind, R.parent_kind == parent_kind, R.parent_key.in_(keys))
            .order_by(H.seq)
        )
        rows = self._read(lambda conn: conn.execute(q).scalars().all()) if keys else []
        return [json.loads(row) for row in rows]

    def held_counts(self) -> dict[str, int]:
        q = sa.select(H.kind, sa.func.count()).group_by(H.kind)
        return {k: int(n) for k, n in self._read(lambda c: c.execute(q).all())}

    def iter_held(self, kind: str | None = None, batch: int = 500) -> Iterator[Held]:
        """Every held record (each batch its own short read), for reports and the end-of-run flagging."""
        after = 0
        while True:
            q = sa.select(held_table).where(H.seq > after)
            if kind is not None:
                q = q.where(H.kind == kind)
            q = q.order_by(H.seq).limit(batch)

            def run(conn: Connection, q: sa.Select = q) -> list[Held]:
                rows = list(conn.execute(q).mappings())
                refs = _refs_for(conn, [(r["kind"], r["source_key"]) for r in rows])
                return [_held(r, refs.get((r["kind"], r["source_key"]), [])) for r in rows]

            page = self._read(run)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].seq

    # ---------------------------------------------------------------- issues

    def add_issues(self, run_id: str, items: Iterable[dict]) -> None:
        """Record flagged records, the manual-review queue, lost dates, skipped attachments...

        An open (unresolved) issue with the same kind, source_key, category and field is updated rather than
        duplicated: it moves to this run, takes the new severity/reason/detail and counts the occurrence, so the
        queue lists each problem once however many runs met it.
        """
        rows = [
            {
                "kind": str(it["kind"]),
                "source_key": str(it["source_key"]),
                "category": str(it["category"]),
                "severity": str(it.get("severity") or "warning"),
                "reason": str(it.get("reason") or ""),
                "field": str(it.get("field") or ""),
                "detail": _dumps(it.get("detail")) if it.get("detail") is not None else None,
            }
            for it in items
        ]
        if not rows:
            return

        def run(q: sql.Sql) -> None:
            now = _now()
            for r in rows:
                found = q.run(
                    sql.FIND_ISSUE,
                    {
                        "w_kind": r["kind"],
                        "w_source_key": r["source_key"],
                        "w_category": r["category"],
                        "w_field": r["field"],
                        "w_resolved": False,
                    },
                ).fetchone()
                if found is None:
                    q.run(
                        sql.INSERT_ISSUE,
                        {
                            "run_id": run_id,
                            "first_run_id": run_id,
                            "occurrences": 1,
                            "created_at": now,
                            "updated_at": now,
                            "resolved_at": None,
                            "resolved": False,
                            **r,
                        },
                    )
                else:
                    q.run(sql.UPDATE_ISSUE, {"w_id": found[0], "run_id": run_id, "updated_at": now, **r})

        self._write_sql(run)

    def issues(
        self,
        run_id: str | None = None,
        category: str | None = None,
        limit: int | None = None,
        *,
        include_resolved: bool = False,
        after_id: int = 0,
    ) -> list[dict]:
        """Issues in insertion order (open ones unless ``include_resolved``); page with ``after_id`` = last id."""
        q = sa.select(issues_table).where(IS.id > after_id)
        if run_id is not None:
            q = q.where(IS.run_id == run_id)
        if category is not None:
            q = q.where(IS.category == category)
        if not include_resolved:
            q = q.where(IS.resolved.is_(False))
        q = q.order_by(IS.id)
        if limit is not None:
            q = q.limit(limit)
        return self._read(lambda c: [_issue_dict(r) for r in c.execute(q).mappings()])

    def issues_for(self, kind: str, source_keys: Iterable[str]) -> dict[str, list[dict]]:
        """The open issues of some records of ``kind``, by source key (verify reads them a page at a time)."""
        keys = list(dict.fromkeys(source_keys))
        out: dict[str, list[dict]] = {}
        for chunk in _chunks(keys):
            q = sa.select(issues_table).where(IS.kind == kind, IS.source_key.in_(chunk), IS.resolved.is_(False))

            def run(c: Connection, q: sa.Select = q) -> list[dict]:
                return [_issue_dict(r) for r in c.execute(q).mappings()]

            for issue in self._read(run):
                out.setdefault(issue["source_key"], []).append(issue)
        return out

    def resolve_issues(self, kind: str, source_key: str, category: str) -> None:
        """Close the open issues of a record in a category (e.g. a manual_review item that later succeeded)."""
        self._write_sql(lambda q: _resolve(q, kind, source_key, category))


# ---------------------------------------------------------------- statements and helpers


def _release(q: sql.Sql, versions: Iterable[Held]) -> int:
    """Delete held versions that are still the one read (same ``seq``) and their references; returns how many
    went."""
    gone = 0
    for held in versions:
        key = {"w_kind": held.kind, "w_source_key": held.source_key, "w_seq": held.seq}
        if q.run(sql.DELETE_HELD_EXACT, key).rowcount:
            gone += 1
            q.run(sql.DELETE_REFS, key)
    return gone


def _resolve(q: sql.Sql, kind: str, source_key: str, category: str) -> None:
    q.run(
        sql.RESOLVE,
        {
            "resolved": True,
            "resolved_at": _now(),
            "w_kind": kind,
            "w_source_key": source_key,
            "w_category": category,
            "w_resolved": False,
        },
    )


def _for_update(q: sql.Sql, kind: str, source_key: str) -> tuple[str, str | None] | None:
    """(status, extra) of the entity, its row locked until commit on PostgreSQL (SQLite: the writer lock already
    serialises)."""
    return q.run(sql.FOR_UPDATE, {"w_kind": kind, "w_source_key": source_key}).fetchone()


def _update_entity(q: sql.Sql, kind: str, source_key: str, values: dict[str, t.Any]) -> None:
    q.run(sql.update_entity(values), {"w_kind": kind, "w_source_key": source_key, **values})


def _unresolved_refs_exist() -> sa.Exists:
    """EXISTS a held_refs row of the outer held row whose parent has no "written" entity."""
    written = sa.exists().where(E.kind == R.parent_kind, E.source_key == R.parent_key, E.status == "written")
    return sa.exists().where(R.kind == H.kind, R.source_key == H.source_key, ~written)


def _refs_for(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[tuple]]:
    """(kind, source_key) -> [(parent_kind, parent_key, intercom_id or None)] in waits_for order. Keys are asked
    per kind (``kind = ? AND source_key IN (...)``): SQLite scans the whole table for a row-value ``IN`` list, ten
    times slower at 60,000 refs than a walk of the primary key."""
    out: dict[tuple[str, str], list[tuple]] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, key in keys:
        by_kind.setdefault(kind, []).append(key)
    j = held_refs_table.outerjoin(
        entities_table, sa.and_(E.kind == R.parent_kind, E.source_key == R.parent_key, E.status == "written")
    )
    for kind, kind_keys in by_kind.items():
        for chunk in _chunks(kind_keys):
            q = (
                sa.select(R.source_key, R.parent_kind, R.parent_key, E.intercom_id)
                .select_from(j)
                .where(R.kind == kind, R.source_key.in_(chunk))
                .order_by(R.source_key, R.pos)
            )
            for skey, pk, pkey, iid in conn.execute(q):
                out.setdefault((kind, str(skey)), []).append((pk, pkey, iid))
    return out


def _chunks(seq: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _merge_extra(stored: str | None, extra: dict | None, drop: str | None = None) -> str:
    merged = _loads(stored, {}) or {}
    if drop is not None:
        merged.pop(drop, None)
    if extra:
        merged.update(extra)
    return _dumps(merged)


def _entity(row: t.Mapping[t.Any, t.Any]) -> Entity:
    return Entity(
        kind=row["kind"],
        source_key=row["source_key"],
        intercom_id=row["intercom_id"],
        content_hash=row["content_hash"],
        status=row["status"],
        run_id=row["run_id"],
        created_run_id=row["created_run_id"],
        seq=int(row["seq"]),
        extra=_loads(row["extra"], {}) or {},
    )


def _held(row: sa.RowMapping, refs: list[tuple]) -> Held:
    return Held(
        kind=row["kind"],
        source_key=row["source_key"],
        record=json.loads(row["record"]),
        waits_for=tuple((pk, pkey) for pk, pkey, _ in refs),
        run_id=row["run_id"],
        seq=int(row["seq"]),
        attempts=int(row["attempts"]),
    )


def _run_dict(row: sa.RowMapping) -> dict:
    return {
        "run_id": row["run_id"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "status": row["status"],
        "summary": _loads(row["summary"]),
        "info": _loads(row["info"], {}),
    }


def _issue_dict(row: sa.RowMapping) -> dict:
    return {
        "id": int(row["id"]),
        "run_id": row["run_id"],
        "first_run_id": row["first_run_id"],
        "kind": row["kind"],
        "source_key": row["source_key"],
        "category": row["category"],
        "severity": row["severity"],
        "reason": row["reason"],
        "field": row["field"] or None,
        "detail": _loads(row["detail"]),
        "occurrences": int(row["occurrences"]),
        "created_at": row["created_at"],
        "resolved_at": row["resolved_at"],
    }
