"""Group commit for the ledger's hot write transactions on a SQLite file.

A load keeps a hundred writer threads busy, each committing two or three small transactions per request (intent,
written, done). SQLite has one writer, so they took turns on one lock: every turn a thread switch (and a GIL
handoff), a ``BEGIN IMMEDIATE`` and a ``COMMIT``. At three apps' budget (417 requests/s) the threads spent a third
of their time queued on that lock, and records with several transactions each (custom object instances) went out
at half the budget. Here the transactions that threads ask for while one commit runs are committed together by the
next thread to lead: one ``BEGIN``/``COMMIT`` for all. When a caller's work raises, the transaction is rolled back
and done again without it: its failure undoes only its own work and raises in that caller alone. A caller returns
once its work is committed: what the ledger promises after a write (it survives a crash) is unchanged.
"""

from __future__ import annotations

import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable

T = t.TypeVar("T")


class _Job:
    __slots__ = ("done", "error", "fn", "out")

    def __init__(self, fn: Callable[[t.Any], t.Any]) -> None:
        self.fn = fn
        self.out: t.Any = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    """Runs ``fn(raw)`` for callers of :meth:`run` in shared transactions on the driver connection ``connect()``
    gives (called with ``lock`` held: the writer's lock, which other write paths take too). ``retry(once)`` runs a
    whole attempt again on the ledger's transient errors (a busy file); a caller whose own work raised one is run
    again alone (:meth:`alone`), as before group commit."""

    def __init__(
        self,
        lock: t.ContextManager[t.Any],
        connect: Callable[[], t.Any],
        retry: Callable[[Callable[[], t.Any]], t.Any],
        transient: tuple[type[BaseException], ...],
    ) -> None:
        self._lock, self._connect, self._retry, self._transient = lock, connect, retry, transient
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._leading = False
        #: Transactions committed and callers served (the ratio is the mean group size; read by tests and benches).
        self.commits = 0
        self.served = 0

    def run(self, fn: Callable[[t.Any], T]) -> T:
        job = _Job(fn)
        with self._cond:
            self._pending.append(job)
            while not job.done and self._leading:
                self._cond.wait()
            if not job.done:
                self._leading = True
                batch, self._pending = self._pending, []
        if not job.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    for j in batch:
                        j.done = True
                    self._leading = False
                    self._cond.notify_all()
        if job.error is not None:
            if isinstance(job.error, self._transient):  # its own statement met a race: alone, with the retries
                return self.alone(fn)
            raise job.error
        return t.cast("T", job.out)

    def alone(self, fn: Callable[[t.Any], T]) -> T:
        """``fn(raw)`` in a transaction of its own, retried whole on transient errors (its own included)."""

        def once() -> T:
            with self._lock:
                return self._transaction(self._connect(), lambda raw: (fn(raw), True))

        return t.cast("T", self._retry(once))

    def _commit(self, batch: list[_Job]) -> None:
        todo: list[_Job] = []  # this attempt's callers (all of the batch at each attempt)

        def all_of_todo(raw: t.Any) -> tuple[_Job | None, bool]:
            failed = self._run_all(raw, todo)
            return failed, failed is None  # committed when none raised

        def once() -> None:
            todo[:] = batch
            with self._lock:
                raw = self._connect()
                while todo:  # a caller whose work raised is left out and the others' work done again
                    failed = self._transaction(raw, all_of_todo)
                    if failed is None:
                        break
                    todo.remove(failed)
            self.commits += 1
            self.served += len(batch)

        try:
            self._retry(once)
        except BaseException as exc:  # noqa: BLE001  the commit failed: nobody's work was kept, each caller raises it
            for job in batch:
                job.out, job.error = None, exc

    @staticmethod
    def _transaction(raw: t.Any, body: Callable[[t.Any], tuple[T, bool]]) -> T:
        """``body(raw)`` in one ``BEGIN IMMEDIATE`` transaction: committed when it says so (its second value),
        rolled back otherwise or when it raises."""
        raw.execute("BEGIN IMMEDIATE")
        try:
            out, keep = body(raw)
            raw.execute("COMMIT" if keep else "ROLLBACK")
            return out
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise

    @staticmethod
    def _run_all(raw: t.Any, jobs: list[_Job]) -> _Job | None:
        """Every job's work in the open transaction, up to the first that raises (returned, its error kept). No
        savepoint per job: two statements more for each, where a failure is rare and costs one more round."""
        for job in jobs:
            job.out, job.error = None, None
            try:
                job.out = job.fn(raw)
            except Exception as exc:  # noqa: BLE001  the caller's own failure, raised in its thread
                job.error = exc
                return job
        return None
