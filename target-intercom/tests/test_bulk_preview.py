"""``bulk_preview``: new contacts through Preview bulk jobs, their companies inline, against the sandbox's bulk
routes: what it costs per contact, what it leaves to the usual path (rejected items, adopted or merged as without
it), a crash between the bulk request and the ledger, the fallback where the workspace lacks it, rollback."""

from __future__ import annotations

import re
import threading
import time
import typing as t
from collections import Counter
from pathlib import Path

import pytest

from target_intercom.capabilities import HOLDS, NOT_NEEDED, REFUSED, Check, CheckResult, Verdict
from target_intercom.client import IntercomClient, IntercomError
from target_intercom.rollback import rollback
from target_intercom.writers import contacts_bulk
from topdesk2intercom_testing.target import intercom_sandbox
from topdesk2intercom_testing.target_writers import Harness, contact

SEND = IntercomClient._send  # the client's own, before a test wraps it
ID = re.compile(r"^(\d+|(?=.*\d)[0-9A-Za-z_-]{12,})$")


def route(method: str, path: str) -> str:
    path = path.split("?", 1)[0]
    return f"{method.upper()} " + "/".join("{id}" if ID.match(seg) else seg for seg in path.split("/"))


class Counting:
    """Every request the harness's client sends, by route (``POST /contacts/{id}/companies``)."""

    def __init__(self, client: t.Any) -> None:
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()
        send = client._send

        def counted(method: str, path: str, **kwargs: t.Any) -> t.Any:
            with self._lock:
                self.sent[route(method, path)] += 1
            return send(method, path, **kwargs)

        client._send = counted

    def people(self) -> int:
        """Requests to contacts and their company links (bulk jobs and searches included)."""
        return sum(n for r, n in self.sent.items() if r.split(" ", 1)[1].startswith("/contacts"))

    def reset(self) -> None:
        self.sent.clear()


def company(n: int) -> dict:
    return {"source_key": f"branch:{n}", "company_id": f"b{n}", "name": f"Branch {n}"}


def link(person: str, branch: int) -> dict:
    return {
        "source_key": f"person-branch:{person}:{branch}",
        "refs": {"contact": f"person:{person}", "company": f"branch:{branch}"},
    }


def people(n: int, branches: int = 5, prefix: str = "p") -> tuple[list[dict], list[dict]]:
    persons = [contact(f"{prefix}{i:04d}") for i in range(n)]
    return persons, [link(f"{prefix}{i:04d}", i % branches) for i in range(n)]


@pytest.fixture
def bulk(tmp_path: Path) -> t.Iterator[tuple[Harness, Counting]]:
    with intercom_sandbox() as sb:
        h = Harness(sb, tmp_path, settings={"bulk_preview": True})
        counting = Counting(h.client)
        yield h, counting
        h.close()


def contacts_of(h: Harness) -> dict[str, dict]:
    return {c.get("external_id"): c for c in h.ws.contacts.values()}


def companies_of(h: Harness, contact_id: str) -> set[str]:
    return {h.ws.companies[i]["company_id"] for i in h.ws.contacts[contact_id].get("company_ids", ())}


# ---------------------------------------------------------------------------------------------------- cost


def test_contacts_and_their_company_links_cost_at_most_003_requests_per_contact(bulk: t.Any) -> None:
    h, counting = bulk
    h.run(("companies", [company(n) for n in range(5)]))
    persons, links = people(300)
    counting.reset()
    counts = h.run(("contacts", persons), ("contact_companies", links), together=True)
    assert counts["contacts"]["created"] == 300 and counts["contact_companies"]["created"] == 300, counts
    per_contact = counting.people() / 300
    assert per_contact <= 0.03, (per_contact, counting.sent)
    assert "POST /contacts" not in counting.sent and "POST /contacts/{id}/companies" not in counting.sent
    found = contacts_of(h)
    assert len(found) == 300
    for i in (0, 151, 299):  # each with its company, every link in the ledger as the per-record writer records it
        cid = found[f"p{i:04d}"]["id"]
        assert companies_of(h, cid) == {f"b{i % 5}"}
        entity = h.ledger.lookup("contact_companies", f"person-branch:p{i:04d}:{i % 5}")
        assert entity is not None and entity.status == "written" and entity.extra["contact_id"] == cid
        assert entity.extra["company_id"] == h.id_of("companies", f"branch:{i % 5}")
    assert h.ledger.held_counts() == {}
    assert not h.ledger.intents("contacts")


