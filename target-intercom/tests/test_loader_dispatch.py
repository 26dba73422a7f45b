"""The loader's dispatcher without Intercom: fake writers on a real (SQLite file) ledger.

What is checked: the background writer writes while batches are still being staged; every record is written
exactly once; the parts of one ticket never run concurrently and go in chronological order, also when they straddle
two ledger reads or arrive while the ticket's earlier parts are being written; an error in the writer thread fails
the run (raised in the caller), never hangs it; the number of tasks in flight follows the budget and the latency.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import typing as t
from pathlib import Path

import pytest

from target_intercom.ledger import Ledger
from target_intercom.loader import MIN_IN_FLIGHT, Loader
from target_intercom.pacer import Pacer
from target_intercom.writers import Writers
from target_intercom.writers.base import CREATED, SETTLED, Outcome, WriteContext, Writer


class FakeClient:
    def __init__(self) -> None:
        self.pacer = Pacer()


class Journal:
    """What the fake writers did: every write in order, and any two parts of one ticket written at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes: list[tuple[str, str]] = []
        self.parts: dict[str, list[int]] = {}
        self.active: set[str] = set()
        self.overlaps: list[str] = []
        self.max_in_flight = 0
        self.in_flight = 0
        self.assignees: dict[str, str | None] = {}
        self.tickets_writing: set[str] = set()
        self.part_delay_s = 0.004


class Journaled(Writer):
    """A fake writer that records what it does in the test's journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal


class FakeAdmins(Writer):
    kind = "fake_admins"

    def write(self, ctx: WriteContext, record: dict, existing: t.Any, parents: dict) -> Outcome:
        return Outcome(f"a-{record['source_key']}", CREATED)


class FakeTickets(Journaled):
    kind = "fake_tickets"
    optional_refs = {"admin": "fake_admins"}

    def write(self, ctx: WriteContext, record: dict, existing: t.Any, parents: dict) -> Outcome:
        admin = ctx.intercom_id(parents, "fake_admins", (record.get("refs") or {}).get("admin"))
        key = record["source_key"]
        with self.journal.lock:
            if key in self.journal.active:
                self.journal.overlaps.append(f"ticket {key} written while one of its parts is")
            self.journal.tickets_writing.add(key)
            self.journal.assignees[key] = admin
            self.journal.writes.append((self.kind, key))
            self.journal.in_flight += 1
            self.journal.max_in_flight = max(self.journal.max_in_flight, self.journal.in_flight)
        time.sleep(random.uniform(0, 0.004))
        with self.journal.lock:
            self.journal.in_flight -= 1
            self.journal.tickets_writing.discard(key)
        return Outcome(f"t-{record['source_key']}", CREATED)


class FakeParts(Journaled):
    kind = "fake_parts"
    required_refs = {"ticket": "fake_tickets"}
    sequence_by = "ticket"
    updatable = False

    def write(self, ctx: WriteContext, record: dict, existing: t.Any, parents: dict) -> Outcome:
        ticket = record["refs"]["ticket"]
        assert parents[("fake_tickets", ticket)] == f"t-{ticket}"
        with self.journal.lock:
            if ticket in self.journal.active or ticket in self.journal.tickets_writing:
                self.journal.overlaps.append(ticket)
            self.journal.active.add(ticket)
            self.journal.writes.append((self.kind, record["source_key"]))
            self.journal.parts.setdefault(ticket, []).append(record["created_at"])
        time.sleep(random.uniform(0, self.journal.part_delay_s))
        with self.journal.lock:
            self.journal.active.discard(ticket)
        return Outcome(f"p-{record['source_key']}", CREATED)


@pytest.fixture
def journal() -> Journal:
    """This test's journal: what its fake writers did."""
    return Journal()


@pytest.fixture
def fake_loader(tmp_path: Path, journal: Journal) -> t.Iterator[t.Callable[..., Loader]]:
    writers = Writers((FakeAdmins(), FakeTickets(journal), FakeParts(journal)))
    made: list[Loader] = []

    def make(concurrency: int = 8) -> Loader:
        ledger = Ledger(Ledger.url_for_path(tmp_path / "ledger.db"))
        ctx = WriteContext(FakeClient(), ledger, ledger.start_run({"test": True}), None, {})  # type: ignore[arg-type]
        made.append(
            Loader(
                ctx,
                concurrency=concurrency,
                max_retries=0,
                logger=logging.getLogger("test-loader"),
                writers=writers,
                chunk=7,  # many reads, so tickets straddle them
            )
        )
        return made[-1]

    yield make
    for loader in made:
        loader.close()


