"""Writes staged records in dependency order, many requests in flight, each record exactly once.

Every record is first staged in the ledger (durable), then written when its required parents exist. A failed
record stays staged (retried by the next run) and goes to the manual-review queue; the run goes on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import typing as t
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from target_intercom.client import IntercomError
from target_intercom.completeness import check_sample, parts_received
from target_intercom.ledger import Entity, Held, content_hash
from target_intercom.writers import BY_KIND, ORDER
from target_intercom.writers.base import CREATED, UNCHANGED, UPDATED, Outcome, Skip, WriteContext, Writer, error_text

CHUNK = 500
RETRY_BASE_S, RETRY_CAP_S = 0.5, 30.0  # full-jitter backoff between retries of one record
SETTLED = ""  # the content hash of a create found in Intercom after a crash: its content is not known to match
Task = list[tuple[Held, dict[tuple[str, str], str]]]


class Stats:
    """Per-kind counters of this run, for progress lines and the reconciliation report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, Counter] = defaultdict(Counter)

    def add(self, kind: str, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind][what] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {kind: dict(c) for kind, c in self.counts.items()}


class Loader:
    def __init__(self, ctx: WriteContext, *, concurrency: int, max_retries: int, logger: logging.Logger) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.max_retries = max_retries
        self.logger = logger
        self.stats = Stats()
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="intercom")
        self._failed: set[tuple[str, str]] = set()  # not retried again in this run
        self._issues_lock = threading.Lock()
        self.parts_received: Counter = Counter()  # (part kind, container key) -> parts received in this run

    # ------------------------------------------------------------------ staging

    def stage(self, kind: str, records: t.Sequence[dict]) -> None:
        writer = BY_KIND[kind]
        self.parts_received.update(parts_received(kind, list(records)))
        self.ledger.hold(self.ctx.run_id, ((kind, r["source_key"], r, writer.waits_for(r)) for r in records))
        self.stats.add(kind, "received", len(records))

    # ------------------------------------------------------------------ crash recovery

    def settle_intents(self) -> None:
        """Creates that were sent but never recorded (the process died in between): find them in Intercom before
        anything is created again, so a resumed run never duplicates a ticket or a part."""
        for kind in ORDER:
            writer = BY_KIND[kind]
            if not writer.needs_intent:
                continue
            for intent in self.ledger.intents(kind, limit=1_000_000):
                found = writer.settle(self.ctx, intent)
                if found:  # its record is still staged: updatable kinds get what followed the create as an update
                    self.ledger.record_written(kind, intent.source_key, found, SETTLED, self.ctx.run_id,
                                               created=True, extra=intent.extra)
                    self.stats.add(kind, "settled")
                self.logger.info("%s %s: interrupted create %s", kind, intent.source_key,
                                 f"found in Intercom as {found}" if found else "had not happened; it will be sent")

    # ------------------------------------------------------------------ writing

    def pump(self) -> None:
        """Write everything whose parents exist, kind by kind in dependency order."""
        for kind in ORDER:
            # a kind nested in itself (collections in collections) takes one pass per level of nesting
            nested = kind in BY_KIND[kind].required_refs.values()
            while self._pump_kind(kind) and nested:
                pass

    def _pump_kind(self, kind: str) -> int:
        cursor, written = 0, 0
        while True:
            rows = self.ledger.ready(kind, limit=CHUNK, after_seq=cursor)
            if not rows:
                return written
            rows, cursor = self._whole_groups(BY_KIND[kind], rows)
            rows = [row for row in rows if (kind, row[0].source_key) not in self._failed]
            if rows:
                self._write_chunk(BY_KIND[kind], rows)
                written += len(rows)

    @staticmethod
    def _whole_groups(writer: Writer, rows: Task) -> tuple[Task, int]:
        """A full chunk may end in the middle of one ticket's parts: that ticket is left for the next chunk (which
        starts before its first part; rows written meanwhile are no longer held), so its parts are sorted together.
        Returns the rows to write now and the cursor for the next chunk."""
        if not writer.sequence_by or len(rows) < CHUNK:
            return rows, rows[-1][0].seq

        def group(row: tuple[Held, dict]) -> t.Any:
            return (row[0].record.get("refs") or {}).get(writer.sequence_by)

        last = group(rows[-1])
        now = [row for row in rows if group(row) != last]
        if not now:  # one ticket with more parts than a chunk: written in arrival order
            return rows, rows[-1][0].seq
        return now, min(row[0].seq for row in rows if group(row) == last) - 1

    def _write_chunk(self, writer: Writer, rows: Task) -> None:
        existing = self.ledger.lookup_many(writer.kind, [held.source_key for held, _ in rows])
        # a rolled-back entity no longer exists in Intercom: its record is created afresh, not updated
        existing = {key: entity for key, entity in existing.items() if entity.status != "deleted"}
        tasks: list[Task] = []
        groups: dict[str, Task] = defaultdict(list)
        unchanged: list[Held] = []
        for held, parents in rows:
            entity = existing.get(held.source_key)
            if entity and entity.status == "written" and (entity.content_hash == content_hash(held.record) or (
                    not writer.updatable and entity.content_hash == SETTLED)):
                unchanged.append(held)
            elif entity and entity.status == "written" and not writer.updatable:
                unchanged.append(held)
                self._issues(writer.kind, held.source_key, [{
                    "category": "not_updatable", "severity": "warning", "field": "body",
                    "reason": "changed in TOPdesk after it was written; Intercom cannot edit it, so it is unchanged"}])
            elif writer.sequence_by:
                groups[(held.record.get("refs") or {}).get(writer.sequence_by, "")].append((held, parents))
            else:
                tasks.append([(held, parents)])
        if unchanged:
            self.ledger.release_exact(unchanged)
            self.stats.add(writer.kind, UNCHANGED, len(unchanged))
        for group in groups.values():
            group.sort(key=lambda row: (row[0].record.get("created_at") or 0, row[0].seq))
            tasks.append(group)
        for future in [self.pool.submit(self._run_task, writer, task, existing) for task in tasks]:
            future.result()
        counts = self.stats.snapshot().get(writer.kind, {})
        self.logger.info("%s: %s", writer.kind, ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))

    def _run_task(self, writer: Writer, task: Task, existing: dict[str, Entity]) -> None:
        for position, (held, parents) in enumerate(task):
            if not self._write_one(writer, held, parents, existing.get(held.source_key)):
                for later, _ in task[position + 1:]:  # parts after a failed one would be out of order
                    self._fail(writer.kind, later, "an earlier part of the same conversation failed", None)
                return

    def _write_one(self, writer: Writer, held: Held, parents: dict, entity: Entity | None) -> bool:
        """One record: its first try plus up to ``max_retries`` retries (with backoff) after failures whose outcome
        is unknown; a create that did happen is found (``settle``) instead of being sent again."""
        kind, key = writer.kind, held.source_key
        last_error: IntercomError | None = None
        settled = False
        for attempt in range(1 + self.max_retries):
            if attempt:
                time.sleep(random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2 ** attempt)))
            try:
                outcome = writer.write(self.ctx, held.record, entity, parents)
            except Skip as skip:
                self._done(kind, held, Outcome(skip.intercom_id, "skipped") if skip.intercom_id else None,
                           [{"category": "skipped", "severity": "warning", "reason": skip.reason}])
                return True
            except IntercomError as exc:
                last_error = exc
                if not exc.ambiguous:
                    break
                try:
                    found = writer.settle(self.ctx, self.ledger.lookup(kind, key)) if writer.needs_intent else None
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
        key = held.source_key
        if outcome and outcome.intercom_id:
            self.ledger.record_written(kind, key, outcome.intercom_id, content_hash(held.record), self.ctx.run_id,
                                       created=outcome.action == CREATED, extra=outcome.extra)
        self.ledger.release_exact([held])
        self.ledger.resolve_issues(kind, key, "manual_review")
        self.stats.add(kind, outcome.action if outcome else "skipped")
        self._issues(kind, key, issues)

    def _fail(self, kind: str, held: Held, reason: str, exc: IntercomError | None) -> None:
        self._failed.add((kind, held.source_key))
        attempts = self.ledger.bump_attempts(kind, held.source_key)
        self.stats.add(kind, "failed")
        detail = {"attempts": attempts}
        if exc is not None:
            detail.update(status=exc.status, code=exc.code, request_id=exc.request_id)
        self.logger.warning("%s %s: %s (kept for the next run, listed for manual review)", kind, held.source_key,
                            reason)
        self._issues(kind, held.source_key, [{"category": "manual_review", "severity": "error", "reason": reason,
                                              "detail": detail}])

    def _issues(self, kind: str, key: str, issues: list[dict]) -> None:
        if issues:
            with self._issues_lock:
                self.ledger.add_issues(self.ctx.run_id, [{"kind": kind, "source_key": key, **i} for i in issues])

    # ------------------------------------------------------------------ end of run

    def flag_orphans(self) -> int:
        """Records whose parents never came: listed (and kept staged, so a later run can still write them)."""
        orphans = 0
        for held, missing in self.ledger.waiting(limit=1_000_000):
            orphans += 1
            self._issues(held.kind, held.source_key, [{
                "category": "orphan", "severity": "error",
                "reason": "a parent it needs never arrived: kept staged, written by a later run once the parent is",
                "detail": {"missing": ", ".join(f"{kind} {key}" for kind, key in missing)}}])
        return orphans

    def check_completeness(self, sample: int = 25) -> dict:
        """Parts Intercom holds versus parts received, for a sample of this run's tickets and conversations;
        a shortfall is reported per container."""
        result = check_sample(self.ctx, self.parts_received, sample)
        for miss in result["mismatches"]:
            self._issues(miss["kind"], miss["source_key"], [{
                "category": "incomplete", "severity": "error", "field": "parts",
                "reason": "Intercom holds fewer parts than the TOPdesk trail entries that came in",
                "detail": {k: v for k, v in miss.items() if k not in ("kind", "source_key")}}])
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=True)
