"""The ledger: idempotent upserts, intents, staging of records whose parents are not written yet, rollback order,
issues, persistence across re-opening the file, and concurrent use from many threads (real SQLite files)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from target_intercom.ledger import ENTITY_STATUSES, Entity, Held, Ledger, content_hash
from topdesk2intercom_testing import postgres


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not postgres.SERVER_URL, reason=postgres.SKIP_REASON)),
    ]
)
def ledger(request: pytest.FixtureRequest, db_path: Path):
    led = Ledger(Ledger.url_for_path(db_path) if request.param == "sqlite" else postgres.empty_ledger_url())
    yield led
    led.close()


# ---------------------------------------------------------------- basics


def test_content_hash_is_canonical():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert len(content_hash({})) == 64


def test_url_for_path_creates_file_and_sqlite_pragmas(db_path: Path):
    assert Ledger.url_for_path(db_path).startswith("sqlite:///")
    Ledger(Ledger.url_for_path(db_path)).close()
    assert db_path.exists()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "ledger_runs",
        "ledger_entities",
        "ledger_held",
        "ledger_held_refs",
        "ledger_issues",
        "ledger_meta",
    } <= tables


def test_repr_hides_password():
    led = Ledger.__new__(Ledger)  # no database needed: repr only renders the URL
    led._url = sa.engine.make_url("postgresql://user:secret@db/ledger")
    assert "secret" not in repr(led)


def test_runs_are_sortable_and_newest_first(ledger: Ledger):
    first = ledger.start_run({"tap": "tap-topdesk"})
    second = ledger.start_run()
    assert first < second or first[:16] == second[:16]  # same second: the random suffix decides
    ledger.finish_run(first, "succeeded", {"created": 3})
    runs = ledger.runs()
    assert [r["run_id"] for r in runs] == [second, first]
    done = runs[1]
    assert done["status"] == "succeeded" and done["summary"] == {"created": 3} and done["finished_at"]
    assert done["info"] == {"tap": "tap-topdesk"}
    assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None
    assert ledger.get_run(first)["status"] == "succeeded"
    assert ledger.get_run("nope") is None


def test_guests_count_created_and_matched_contacts_of_this_run(ledger: Ledger):
    """Contacts for callers without a person record: created by this run, or matched (Intercom had the address:
    adopted, or created by an earlier run and written again now); other runs' and other keys are not counted."""
    earlier, run = ledger.start_run(), ledger.start_run()
    ledger.record_written("contacts", "email:old@x.example", "c0", "h", earlier, created=True)
    ledger.record_written("contacts", "email:other-run@x.example", "c4", "h", earlier, created=True)
    ledger.record_written("contacts", "email:new@x.example", "c1", "h", run, created=True)
    ledger.record_written("contacts", "email:known@x.example", "c2", "h", run, created=False)  # adopted
    ledger.record_written("contacts", "email:old@x.example", "c0", "h2", run, created=False)  # written again
    ledger.record_written("contacts", "person-7", "c3", "h", run, created=True)  # a person's own contact
    assert ledger.guests(run) == {"created": 1, "matched": 2}
    assert ledger.guests(earlier) == {"created": 1, "matched": 0}


def test_keys_for_ids_and_written_not_created(ledger: Ledger):
    """The rollback's two reads: every key written as a deleted entity's id (its aliases too), and what a run wrote
    without creating it (adopted, matched, or an earlier run's), newest first."""
    earlier, run = ledger.start_run(), ledger.start_run()
    ledger.record_written("contacts", "p1", "c1", "h", earlier, created=True)
    ledger.record_written("contacts", "p2", "c1", "h", run, created=False)  # merged into p1's contact
    ledger.record_written("contacts", "p3", "c3", "h", run, created=True)
    ledger.record_written("contacts", "p4", "c4", "h", run, created=False)  # adopted (409)
    ledger.record_written("contacts", "p1", "c1", "h2", run, created=False)  # updated by the later run
    assert sorted(ledger.keys_for_ids("contacts", ["c1", "c9"])) == ["p1", "p2"]
    assert ledger.keys_for_ids("companies", ["c1"]) == []
    assert [e.source_key for e in ledger.written_not_created(run)] == ["p4", "p2", "p1"]
    assert [e.source_key for e in ledger.written_not_created(None)] == ["p4", "p2"]


