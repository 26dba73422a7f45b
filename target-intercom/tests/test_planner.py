"""The loader's planner, without threads or a ledger: rows in, tasks out, every ordering rule deterministic.

(The thread-level behaviour, the same rules under real concurrency, is ``test_loader_dispatch.py``.)
"""

from __future__ import annotations

import dataclasses
import itertools
import typing as t
from pathlib import Path

from target_intercom.ledger import Entity, Held, Ledger, content_hash
from target_intercom.planner import Chain, KindPass, Planner, Row, group_of
from target_intercom.writers import Writers
from target_intercom.writers.base import SETTLED, Writer

RUN = "run-2"
SEQ = itertools.count(1)


class Admins(Writer):
    kind = "admins"


class Tickets(Writer):
    kind = "tickets"
    optional_refs = {"admin": "admins"}


class Parts(Writer):
    kind = "parts"
    required_refs = {"ticket": "tickets"}
    sequence_by = "ticket"
    updatable = False


WRITERS = Writers((Admins(), Tickets(), Parts()))
TICKETS, PARTS = WRITERS["tickets"], WRITERS["parts"]


def row(kind: str, key: str, run: str = RUN, **record: t.Any) -> Row:
    return Held(kind, key, {"source_key": key, **record}, (), run, next(SEQ), 0), {}


def ticket(key: str, **record: t.Any) -> Row:
    return row("tickets", key, **record)


def part(ticket_key: str, n: int, run: str = RUN) -> Row:
    return row("parts", f"{ticket_key}-{n}", run, refs={"ticket": ticket_key}, created_at=1000 + n)


def written(r: Row, digest: str | None = None) -> Entity:
    held = r[0]
    digest = digest if digest is not None else content_hash(held.record)
    return Entity(held.kind, held.source_key, f"ic-{held.source_key}", digest, "written", "run-1", "run-1", held.seq)


def keys(task: Chain) -> list[str]:
    return [held.source_key for held, _, _ in task]


def read(planner: Planner, kind_pass: KindPass, rows: list[Row], *, full: bool = False, written_: set = frozenset()):
    """One ledger read through the planner's filters, as the loader's pass applies them."""
    planner.before_read()
    rows = planner.candidates(kind_pass, rows)
    wanted = planner.optional_wanted(kind_pass.writer, rows)
    return planner.ready_now(kind_pass, rows, wanted, set(written_), full)


def test_one_task_per_record_and_never_twice_while_in_flight() -> None:
    planner = Planner(WRITERS, RUN)
    rows = [ticket("1"), ticket("2")]
    kind_pass = planner.begin_pass(TICKETS, closing=True)
    plan = planner.dispatch(TICKETS, read(planner, kind_pass, rows), {})
    assert sorted(keys(task)[0] for task in plan.tasks) == ["1", "2"]
    assert read(planner, kind_pass, rows) == []  # in flight: a second read does not dispatch them again
    task = plan.tasks[0]
    item = planner.take("tickets", None, task)
    assert item is not None and planner.take("tickets", None, task) is None
    planner.wrote("tickets", item[0].source_key)
    # a read after the write ended may see the record again (the ledger no longer lists it as ready once written)
    assert [r[0].source_key for r in read(planner, kind_pass, [rows[0]])] == [item[0].source_key]


def test_a_failed_record_is_not_retried_in_this_run() -> None:
    planner = Planner(WRITERS, RUN)
    planner.gave_up("tickets", "1")
    kind_pass = planner.begin_pass(TICKETS, closing=True)
    assert [r[0].source_key for r in read(planner, kind_pass, [ticket("1"), ticket("2")])] == ["2"]


def test_unchanged_released_not_updatable_reported_changed_written() -> None:
    planner = Planner(WRITERS, RUN)
    same, changed, new, settled = ticket("1"), ticket("2", title="new"), ticket("3"), part("9", 1)
    edited = part("9", 2)
    existing = {
        "1": written(same),
        "2": written(changed, digest="older"),
        "9-1": written(settled, digest=SETTLED),
        "9-2": written(edited, digest="older"),
    }
    plan = planner.dispatch(TICKETS, [same, changed, new], existing)
    assert [h.source_key for h in plan.unchanged] == ["1"]
    assert sorted((keys(task)[0], task[0][2] is not None) for task in plan.tasks) == [("2", True), ("3", False)]
    parts = planner.dispatch(PARTS, [settled, edited], existing)
    assert [h.source_key for h in parts.unchanged] == ["9-1"] and [h.source_key for h in parts.not_updatable] == ["9-2"]
    assert parts.tasks == []


def test_a_rolled_back_record_is_created_afresh() -> None:
    planner = Planner(WRITERS, RUN)
    gone = ticket("1")
    entity = dataclasses.replace(written(gone), status="deleted")
    [task] = planner.dispatch(TICKETS, [gone], {"1": entity}).tasks
    assert task[0][2] is None


