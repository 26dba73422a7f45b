"""Group commit of the ledger's hot transactions (SQLite files): many threads' writes share commits, each caller's
failure stays its own, and nothing a caller was told is written is lost (real SQLite files, real threads)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from target_intercom.group_commit import GroupCommit
from target_intercom.ledger import Ledger

THREADS = 16


def _group(path: Path) -> tuple[GroupCommit, sqlite3.Connection]:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    raw.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    lock = threading.RLock()

    def retry(once):
        return once()

    return GroupCommit(lock, lambda: raw, retry, (sqlite3.OperationalError,)), raw


def _side_by_side(n: int, work) -> list:
    """``work(i)`` in ``n`` threads started together; what each returned or raised."""
    start, out = threading.Barrier(n), [None] * n

    def one(i: int) -> None:
        start.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # noqa: BLE001  the test looks at it
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def test_writes_of_many_threads_share_commits_and_all_land(tmp_path: Path) -> None:
    group, raw = _group(tmp_path / "g.db")

    def insert(i: int) -> int:
        def fn(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (f"k{i}",))
            time.sleep(0.005)  # a commit takes a while: the others queue meanwhile
            return i

        return group.run(fn)

    assert _side_by_side(THREADS, insert) == list(range(THREADS))
    assert {k for (k,) in raw.execute("SELECT k FROM t")} == {f"k{i}" for i in range(THREADS)}
    assert group.served == THREADS and group.commits < THREADS


def test_a_failing_caller_raises_alone_and_its_work_is_undone(tmp_path: Path) -> None:
    group, raw = _group(tmp_path / "g.db")
    raw.execute("INSERT INTO t VALUES ('taken')")

    def insert(i: int) -> int:
        def fn(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (f"k{i}",))
            time.sleep(0.005)
            if i == 3:
                conn.execute("INSERT INTO t VALUES ('taken')")  # a duplicate key: this caller's own error
            return i

        return group.run(fn)

    out = _side_by_side(THREADS, insert)
    assert isinstance(out[3], sqlite3.IntegrityError)
    assert [o for i, o in enumerate(out) if i != 3] == [i for i in range(THREADS) if i != 3]
    kept = {k for (k,) in raw.execute("SELECT k FROM t")}
    assert kept == {"taken"} | {f"k{i}" for i in range(THREADS) if i != 3}  # k3 undone with its failed statement


def test_a_failed_commit_fails_every_caller_of_the_group(tmp_path: Path) -> None:
    group, raw = _group(tmp_path / "g.db")

    def fail(once):
        raise OSError("disk full")

    group._retry = fail  # the commit attempt itself fails
    with pytest.raises(OSError, match="disk full"):
        group.run(lambda conn: conn.execute("INSERT INTO t VALUES ('x')"))
    assert raw.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_ledger_writes_from_many_threads_are_grouped_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger(Ledger.url_for_path(path))
    run_id = ledger.start_run({})

    def write(i: int) -> None:
        for j in range(20):
            ledger.record_intent("tickets", f"call:{i}:{j}", "h", run_id)
            ledger.record_written("tickets", f"call:{i}:{j}", f"{i}{j}", "h", run_id, created=True)

    assert _side_by_side(THREADS, write) == [None] * THREADS
    assert ledger._group.served == THREADS * 40 and ledger._group.commits < ledger._group.served
    ledger.close()
    reopened = Ledger(Ledger.url_for_path(path))  # what each caller was told is written is on disk
    assert all(
        (e := reopened.lookup("tickets", f"call:{i}:{j}")) is not None and e.intercom_id == f"{i}{j}"
        for i in range(THREADS)
        for j in range(20)
    )
    reopened.close()
