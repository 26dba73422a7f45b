"""Writes staged records in dependency order, many requests in flight, each record exactly once.

Every record is first staged in the ledger (durable), then written when its required parents exist. A failed
record stays staged (retried by the next run) and goes to the manual-review queue; the run goes on.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import typing as t
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor

from target_intercom.client import IntercomError
from target_intercom.completeness import check_sample, parts_received
from target_intercom.ledger import Entity, Held, content_hash
from target_intercom.pacer import DOCUMENTED_WINDOW_S
from target_intercom.planner import Batch, Chain, Planner, Row, group_of
from target_intercom.progress import WRITTEN, ProgressLog, RunTimeline
from target_intercom.writers import WRITERS, Writers
from target_intercom.writers.base import (
    CREATED,
    SETTLED,
    UNCHANGED,
    UPDATED,
    Outcome,
    Skip,
    WriteContext,
    Writer,
    error_text,
)
from target_intercom.writers.batch import Batched

CHUNK = 500  # ready records fetched at a time (one ledger read); the pool is fed from them as tasks finish
RETRY_BASE_S, RETRY_CAP_S = 0.5, 30.0  # full-jitter backoff between retries of one record
HEADROOM = 2.0  # tasks in flight = HEADROOM x the budget's rate x the observed latency (see in_flight_target)
MIN_IN_FLIGHT = 32  # tasks in flight at least (and before the first answers tell the limit and the latency)
IDLE_PASS_S = 0.01  # pause after a pass that found nothing new while tasks are answered
BATCH_FILL_S = 2.0  # while input comes, a bulk batch not full waits this long for more records to fill it
PROGRESS_S = 10.0  # one progress line (every kind) at most this often while a load runs
Key = tuple[str, str]  # (kind, source key)


def _state_written(entity: Entity) -> dict:
    return {"state_pending": False, "state_written": entity.extra.get("final_state")}


class Stats:
    """Per-kind counters of this run, for progress lines and the reconciliation report; records written also go
    to the run's timeline (when given)."""

    def __init__(self, timeline: RunTimeline | None = None) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.timeline = timeline

    def add(self, kind: str, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind][what] += n
        if self.timeline is not None and what in WRITTEN:
            self.timeline.wrote(n)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {kind: dict(c) for kind, c in self.counts.items()}


