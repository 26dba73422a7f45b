"""Acceptance of target-intercom (issue 5): a whole TOPdesk sandbox migration into the Intercom sandbox.

- the migration loads and the Intercom contents match the TOPdesk source (counts per entity, field values of a
  sample);
- a re-run creates and updates nothing; 5 calls changed in TOPdesk (delta sync with the tap's state) update exactly
  those 5 tickets;
- with faults before the handler (``fault_rate``), answers lost after it (``lost_answer_rate``, the write happened)
  and a rate limit low enough to throttle, the migration ends with the same contents and no failure;
- the target process SIGKILLed at several points and re-run ends with the same contents: no loss, no duplicate.

"Same contents" is :func:`content`: the sandbox export with Intercom ids replaced by the source keys they stand for
(contact: TOPdesk person id or e-mail; company: branch id; ticket: call number) and request-time fields dropped.

Size: ``SCALE`` calls: 200 by default (the module takes ~40 s on 2 cores, most of it the throttled fault run);
``TOPDESK2INTERCOM_HEAVY=1`` runs the 2000-call migration of the acceptance criteria (~5.5 min: the clean run is bound
by the sandbox's default 10,000 requests/min, the fault run by its 6,000/min). ``-s`` prints the numbers of each run
(time, requests, 429s, retries, settles, injected faults, report totals).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import time
import typing as t
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from topdesk2intercom_testing.target import RunningSandbox, intercom_sandbox, map_custom_objects
from topdesk2intercom_testing.target_acceptance import (
    STATE_PART,
    STREAMS,
    Progress,
    Run,
    Source,
    content,
    differences,
    kill_and_resume,
    kill_point,
    latest_report,
    run_target,
    tap_kit,
    target_config,
    topdesk_source,
)

HEAVY = os.environ.get("TOPDESK2INTERCOM_HEAVY") == "1"
SCALE = 2000 if HEAVY else 200
SEED = 23
SAMPLE = 30
#: processingStatus.name -> Intercom ticket state category, as the default map documents it
STATES = {
    "Registered": "submitted",
    "In progress": "in_progress",
    "Waiting for caller": "waiting_on_customer",
    "Waiting for supplier": "in_progress",
    "Closed": "resolved",
}


@pytest.fixture(scope="module")
def source() -> Source:
    """A private TOPdesk sandbox (the delta test changes it) and one full sync of the mapped streams."""
    return topdesk_source(SCALE, SEED)


def unix(value: str | None) -> int | None:
    return int(datetime.fromisoformat(value).timestamp()) if value else None


def text(markup: str | None) -> str:
    """Visible text of an HTML body, whitespace-normalised (for comparing a part with its TOPdesk entry)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup or "")).split())


@dataclass
class Loaded:
    sb: RunningSandbox
    workdir: Path
    config: dict
    first: Run
    snapshot: dict
    stats: dict


@pytest.fixture(scope="module")
def loaded(source: Source, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Loaded]:
    """The clean, uninterrupted migration every other test compares with."""
    workdir = tmp_path_factory.mktemp("clean")
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        config = target_config(sb, workdir)
        first = run_target(source.messages, config)
        yield Loaded(sb, workdir, config, first, content(sb.url), sb.stats())


def measured(label: str, run: Run, stats: dict, faults: t.Any = None) -> None:
    """One line of numbers per run, shown with ``-s`` (and in the report)."""
    requests_ = run.report.get("requests") or {}
    print(
        f"\n[{label}] {SCALE} calls: {run.seconds:.1f} s, sandbox requests {stats['requests_served']}, "
        f"429 {stats['requests_rejected_429']}, client retries {requests_.get('retries')}, "
        f"settles {dict(run.settles)}, faults {dict(faults or {})}, totals {run.report['totals']}"
    )


# ---------------------------------------------------------------------------------------------------- tests