def test_parts_of_one_ticket_are_one_task_in_chronological_order_longest_first() -> None:
    planner = Planner(WRITERS, RUN)
    rows = [part("1", 3), part("2", 1), part("1", 1), part("1", 2), part("2", 0)]
    plan = planner.dispatch(PARTS, rows, {})
    assert [keys(task) for task in plan.tasks] == [["1-1", "1-2", "1-3"], ["2-0", "2-1"]]


def test_parts_arriving_while_their_chain_runs_join_it_in_order() -> None:
    planner = Planner(WRITERS, RUN)
    [chain] = planner.dispatch(PARTS, [part("1", 1), part("1", 5)], {}).tasks
    planner.started(PARTS, chain)
    assert planner.take("parts", "1", chain) is not None  # 1-1 being written
    later = planner.dispatch(PARTS, [part("1", 3), part("1", 7)], {})
    assert later.tasks == []  # no second task for the same ticket
    assert keys(chain) == ["1-3", "1-5", "1-7"]
    for _ in range(3):
        planner.take("parts", "1", chain)
    assert planner.take("parts", "1", chain) is None and planner.chains == {}  # the chain ended
    [fresh] = planner.dispatch(PARTS, [part("1", 9)], {}).tasks  # so a part staged now starts its own
    assert keys(fresh) == ["1-9"]


def test_a_ticket_waits_while_its_parts_are_written() -> None:
    planner = Planner(WRITERS, RUN)
    [chain] = planner.dispatch(PARTS, [part("1", 1)], {}).tasks
    planner.started(PARTS, chain)
    kind_pass = planner.begin_pass(TICKETS, closing=True)
    assert [r[0].source_key for r in read(planner, kind_pass, [ticket("1"), ticket("2")])] == ["2"]
    planner.ended(PARTS, "1", chain)
    assert [r[0].source_key for r in read(planner, kind_pass, [ticket("1")])] == ["1"]


def test_parts_of_a_ticket_written_during_the_pass_wait_for_the_next_pass() -> None:
    planner = Planner(WRITERS, RUN)
    kind_pass = planner.begin_pass(PARTS, closing=True)
    planner.wrote("tickets", "1")  # ticket 1 finished while the parts pass reads
    assert [r[0].source_key for r in read(planner, kind_pass, [part("1", 1), part("2", 1)])] == ["2-1"]
    planner.end_pass()
    kind_pass = planner.begin_pass(PARTS, closing=True)
    assert [r[0].source_key for r in read(planner, kind_pass, [part("1", 1)])] == ["1-1"]


def test_a_trail_straddling_full_reads_is_carried_until_its_end() -> None:
    """A full read ends inside ticket 2's trail: its parts wait for the next read; a read holding nothing but
    ticket 2 carries all of it (not dispatched in arrival order), until a read that is not full."""
    planner = Planner(WRITERS, RUN)
    kind_pass = planner.begin_pass(PARTS, closing=True)
    first = [part("1", 0), part("2", 9), part("2", 0)]  # ticket 2's newest entry came first
    assert [r[0].source_key for r in read(planner, kind_pass, first, full=True)] == ["1-0"]
    assert read(planner, kind_pass, [part("2", 1), part("2", 2), part("2", 3)], full=True) == []
    last = read(planner, kind_pass, [part("2", 4)])
    [chain] = planner.dispatch(PARTS, last, {}).tasks
    assert keys(chain) == ["2-0", "2-1", "2-2", "2-3", "2-4", "2-9"]


def test_optional_parents_are_waited_for_while_input_comes() -> None:
    planner = Planner(WRITERS, RUN)
    rows = [ticket("1", refs={"admin": "op1"}), ticket("2", refs={"admin": "op2"}), ticket("3")]
    kind_pass = planner.begin_pass(TICKETS, closing=False)
    ready = read(planner, kind_pass, rows, written_={("admins", "op1")})
    assert [r[0].source_key for r in ready] == ["1", "3"]
    planner.busy.add(("admins", "op2"))  # at the end of the input: waited for only while it is being written
    kind_pass = planner.begin_pass(TICKETS, closing=True)
    assert read(planner, kind_pass, [rows[1]]) == []
    planner.busy.discard(("admins", "op2"))
    assert [r[0].source_key for r in read(planner, kind_pass, [rows[1]])] == ["2"]