def part(ticket: int, n: int) -> dict:
    return {"source_key": f"{ticket}-{n}", "refs": {"ticket": str(ticket)}, "created_at": 1_000_000 + n}


def test_background_writer_keeps_parts_in_order_across_reads_and_batches(
    fake_loader: t.Callable[..., Loader], journal: Journal
) -> None:
    """Parts arrive before their tickets, a ticket's parts are spread over batches (some staged while its earlier
    parts are being written), reads are 7 rows: each part written once, in order, never two of a ticket at once."""
    loader = fake_loader()
    loader.start()
    tickets = range(12)
    parts = {ticket: [part(ticket, n) for n in range(1 + ticket * 3)] for ticket in tickets}
    # first halves of every ticket's parts, then the tickets, then the second halves in small batches
    loader.stage("fake_parts", [p for ticket in tickets for p in parts[ticket][: len(parts[ticket]) // 2]])
    loader.stage("fake_tickets", [{"source_key": str(ticket)} for ticket in tickets])
    rest = [p for ticket in tickets for p in parts[ticket][len(parts[ticket]) // 2 :]]
    for i in range(0, len(rest), 5):
        loader.stage("fake_parts", rest[i : i + 5])
        time.sleep(0.002)
    loader.finish()

    written = [key for kind, key in journal.writes if kind == "fake_parts"]
    assert len(journal.writes) == len(written) + len(tickets)
    assert sorted(written) == sorted(p["source_key"] for ps in parts.values() for p in ps)  # each exactly once
    assert len(written) == len(set(written))
    assert not journal.overlaps
    for ticket in tickets:
        assert journal.parts[str(ticket)] == sorted(journal.parts[str(ticket)]), ticket
    assert loader.ledger.held_counts() == {}
    assert loader.stats.snapshot()["fake_parts"]["created"] == len(written)


def test_one_ticket_with_more_parts_than_a_read(fake_loader: t.Callable[..., Loader], journal: Journal) -> None:
    loader = fake_loader()
    loader.stage("fake_tickets", [{"source_key": "1"}])
    loader.stage("fake_parts", [part(1, n) for n in range(30)])
    loader.pump()
    assert journal.parts["1"] == [1_000_000 + n for n in range(30)]
    assert not journal.overlaps


def test_records_staged_while_writing_are_written_and_the_cap_holds(
    fake_loader: t.Callable[..., Loader], journal: Journal
) -> None:
    loader = fake_loader(concurrency=4)
    loader.start()
    for i in range(0, 200, 20):
        loader.stage("fake_tickets", [{"source_key": str(k)} for k in range(i, i + 20)])
    loader.finish()
    assert sorted(int(key) for _, key in journal.writes) == list(range(200))
    assert journal.max_in_flight <= 4


def test_an_error_in_the_writer_thread_fails_the_run(
    fake_loader: t.Callable[..., Loader], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger failure while recording a write is not a record's problem: the run stops loudly, without hanging."""
    loader = fake_loader()

    def broken(*args: t.Any, **kwargs: t.Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(loader.ledger, "record_done", broken)
    loader.start()
    loader.stage("fake_tickets", [{"source_key": str(k)} for k in range(50)])
    outcome: list[BaseException | None] = []

    def finish() -> None:
        try:
            loader.finish()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001  the thread hands whatever finish() raised to the test
            outcome.append(exc)

    waiter = threading.Thread(target=finish)
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "finish() hung after the writer thread failed"
    assert isinstance(outcome[0], RuntimeError) and "disk full" in str(outcome[0])
    with pytest.raises(RuntimeError, match="writer thread failed"):
        loader.raise_if_failed()  # what the target checks before staging the next batch
    assert loader.ledger.held_counts() == {"fake_tickets": 50}  # nothing lost: still staged for the next run


@pytest.mark.parametrize(
    ("limit", "latency", "cap", "expected"),
    [
        (None, None, 128, MIN_IN_FLIGHT),  # nothing known yet
        (1666, 0.3, 128, 100),  # real Intercom: 166 requests/s x 0.3 s x 2
        (1666, 0.16, 128, 54),
        (1666, 0.01, 128, MIN_IN_FLIGHT),  # a fast server: the floor
        (1666, 1.0, 128, 128),  # the cap
        (1666, 0.3, 8, 8),
    ],
)
def test_in_flight_follows_budget_and_latency(
    fake_loader: t.Callable[..., Loader], limit: int | None, latency: float | None, cap: int, expected: int
) -> None:
    loader = fake_loader(concurrency=cap)
    pacer = loader.ctx.client.pacer
    pacer._limit, pacer._latency = limit, latency
    assert loader.in_flight_target() == expected


def test_an_optional_parent_still_to_come_is_waited_for_until_the_input_ends(
    fake_loader: t.Callable[..., Loader],
    journal: Journal,
) -> None:
    """Tickets come before the operators (alphabetical streams): a ticket waits for its assignee while input still
    comes, so it is assigned however far the writer had got; an assignee that never comes does not hold it back
    at the end."""
    loader = fake_loader()
    loader.start()
    loader.stage(
        "fake_tickets",
        [
            {"source_key": "1", "refs": {"admin": "op1"}},
            {"source_key": "2", "refs": {"admin": "nobody"}},
            {"source_key": "3"},
        ],
    )
    deadline = time.monotonic() + 10
    while "3" not in journal.assignees and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert journal.assignees == {"3": None}  # 1 and 2 wait for their admins
    loader.stage("fake_admins", [{"source_key": "op1"}])
    loader.finish()
    assert journal.assignees == {"1": "a-op1", "2": None, "3": None}
    assert loader.ledger.held_counts() == {}


def test_a_trail_split_over_two_batches_is_written_in_date_order(
    fake_loader: t.Callable[..., Loader], journal: Journal
) -> None:
    """Tickets already exist (a re-run after a crash): the newest entry of a ticket ends one batch, its older entries
    start the next (TOPdesk sends one ticket's trail in a row, newest first). It must not be written first."""
    loader = fake_loader()
    loader.start()
    loader.stage("fake_tickets", [{"source_key": "1"}, {"source_key": "2"}])
    time.sleep(0.2)  # the tickets are written
    loader.stage("fake_parts", [part(2, 0), part(1, 9)])
    time.sleep(0.3)  # the writer would have written ticket 1's newest part by now
    loader.stage("fake_parts", [part(1, n) for n in range(9)])
    loader.finish()
    assert journal.parts["1"] == [1_000_000 + n for n in range(10)]


def test_parts_staged_by_a_run_that_died_wait_for_this_runs_input(
    fake_loader: t.Callable[..., Loader], journal: Journal
) -> None:
    """A run died with the newest entries of ticket 1's trail staged, not written. The next run writes ticket 1 at
    once, then its input brings the whole trail again: the older entries go first. Ticket 2's staged parts are not
    in this run's input (a delta run): they are written when the input ends."""
    died = fake_loader()
    died.stage("fake_parts", [part(1, n) for n in (7, 8, 9)] + [part(2, 0), part(2, 1)])
    loader = fake_loader()
    loader.start()
    loader.stage("fake_tickets", [{"source_key": "1"}, {"source_key": "2"}])
    time.sleep(0.3)  # the tickets are written; staged parts would have been written by now
    assert journal.parts == {}
    loader.stage("fake_parts", [part(1, n) for n in range(10)])
    loader.finish()
    assert journal.parts == {"1": [1_000_000 + n for n in range(10)], "2": [1_000_000, 1_000_001]}
    assert loader.ledger.held_counts() == {}


def test_a_ticket_is_not_updated_while_its_parts_are_written(
    fake_loader: t.Callable[..., Loader], journal: Journal
) -> None:
    """A run died right after creating ticket 1 in Intercom; the next run found it (settled) and writes its record
    as an update, which waits for its admin while the input comes. Its parts are ready meanwhile (the ticket
    exists). The update (a ticket's state) must not go out while a part is sent: a customer's reply landing after
    the state reopens the ticket, and the update would record the state as written."""
    loader = fake_loader()
    for ticket in ("1", "2"):
        loader.ledger.record_written("fake_tickets", ticket, f"t-{ticket}", SETTLED, loader.ctx.run_id, created=True)
    journal.part_delay_s = 0.02
    loader.start()
    loader.stage("fake_tickets", [{"source_key": "1", "refs": {"admin": "op1"}}])
    loader.stage("fake_parts", [part(1, n) for n in range(15)] + [part(2, 0)])  # ticket 1's trail is complete
    deadline = time.monotonic() + 10
    while not journal.parts.get("1") and time.monotonic() < deadline:
        time.sleep(0.005)
    loader.stage("fake_admins", [{"source_key": "op1"}])  # the ticket's update is ready: its parts are running
    loader.finish()
    assert journal.parts["1"] == [1_000_000 + n for n in range(15)]
    assert journal.assignees == {"1": "a-op1"}
    assert not journal.overlaps