def test_contacts_wait_for_their_company_when_it_comes_later_in_the_input(bulk: t.Any) -> None:
    """Persons come before branches in the tap's order: the contact waits for its company while input comes."""
    h, counting = bulk
    persons, links = people(120)
    from target_intercom.loader import Loader

    loader = Loader(h.context(), concurrency=8, max_retries=3, logger=__import__("logging").getLogger("t"))
    try:
        loader.stage_together([("contacts", persons), ("contact_companies", links)])
        loader.start()
        loader.stage("companies", [company(n) for n in range(5)])
        # the input is still open until the companies are written (within BATCH_FILL_S): the contacts they make
        # ready fill one batch instead of leaving in whatever groups the end of input finds ready
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            (e := h.ledger.lookup("companies", f"branch:{n}")) is not None and e.status == "written" for n in range(5)
        ):
            time.sleep(0.01)
        loader.finish()
    finally:
        loader.close()
    assert len(contacts_of(h)) == 120
    assert "POST /contacts/{id}/companies" not in counting.sent, counting.sent
    assert counting.people() / 120 <= 0.05, counting.sent


def test_a_batch_that_is_not_full_waits_briefly_for_more_input_then_goes(bulk: t.Any) -> None:
    """While input comes, a few ready contacts wait up to BATCH_FILL_S for others to fill their batch (fewer
    requests per contact), then go without waiting for the end of the input; later ones join the next batch."""
    import logging
    import time

    from target_intercom.loader import BATCH_FILL_S, Loader

    h, counting = bulk
    h.run(("companies", [company(n) for n in range(5)]))
    persons, links = people(60)
    loader = Loader(h.context(), concurrency=8, max_retries=3, logger=logging.getLogger("t"))
    try:
        loader.start()
        loader.stage_together([("contacts", persons[:20]), ("contact_companies", links[:20])])
        time.sleep(BATCH_FILL_S / 4)
        loader.stage_together([("contacts", persons[20:]), ("contact_companies", links[20:])])
        deadline = time.monotonic() + 3 * BATCH_FILL_S
        while len(h.ws.contacts) < 59 and time.monotonic() < deadline:
            time.sleep(0.05)
        # written while the input is still open (the last staged record's group waits for the next input: the
        # planner's open group), in one batch: the first 20 waited for the other 40
        assert len(h.ws.contacts) == 59 and counting.sent["POST /contacts/bulk"] == 1, counting.sent
        loader.finish()
    finally:
        loader.close()
    assert len(h.ws.contacts) == 60


def test_bulk_preview_is_off_by_default_and_then_every_contact_is_one_request(tmp_path: Path) -> None:
    with intercom_sandbox() as sb:
        h = Harness(sb, tmp_path)
        h.run(("companies", [company(n) for n in range(5)]))
        counting = Counting(h.client)
        persons, links = people(40)
        h.run(("contacts", persons), ("contact_companies", links), together=True)
        h.close()
    assert counting.sent["POST /contacts"] == 40 and counting.sent["POST /contacts/{id}/companies"] == 40
    assert not any("bulk" in r or "search" in r for r in counting.sent), counting.sent


# ---------------------------------------------------------------------------------------------------- rejected


def test_items_the_job_rejects_are_written_the_usual_way_adopted_or_merged(bulk: t.Any) -> None:
    h, counting = bulk
    h.run(("companies", [company(n) for n in range(5)]))
    mine = h.post("/contacts", {"role": "user", "external_id": "p0003", "email": "before@example.test"})
    other = h.post("/contacts", {"role": "user", "external_id": "someone", "email": "p0005@example.test"})
    persons, links = people(20)
    counting.reset()
    counts = h.run(("contacts", persons), ("contact_companies", links), together=True)
    assert counts["contacts"] == {"received": 20, "created": 18, "updated": 1, "merged": 1}, counts
    adopted = h.ledger.lookup("contacts", "person:p0003")
    assert adopted is not None and adopted.intercom_id == mine["id"] and adopted.created_run_id is None
    merged = h.ledger.lookup("contacts", "person:p0005")
    assert merged is not None and merged.intercom_id == other["id"] and merged.extra["merged_into"] == "person:someone"
    assert h.ws.contacts[mine["id"]]["name"] == "Person p0003"  # adopted: brought up to date
    assert companies_of(h, mine["id"]) == {"b3"}  # its link went its own way
    assert len(contacts_of(h)) == 20  # 18 new, the adopted one, the other person's: nothing twice
    assert counting.sent["POST /contacts/bulk"] == 1


