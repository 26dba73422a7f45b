"""The working file of ``verify --all``: what the map made of every TOPdesk record, how far the read-back got, and
every difference found, on disk (SQLite), so that memory stays flat at any size and a read-back killed and started
again continues where it stopped (each page's comparisons and its cursor are committed together).

One store per ledger, under the report folder (``verify-all/<ledger digest>/store.db``): a finished verify leaves
it as it is until the next ``verify --all`` starts afresh; an unfinished one is continued."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import typing as t
from collections.abc import Iterable, Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS expected (
    kind TEXT NOT NULL, source_key TEXT NOT NULL, record TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (kind, source_key));
CREATE TABLE IF NOT EXISTS flagged (kind TEXT NOT NULL, source_key TEXT NOT NULL, PRIMARY KEY (kind, source_key));
CREATE TABLE IF NOT EXISTS steps (kind TEXT NOT NULL, step TEXT NOT NULL, cursor TEXT, finished INTEGER NOT NULL,
    PRIMARY KEY (kind, step));
CREATE TABLE IF NOT EXISTS seen (kind TEXT NOT NULL, source_key TEXT NOT NULL, fields INTEGER NOT NULL,
    PRIMARY KEY (kind, source_key));
CREATE TABLE IF NOT EXISTS hosts (kind TEXT NOT NULL, intercom_id TEXT NOT NULL, answer TEXT NOT NULL,
    PRIMARY KEY (kind, intercom_id));
CREATE TABLE IF NOT EXISTS counts (kind TEXT NOT NULL, bucket TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (kind, bucket));
CREATE TABLE IF NOT EXISTS differences (
    kind TEXT NOT NULL, source_key TEXT NOT NULL, intercom_id TEXT, field TEXT NOT NULL,
    expected TEXT, actual TEXT, why TEXT,
    PRIMARY KEY (kind, source_key, field));
"""
BATCH = 1000


def store_path(base: Path, ledger_url: str) -> Path:
    """The store of the ledger at ``ledger_url`` under ``base`` (the target's report folder)."""
    digest = hashlib.sha256(ledger_url.encode()).hexdigest()[:12]
    return base / "verify-all" / digest / "store.db"