def test_migration_matches_the_source(source: Source, loaded: Loaded) -> None:
    measured("clean", loaded.first, loaded.stats)
    report, ws = loaded.first.report, loaded.sb.workspace
    persons, branches = source.records("persons"), source.records("branches")
    incidents = source.records("incidents")
    trail, attachments = source.records("incident_progress_trail"), source.records("incident_attachments")
    emails = source.records("incident_emails")
    assert report["totals"]["failed"] == 0 and report["manual_review"] == []

    # counts per entity
    person_emails = {(p.get("email") or f"topdesk-person-{p['id']}@placeholder.invalid").lower() for p in persons}
    guests = {
        i["caller"]["email"].lower()
        for i in incidents
        if not (i.get("caller") or {}).get("id") and (i.get("caller") or {}).get("email")
    }
    assert len(ws.contacts) == len(person_emails | guests)
    assert len(ws.companies) == len(branches)
    assert len(ws.tickets) == len(incidents)
    parts = [p for tk in ws.tickets.values() for p in tk["parts"] if p["part_type"] != STATE_PART]
    assert len(parts) == len(trail) + len(attachments) + len(emails)
    assert report["entities"]["tickets"]["created"] == len(incidents)
    assert report["entities"]["ticket_parts"]["created"] == len(parts)

    # companies: one per branch, name and company id
    companies = {c["company_id"]: c for c in ws.companies.values()}
    assert {b["id"]: b["name"] for b in branches} == {k: c["name"] for k, c in companies.items()}

    pick = random.Random(SEED)
    # contacts: name, e-mail, external id (a person whose e-mail another person has by case is merged into it)
    by_email = {c["email"]: c for c in ws.contacts.values()}
    owners: dict[str, set[str]] = {}
    for p in persons:
        owners.setdefault((p.get("email") or "").lower(), set()).add(p["id"])
    for person in pick.sample(persons, min(SAMPLE, len(persons))):
        email = (person.get("email") or f"topdesk-person-{person['id']}@placeholder.invalid").lower()
        contact = by_email[email]
        if contact.get("external_id") == person["id"]:
            name = person.get("dynamicName") or f"{person.get('firstName') or ''} {person.get('surName') or ''}"
            assert contact.get("name") == name.strip()
        else:  # merged: the contact belongs to another person with the same e-mail
            assert contact["external_id"] in owners[email] and len(owners[email]) > 1

    # tickets: title, call number attribute, created_at, open, state
    tickets = {tk["attributes"]["Call number"]: tk for tk in ws.tickets.values()}
    states = {s["id"]: s["category"] for s in ws.ticket_states.values()}
    for call in pick.sample(incidents, min(SAMPLE, len(incidents))):
        tk = tickets[call["number"]]
        assert tk["attributes"]["_default_title_"] == f"{call['number']} {call.get('briefDescription') or ''}".strip()
        assert tk["created_at"] == unix(call["callDate"])
        assert tk["open"] is (not call.get("closed"))
        status = (call.get("processingStatus") or {}).get("name")
        assert states[tk["state_id"]] == (STATES.get(status, "in_progress") if status else "submitted"), call["number"]

    # parts: body text, created_at, author type
    number = {i["id"]: i["number"] for i in incidents}
    entries = [("trail", e) for e in trail] + [("attachment", a) for a in attachments] + [("email", e) for e in emails]
    for source_kind, entry in pick.sample(entries, min(SAMPLE, len(entries))):
        created = unix(entry.get("entryDate") or entry.get("sendDate"))
        if source_kind == "email":
            want_text, author = text(entry["content"]), "admin"
        elif source_kind == "trail":
            want_text = text(entry.get("memoText") or entry.get("plainText"))
            author = (
                "user"
                if (entry.get("person") or {}).get("id")
                and not (entry.get("operator") or {}).get("id")
                and not entry.get("invisibleForCaller")
                else "admin"
            )
        else:
            want_text, author = f"Attachment {entry['fileName']}", "admin"  # not downloaded: a note naming it
        candidates = [
            p
            for p in tickets[number[entry["incident_id"]]]["parts"]
            if p.get("created_at") == created and want_text in text(p.get("body"))
        ]
        assert candidates, f"{source_kind} {entry['id']}: no part at {created} with {want_text[:60]!r}"
        assert author in {p["author"][0] for p in candidates}, (source_kind, entry["id"])


