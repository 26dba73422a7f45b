"""A set of strings kept on disk, for what a sync must remember per record across a whole run.

Walking the asset links remembers every asset visited and every link emitted: at a million records that is tens of
thousands of ids, and a Python set of them is megabytes the process never gives back. SQLite (the standard
library's) keeps them in a private temporary file that goes away when the set is closed, with a small page cache.
"""

from __future__ import annotations

import sqlite3
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator


#: SQLite's page cache per set (its default is 2,000 KiB): the temporary file's pages stay in the OS's cache anyway.
CACHE_KIB = 256


class DiskSet:
    """``add`` says whether the key was new; iteration is in key order (deterministic)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a private temporary file, deleted on close
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute("CREATE TABLE k (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self._size = 0

    def add(self, key: str) -> bool:
        added = self._db.execute("INSERT OR IGNORE INTO k VALUES (?)", (key,)).rowcount == 1
        self._size += added
        return added

    def __contains__(self, key: object) -> bool:
        return self._db.execute("SELECT 1 FROM k WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        """A snapshot of the keys, read in batches (adding while iterating is safe; added keys may not appear)."""
        after = ""
        query = "SELECT key FROM k WHERE key > ? ORDER BY key LIMIT 1000"
        while batch := [row[0] for row in self._db.execute(query, (after,))]:
            yield from batch
            after = batch[-1]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DiskSet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
