"""What the loader writes next, decided without threads, clocks or I/O.

The loader is a shell: it reads the ledger, runs tasks on its pool and calls this planner (under its lock) with
what it read and what happened. The planner holds the dispatch state (records in flight, chains of parts being
written, groups whose trail may go on) and applies every ordering rule, so each rule has a deterministic test
(``tests/test_planner.py``) instead of depending on thread timing:

- a record is never dispatched twice while it is being written, nor again after it failed in this run;
- a part waits for its container (the ledger's ``ready`` says so) and is dropped from a pass during which its
  container was written (the part seen may not be its first);
- one container's parts are one task, in chronological order; parts that arrive while it runs join it in order;
  a container's own update waits until its parts' chain has ended;
- a container's parts straddling a full ledger read are carried into the next read, all of them when the read
  held nothing else, so they are sorted together;
- a record waits for its optional parents while input comes (and at the end for those being written), a host
  also for the instances its links point to when staged with them (so its create carries them); one part
  waiting holds its container's other parts back, as does a part staged by an earlier run (this run's input may
  still bring older entries of the same trail), and the trail that ended the latest staged batch;
- unchanged records are released, changed ones Intercom cannot edit are reported, the rest become tasks, the
  longest chains first;
- a writer that writes in bulk (``batch`` in :meth:`Planner.dispatch`) gets the records it can take in one task
  (:class:`Batch`), at most one per group (the group's others follow it in the task, in order); a host it writes
  with parents inline waits for them like for optional parents (:meth:`Planner.inline`).
"""

from __future__ import annotations

import bisect
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from target_intercom.ledger import Entity, Held, content_hash
from target_intercom.writers import Writers
from target_intercom.writers.base import NOT_UPDATABLE, UNCHANGED, Writer, decide

Key = tuple[str, str]  # (kind, source key)
Row = tuple[Held, dict[Key, str]]  # a ready record and its resolved required parents
Item = tuple[Held, dict[Key, str], Entity | None]  # one record of a task, with its ledger entity
Chain = list[Item]  # one task: records written one after another


class Batch(list[Item]):
    """One task of records a writer sends together (``Writer.write_batch``): the first ``size`` items; records
    of the same groups that come while it runs join it after them, in order (``groups``)."""

    def __init__(self, items: t.Iterable[Item], groups: t.Iterable[str]) -> None:
        super().__init__(items)
        self.size = len(self)
        self.groups = [g for g in dict.fromkeys(groups) if g]


def chronological(item: Item) -> tuple:
    return (item[0].record.get("created_at") or 0, item[0].seq)


def group_of(writer: Writer, row: tuple[Held, *tuple[object, ...]]) -> str:
    return writer.group_key(row[0].record) or ""


@dataclass
class KindPass:
    """One pass over one kind's ready records (several ledger reads)."""

    writer: Writer
    closing: bool
    parent: str | None  # the container kind of a grouped kind (tickets for ticket parts)
    waiting: set[str] = field(default_factory=set)  # groups held back for the rest of the pass
    carry: list[Row] = field(default_factory=list)  # rows of the group a full read ended in


@dataclass
class Dispatch:
    """A read's outcome: released unchanged, reported not updatable, and the new tasks (longest first)."""

    unchanged: list[Held] = field(default_factory=list)
    not_updatable: list[Held] = field(default_factory=list)
    tasks: list[Chain] = field(default_factory=list)
    deferred: int = 0  # records left for a later read to fill a batch (``hold_partial``)