def test_an_optional_parent_done_without_an_entity_is_not_waited_for() -> None:
    """An operator group no Intercom team matches is skipped (no entity): the tickets linking it go while input
    still comes, instead of waiting for the end of the input (a stall of every such ticket, and of its parts)."""
    planner = Planner(WRITERS, RUN)
    rows = [ticket("1", refs={"admin": "op1"}), ticket("2", refs={"admin": "op2"})]
    kind_pass = planner.begin_pass(TICKETS, closing=False)
    assert read(planner, kind_pass, rows) == []
    planner.not_written("admins", "op1")  # skipped
    planner.gave_up("admins", "op2")  # failed: kept for the next run
    planner.wrote("admins", "op1")  # (the loader's order: the outcome, then the write's end)
    planner.wrote("admins", "op2")
    assert [r[0].source_key for r in read(planner, kind_pass, rows)] == ["1", "2"]
    planner = Planner(WRITERS, RUN)
    planner.not_written("admins", "op1")
    planner.staged_together([(WRITERS["admins"], [{"source_key": "op1"}])], [])  # a new version may be written
    kind_pass = planner.begin_pass(TICKETS, closing=False)
    assert read(planner, kind_pass, rows[:1]) == []


def test_a_record_waiting_for_an_optional_parent_leaves_the_reads_until_that_parents_write_ends() -> None:
    """A waiting record is not parsed and looked up again on every pass (the dispatcher's CPU): it is read again
    once a parent it waits for is written (or skipped, or failed), a new version of it is staged, or the input
    ends."""
    planner = Planner(WRITERS, RUN)
    rows = [ticket("1", refs={"admin": "op1"}), ticket("2", refs={"admin": "op2"})]
    kind_pass = planner.begin_pass(TICKETS, closing=False)
    assert read(planner, kind_pass, rows) == []
    assert planner.not_candidates("tickets") == {"1", "2"}  # the loader's reads skip them
    assert read(planner, kind_pass, rows, written_={("admins", "op1")}) == []  # a read seeing them drops them too
    planner.wrote("admins", "op1")
    assert planner.not_candidates("tickets") == {"2"}
    assert [r[0].source_key for r in read(planner, kind_pass, rows, written_={("admins", "op1")})] == ["1"]
    planner.staged_together([(TICKETS, [rows[1][0].record])], [])  # a new version of 2: read again
    assert planner.not_candidates("tickets") == set()
    planner = Planner(WRITERS, RUN)
    kind_pass = planner.begin_pass(TICKETS, closing=False)
    planner.before_read()
    planner.wrote("admins", "op2")  # its write ended after the read began: the read may not have seen it written
    rows_ = planner.candidates(kind_pass, rows)
    assert planner.ready_now(kind_pass, rows_, planner.optional_wanted(TICKETS, rows_), set(), False) == []
    assert planner.not_candidates("tickets") == {"1"}  # 2 is read again on the next pass
    planner.begin_pass(TICKETS, closing=True)  # the end of the input: none waits any more
    assert planner.not_candidates("tickets") == set()


def test_a_trail_the_input_may_continue_waits() -> None:
    """Parts an earlier run staged (it died before writing them) and the trail that ended the latest batch wait
    while input comes: this run's input may still bring older entries of the same trail."""
    planner = Planner(WRITERS, RUN)
    planner.staged(PARTS, [part("3", 0)[0].record])  # the latest batch ended in ticket 3's trail
    rows = [part("1", 5, run="run-1"), part("2", 0), part("3", 0)]
    kind_pass = planner.begin_pass(PARTS, closing=False)
    assert [r[0].source_key for r in read(planner, kind_pass, rows)] == ["2-0"]
    kind_pass = planner.begin_pass(PARTS, closing=True)
    assert [r[0].source_key for r in read(planner, kind_pass, [rows[0], rows[2]])] == ["1-5", "3-0"]


# ---------------------------------------------------------------- with the ledger, one write at a time


class Folders(Writer):
    kind = "folders"
    required_refs = {"parent": "folders"}


LEDGER_WRITERS = Writers((Admins(), Tickets(), Parts(), Folders()))


def simulate(ledger: Ledger, planner: Planner, run_id: str) -> list[str]:
    """The loader's passes without a pool: every task written at once, in this thread; returns the write order.
    Ends when a pass over every kind dispatches nothing (what is left waits for a parent that never came)."""
    order: list[str] = []
    while True:
        dispatched = 0
        for writer in LEDGER_WRITERS:
            kind_pass = planner.begin_pass(writer, closing=True)
            rows = read(planner, kind_pass, ledger.ready(writer.kind, limit=1000))
            plan = planner.dispatch(writer, rows, ledger.lookup_many(writer.kind, [h.source_key for h, _ in rows]))
            for task in plan.tasks:
                planner.started(writer, task)
                group = group_of(writer, task[0]) if writer.grouped() else None
                while (item := planner.take(writer.kind, group, task)) is not None:
                    held = item[0]
                    ledger.record_written(
                        writer.kind, held.source_key, f"ic-{held.source_key}", "h", run_id, created=True
                    )
                    ledger.release_exact([held])
                    planner.wrote(writer.kind, held.source_key)
                    order.append(f"{writer.kind}:{held.source_key}")
                planner.ended(writer, group, task)
            planner.end_pass()
            dispatched += len(plan.tasks)
        if not dispatched:
            return order