def test_rerun_creates_and_updates_nothing(source: Source, loaded: Loaded) -> None:
    again = run_target(source.messages, loaded.config)
    measured("rerun", again, loaded.sb.stats())
    totals = again.report["totals"]
    assert (totals["created"], totals["updated"], totals["failed"]) == (0, 0, 0), again.report["entities"]
    assert again.report["entities"]["tickets"]["unchanged"] == len(source.records("incidents"))
    assert differences(content(loaded.sb.url), loaded.snapshot) == []


def test_five_changed_calls_update_exactly_those_tickets(source: Source, loaded: Loaded) -> None:
    """Runs after the re-run test (it changes the TOPdesk sandbox and the clean Intercom workspace)."""
    incidents = source.records("incidents")
    changed = random.Random(5).sample(incidents, 5)
    for call in changed:
        tap_kit().admin(
            source.url,
            "PATCH",
            f"incidents/{call['id']}",
            json={"briefDescription": f"{call.get('briefDescription') or ''} (edited)"},
        )
    delta = tap_kit().sync(tap_kit().config(source.url), state=source.state, streams=STREAMS)
    # the changed calls, and those of the bookmark's second read again (TOPdesk keeps whole seconds), found unchanged
    second = str(source.state["bookmarks"]["incidents"]["replication_key_value"])[:19]
    again = {r["id"] for r in delta.records("incidents")} - {c["id"] for c in changed}
    assert all(str(r["modificationDate"])[:19] == second for r in incidents if r["id"] in again)
    assert {c["id"] for c in changed} <= {r["id"] for r in delta.records("incidents")}
    run = run_target(delta.messages, loaded.config)
    measured("delta", run, loaded.sb.stats())
    entities, totals = run.report["entities"], run.report["totals"]
    assert entities["tickets"]["updated"] == 5 and totals["updated"] == 5, entities
    assert totals["created"] == 0 and totals["failed"] == 0
    after = content(loaded.sb.url)
    numbers = {c["number"] for c in changed}
    edited = [tk for tk in after["tickets"] if tk["attributes"]["_default_title_"].endswith("(edited)")]
    assert {tk["attributes"]["Call number"] for tk in edited} == numbers
    unchanged = [tk for tk in after["tickets"] if tk["attributes"]["Call number"] not in numbers]
    assert unchanged == [tk for tk in loaded.snapshot["tickets"] if tk["attributes"]["Call number"] not in numbers]
    assert {k: v for k, v in after.items() if k != "tickets"} == {
        k: v for k, v in loaded.snapshot.items() if k != "tickets"
    }


#: rate limit low enough that the pacer must wait for window resets (10-s windows of limit // 6 requests)
THROTTLE_PER_MINUTE = 6000 if HEAVY else 4800
#: tries per record: a create (non-idempotent) fails ~15% of the time here (10% before + 5% after the handler) and is
#: sent once per try, so with the default 3 about N * 0.15**3 records would end in review (test_..._three_retries)
FAULT_MAX_RETRIES = 8