class Loader:
    """Writes staged records with ``writers`` (every kind's, by default), ``chunk`` ready records per ledger read."""

    def __init__(
        self,
        ctx: WriteContext,
        *,
        concurrency: int,
        max_retries: int,
        logger: logging.Logger,
        writers: Writers = WRITERS,
        chunk: int = CHUNK,
    ) -> None:
        self.ctx = ctx
        self.writers = writers
        self.chunk = chunk
        self.ledger = ctx.ledger
        self.max_retries = max_retries
        self.logger = logger
        self.timeline = RunTimeline(lambda: ctx.client.pacer.requests_sent)
        self.stats = Stats(self.timeline)
        self.progress = ProgressLog(self.timeline, logger.info, every=PROGRESS_S)
        self.concurrency = max(1, int(concurrency))  # the cap; in_flight_target() sizes the pool's use below it
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="intercom")
        self._issues_lock = threading.Lock()
        self.parts_received: Counter = Counter()  # (part kind, container key) -> parts received in this run
        # guarded by _cond (tasks finishing notify it): the planner's state and the shell's own
        self._cond = threading.Condition()
        self.planner = Planner(writers, ctx.run_id)
        # the writers that may write in bulk, found once: a runtime-checked Protocol costs tens of microseconds per
        # isinstance, and staging asks for every TOPdesk record
        self.batched: dict[str, Batched] = {w.kind: w for w in writers if isinstance(w, Batched)}
        self._running = 0  # tasks handed to the pool, not finished
        self._running_kinds: Counter = Counter()
        #: kinds with records staged (this run, or held from an earlier one): a pass reads only these, not every
        #: kind's empty ready query on each of its many passes a second
        self._staged_kinds: set[str] | None = None
        self._partial_since: dict[str, float] = {}  # kind -> since when a bulk batch not full waits to be filled
        self._deferred: Counter = Counter()  # kind -> records left in this pass for a batch to fill
        self._dirty = False  # something finished or was staged since the pass began
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ staging

    def stage(self, kind: str, records: t.Sequence[dict]) -> None:
        self.stage_together([(kind, records)])

    def stage_together(self, batches: t.Sequence[tuple[str, t.Sequence[dict]]]) -> None:
        """Batches of several kinds in one ledger transaction: the writer sees all of them or none, so a record and
        the links the same TOPdesk record made are staged at once (a host created with its links, not before)."""
        links = [pair for kind, records in batches for r in records if (pair := self.writers[kind].carried_by(r))]
        self.ctx.link_hosts.update(host for host, _ in links)  # before the hold: no host is written before it
        for kind, records in batches:
            self.parts_received.update(parts_received(kind, list(records)))
        self.ledger.hold(
            self.ctx.run_id,
            (
                (kind, r["source_key"], r, self._waits(self.writers[kind], r))
                for kind, records in batches
                for r in records
            ),
        )
        for kind, records in batches:
            self.stats.add(kind, "received", len(records))
        self._note_staged(kind for kind, records in batches if records)
        inline = self._inline_parents(batches)
        with self._cond:
            self.planner.staged_together([(self.writers[kind], records) for kind, records in batches], links)
            self.planner.inline(inline)
            self._dirty = True
            self._cond.notify_all()

    def _inline_parents(self, batches: t.Sequence[tuple[str, t.Sequence[dict]]]) -> list[tuple[Key, Key]]:
        """(host, parent) of the staged records a bulk writer's create carries inline (a contact's companies)."""
        out: list[tuple[Key, Key]] = []
        for writer in self.batched.values():
            if writer.batch_size(self.ctx):
                out += [pair for kind, records in batches for r in records if (pair := writer.inline_pair(kind, r))]
        return out

    def _waits(self, writer: Writer, record: dict) -> list[tuple[str, str]]:
        return writer.waits_for(record) + writer.waits_in(self.ctx, record)

    # ------------------------------------------------------------------ crash recovery

    def settle_intents(self) -> None:
        """Creates that were sent but never recorded (the process died in between): find them in Intercom before
        anything is created again, so a resumed run never duplicates a ticket or a part."""
        for kind in self.writers.kinds:
            writer = self.writers[kind]
            if not writer.needs_intent:
                continue
            for intent in self.ledger.intents(kind, limit=1_000_000):
                found = writer.settle(self.ctx, intent)
                if found:  # its record is still staged: updatable kinds get what followed the create as an update
                    self.ledger.record_written(
                        kind, intent.source_key, found, SETTLED, self.ctx.run_id, created=True, extra=intent.extra
                    )
                    self.stats.add(kind, "settled")
                self.logger.info(
                    "%s %s: interrupted create %s",
                    kind,
                    intent.source_key,
                    f"found in Intercom as {found}" if found else "had not happened; it will be sent",
                )

    # ------------------------------------------------------------------ writing

    def start(self) -> None:
        """Write in the background from now on: a dispatcher thread feeds the pool with whatever is ready while the
        caller goes on staging (:meth:`stage` wakes it); :meth:`finish` waits until everything writable is written."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._background, name="intercom-dispatcher", daemon=True)
            self._thread.start()

    def finish(self) -> None:
        """End of input: wait until the background writer has written everything that can be written (parents
        included), then re-raise whatever broke it. Without a background writer, writes in this thread."""
        if self._thread is None:
            self.pump()
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._thread = None
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        """The background writer's error (a ledger failure, a bug), raised in the caller's thread: the run fails
        loudly instead of staging on while nothing is written."""
        if self._error is not None:
            raise RuntimeError(
                f"the writer thread failed: {type(self._error).__name__}: {self._error}"
            ) from self._error

    def pump(self) -> None:
        """Write everything writable now (and what that makes writable), in this thread; returns when idle."""
        if self._thread is not None:
            raise RuntimeError("pump() while the background writer runs: use finish()")
        self._loop(until_idle=True)
        self.raise_if_failed()

    def _background(self) -> None:
        try:
            self._loop(until_idle=False)
        except BaseException as exc:  # surfaces in the main thread (stage / finish), never a silent hang
            self.logger.exception("writer thread failed")
            with self._cond:
                self._error = self._error or exc
                self._cond.notify_all()
            self._wait_running()

    def _loop(self, *, until_idle: bool) -> None:
        """Passes over the kinds in dependency order, each dispatching every ready record, until nothing is ready and
        nothing runs (and, in the background, input has ended). A pass that started with no task running and
        dispatched nothing has seen every write (so every record it could make ready): that is the end."""
        while True:
            with self._cond:
                self._dirty = False
                idle = self._running == 0
                closing = until_idle or self._closing
                if self._error is not None:
                    break
            dispatched = self._pass(closing)
            with self._cond:
                if self._error is not None:
                    break
                if not dispatched and idle and closing:
                    return
                if not dispatched and not self._dirty:  # wait for an answer, a batch staged, or the end of input
                    self._cond.wait(0.5)
                pause = not dispatched and self._dirty
            if pause:  # answers keep coming: a short pause, so idle passes do not spin on the ledger
                time.sleep(IDLE_PASS_S)
            self._tick()
        self._wait_running()
        self.raise_if_failed()

    def _wait_running(self) -> None:
        with self._cond:
            while self._running:
                self._cond.wait(0.5)
                self._tick()

    def _note_staged(self, kinds: t.Iterable[str]) -> None:
        with self._cond:
            if self._staged_kinds is not None:
                self._staged_kinds.update(kinds)

    def _pass(self, closing: bool) -> int:
        dispatched = 0
        if self._staged_kinds is None:  # the first pass: what earlier runs left staged, then what this run stages
            with self._cond:
                self._staged_kinds = set()  # from now on staging notes its kinds; what came before is held
            held = set(self.ledger.held_counts())
            with self._cond:
                self._staged_kinds |= held
        for kind in self.writers.kinds:
            if self._error is not None:
                return dispatched
            if kind not in self._staged_kinds:
                continue
            # a kind nested in itself (collections in collections) gets its next level on the next pass
            dispatched += self._pass_kind(self.writers[kind], closing)
        return dispatched

    def _pass_kind(self, writer: Writer, closing: bool) -> int:
        """Every ready record of one kind, fetched ``chunk`` at a time, never twice while it is being written: the
        ledger is read here, outside the lock; what to write is the planner's (see :mod:`planner`)."""
        kind, cursor, dispatched = writer.kind, 0, 0
        with self._cond:
            kind_pass = self.planner.begin_pass(writer, closing)
        self._deferred[kind] = 0
        try:
            while True:
                with self._cond:
                    self.planner.before_read()
                    skip = self.planner.not_candidates(kind)
                read, cursor, n = self.ledger.ready_page(kind, limit=self.chunk, after_seq=cursor, skip=skip)
                full = n == self.chunk
                with self._cond:
                    rows = self.planner.candidates(kind_pass, read)
                if rows:
                    wanted = self.planner.optional_wanted(writer, rows)
                    written = self._written(wanted)
                    with self._cond:
                        rows = self.planner.ready_now(kind_pass, rows, wanted, written, full)
                if rows:
                    dispatched += self._dispatch(writer, rows)
                if not full:
                    return dispatched
        finally:
            if not self._deferred[kind]:  # no bulk batch left to fill: the next one waits from when it is left
                self._partial_since.pop(kind, None)
            with self._cond:
                self.planner.end_pass()

    def _written(self, wanted: dict[str, list[tuple[str, str]]]) -> set[tuple[str, str]]:
        """Which of these (parent kind, key) the ledger holds as written."""
        by_kind: dict[str, set[str]] = defaultdict(set)
        for parents in wanted.values():
            for parent_kind, key in parents:
                by_kind[parent_kind].add(key)
        return {
            (parent_kind, key)
            for parent_kind, keys in by_kind.items()
            for key, entity in self.ledger.lookup_many(parent_kind, sorted(keys)).items()
            if entity.status == "written"
        }

    def _dispatch(self, writer: Writer, rows: list[Row]) -> int:
        """Release what is unchanged (reporting what Intercom cannot edit), then hand the planner's tasks to the
        pool as fast as it takes them: at most ``in_flight_target()`` run."""
        existing = self.ledger.lookup_many(writer.kind, [held.source_key for held, _ in rows])
        size, batchable = self._batching(writer)
        since = self._partial_since.get(writer.kind)
        with self._cond:
            hold = size > 0 and not (self._closing or self._thread is None)
        hold = hold and (since is None or time.monotonic() - since < BATCH_FILL_S)
        with self._cond:
            plan = self.planner.dispatch(writer, rows, existing, size, batchable, hold)
        if plan.deferred:
            self._deferred[writer.kind] += plan.deferred
            self._partial_since.setdefault(writer.kind, time.monotonic())
        for held in plan.not_updatable:
            self._issues(
                writer.kind,
                held.source_key,
                [
                    {
                        "category": "not_updatable",
                        "severity": "warning",
                        "field": "body",
                        "reason": "changed in TOPdesk after it was written; Intercom cannot edit it, so it is "
                        "unchanged",
                    }
                ],
            )
        unchanged = plan.unchanged + plan.not_updatable
        if unchanged:
            self.ledger.release_exact(unchanged)
            self.stats.add(writer.kind, UNCHANGED, len(unchanged))
        for task in plan.tasks:
            with self._cond:
                while self._running >= self.in_flight_target() and self._error is None:
                    self._cond.wait(0.5)
                    self._tick()
                if self._error is not None:
                    return len(plan.tasks)
                self._running += 1
                self._running_kinds[writer.kind] += 1
                self.planner.started(writer, task)
            future = self.pool.submit(self._run_task, writer, task)
            future.add_done_callback(self._task_done)
        return len(plan.tasks)

    def _batching(self, writer: Writer) -> tuple[int, t.Callable[[Held, Entity | None], bool] | None]:
        """The writer's batch size in this run and which records it batches (0, None: one task per record)."""
        batched = self.batched.get(writer.kind)
        if batched is None or not (size := batched.batch_size(self.ctx)):
            return 0, None
        return size, lambda held, entity: batched.batchable(self.ctx, held, entity)

    def in_flight_target(self) -> int:
        """Tasks (so requests) in flight: enough for twice the budget's rate at the latency observed,
        ``2 x budget/s x latency`` (the pacer keeps the window's count within the limit), at least MIN_IN_FLIGHT
        (a task also spends time between its requests: ledger writes, backoff before a retry), at most
        ``concurrency``."""
        pacer = self.ctx.client.pacer
        limit, latency = pacer.limit, pacer.latency_s
        if not limit or not latency:
            return min(self.concurrency, MIN_IN_FLIGHT)
        window = pacer.window_seconds or DOCUMENTED_WINDOW_S  # as the answers' X-RateLimit-Reset show it, once they do
        return min(self.concurrency, max(MIN_IN_FLIGHT, math.ceil(HEADROOM * limit / window * latency)))

    def _task_done(self, future: Future) -> None:
        exc = future.exception()
        with self._cond:
            if exc is not None and self._error is None:
                self._error = exc
            self._cond.notify_all()

    def _tick(self) -> None:
        """Timeline sample and progress line when due (see :class:`ProgressLog`); cheap enough to call often."""
        self.progress.tick(self.stats.snapshot)

    def _run_task(self, writer: Writer, task: Chain) -> None:
        """One record, or one ticket's parts one after another (parts staged meanwhile join the chain), or a
        batch (then what joined it)."""
        kind = writer.kind
        group = group_of(writer, task[0]) if writer.grouped() and not isinstance(task, Batch) else None
        failed: str | None = None
        try:
            if isinstance(task, Batch):
                self._write_batch(writer, task)
            while True:
                with self._cond:
                    item = self.planner.take(kind, group, task)
                if item is None:
                    return
                held, parents, entity = item
                try:
                    if failed is not None:  # parts after a failed one would be out of order
                        self._fail(kind, held, failed, None)
                    elif not self._write_one(writer, held, parents, entity) and not isinstance(task, Batch):
                        failed = "an earlier part of the same conversation failed"
                finally:
                    with self._cond:
                        self.planner.wrote(kind, held.source_key)
        finally:
            with self._cond:
                self.planner.ended(writer, group, task)
                self._running -= 1
                self._running_kinds[kind] -= 1
                self._dirty = True
                self._cond.notify_all()

    def _write_batch(self, writer: Writer, task: Batch) -> None:
        """A batch's own records in one go (``write_batch``); the ones it leaves (None) the usual way, each with its
        ledger entity as the batch left it (an intent: sent, so a 409 on its external id is ours)."""
        batched = self.batched.get(writer.kind)
        if batched is None:
            raise TypeError(f"{writer.kind}: a batch for a writer that does not write in bulk")
        with self._cond:
            items = self.planner.take_batch(writer.kind, task)
        outcomes: list[Outcome | None] = [None] * len(items)
        try:
            result = batched.write_batch(self.ctx, items)
            outcomes = result.outcomes
            for kind, n in result.alongside.items():
                self.stats.add(kind, CREATED, n)
        except Exception:  # a bug or an unexpected answer: every record the usual way (intents keep that safe)
            self.logger.exception("%s: bulk write of %d failed; written one by one", writer.kind, len(items))
        if len(outcomes) != len(items):
            raise RuntimeError(f"{writer.kind}: write_batch answered {len(outcomes)} outcomes for {len(items)} records")
        for (held, parents, _), outcome in zip(items, outcomes, strict=True):
            try:
                if outcome is None:
                    self._write_one(writer, held, parents, self.ledger.lookup(writer.kind, held.source_key))
                else:
                    self._done(writer.kind, held, outcome, outcome.issues)
            finally:
                with self._cond:
                    self.planner.wrote(writer.kind, held.source_key)

    def _write_one(self, writer: Writer, held: Held, parents: dict, entity: Entity | None) -> bool:
        """One record: its first try plus up to ``max_retries`` retries (with backoff) after failures whose outcome
        is unknown; a create that did happen is found (``settle``) instead of being sent again."""
        kind, key = writer.kind, held.source_key
        last_error: IntercomError | None = None
        settled = False
        for attempt in range(1 + self.max_retries):
            if attempt:
                time.sleep(random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)))
            try:
                outcome = writer.write(self.ctx, held.record, entity, parents)
            except Skip as skip:
                self._done(
                    kind,
                    held,
                    Outcome(skip.intercom_id, "skipped") if skip.intercom_id else None,
                    [{"category": "skipped", "severity": "warning", "reason": skip.reason}],
                )
                return True
            except IntercomError as exc:
                last_error = exc
                if not exc.ambiguous:
                    break
                intent = self.ledger.lookup(kind, key) if writer.needs_intent else None
                try:
                    found = writer.settle(self.ctx, intent) if intent is not None else None
                except IntercomError as settle_exc:  # unknown whether it was created: the next run settles it
                    last_error = settle_exc
                    break
                if found:  # the create did happen: record it instead of sending it again
                    if not writer.updatable:
                        self._done(kind, held, Outcome(found, CREATED), [])
                        return True
                    # what follows a create (a ticket's state, a conversation's attributes) is applied as an update
                    self.ledger.record_written(kind, key, found, SETTLED, self.ctx.run_id, created=True)
                    settled = True
                entity = self.ledger.lookup(kind, key)
                continue
            except Exception as exc:  # a bug or an unexpected answer: this record goes to review, the run goes on
                self.logger.exception("%s %s: unexpected error", kind, key)
                self._fail(kind, held, f"{type(exc).__name__}: {exc}", None)
                return False
            if settled and outcome.action == UPDATED:
                outcome.action = CREATED  # created by this run; its follow-up went as an update
            self._done(kind, held, outcome, outcome.issues)
            return True
        self._fail(kind, held, error_text(last_error) if last_error else "failed", last_error)
        return False

    def _done(self, kind: str, held: Held, outcome: Outcome | None, issues: list[dict]) -> None:
        written = (
            (outcome.intercom_id, content_hash(held.record), outcome.action == CREATED, outcome.extra)
            if outcome and outcome.intercom_id
            else None
        )
        self.ledger.record_done(held, written, self.ctx.run_id)  # one transaction
        if written is None:
            with self._cond:
                self.planner.not_written(kind, held.source_key)
        self.stats.add(kind, outcome.action if outcome else "skipped")
        self._issues(kind, held.source_key, issues)

    def _fail(self, kind: str, held: Held, reason: str, exc: IntercomError | None) -> None:
        with self._cond:
            self.planner.gave_up(kind, held.source_key)
        attempts = self.ledger.bump_attempts(kind, held.source_key)
        self.stats.add(kind, "failed")
        detail: dict[str, int | str | None] = {"attempts": attempts}
        if exc is not None:
            detail.update(status=exc.status, code=exc.code, request_id=exc.request_id)
        self.logger.warning(
            "%s %s: %s (kept for the next run, listed for manual review)", kind, held.source_key, reason
        )
        self._issues(
            kind,
            held.source_key,
            [{"category": "manual_review", "severity": "error", "reason": reason, "detail": detail}],
        )

    def _issues(self, kind: str, key: str, issues: list[dict]) -> None:
        if issues:
            with self._issues_lock:
                self.ledger.add_issues(self.ctx.run_id, [{"kind": kind, "source_key": key, **i} for i in issues])

    # ------------------------------------------------------------------ end of run

    def complete(self) -> None:
        """End of input, once everything writable is written (after :meth:`finish`): calls whose caller never came
        are written with their caller's e-mail, then every ticket's and conversation's final state, once, after its
        last part."""
        if self.load_callers_by_email():
            self.pump()
        self.write_final_states()

    def write_final_states(self) -> int:
        """The state (open, closed, ticket state) of every ticket and conversation whose state is still to be
        written (this run's or a killed run's), in parallel, paced like every request. A failure is listed for
        manual review and the state stays pending: the next run writes it."""
        written = 0
        kinds = [kind for kind in self.writers.kinds if self.writers[kind].writes_final_state]
        page: list[Entity] = []

        def write(entities: list[Entity]) -> int:
            done = [e for e, ok in zip(entities, self.pool.map(self._write_final_state, entities), strict=True) if ok]
            self.ledger.set_extra_many(
                [(e.kind, e.source_key, _state_written(e)) for e in done if self.writers[e.kind].final_state_idempotent]
            )  # one transaction per page
            return len(done)

        for entity in self.ledger.pending_states(kinds):
            page.append(entity)
            if len(page) >= self.chunk:
                written += write(page)
                page = []
        written += write(page)
        if written:
            self.logger.info("final states written: %d", written)
        return written

    def _write_final_state(self, entity: Entity) -> bool:
        writer = self.writers[entity.kind]
        try:
            self._issues(entity.kind, entity.source_key, writer.write_final_state(self.ctx, entity))
            if not writer.final_state_idempotent:  # recorded at once: a repeat would add a second part
                self.ledger.set_extra(entity.kind, entity.source_key, _state_written(entity))
            return True
        except (IntercomError, ValueError) as exc:
            reason = error_text(exc) if isinstance(exc, IntercomError) else str(exc)
            self._issues(
                entity.kind,
                entity.source_key,
                [
                    {
                        "category": "manual_review",
                        "severity": "error",
                        "field": "state",
                        "reason": f"its final state could not be written ({reason}); the next run writes it",
                    }
                ],
            )
            return False

    def load_callers_by_email(self) -> int:
        """End of input: calls (tickets, conversations) still waiting only for their caller's contact, whose person
        never came (removed in TOPdesk, or not readable by the API operator), are staged again without it: they are
        written with a contact for the call's own caller e-mail (as for an unregistered caller), and reported.
        Returns how many; ``pump``/``finish`` writes them."""
        again = []
        for held, missing in self.ledger.waiting(limit=1_000_000):
            refs = held.record.get("refs") or {}
            if (
                self.writers[held.kind].caller_by_email
                and held.record.get("contact_email")
                and missing == [("contacts", str(refs.get("contact")))]
            ):
                record = {**held.record, "refs": {k: v for k, v in refs.items() if k != "contact"}}
                again.append((held.kind, held.source_key, record, self._waits(self.writers[held.kind], record)))
                self._issues(
                    held.kind,
                    held.source_key,
                    [
                        {
                            "category": "caller_not_found",
                            "severity": "warning",
                            "field": "refs.contact",
                            "reason": "the caller's person record never came (removed, archived or not visible to the "
                            "API "
                            "operator): loaded with a contact for the call's caller e-mail",
                            "detail": {"person": refs.get("contact"), "email": held.record["contact_email"]},
                        }
                    ],
                )
        if again:
            self.ledger.hold(self.ctx.run_id, again)
            self._note_staged(held_kind for held_kind, *_ in again)
            with self._cond:
                self._dirty = True
        return len(again)

    def flag_orphans(self) -> int:
        """Records whose parents never came: listed (and kept staged, so a later run can still write them)."""
        orphans = 0
        for held, missing in self.ledger.waiting(limit=1_000_000):
            orphans += 1
            self._issues(
                held.kind,
                held.source_key,
                [
                    {
                        "category": "orphan",
                        "severity": "error",
                        "reason": "a parent it needs was not written (it never arrived, or it was skipped: see the "
                        "parent's "
                        "own entry); kept staged, written by a later run once the parent is",
                        "detail": {"missing": ", ".join(f"{kind} {key}" for kind, key in missing)},
                    }
                ],
            )
        return orphans

    def check_completeness(self, sample: int = 25) -> dict:
        """Parts Intercom holds versus parts received, for a sample of this run's tickets and conversations;
        a shortfall is reported per container."""
        result = check_sample(self.ctx, self.parts_received, sample)
        for miss in result["mismatches"]:
            self._issues(
                miss["kind"],
                miss["source_key"],
                [
                    {
                        "category": "incomplete",
                        "severity": "error",
                        "field": "parts",
                        "reason": "Intercom holds fewer parts than the TOPdesk trail entries that came in",
                        "detail": {k: v for k, v in miss.items() if k not in ("kind", "source_key")},
                    }
                ],
            )
        return result

    def close(self) -> None:
        if self._thread is not None:  # the run ends early (an error while staging): stop dispatching, then wait
            with self._cond:
                self._error = self._error or RuntimeError("the run ended before the writer finished")
                self._cond.notify_all()
            self._thread.join()
            self._thread = None
        self.pool.shutdown(wait=True)