# ---------------------------------------------------------------- entities


def test_record_written_is_idempotent_and_update_keeps_creation(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    ledger.record_written("contact", "p1", "ic-1", "h1", r1, created=True, extra={"email": "a@x"})
    ledger.record_written("contact", "p1", "ic-1", "h1", r1, created=True)  # replayed: still one row
    first = ledger.lookup("contact", "p1")
    ledger.record_written("contact", "p1", "ic-1", "h2", r2, created=False, extra={"prev": {"name": "A"}})
    e = ledger.lookup("contact", "p1")
    assert isinstance(e, Entity)
    assert (e.intercom_id, e.content_hash, e.status, e.run_id) == ("ic-1", "h2", "written", r2)
    assert e.created_run_id == r1 and e.seq == first.seq  # an update keeps creation run and rollback order
    assert e.extra == {"email": "a@x", "prev": {"name": "A"}}  # shallow merge
    assert ledger.counts() == {"contact": {"written": 1}}
    with pytest.raises(ValueError):
        ledger.record_written("contact", "p2", None, "h", r1, created=True)  # type: ignore[arg-type]


def test_adopted_record_is_not_attributed_to_the_run(ledger: Ledger):
    run = ledger.start_run()
    ledger.record_written("contact", "p9", "ic-9", "h", run, created=False)  # 409: adopted existing contact
    e = ledger.lookup("contact", "p9")
    assert e.created_run_id is None and e.seq > 0
    assert ledger.created_by(run) == [] and ledger.created_by(None) == []


def test_lookup_many_and_missing(ledger: Ledger):
    run = ledger.start_run()
    for i in range(1000):  # more than one IN chunk
        ledger.record_written("company", f"b{i}", f"c{i}", "h", run, created=True)
    found = ledger.lookup_many("company", [f"b{i}" for i in range(0, 1200, 3)] + ["b3"])
    assert set(found) == {f"b{i}" for i in range(0, 1000, 3)}
    assert found["b999"].intercom_id == "c999"
    assert ledger.lookup("company", "b1000") is None
    assert ledger.lookup("contact", "b1") is None
    assert ledger.lookup_many("company", []) == {}


def test_intent_then_written(ledger: Ledger):
    run = ledger.start_run()
    ledger.record_intent("ticket", "I-1", "h1", run, extra={"number": "I 2401 001"})
    e = ledger.lookup("ticket", "I-1")
    assert (e.status, e.intercom_id, e.created_run_id) == ("intent", None, run)
    assert [x.source_key for x in ledger.intents()] == ["I-1"]
    assert ledger.intents("conversation") == []
    assert [x.source_key for x in ledger.created_by(run)] == ["I-1"]  # rollback must settle it too
    ledger.record_written("ticket", "I-1", "t-77", "h1", run, created=True)
    e = ledger.lookup("ticket", "I-1")
    assert (e.status, e.intercom_id, e.created_run_id) == ("written", "t-77", run)
    assert e.extra == {"number": "I 2401 001"}
    assert ledger.intents() == []


def test_intent_keeps_existing_intercom_id_and_creation(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    ledger.record_written("ticket", "I-2", "t-1", "h1", r1, created=True)
    before = ledger.lookup("ticket", "I-2")
    ledger.record_intent("ticket", "I-2", "h2", r2)
    e = ledger.lookup("ticket", "I-2")
    assert (e.status, e.intercom_id, e.content_hash, e.run_id) == ("intent", "t-1", "h2", r2)
    assert (e.created_run_id, e.seq) == (r1, before.seq)


def test_intent_after_delete_is_a_new_creation(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    ledger.record_written("ticket", "I-3", "t-1", "h1", r1, created=True)
    before = ledger.lookup("ticket", "I-3")
    ledger.mark_deleted("ticket", "I-3", r2)
    assert ledger.lookup("ticket", "I-3").status == "deleted"
    assert ledger.created_by(r1) == []  # deleted: nothing left to roll back
    ledger.record_intent("ticket", "I-3", "h1", r2)
    e = ledger.lookup("ticket", "I-3")
    # the rolled-back Intercom id is gone: a retry must create, never update it
    assert (e.status, e.intercom_id, e.created_run_id) == ("intent", None, r2) and e.seq > before.seq
    assert ledger.counts() == {"ticket": {"intent": 1}}
    ledger.mark_deleted("ticket", "missing", r2)  # no row: no error, no row
    assert ledger.lookup("ticket", "missing") is None


def test_created_by_newest_first_with_paging(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    for i in range(10):
        ledger.record_written("contact", f"p{i}", f"c{i}", "h", r1, created=True)
    for i in range(5):
        ledger.record_written("ticket", f"I{i}", f"t{i}", "h", r2, created=True)
    ledger.record_written("contact", "p0", "c0", "h2", r2, created=False)  # updated by r2: still r1's creation
    ledger.mark_deleted("contact", "p9", r2)

    got, before = [], None
    while page := ledger.created_by(r1, limit=4, before_seq=before):
        got.extend(page)
        before = page[-1].seq
    assert [e.source_key for e in got] == [f"p{i}" for i in range(8, -1, -1)]
    assert all(a.seq > b.seq for a, b in itertools.pairwise(got))

    every = ledger.created_by(None, limit=100)
    assert [e.source_key for e in every[:5]] == [f"I{i}" for i in range(4, -1, -1)]
    assert len(every) == 14
    assert {e.status for e in every} <= set(ENTITY_STATUSES)


def test_counts_by_kind_and_status(ledger: Ledger):
    run = ledger.start_run()
    ledger.record_written("contact", "a", "1", "h", run, created=True)
    ledger.record_written("contact", "b", "2", "h", run, created=True)
    ledger.record_intent("ticket", "t", "h", run)
    ledger.mark_deleted("contact", "b", run)
    assert ledger.counts() == {"contact": {"written": 1, "deleted": 1}, "ticket": {"intent": 1}}


# ---------------------------------------------------------------- held records


def test_ready_only_when_every_parent_is_written(ledger: Ledger):
    run = ledger.start_run()
    n = ledger.hold(
        run,
        [
            ("ticket", "I1", {"n": 1}, [("contact", "p1"), ("company", "b1")]),
            ("ticket", "I2", {"n": 2}, [("contact", "p2")]),
            ("ticket", "I3", {"n": 3}, []),
            ("contact", "p1", {"email": "a@x"}, [("company", "b1")]),
        ],
    )
    assert n == 4
    assert [h.source_key for h, _ in ledger.ready("ticket")] == ["I3"]
    assert ledger.ready("contact") == []

    ledger.record_written("company", "b1", "co-1", "h", run, created=True)
    ready_contacts = ledger.ready("contact")
    assert [(h.source_key, ids) for h, ids in ready_contacts] == [("p1", {("company", "b1"): "co-1"})]
    assert [h.source_key for h, _ in ledger.ready("ticket")] == ["I3"]  # p1 not written yet

    ledger.record_intent("contact", "p1", "h", run)  # an intent is not a parent that exists
    assert [h.source_key for h, _ in ledger.ready("ticket")] == ["I3"]
    ledger.record_written("contact", "p1", "ct-1", "h", run, created=True)
    got = ledger.ready("ticket")
    assert [h.source_key for h, _ in got] == ["I1", "I3"]
    held, ids = got[0]
    assert isinstance(held, Held)
    assert held.record == {"n": 1} and held.run_id == run and held.attempts == 0
    assert held.waits_for == (("contact", "p1"), ("company", "b1"))
    assert ids == {("contact", "p1"): "ct-1", ("company", "b1"): "co-1"}

    ledger.mark_deleted("company", "b1", run)  # a deleted parent no longer resolves
    assert [h.source_key for h, _ in ledger.ready("ticket")] == ["I3"]


def test_ready_orders_by_seq_and_pages(ledger: Ledger):
    run = ledger.start_run()
    ledger.hold(run, [("part", f"k{i:03}", {"i": i}, []) for i in range(25)])
    got, after = [], 0
    while page := ledger.ready("part", limit=10, after_seq=after):
        got.extend(h.record["i"] for h, _ in page)
        after = page[-1][0].seq
    assert got == list(range(25))


def test_newest_held_version_replaces_older(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    ledger.hold(r1, [("ticket", "I1", {"v": 1}, [("contact", "old")]), ("ticket", "I2", {"v": 1}, [])])
    ledger.bump_attempts("ticket", "I1")
    first = ledger.waiting("ticket")[0][0]
    # Within one batch the last occurrence wins too.
    assert (
        ledger.hold(
            r2,
            [
                ("ticket", "I1", {"v": 2}, [("contact", "new")]),
                ("ticket", "I1", {"v": 3}, [("contact", "new"), ("contact", "new")]),
            ],
        )
        == 1
    )
    assert ledger.held_counts() == {"ticket": 2}
    [(held, missing)] = ledger.waiting("ticket")
    assert held.record == {"v": 3} and held.run_id == r2 and held.attempts == 0 and held.seq > first.seq
    assert held.waits_for == (("contact", "new"),) and missing == [("contact", "new")]
    ledger.record_written("contact", "new", "c", "h", r2, created=True)
    assert [h.source_key for h, _ in ledger.ready("ticket")] == ["I2", "I1"]  # I1 re-staged later


def test_waiting_lists_missing_parents(ledger: Ledger):
    run = ledger.start_run()
    ledger.record_written("contact", "p1", "ct-1", "h", run, created=True)
    ledger.hold(
        run,
        [
            ("ticket", "I1", {}, [("contact", "p1"), ("contact", "ghost"), ("company", "b-ghost")]),
            ("ticket", "I2", {}, [("contact", "p1")]),
            ("note", "N1", {}, [("ticket", "I1")]),
        ],
    )
    waiting = ledger.waiting()
    assert [(h.kind, h.source_key, m) for h, m in waiting] == [
        ("ticket", "I1", [("contact", "ghost"), ("company", "b-ghost")]),
        ("note", "N1", [("ticket", "I1")]),
    ]
    assert [h.source_key for h, _ in ledger.waiting("note")] == ["N1"]
    assert len(ledger.waiting(limit=1)) == 1


def test_release_bump_and_counts(ledger: Ledger):
    run = ledger.start_run()
    ledger.hold(run, [("ticket", f"I{i}", {}, [("contact", "p")]) for i in range(5)] + [("contact", "p", {}, [])])
    assert ledger.held_counts() == {"ticket": 5, "contact": 1}
    assert ledger.bump_attempts("ticket", "I0") == 1
    assert ledger.bump_attempts("ticket", "I0") == 2
    assert ledger.bump_attempts("ticket", "nope") == 0
    ledger.release("ticket", ["I0", "I1", "I1"])
    ledger.release("ticket", [])
    assert ledger.held_counts() == {"ticket": 3, "contact": 1}
    with ledger._engine.connect() as conn:  # refs go with their held record
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_held_refs")).scalar() == 3
    assert sorted(h.source_key for h in ledger.iter_held("ticket", batch=2)) == ["I2", "I3", "I4"]
    assert len(list(ledger.iter_held())) == 4


def test_release_exact_keeps_a_newer_version(ledger: Ledger):
    run = ledger.start_run()
    ledger.hold(run, [("ticket", "I1", {"v": 1}, []), ("ticket", "I2", {"v": 1}, [])])
    old = [h for h, _ in ledger.ready("ticket")]
    ledger.hold(run, [("ticket", "I1", {"v": 2}, [])])  # arrives while v1 is being written
    assert ledger.release_exact(old) == 1
    [(held, _)] = ledger.ready("ticket")
    assert (held.source_key, held.record) == ("I1", {"v": 2})
    assert ledger.hold(run, []) == 0


# ---------------------------------------------------------------- issues


def test_issues_add_filter_dedupe_and_resolve(ledger: Ledger):
    r1, r2 = ledger.start_run(), ledger.start_run()
    ledger.add_issues(
        r1,
        [
            {
                "kind": "contact",
                "source_key": "p1",
                "category": "flagged",
                "severity": "warning",
                "reason": "placeholder email",
                "field": "email",
                "detail": {"email": "p1@placeholder.invalid"},
            },
            {
                "kind": "ticket",
                "source_key": "I1",
                "category": "manual_review",
                "severity": "error",
                "reason": "HTTP 422",
            },
            {
                "kind": "note",
                "source_key": "N1",
                "category": "timestamp_lost",
                "severity": "info",
                "reason": "notes cannot keep created_at",
            },
        ],
    )
    all_r1 = ledger.issues(r1)
    assert [i["category"] for i in all_r1] == ["flagged", "manual_review", "timestamp_lost"]
    assert all_r1[0]["field"] == "email" and all_r1[0]["detail"] == {"email": "p1@placeholder.invalid"}
    assert all_r1[1]["field"] is None and all_r1[1]["detail"] is None
    assert ledger.issues(category="manual_review")[0]["reason"] == "HTTP 422"
    assert len(ledger.issues(limit=2)) == 2
    assert [i["kind"] for i in ledger.issues(after_id=all_r1[0]["id"])] == ["ticket", "note"]

    # Met again in the next run: one open item, moved to r2, counted twice.
    ledger.add_issues(
        r2,
        [
            {
                "kind": "ticket",
                "source_key": "I1",
                "category": "manual_review",
                "severity": "error",
                "reason": "HTTP 500 x3",
            }
        ],
    )
    mr = ledger.issues(category="manual_review")
    assert len(mr) == 1 and mr[0]["run_id"] == r2 and mr[0]["first_run_id"] == r1
    assert mr[0]["occurrences"] == 2 and mr[0]["reason"] == "HTTP 500 x3"

    ledger.resolve_issues("ticket", "I1", "manual_review")
    assert ledger.issues(category="manual_review") == []
    resolved = ledger.issues(category="manual_review", include_resolved=True)
    assert len(resolved) == 1 and resolved[0]["resolved_at"]
    ledger.add_issues(
        r2,
        [{"kind": "ticket", "source_key": "I1", "category": "manual_review", "severity": "error", "reason": "again"}],
    )
    assert len(ledger.issues(category="manual_review", include_resolved=True)) == 2  # a new open item
    ledger.add_issues(r2, [])


# ---------------------------------------------------------------- durability and concurrency


def test_everything_persists_across_reopening(db_path: Path):
    url = Ledger.url_for_path(db_path)
    led = Ledger(url)
    run = led.start_run()
    led.record_written("contact", "p1", "ct-1", "h", run, created=True)
    led.record_intent("ticket", "I1", "h", run)
    led.hold(run, [("note", "N1", {"body": "é"}, [("ticket", "I1")])])
    led.add_issues(
        run,
        [
            {
                "kind": "note",
                "source_key": "N1",
                "category": "orphan",
                "severity": "warning",
                "reason": "parent never came",
            }
        ],
    )
    led.finish_run(run, "failed", {"held": 1})
    seq = led.lookup("contact", "p1").seq
    led.close()

    again = Ledger(url)
    try:
        assert again.lookup("contact", "p1").intercom_id == "ct-1"
        assert [e.source_key for e in again.intents()] == ["I1"]
        [(held, missing)] = again.waiting()
        assert held.record == {"body": "é"} and missing == [("ticket", "I1")]
        assert again.issues(run)[0]["category"] == "orphan"
        assert again.runs()[0]["status"] == "failed"
        run2 = again.start_run()
        again.record_written("contact", "p2", "ct-2", "h", run2, created=True)
        assert again.lookup("contact", "p2").seq > seq  # the sequence continues, rollback order holds
    finally:
        again.close()


def test_concurrent_writers_and_readers(ledger: Ledger):
    run = ledger.start_run()
    threads, errors = 16, []
    per_thread = 200

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                key = f"p{t}-{i}"
                ledger.record_written("contact", key, f"ct-{t}-{i}", "h", run, created=True)
                ledger.hold(run, [("ticket", f"I{t}-{i}", {"i": i}, [("contact", key)])])
                if i % 20 == 0:
                    ledger.ready("ticket", limit=50)
                    ledger.lookup("contact", key)
        except Exception as exc:  # noqa: BLE001  a worker thread hands any failure back: collected, asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    total = threads * per_thread
    assert ledger.counts() == {"contact": {"written": total}}
    assert ledger.held_counts() == {"ticket": total}
    seqs = [e.seq for e in ledger.created_by(run, limit=total + 1)]
    assert len(seqs) == total == len(set(seqs))
    assert len(ledger.ready("ticket", limit=total + 1)) == total
    assert ledger.waiting() == []


def test_memory_url_works_across_threads():
    led = Ledger("sqlite://")
    run = led.start_run()

    def work(t: int) -> None:
        led.record_written("contact", f"p{t}", "x", "h", run, created=True)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert led.counts() == {"contact": {"written": 8}}
    led.close()


def test_numbers_stay_numbers(ledger: Ledger) -> None:
    """singer-sdk reads JSON numbers as ``Decimal``; Intercom types its attributes, so a staged record keeps them as
    JSON numbers (``7.0``, ``1.5``), never as text, hashed as the same record read without singer-sdk."""
    run = ledger.start_run()
    record = {"custom_attributes": {"Costs": Decimal("1.50"), "Persons": Decimal("7.0"), "Code": "7.0"}}
    ledger.hold(run, [("companies", "branch:1", record, [])])
    assert ledger.held_record("companies", "branch:1")["custom_attributes"] == {
        "Costs": 1.5,
        "Persons": 7,
        "Code": "7.0",
    }
    assert content_hash(record) == content_hash({"custom_attributes": {"Costs": 1.5, "Persons": 7.0, "Code": "7.0"}})


def test_changes_keep_the_first_value_before_and_the_last_after_and_restore_the_ledger_row(ledger):
    """A run's change log (ledger_changes): one row per run and record; the first value of each field it overwrote
    stays "before", the last it left is "after"; restoring marks it and puts the ledger's row back as it was."""
    ledger.record_written("contacts", "person:1", "c1", "hash-run-0", "run-0", created=False, extra={"a": 1})
    ledger.changes.keep("run-1", "contacts", "person:1", "c1", {"name": "Old", "custom_attributes": {"x": 1}})
    ledger.changes.changed("run-1", "contacts", "person:1", {"name": "Mid", "custom_attributes": {"x": 2}})
    ledger.record_written("contacts", "person:1", "c1", "hash-run-1", "run-1", created=False, extra={"b": 2})
    # a second request of the run: a field kept already stays, a new one is added; the answer's values win
    ledger.changes.keep("run-1", "contacts", "person:1", "c1", {"name": "Mid", "custom_attributes": {"y": 3}})
    ledger.changes.changed("run-1", "contacts", "person:1", {"name": "New", "custom_attributes": {"y": 4}})
    ledger.changes.keep("run-2", "contacts", "person:1", "c1", {"name": "New"})
    [change] = ledger.changes.of_run("run-1")
    assert change.before == {"name": "Old", "custom_attributes": {"x": 1, "y": 3}}
    assert change.after == {"name": "New", "custom_attributes": {"x": 2, "y": 4}}
    assert change.entity == {"content_hash": "hash-run-0", "extra": {"a": 1}, "run_id": "run-0"}
    assert ledger.changes.later(change) == ["run-2"]
    assert ledger.changes.counts(None) == {"contacts": 2} and ledger.changes.counts("run-1") == {"contacts": 1}

    ledger.changes.restored(change, "rollback-1")
    entity = ledger.lookup("contacts", "person:1")
    assert (entity.content_hash, entity.run_id, entity.extra) == (
        "hash-run-0",
        "run-0",
        {"a": 1, "restored_by": "rollback-1"},
    )
    assert ledger.changes.of_run("run-1") == []
    assert ledger.changes.restored_by("contacts", "person:1", "rollback-1").id == change.id
    # written again by a load: no longer what the rollback restored
    ledger.record_written("contacts", "person:1", "c1", "hash-run-3", "run-3", created=False)
    assert "restored_by" not in ledger.lookup("contacts", "person:1").extra