def stage(ledger: Ledger, run_id: str, kind: str, records: list[dict]) -> None:
    writer = LEDGER_WRITERS[kind]
    ledger.hold(run_id, [(kind, r["source_key"], r, writer.waits_for(r)) for r in records])


def test_parents_first_nested_levels_and_cycles_with_the_ledger(tmp_path: Path) -> None:
    """Parts staged before their tickets, folders before their parents: each is written after what it needs, a
    folder's children after it (level by level); a cycle of folders (a -> b -> a) is never written and stays held
    with the parent it waits for, while everything else is written."""
    ledger = Ledger(Ledger.url_for_path(tmp_path / "ledger.db"))
    try:
        run_id = ledger.start_run()
        planner = Planner(LEDGER_WRITERS, run_id)
        stage(ledger, run_id, "parts", [part("1", 2)[0].record, part("1", 1)[0].record, part("2", 1)[0].record])
        stage(ledger, run_id, "folders", [
            {"source_key": "leaf", "refs": {"parent": "mid"}},
            {"source_key": "mid", "refs": {"parent": "root"}},
            {"source_key": "root", "refs": {}},
            {"source_key": "a", "refs": {"parent": "b"}},
            {"source_key": "b", "refs": {"parent": "a"}},
        ])  # fmt: skip
        stage(ledger, run_id, "tickets", [{"source_key": "1"}, {"source_key": "2"}])
        order = simulate(ledger, planner, run_id)
        assert order.index("tickets:1") < order.index("parts:1-1") < order.index("parts:1-2")
        assert order.index("tickets:2") < order.index("parts:2-1")
        assert order.index("folders:root") < order.index("folders:mid") < order.index("folders:leaf")
        assert not {"folders:a", "folders:b"} & set(order)
        waiting = {held.source_key: missing for held, missing in ledger.waiting()}
        assert waiting == {"a": [("folders", "b")], "b": [("folders", "a")]}
    finally:
        ledger.close()


def test_a_host_staged_with_its_links_instance_waits_for_it_one_level_only() -> None:
    """A change's log entry and the change come from one TOPdesk record: the entry's create carries its link to
    the change once the change is written, so it waits for it (while input comes). An instance waited for never
    waits itself, so links both ways cannot hold two instances back; a link within one type is not carried."""
    from target_intercom.writers.custom_objects import CustomObjectInstanceWriter, CustomObjectLinkWriter

    instances, links = CustomObjectInstanceWriter(), CustomObjectLinkWriter()
    planner = Planner(Writers((instances, links)), RUN)

    def link(source: str, target: str, from_type: str = "Entry", to_type: str = "Change") -> dict:
        return {
            "source_key": f"{source}->{target}",
            "from_kind": "custom_object",
            "from_type": from_type,
            "to_type": to_type,
            "refs": {"from": source, "to": target},
        }

    staged = [{"source_key": key} for key in ("change:1", "entry:1", "entry:2", "asset:1", "asset:2")]
    link_records = [
        link("entry:1", "change:1"),
        link("entry:2", "change:1"),
        link("change:1", "entry:1", "Change", "Entry"),  # back: change:1 is waited for, never waits
        link("asset:1", "asset:2", "Asset", "Asset"),  # within one type: its own request
        link("entry:2", "change:9"),  # not staged with it: no wait
    ]
    planner.staged_together(
        [(instances, staged), (links, link_records)],
        [pair for record in link_records if (pair := links.carried_by(record))],
    )
    rows = [row("custom_object_instances", r["source_key"]) for r in staged]
    kind_pass = planner.begin_pass(instances, closing=False)
    planner.before_read()
    wanted = planner.optional_wanted(instances, rows)
    assert wanted == {
        "change:1": [],
        "entry:1": [("custom_object_instances", "change:1")],
        "entry:2": [("custom_object_instances", "change:1")],
        "asset:1": [],
        "asset:2": [],
    }
    first = planner.ready_now(kind_pass, rows, wanted, set(), False)
    assert sorted(r[0].source_key for r in first) == ["asset:1", "asset:2", "change:1"]
    planner.dispatch(instances, first, {})
    change = ("custom_object_instances", "change:1")
    assert [r[0].source_key for r in planner.ready_now(kind_pass, rows[1:3], wanted, {change}, False)] == [
        "entry:1",
        "entry:2",
    ]
    planner.wrote(*change)  # ... but it failed: at the end of the input they go without it
    planner.before_read()
    closing = planner.begin_pass(instances, closing=True)
    assert len(planner.ready_now(closing, rows[1:3], wanted, set(), False)) == 2
    planner.dispatch(instances, rows[1:3], {})
    assert planner.carried == {} and not planner.waited_for