class Planner:
    """The loader's dispatch state and rules; every method is called with the loader's lock held."""

    def __init__(self, writers: Writers, run_id: str) -> None:
        self.writers = writers
        self.run_id = run_id
        self.busy: set[Key] = set()  # dispatched and not seen finished by a read
        self.finished: list[Key] = []  # finished since the last read of the ledger
        self.failed: set[Key] = set()  # not retried again in this run
        #: done in this run without an Intercom entity (skipped: an operator group no team matches): nothing will
        #: write it, so no record waits for it as an optional parent
        self.unwritten: set[Key] = set()
        self.watch: set[Key] | None = None  # written since this (chained) kind's pass began
        self.chains: dict[Key, Chain] = {}  # (part kind, container) -> the running chain's parts still to write
        #: per grouped kind, the group that ended the latest staged batch: the tap sends one ticket's trail in a
        #: row, so only that ticket's parts can continue in the next batch; they wait for it (or the end of input)
        self.open_groups: dict[str, str] = {}
        #: a host staged with the instance its link points to (what one TOPdesk record became: a change's log
        #: entry and the change) -> those instances: it waits for them as for optional parents, so its create
        #: carries the link. One level only (an instance waited for never waits itself): no cycle can form.
        self.carried: dict[Key, list[Key]] = {}
        self.waited_for: Counter[Key] = Counter()
        #: a host a bulk writer creates with these parents inline (a contact and its companies): waited for as
        #: optional parents, so the host's create carries them instead of a request per link
        self.inline_parents: dict[Key, list[Key]] = {}
        #: per kind, the records (not grouped) waiting for optional parents while input comes (on which: parked_on):
        #: left out of reads (neither parsed nor looked up again) until one of those parents' write ends, a new version
        #: of the record is staged, or the input ends. Re-reading them every pass (a call whose operator is a group
        #: names an admin that never comes) cost the dispatcher a fifth of the target's CPU and slowed the staging.
        self.parked: dict[str, set[str]] = defaultdict(set)
        self.parked_on: dict[Key, set[Key]] = defaultdict(set)  # parent -> the parked records waiting for it

    # ------------------------------------------------------------------ input

    def staged(self, writer: Writer, records: t.Sequence[dict]) -> None:
        if writer.grouped() and records:
            self.open_groups[writer.kind] = writer.group_key(records[-1]) or ""

    def staged_together(
        self, batches: t.Sequence[tuple[Writer, t.Sequence[dict]]], links: t.Iterable[tuple[Key, Key]]
    ) -> None:
        """Batches staged at once (:meth:`staged` for each) and the (host, instance) of their links a host's create
        can carry (``Writer.carried_by``): a host staged with its link's instance waits for it (``carried``)."""
        keys = {(writer.kind, record["source_key"]) for writer, records in batches for record in records}
        self.unwritten.difference_update(keys)  # a new version may be written
        for kind, key in keys:
            self.parked[kind].discard(key)  # a new version: read again
        for writer, records in batches:
            self.staged(writer, records)
        for host, instance in links:
            if host not in keys or instance not in keys:
                continue
            if host in self.waited_for or instance in self.carried or instance in self.carried.get(host, ()):
                continue
            self.carried.setdefault(host, []).append(instance)
            self.waited_for[instance] += 1

    def inline(self, pairs: t.Iterable[tuple[Key, Key]]) -> None:
        """(host, parent) a host's bulk create can carry inline: the host waits for the parent (optional)."""
        for host, parent in pairs:
            parents = self.inline_parents.setdefault(host, [])
            if parent not in parents:
                parents.append(parent)

    def _dispatched(self, key: Key) -> None:
        self.inline_parents.pop(key, None)
        for instance in self.carried.pop(key, ()):
            self.waited_for[instance] -= 1
            if self.waited_for[instance] <= 0:
                del self.waited_for[instance]

    # ------------------------------------------------------------------ one pass over a kind

    def begin_pass(self, writer: Writer, closing: bool) -> KindPass:
        parent = writer.required_refs.get(writer.sequence_by or "")
        kind_pass = KindPass(writer, closing, parent)
        if closing:  # the end of the input: nothing waits for an optional parent any more
            self.parked.clear()
            self.parked_on.clear()
        if writer.grouped() and not closing and writer.kind in self.open_groups:
            kind_pass.waiting.add(self.open_groups[writer.kind])
        # containers being written when the pass starts count as written during it
        self.watch = set(self.busy) if parent else None
        return kind_pass

    def end_pass(self) -> None:
        self.watch = None

    def before_read(self) -> None:
        """Writes finished before a read are not held any more: the read cannot see them as ready."""
        self.busy.difference_update(self.finished)
        self.finished.clear()

    def not_candidates(self, kind: str) -> set[str]:
        """The keys of ``kind`` a read need not parse: in flight, failed in this run, containers whose parts are
        being written (what :meth:`candidates` drops)."""
        return (
            {key for k, key in self.busy if k == kind}
            | {key for k, key in self.failed if k == kind}
            | self.chained(kind)
            | self.parked[kind]
        )

    def candidates(self, kind_pass: KindPass, rows: t.Sequence[Row]) -> list[Row]:
        """The read's rows not in flight, not failed, not a container whose parts are being written; after the
        rows carried from the previous read."""
        kind = kind_pass.writer.kind
        chained, parked = self.chained(kind), self.parked[kind]
        fresh = [
            row
            for row in rows
            if (kind, row[0].source_key) not in self.busy
            and (kind, row[0].source_key) not in self.failed
            and row[0].source_key not in chained
            and row[0].source_key not in parked
        ]
        carried, kind_pass.carry = kind_pass.carry, []
        return carried + fresh

    def optional_wanted(self, writer: Writer, rows: t.Sequence[Row]) -> dict[str, list[Key]]:
        """Per row, the optional parents it links when written: the shell looks up which are written."""
        return {
            row[0].source_key: writer.optional_parents(row[0].record)
            + self.carried.get((writer.kind, row[0].source_key), [])
            + self.inline_parents.get((writer.kind, row[0].source_key), [])
            for row in rows
        }

    def with_optional(
        self, kind_pass: KindPass, rows: list[Row], wanted: dict[str, list[Key]], written: set[Key]
    ) -> list[Row]:
        """The rows whose optional parents are ``written`` or done without an entity in this run (skipped,
        failed), or (at the end of the input) are not being written now; for grouped kinds, only groups none of
        whose rows waits, and while input comes none of whose rows an earlier run staged; the groups held back wait
        for the rest of the pass."""
        writer, closing = kind_pass.writer, kind_pass.closing
        busy = {parent for parents in wanted.values() for parent in parents if parent in self.busy}
        settled = written | self.unwritten | self.failed
        ready = [
            row
            for row in rows
            if all(parent in settled or (closing and parent not in busy) for parent in wanted[row[0].source_key])
        ]
        kept = {id(row) for row in ready}
        if not writer.grouped():
            if not closing:
                self._park(writer.kind, [row for row in rows if id(row) not in kept], wanted, settled)
            return ready
        kind_pass.waiting.update(
            group_of(writer, row)
            for row in rows
            if id(row) not in kept or (not closing and row[0].run_id != self.run_id)
        )
        return [row for row in ready if group_of(writer, row) not in kind_pass.waiting]

    def _park(self, kind: str, rows: list[Row], wanted: dict[str, list[Key]], settled: set[Key]) -> None:
        """Rows waiting for optional parents leave the reads (``parked``), unless one of those parents' write
        ended after this read began (``finished``: the read may not have seen it written)."""
        ended = set(self.finished)
        for row in rows:
            key = row[0].source_key
            missing = [parent for parent in wanted[key] if parent not in settled]
            if missing and ended.isdisjoint(missing):
                self.parked[kind].add(key)
                for parent in missing:
                    self.parked_on[parent].add((kind, key))

    def without_late(self, kind_pass: KindPass, rows: list[Row]) -> list[Row]:
        """A container written while this pass reads: its parts in the part of the ledger already read were not
        ready then, so the ones seen now may not be its first; all of them go in the next pass."""
        if not kind_pass.parent:
            return rows
        late = {key for kind, key in self.watch or () if kind == kind_pass.parent}
        return [row for row in rows if group_of(kind_pass.writer, row) not in late]

    def carry_over(self, kind_pass: KindPass, rows: list[Row], full: bool) -> list[Row]:
        """The rows to dispatch now: a full read of a grouped kind may end inside one group, whose rows wait for
        the next read (all of them when the read held only that group), so a group's parts are sorted together."""
        writer = kind_pass.writer
        if not (full and writer.grouped() and rows):
            return rows
        last = group_of(writer, rows[-1])
        kind_pass.carry = [row for row in rows if group_of(writer, row) == last]
        return [row for row in rows if group_of(writer, row) != last]

    def ready_now(
        self, kind_pass: KindPass, rows: list[Row], wanted: dict[str, list[Key]], written: set[Key], full: bool
    ) -> list[Row]:
        """A read's candidates to dispatch now: those whose optional parents allow it, not of a container written
        during the pass, the group a full read ended in carried to the next read."""
        rows = self.with_optional(kind_pass, rows, wanted, written)
        rows = self.without_late(kind_pass, rows)
        return self.carry_over(kind_pass, rows, full)

    def dispatch(
        self,
        writer: Writer,
        rows: list[Row],
        existing: dict[str, Entity],
        batch: int = 0,
        batchable: t.Callable[[Held, Entity | None], bool] | None = None,
        hold_partial: bool = False,
    ) -> Dispatch:
        """Decide each row (``decide``) against its ledger entity; one task per record, or per group its parts in
        chronological order (joining the group's running chain when there is one); longest tasks first. With
        ``batch``, the records ``batchable`` accepts (the only one of their group here, none of it running) go in
        tasks of up to ``batch`` (:class:`Batch`); ``hold_partial``: a last batch not full is left for a later read
        (``deferred``: the shell decides how long input may fill it). What becomes a task is in flight from now on."""
        out = Dispatch()
        groups: dict[str, Chain] = defaultdict(list)
        for held, parents in rows:
            self._dispatched((writer.kind, held.source_key))
            entity = existing.get(held.source_key)
            if entity is not None and entity.status == "deleted":
                entity = None  # rolled back: no longer in Intercom, created afresh
            decision = decide(writer, entity, content_hash(held.record))
            if decision == UNCHANGED:
                out.unchanged.append(held)
            elif decision == NOT_UPDATABLE:
                out.not_updatable.append(held)
            elif writer.grouped() and writer.group_key(held.record) is not None:
                groups[group_of(writer, (held, parents))].append((held, parents, entity))
            elif writer.grouped() and not (batch and batchable is not None and batchable(held, entity)):
                groups[""].append((held, parents, entity))
            else:
                out.tasks.append([(held, parents, entity)])
        if batch and batchable is not None:
            out.tasks, out.deferred = self._batches(writer, out.tasks, groups, batch, batchable, hold_partial)
        self.busy.update((writer.kind, held.source_key) for task in out.tasks for held, _, _ in task)
        for group, chain in groups.items():
            chain.sort(key=chronological)
            self.busy.update((writer.kind, held.source_key) for held, _, _ in chain)
            running = self.chains.get((writer.kind, group))
            if isinstance(running, Batch):  # records of a group a batch writes: after the batch's own, in order
                running.extend(chain)
            elif running is not None:  # parts of a container whose earlier parts are being written: they follow
                for item in chain:
                    bisect.insort(running, item, key=chronological)
            else:
                out.tasks.append(chain)
        out.tasks.sort(key=len, reverse=True)  # the longest chains start first, so no long tail at the end
        return out

    def _batches(
        self,
        writer: Writer,
        singles: list[Chain],
        groups: dict[str, Chain],
        size: int,
        batchable: t.Callable[[Held, Entity | None], bool],
        hold_partial: bool,
    ) -> tuple[list[Chain], int]:
        """Records ``batchable`` accepts in :class:`Batch` tasks of up to ``size``: a task of its own, or the first
        of its group (no chain of the group running), the group's others following it in the batch's task, in
        order. The rest stay as they were (``groups`` keeps them); ``hold_partial``: a last batch not full is left
        for a later read (returned: how many records that leaves)."""
        units: list[Chain] = []  # a batchable record and the records of its group that follow it
        rest: list[Chain] = []
        for task in singles:
            (units if len(task) == 1 and batchable(task[0][0], task[0][2]) else rest).append(task)
        for group, chain in list(groups.items()):
            if not group or (writer.kind, group) in self.chains:
                continue
            chain.sort(key=chronological)
            if batchable(chain[0][0], chain[0][2]):
                units.append(chain)
                del groups[group]
        keep = len(units) - (len(units) % size if hold_partial else 0)
        batches: list[Chain] = []
        for start in range(0, keep, size):
            chunk = units[start : min(start + size, keep)]
            batch = Batch((unit[0] for unit in chunk), (group_of(writer, unit[0]) for unit in chunk))
            batch.extend(item for unit in chunk for item in unit[1:])
            batches.append(batch)
        return batches + rest, sum(len(unit) for unit in units[keep:])

    # ------------------------------------------------------------------ tasks

    def chained(self, kind: str) -> set[str]:
        """Containers of ``kind`` (tickets) whose parts are being written: their own update waits for the chain's
        end, so what it writes (a ticket's state) is never overtaken by a part sent at the same time (a customer's
        reply reopens the ticket). A container being written holds its parts back the same way (``watch``)."""
        return {
            group
            for (part_kind, group) in self.chains
            if self.writers[part_kind].required_refs.get(self.writers[part_kind].sequence_by or "") == kind
        }

    def started(self, writer: Writer, task: Chain) -> None:
        if isinstance(task, Batch):
            for group in task.groups:
                self.chains[(writer.kind, group)] = task
        elif writer.grouped():
            self.chains[(writer.kind, group_of(writer, task[0]))] = task

    def take(self, kind: str, group: str | None, task: Chain) -> Item | None:
        """The task's next record, marked as being written (a pass reading now must wait); None: the task is done
        and its group's chain has ended (parts staged from now on start a chain of their own)."""
        if not task:
            for one in task.groups if isinstance(task, Batch) else [group] if group is not None else []:
                if self.chains.get((kind, one)) is task:
                    del self.chains[(kind, one)]
            return None
        item = task.pop(0)
        if self.watch is not None:
            self.watch.add((kind, item[0].source_key))
        return item

    def take_batch(self, kind: str, task: Batch) -> list[Item]:
        """A batch's own records (its first ``size``), marked as being written; what joined it stays in it."""
        items, task[: task.size] = task[: task.size], []
        task.size = 0
        if self.watch is not None:
            self.watch.update((kind, item[0].source_key) for item in items)
        return items

    def wrote(self, kind: str, key: str) -> None:
        """A record's write ended (written, skipped or failed): the next read may see it."""
        self.finished.append((kind, key))
        if self.watch is not None:
            self.watch.add((kind, key))
        for waiting_kind, waiting in self.parked_on.pop((kind, key), ()):  # read again: it may be ready now
            self.parked[waiting_kind].discard(waiting)

    def gave_up(self, kind: str, key: str) -> None:
        self.failed.add((kind, key))

    def not_written(self, kind: str, key: str) -> None:
        """A record's write ended without an Intercom entity (skipped): see ``unwritten``."""
        self.unwritten.add((kind, key))

    def ended(self, writer: Writer, group: str | None, task: Chain) -> None:
        """A task ended (done or broken): its chain, if it is still the group's, ends with it."""
        for one in task.groups if isinstance(task, Batch) else [group] if group is not None else []:
            if self.chains.get((writer.kind, one)) is task:
                del self.chains[(writer.kind, one)]