def test_faults_lost_answers_and_throttling_end_with_the_same_contents(
    source: Source, loaded: Loaded, tmp_path: Path
) -> None:
    """Same contents as the clean run and no failure, although ~15% of the requests fail (10% before the handler,
    5% after it: the write happened) and the pacers must wait for window resets. Three private apps' tokens of a
    workspace whose limit binds before theirs. (Found the settled-create bug: a ticket whose create answer was lost
    kept state 'submitted'; deterministic twin below.)"""
    workspace_rate_limit = THROTTLE_PER_MINUTE
    with intercom_sandbox(
        custom_objects=map_custom_objects(),
        fault_rate=0.1,
        lost_answer_rate=0.05,
        fault_seed=11,
        extra_tokens=("second-app-token", "third-app-token"),
        workspace_rate_limit_per_minute=workspace_rate_limit,
    ) as sb:
        config = target_config(sb, tmp_path, max_retries=FAULT_MAX_RETRIES, workspace_rate_limit=workspace_rate_limit)
        run = run_target(source.messages, config)
        stats, faults = sb.stats(), dict(sb.app.state.fault_stats)
        measured("faults", run, stats, faults)
        got = content(sb.url)
    assert faults["lost_error"] + faults["lost_cut"] > 0 and faults["error"] + faults["reset"] > 0
    shares = stats["workspace_window_budget"] // 3 * 3  # what the three apps send together per window at most
    assert stats["max_requests_in_window"] >= shares or stats["requests_rejected_429"] > 0, (
        "the rate limit never bound: lower THROTTLE_PER_MINUTE"
    )
    assert all(app["requests_served"] > 0 for app in stats["apps"])
    assert run.report["manual_review"] == [] and run.report["totals"]["failed"] == 0
    diff = differences(got, loaded.snapshot)
    assert diff == [], "\n".join(diff)


def few_calls(source: Source, calls: int) -> list[dict]:
    """The people streams and the first closed calls only (no parts): a small, fast migration."""
    closed = [i for i in source.records("incidents") if i.get("closed")][:calls]
    keep = {i["id"] for i in closed}
    return [
        m
        for m in source.messages
        if m["type"] != "RECORD"
        or m["stream"] in ("persons", "branches", "operators")
        or (m["stream"] == "incidents" and m["record"]["id"] in keep)
    ]