def test_persons_sharing_an_e_mail_the_first_in_bulk_the_next_merged_into_it_without_a_request(bulk: t.Any) -> None:
    h, counting = bulk
    persons = [contact("p1", "Same@Example.test"), contact("p2", "b@example.test"), contact("p3", "same@example.test")]
    counts = h.run(("contacts", persons))
    assert counts["contacts"] == {"received": 3, "created": 2, "merged": 1}, counts
    first, merged = h.ledger.lookup("contacts", "person:p1"), h.ledger.lookup("contacts", "person:p3")
    assert first is not None and merged is not None and merged.intercom_id == first.intercom_id
    assert merged.extra["merged_into"] == "person:p1" and len(h.ws.contacts) == 2
    assert [i["field"] for i in h.issues("merged")] == ["email"]
    assert counting.sent["POST /contacts"] == 0 and counting.sent["GET /contacts/{id}"] == 0, counting.sent


# ---------------------------------------------------------------------------------------------------- crash


class Crash(BaseException):
    """The process dying between the bulk request and the ledger entries."""


@pytest.mark.parametrize("resumed", ["at once", "an hour later"])
def test_a_crash_after_the_bulk_request_is_settled_by_search_and_never_duplicates(
    bulk: t.Any, monkeypatch: pytest.MonkeyPatch, resumed: str
) -> None:
    """Resumed at once, the contacts look created by the new job (same e-mail, created since it began): recorded
    as created. An hour later they are older than the job: the intents say they are ours (created, so rollback
    deletes them), and each is brought up to date by the usual update (a crash may have left an older version)."""
    h, counting = bulk
    h.run(("companies", [company(n) for n in range(5)]))
    persons, links = people(50)

    def crash(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise Crash()

    with monkeypatch.context() as patch:
        patch.setattr(contacts_bulk, "search_external_ids", crash)
        with pytest.raises(RuntimeError):
            h.run(("contacts", persons), ("contact_companies", links), together=True)
    assert len(contacts_of(h)) == 50  # the job created them
    assert {e.source_key for e in h.ledger.intents("contacts")} == {p["source_key"] for p in persons}
    if resumed == "an hour later":
        for created in h.ws.contacts.values():
            created["created_at"] -= 3600
    counting.reset()
    counts = h.run()  # the next run: what is staged
    action = "created" if resumed == "at once" else "updated"
    assert counts["contacts"][action] == 50 and len(contacts_of(h)) == 50, counts
    assert counting.sent["POST /contacts"] == 0, counting.sent  # found by the search, not sent again
    assert counting.sent["PUT /contacts/{id}"] == (0 if resumed == "at once" else 50), counting.sent
    for person in persons:
        entity = h.ledger.lookup("contacts", person["source_key"])
        assert entity is not None and entity.status == "written" and entity.created_run_id == h.run_id
    assert h.ledger.held_counts() == {}


# ---------------------------------------------------------------------------------------------------- fallback


def test_where_the_workspace_lacks_bulk_contacts_every_contact_is_written_per_record(bulk: t.Any) -> None:
    h, counting = bulk
    h.capabilities = CheckResult({}, "", "2026-01-01T00:00:00Z", [Verdict("bulk_contacts", REFUSED, "404")])
    h.run(("companies", [company(n) for n in range(5)]))
    persons, links = people(30)
    counting.reset()
    counts = h.run(("contacts", persons), ("contact_companies", links), together=True)
    assert counts["contacts"]["created"] == 30 and counts["contact_companies"]["created"] == 30
    assert counting.sent["POST /contacts"] == 30 and not any("bulk" in r for r in counting.sent), counting.sent


def test_the_check_refuses_bulk_contacts_where_intercom_refuses_the_preview_request() -> None:
    class NoPreview:
        """A client whose workspace answers the Preview bulk route with a 404 (no access to Preview)."""

        pacer = type("P", (), {"requests_sent": 0})()

        def request(self, method: str, path: str, **kwargs: t.Any) -> dict:
            raise IntercomError("Resource Not Found", status=404, code="not_found")

    check = Check(
        t.cast(t.Any, NoPreview()), {}, workspace={}, ticket_type_id=None, object_types=(), admin_id=None,
        bulk_preview=True,
    )  # fmt: skip
    verdict = check._bulk_contacts()
    assert verdict.verdict == REFUSED and "404" in verdict.detail
    check.bulk_preview = False
    assert check._bulk_contacts().verdict == NOT_NEEDED


def test_the_check_finds_bulk_contacts_holding_in_the_sandbox_and_cleans_up(tmp_path: Path) -> None:
    with intercom_sandbox() as sb:
        client = sb.client()
        check = Check(client, {}, workspace={}, ticket_type_id=None, object_types=(), admin_id=None, bulk_preview=True)
        check._archived_company_upsert()
        verdict = check._bulk_contacts()
        check._clean_up()
        assert verdict.verdict == HOLDS and "inline company" in verdict.detail, verdict
        assert not sb.workspace.contacts


# ---------------------------------------------------------------------------------------------------- rollback


def test_rollback_deletes_the_contacts_a_bulk_job_created(bulk: t.Any, tmp_path: Path) -> None:
    h, _ = bulk
    h.run(("companies", [company(n) for n in range(5)]))
    persons, links = people(25)
    h.run(("contacts", persons), ("contact_companies", links), together=True)
    assert len(contacts_of(h)) == 25
    rollback(h.ledger, h.client, run_id=h.run_id, report_dir=tmp_path)
    assert not h.ws.contacts
    assert all(h.ledger.lookup("contacts", p["source_key"]).status == "deleted" for p in persons)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------- relationships


@pytest.mark.parametrize("links_inline", [True, False])
def test_contacts_created_in_bulk_carry_their_relationships_or_each_link_follows(
    tmp_path: Path, links_inline: bool
) -> None:
    """Assets come before persons: their links wait for the contact. Where a bulk create keeps relationships the
    item carries them (the links send nothing); else each link is written after it, one request each."""
    with intercom_sandbox(custom_object_types=("Asset",)) as sb:
        h = Harness(sb, tmp_path, object_types=("Asset",), settings={"bulk_preview": True})
        h.post("/data_attributes", {"name": "TOPdesk assets", "model": "contact", "data_type": "string"})
        if not links_inline:
            h.capabilities = CheckResult(
                {}, "", "", [Verdict("bulk_contacts", HOLDS), Verdict("bulk_created_with_links", REFUSED)]
            )
        assets = [{"source_key": f"asset:{n}", "object_type": "Asset", "external_id": f"a{n}"} for n in range(40)]
        h.run(("custom_object_instances", assets), ("companies", [company(n) for n in range(5)]))
        persons, links = people(40)
        asset_links = [
            {
                "source_key": f"asset-person:{n}:p{n:04d}",
                "relationship": "TOPdesk assets",
                "from_kind": "contact",
                "to_type": "Asset",
                "refs": {"from": f"person:p{n:04d}", "to": f"asset:{n}"},
            }
            for n in range(40)
        ]
        counting = Counting(h.client)
        counts = h.run(
            ("custom_object_links", asset_links), ("contacts", persons), ("contact_companies", links), together=True
        )
        found = contacts_of(h)
        h.close()
    assert counts["custom_object_links"] == {"received": 40, "created": 40}, counts
    assert counts["contacts"]["created"] == 40 and counts["contact_companies"]["created"] == 40, counts
    for n in (0, 17, 39):
        assert found[f"p{n:04d}"]["custom_attributes"]["TOPdesk assets"] == [
            h.id_of("custom_object_instances", f"asset:{n}")
        ]
    assert counting.sent["POST /contacts"] == 0 and counting.sent["POST /contacts/bulk"] == 1, counting.sent
    assert counting.sent["PUT /contacts/{id}"] == (0 if links_inline else 40), counting.sent


# ---------------------------------------------------------------------------------------------------- the target


def test_the_target_with_bulk_preview_writes_what_it_writes_without_it(tmp_path: Path) -> None:
    """The default map from real tap output through the target (live check included): with bulk_preview the
    workspace ends the same as without it (contacts, their companies and relationships, tickets), contacts go in
    bulk, and a re-run writes nothing."""
    from topdesk2intercom_testing.target import map_custom_objects
    from topdesk2intercom_testing.target_acceptance import content, run_target, target_config, topdesk_source

    messages = topdesk_source(60, 5).messages
    results = {}
    for bulk_on in (False, True):
        work = tmp_path / str(bulk_on)
        with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
            sent: Counter[str] = Counter()
            config = target_config(sb, work, bulk_preview=bulk_on)

            def traced(self: t.Any, method: str, path: str, _sent: Counter = sent, **kwargs: t.Any) -> t.Any:
                _sent[route(method, path)] += 1
                return SEND(self, method, path, **kwargs)

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(IntercomClient, "_send", traced)
                first = run_target(messages, config).report
                again = run_target(messages, config).report
            results[bulk_on] = (content(sb.url), first, again, sent, sb.stats()["undocumented_fields"])
    (plain, _, _, sent_plain, ignored), (bulk, first, again, sent_bulk, ignored_bulk) = results[False], results[True]
    assert bulk == plain
    assert ignored_bulk == ignored  # every field of the bulk requests is in the Preview description
    assert CheckResult.from_dict(first["capabilities"]).verdict("bulk_contacts") == HOLDS
    assert first["totals"]["failed"] == 0 and again["totals"]["created"] == 0
    persons = first["entities"]["contacts"]["created"]
    assert persons > 10 and sent_bulk["POST /contacts/bulk"] >= 1
    assert sent_bulk["POST /contacts/{id}/companies"] < sent_plain["POST /contacts/{id}/companies"]
    assert sent_bulk["POST /contacts"] < sent_plain["POST /contacts"] / 4, (sent_bulk, sent_plain)


# ---------------------------------------------------------------------------------------------------- the planner


def test_the_planner_batches_one_record_per_group_and_the_group_follows_in_order() -> None:
    """Pure planner rules: a group's first record goes in the batch, its others follow it in the same task (the
    same person always owns the contact); a group whose chain runs is not batched; ``hold_partial`` leaves a
    batch that is not full for a later read; later records of a batched group join the batch's task."""
    from target_intercom.ledger import Held
    from target_intercom.planner import Batch, Planner
    from target_intercom.writers import WRITERS

    writer = WRITERS["contacts"]
    seq = iter(range(1, 1000))

    def row(person: str, email: str) -> tuple[Held, dict]:
        record = {**contact(person, email), "source_key": f"person:{person}"}
        return Held("contacts", f"person:{person}", record, (), "run", next(seq), 0), {}

    planner = Planner(WRITERS, "run")
    rows = [row("a", "same@x.test"), row("b", "b@x.test"), row("c", "SAME@x.test"), row("d", "d@x.test")]
    plan = planner.dispatch(writer, rows, {}, 2, lambda held, entity: True)
    batches = [task for task in plan.tasks if isinstance(task, Batch)]
    assert [[h.source_key for h, _, _ in b] for b in batches] == [["person:a", "person:b", "person:c"], ["person:d"]]
    assert batches[0].size == 2 and plan.deferred == 0  # c follows a (same e-mail), after the batch's own
    assert len(plan.tasks) == 2  # d: a batch of one (hold_partial is off), nothing outside a batch
    for task in plan.tasks:
        planner.started(writer, task)
    late = planner.dispatch(writer, [row("e", "B@x.test")], {}, 2, lambda held, entity: True)
    assert late.tasks == [] and [h.source_key for h, _, _ in batches[0]][-1] == "person:e"  # joins b's batch
    chained = Planner(WRITERS, "run")
    (chain,) = chained.dispatch(writer, [row("f", "f@x.test")], {}).tasks  # bulk off: a chain of its own
    chained.started(writer, chain)
    assert chained.dispatch(writer, [row("g", "F@x.test")], {}, 2, lambda held, entity: True).tasks == []
    assert [h.source_key for h, _, _ in chain] == ["person:f", "person:g"]  # joined the running chain, unbatched
    held_back = Planner(WRITERS, "run").dispatch(writer, rows[:3], {}, 2, lambda held, entity: True, True)
    assert [len(task) for task in held_back.tasks] == [3] and held_back.deferred == 0
    partial = Planner(WRITERS, "run").dispatch(writer, rows[1:2], {}, 2, lambda held, entity: True, True)
    assert partial.tasks == [] and partial.deferred == 1


# ---------------------------------------------------------------------------------------------------- jobs


def test_tasks_share_one_job_and_its_polls_and_a_closed_job_gives_way_to_a_new_one() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from target_intercom.bulk import BulkJobs

    with intercom_sandbox(bulk_job_delay_seconds=1.0) as sb:
        client = sb.client()
        counting = Counting(client)
        jobs = BulkJobs(client, "contacts")

        def one(n: int) -> tuple[str, str]:
            task = jobs.submit([{"role": "user", "external_id": f"x{n}", "email": f"x{n}@example.test"}])
            return task.job_id, jobs.wait([task])[task.task_id]

        with ThreadPoolExecutor(4) as pool:
            done = list(pool.map(one, range(4)))
        assert {job for job, _ in done} == {"job_v2_1"} and {state for _, state in done} == {"completed"}
        polls = sum(n for r, n in counting.sent.items() if r.startswith("GET /contacts/bulk"))
        assert polls <= 4, counting.sent  # a task pending about 1 s: a few polls, shared, not a poll per task per try
        jobs._open = "job_v2_1"  # as if a thread still held it: Intercom closed it when a poll reported it finished
        again = jobs.submit([{"role": "user", "external_id": "y", "email": "y@example.test"}])
        assert again.job_id == "job_v2_2" and counting.sent["POST /contacts/bulk"] == 6  # the 403, then a new job
        assert len(sb.workspace.contacts) == 5


def test_every_request_of_a_migration_with_bulk_preview_is_documented(tmp_path: Path) -> None:
    """The request gate (``test_request_gate.py``) with bulk_preview: the bulk requests, job polls and searches
    held against the Preview and 2.16 descriptions; no field Intercom would ignore."""
    import requests
    from test_writers_end_to_end import TOKEN, run_target

    from intercom_sandbox.app import WorkspaceSettings, create_app
    from intercom_sandbox.openapi import SpecValidator
    from sandbox_common.server import ServerThread
    from target_intercom.ledger import Ledger
    from topdesk2intercom_testing.target import map_custom_objects

    validator = SpecValidator.shared()
    known = len(validator.check())
    app = create_app(WorkspaceSettings(token=TOKEN, custom_objects=map_custom_objects(), validate_openapi=True))
    config = {
        "ledger_url": Ledger.url_for_path(tmp_path / "ledger.db"),
        "report_dir": str(tmp_path / "reports"),
        "fallback_admin_email": "fallback@sandbox.example",
        "bulk_preview": True,
        "skip_missing_ui_objects": True,
    }
    counting: Counter[str] = Counter()
    with ServerThread(app) as server, pytest.MonkeyPatch.context() as patch:

        def traced(self: t.Any, method: str, path: str, **kwargs: t.Any) -> t.Any:
            counting[route(method, path)] += 1
            return SEND(self, method, path, **kwargs)

        patch.setattr(IntercomClient, "_send", traced)
        run_target({**config, "api_url": server.url})
        stats = requests.get(f"{server.url}/__sandbox/stats", timeout=10).json()
    violations = validator.check()[known:]
    assert counting["POST /contacts/bulk"] >= 2 and counting["POST /contacts/search"] >= 2, counting
    assert stats["undocumented_fields"] == {}, "fields Intercom ignores:\n" + "\n".join(stats["undocumented_fields"])
    assert violations == [], "\n".join(str(v)[:1500] for v in violations)