class Store:
    """The working file; one connection, used by the thread that runs the verify."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ meta and steps

    def get(self, name: str, default: t.Any = None) -> t.Any:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, name: str, value: t.Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def add(self, name: str, n: float) -> None:
        self.put(name, self.get(name, 0) + n)

    def step(self, kind: str, step: str) -> tuple[str | None, bool]:
        """(cursor, finished) of one step of a kind; (None, False) when it has not begun."""
        row = self.db.execute("SELECT cursor, finished FROM steps WHERE kind = ? AND step = ?", (kind, step)).fetchone()
        return (row[0], bool(row[1])) if row else (None, False)

    def reset(self) -> None:
        """Start afresh (a new verify after a finished one, or ``--restart``)."""
        for table in ("meta", "expected", "flagged", "steps", "seen", "hosts", "counts", "differences"):
            self.db.execute(f"DELETE FROM {table}")

    # ------------------------------------------------------------------ one page of work, atomically

    def page(
        self,
        kind: str,
        step: str,
        cursor: str | None,
        *,
        finished: bool = False,
        seen: Iterable[tuple[str, str, int]] = (),
        hosts: Iterable[tuple[str, str, dict]] = (),
        differences: Iterable[dict] = (),
        counts: Iterable[tuple[str, str, int]] = (),
    ) -> None:
        """Record one page's results with the cursor the next page starts from, in one transaction."""
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", list(seen))
            self.db.executemany(
                "INSERT OR REPLACE INTO hosts VALUES (?, ?, ?)", [(k, i, json.dumps(a)) for k, i, a in hosts]
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO differences VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        d["kind"],
                        d["source_key"],
                        d.get("intercom_id"),
                        d["field"],
                        json.dumps(d.get("expected"), default=str),
                        json.dumps(d.get("actual"), default=str),
                        d.get("why"),
                    )
                    for d in differences
                ],
            )
            for k, bucket, n in counts:
                self.db.execute(
                    "INSERT INTO counts VALUES (?, ?, ?) ON CONFLICT (kind, bucket) DO UPDATE SET n = n + excluded.n",
                    (k, bucket, n),
                )
            self.db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?)", (kind, step, cursor, int(finished)))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back on an error (the page is then done
        again on resume)."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ expected records

    def clear_expected(self) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM expected")
            self.db.execute("DELETE FROM flagged")

    def add_expected(self, rows: Iterable[tuple[str, str, dict, str]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO expected VALUES (?, ?, ?, ?)",
            [(kind, key, json.dumps(record, default=str), digest) for kind, key, record, digest in rows],
        )

    def add_flagged(self, rows: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO flagged VALUES (?, ?)", list(rows))

    def expected_kinds(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT kind FROM expected UNION SELECT DISTINCT kind FROM flagged")
        return sorted(r[0] for r in rows)

    def expected_keys(self, kind: str, after: str = "", limit: int = BATCH) -> list[tuple[str, str]]:
        """(source key, hash) of ``kind`` in key order, after ``after``: one page."""
        return self.db.execute(
            "SELECT source_key, hash FROM expected WHERE kind = ? AND source_key > ? ORDER BY source_key LIMIT ?",
            (kind, after, limit),
        ).fetchall()

    def expected_records(self, kind: str, keys: Iterable[str]) -> dict[str, tuple[dict, str]]:
        """source key -> (mapped record, staged content hash) of those of ``keys`` the map produced."""
        rows = self._among("SELECT source_key, record, hash FROM expected", kind, keys)
        return {key: (json.loads(record), digest) for key, record, digest in rows}

    def flagged_not_expected(self, kind: str) -> int:
        """Records the map flagged (not written) that it did not map under ``kind`` as well."""
        row = self.db.execute(
            "SELECT count(*) FROM flagged f WHERE kind = ? AND NOT EXISTS "
            "(SELECT 1 FROM expected e WHERE e.kind = f.kind AND e.source_key = f.source_key)",
            (kind,),
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ what was compared

    def mapped_among(self, kind: str, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` the map produced (their records not read)."""
        return {row[0] for row in self._among("SELECT source_key FROM expected", kind, keys)}

    def seen_among(self, kind: str, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` already compared."""
        return {row[0] for row in self._among("SELECT source_key FROM seen", kind, keys)}

    def _among(self, select: str, kind: str, keys: Iterable[str]) -> Iterator[tuple]:
        """``select`` (a table with kind and source_key) for ``kind`` and ``keys``, 500 keys per statement."""
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            yield from self.db.execute(
                f"{select} WHERE kind = ? AND source_key IN ({','.join('?' * len(chunk))})", (kind, *chunk)
            )

    def host(self, kind: str, intercom_id: str) -> dict | None:
        row = self.db.execute(
            "SELECT answer FROM hosts WHERE kind = ? AND intercom_id = ?", (kind, str(intercom_id))
        ).fetchone()
        return json.loads(row[0]) if row else None

    def compared(self) -> dict[str, tuple[int, int]]:
        """kind -> (records compared, fields compared)."""
        rows = self.db.execute("SELECT kind, count(*), sum(fields) FROM seen GROUP BY kind")
        return {kind: (int(n), int(f or 0)) for kind, n, f in rows}

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, bucket, n in self.db.execute("SELECT kind, bucket, n FROM counts"):
            out.setdefault(kind, {})[bucket] = int(n)
        return out

    def differences(self, *, explained: bool, limit: int | None = None) -> Iterator[dict]:
        q = "SELECT kind, source_key, intercom_id, field, expected, actual, why FROM differences WHERE why IS "
        q += "NOT NULL" if explained else "NULL"
        q += " ORDER BY kind, source_key, field"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        for kind, key, iid, name, expected, actual, why in self.db.execute(q):
            yield {
                "kind": kind,
                "source_key": key,
                "intercom_id": iid,
                "field": name,
                "expected": json.loads(expected) if expected else None,
                "actual": json.loads(actual) if actual else None,
                **({"why": why} if explained else {}),
            }

    def difference_counts(self) -> dict[str, tuple[int, int]]:
        """kind -> (explained, unexplained) differences."""
        rows = self.db.execute(
            "SELECT kind, sum(why IS NOT NULL), sum(why IS NULL) FROM differences GROUP BY kind"
        ).fetchall()
        return {kind: (int(e or 0), int(u or 0)) for kind, e, u in rows}