def test_a_ticket_whose_create_answer_was_lost_still_gets_its_state(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the lost answer: the first ``POST /tickets`` is applied, then its answer is lost.
    The settled ticket must still get the state its call had (regression: it stayed 'submitted' and open)."""
    from target_intercom.client import IntercomClient, IntercomError

    send = IntercomClient.request
    lost: list[str] = []

    def request(self: IntercomClient, method: str, path: str, **kwargs: t.Any) -> dict:
        answer = send(self, method, path, **kwargs)
        if method == "POST" and path == "/tickets" and not lost:
            lost.append(str(answer["id"]))
            raise IntercomError(f"{method} {path}: answer lost; it may have been applied", ambiguous=True)
        return answer

    monkeypatch.setattr(IntercomClient, "request", request)
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        run = run_target(few_calls(source, 3), target_config(sb, tmp_path, live_check=False))  # (its own tickets)
        tickets = list(sb.workspace.tickets.values())
        states = {s["id"]: s["category"] for s in sb.workspace.ticket_states.values()}
    assert lost and run.settles["tickets found"] == 1 and len(tickets) == 3  # settled, not created twice
    assert [(tk["open"], states[tk["state_id"]]) for tk in tickets] == [(False, "resolved")] * 3


def test_a_create_is_retried_three_times_after_ambiguous_failures(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket create fails three times before Intercom applies it (nothing written): with ``max_retries: 3`` it
    is retried three times and written on the fourth try."""
    from target_intercom.client import IntercomClient, IntercomError

    send = IntercomClient.request
    failures: list[str] = []

    def request(self: IntercomClient, method: str, path: str, **kwargs: t.Any) -> dict:
        if method == "POST" and path == "/tickets":
            call = kwargs["json"]["ticket_attributes"]["Call number"]
            if failures.count(call) < 3 and (not failures or failures[0] == call):  # one ticket fails 3 times
                failures.append(call)
                raise IntercomError(f"{method} {path}: 502 Bad Gateway", status=502, ambiguous=True)
        return send(self, method, path, **kwargs)

    monkeypatch.setattr(IntercomClient, "request", request)
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        run = run_target(few_calls(source, 2), target_config(sb, tmp_path, max_retries=3, live_check=False))
        assert len(sb.workspace.tickets) == 2
    assert len(failures) == 3
    assert run.report["manual_review"] == [] and run.report["totals"]["failed"] == 0


def test_a_failed_reply_is_not_mistaken_for_an_earlier_part_of_the_same_second(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from target_intercom.client import IntercomClient, IntercomError

    trail = source.records("incident_progress_trail")
    per_call = Counter(e["incident_id"] for e in trail)
    call = next(i for i in source.records("incidents") if per_call[i["id"]] >= 2 and (i.get("caller") or {}).get("id"))
    first, second = [dict(e) for e in trail if e["incident_id"] == call["id"]][:2]
    for entry, words in ((first, "First note"), (second, "Second note, same second")):
        operator = first.get("operator") or {"id": "op-1", "name": "Operator"}
        entry.update(
            entryDate=first["entryDate"],
            invisibleForCaller=True,
            operator=operator,
            person=None,
            memoText=f"<p>{words}</p>",
            plainText=words,
        )
    keep = {first["id"], second["id"], call["id"]}
    messages = [
        m
        for m in source.messages
        if m["type"] != "RECORD" or m["stream"] in ("persons", "branches", "operators") or m["record"].get("id") in keep
    ]
    messages = [
        m
        if m["type"] != "RECORD" or m["record"].get("id") not in (first["id"], second["id"])
        else {**m, "record": first if m["record"]["id"] == first["id"] else second}
        for m in messages
    ]
    send = IntercomClient.request
    failed: list[str] = []

    def request(self: IntercomClient, method: str, path: str, **kwargs: t.Any) -> dict:
        body = (kwargs.get("json") or {}).get("body") or ""
        if path.endswith("/reply") and "Second note" in body and not failed:
            failed.append(path)  # a 502 before the handler: nothing applied, but a POST cannot know that
            raise IntercomError(f"{method} {path}: 502 Bad Gateway", status=502, ambiguous=True)
        return send(self, method, path, **kwargs)

    monkeypatch.setattr(IntercomClient, "request", request)
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        run_target(messages, target_config(sb, tmp_path))
        [ticket] = sb.workspace.tickets.values()
        bodies = [text(p.get("body")) for p in ticket["parts"] if p["part_type"] != STATE_PART]
    assert failed and bodies == ["First note", "Second note, same second"]


# ---------------------------------------------------------------------------------------------------- SIGKILL


def test_sigkill_at_three_points_and_rerun_ends_identical(source: Source, loaded: Loaded, tmp_path: Path) -> None:
    """The target as its own process (console script, Singer messages on stdin), killed with SIGKILL when the
    sandbox holds half the contacts, then 40% of the tickets, then half the parts; each time re-run; the last
    run goes to the end; with three private apps' tokens. (Issue 7's heavy suite: ``seeded_kill_points`` with 10+
    points on 5k calls.)"""
    messages = source.write_jsonl(tmp_path / "messages.jsonl")
    want = loaded.snapshot
    parts = sum(len(tk["parts"]) for tk in want["tickets"])
    with intercom_sandbox(custom_objects=map_custom_objects(), extra_tokens=("second-app", "third-app")) as sb:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(target_config(sb, tmp_path)))
        progress = Progress(sb)
        points = [
            kill_point(progress, "contacts", len(want["contacts"]) // 2),
            kill_point(progress, "tickets", len(want["tickets"]) * 2 // 5),
            kill_point(progress, "parts", parts // 2),
        ]
        started = time.monotonic()
        killed = kill_and_resume(messages, config, points, progress, tmp_path)
        got = content(sb.url)
        print(
            f"\n[sigkill] {SCALE} calls: {time.monotonic() - started:.1f} s; killed at (point, (contacts, tickets, "
            f"parts)) {killed}; sandbox requests {sb.stats()['requests_served']}"
        )
    assert len(killed) >= 2, f"the target finished before most kill points: {killed}"
    report = latest_report(tmp_path)
    assert report["totals"]["failed"] == 0 and report["manual_review"] == []
    diff = differences(got, loaded.snapshot)
    assert diff == [], "\n".join(diff)
