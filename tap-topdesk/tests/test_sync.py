"""Full sync = the sandbox's record counts; a delta sync from the saved state emits only the records of each bookmark's
own second (read again inclusively: TOPdesk stores whole seconds, so a change in that second must not be lost); after
changing 5 calls and adding 3 persons, the next sync emits those 8 besides (plus the changed calls' children)."""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from topdesk2intercom_testing.tap import SAME_COUNT, Run, admin, config, start_sandbox, sync

#: Streams whose records carry no change marker: read in full, emitted only when their content changed.
SNAPSHOTS = {"departments", "budget_holders", "suppliers", "asset_templates", "asset_links"}
#: Children re-read for every call that changed.
INCIDENT_CHILDREN = {"incident_progress_trail", "incident_attachments", "incident_emails"}
#: Other children, re-read for each parent record emitted.
CHILDREN = {"operator_group_members", "change_progress_trail", "operational_series"}


@pytest.fixture(scope="module")
def sandbox() -> str:
    """A private scale-2000 sandbox: this module changes its data."""
    return start_sandbox(scale=2000, seed=11)


@pytest.fixture(scope="module")
def dataset() -> dict:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(2000, 11).records


@pytest.fixture(scope="module")
def runs(sandbox: str, dataset: dict) -> dict:
    """Three syncs: full, delta (no change), delta after 5 modified calls + 3 new persons."""
    cfg = config(sandbox)
    started = time.monotonic()
    full = sync(cfg)
    elapsed = time.monotonic() - started
    second = sync(cfg, state=full.state)
    changed_calls = [c["id"] for c in dataset["incidents"][100:105]]
    for call_id in changed_calls:
        admin(sandbox, "PATCH", f"incidents/{call_id}", json={"briefDescription": "changed by the delta test"})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    new_persons = []
    for i in range(3):
        person = copy.deepcopy(dataset["persons"][i])
        person["id"] = str(uuid.uuid4())
        person["email"] = f"delta.{i}@example.com"
        person["creationDate"] = person["modificationDate"] = now
        admin(sandbox, "POST", "persons", json=person)
        new_persons.append(person["id"])
    third = sync(cfg, state=second.state)
    return {
        "full": full,
        "second": second,
        "third": third,
        "elapsed": elapsed,
        "changed_calls": changed_calls,
        "new_persons": new_persons,
    }


def test_full_sync_emits_every_record(runs: dict, dataset: dict) -> None:
    counts = runs["full"].counts
    for stream, resource in SAME_COUNT.items():
        assert counts[stream] == len(dataset[resource]), stream
    # one stream per asset template, together every asset
    asset_streams = {s: n for s, n in counts.items() if s.startswith("assets_")}
    assert len(asset_streams) == len(dataset["asset_templates"])
    assert sum(asset_streams.values()) == len(dataset["assets"])
    # no duplicates in keyed streams
    ids = [r["id"] for r in runs["full"].records("incidents")]
    assert len(ids) == len(set(ids))
    rate = sum(counts.values()) / runs["elapsed"]
    print(f"full sync: {sum(counts.values())} records in {runs['elapsed']:.1f}s = {rate:.0f} records/s")


def at_bookmarks(run: Run, state: dict) -> dict[str, set[str]]:
    """Per incremental stream, the ids ``run`` emitted; asserts each carries that stream's bookmark value."""
    emitted = {}
    for stream, bookmark in state["bookmarks"].items():
        key, value = bookmark.get("replication_key"), bookmark.get("replication_key_value")
        records = run.records(stream)
        if key and records:
            assert {r[key] for r in records} == {value}, stream
            emitted[stream] = {r["id"] for r in records}
    return emitted


def test_second_sync_emits_only_the_bookmarks_second(runs: dict) -> None:
    assert {s for s, n in runs["full"].counts.items() if n} >= SNAPSHOTS
    second = runs["second"]
    emitted = at_bookmarks(second, runs["full"].state)
    assert sum(len(ids) for ids in emitted.values()) <= 5 * len(emitted)  # a few records, not the tables
    children = {s for s, n in second.counts.items() if n} - set(emitted)
    assert children <= INCIDENT_CHILDREN | CHILDREN, children
    for child in INCIDENT_CHILDREN:
        assert {r["incident_id"] for r in second.records(child)} <= emitted.get("incidents", set())


def test_third_sync_emits_the_changes(runs: dict, dataset: dict) -> None:
    third = runs["third"]
    again = at_bookmarks(runs["second"], runs["second"].state)  # the second's bookmark second, read once more
    calls = {r["id"] for r in third.records("incidents")}
    assert calls - again.get("incidents", set()) == set(runs["changed_calls"])
    persons = {r["id"] for r in third.records("persons")}
    assert persons - again.get("persons", set()) == set(runs["new_persons"])
    changed = set(runs["changed_calls"])
    for child in INCIDENT_CHILDREN:
        assert {r["incident_id"] for r in third.records(child)} <= calls
    expected_trail = sum(1 for r in dataset["incident_progresstrail"] if r["_incidentId"] in calls)
    assert len(third.records("incident_progress_trail")) == expected_trail
    assert changed <= calls
    others = {s for s, n in third.counts.items() if n} - INCIDENT_CHILDREN - CHILDREN - {"incidents", "persons"}
    assert others <= set(again), others


def test_state_has_bookmarks_per_stream(runs: dict) -> None:
    bookmarks = runs["full"].state["bookmarks"]
    assert bookmarks["incidents"]["replication_key"] == "modificationDate"
    assert bookmarks["changes"]["replication_key"] == "lastModificationDate"
    assert bookmarks["change_activities"]["replication_key"] == "lastModificationDate"
    # child streams keep no per-call partitions (they are re-read whenever their call changes)
    assert "partitions" not in bookmarks.get("incident_progress_trail", {})


def test_dates_are_rfc3339(runs: dict) -> None:
    call = runs["full"].records("incidents")[0]
    assert call["modificationDate"].endswith("+00:00")
    asset = next(r for s in runs["full"].counts if s.startswith("assets_") for r in runs["full"].records(s))
    datetime.fromisoformat(asset["modificationDate"])
    assert asset["modificationDate"].endswith("+00:00")


def test_a_snapshot_stream_is_emitted_again_once_its_content_changes() -> None:
    """Lists without a change marker stay quiet while unchanged, and come back whole after any change."""
    url = start_sandbox(scale=100, seed=21)
    streams = ["departments", "asset_templates"]
    first = sync(config(url), streams=streams)
    departments = len(first.records("departments"))
    assert departments and first.records("asset_templates")
    quiet = sync(config(url), state=first.state, streams=streams)
    assert sum(quiet.counts.values()) == 0
    admin(url, "POST", "departments", json={"id": "0d7b2c4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f", "name": "Facilities"})
    changed = sync(config(url), state=quiet.state, streams=streams)
    assert len(changed.records("departments")) == departments + 1
    assert not changed.records("asset_templates")


def test_each_stream_sends_its_schema_once_and_children_no_state_of_their_own(runs: dict) -> None:
    """Child streams sync once per parent record; resending SCHEMA and STATE each time would bloat the output
    (a third of it at 500 calls) without telling the target anything new."""
    messages = runs["full"].messages
    schemas = Counter(m["stream"] for m in messages if m["type"] == "SCHEMA")
    assert schemas["incident_progress_trail"] == schemas["incident_emails"] == schemas["incidents"] == 1
    assert max(schemas.values()) == 1
    states = sum(m["type"] == "STATE" for m in messages)
    assert states < len(schemas) + sum(m["type"] == "RECORD" for m in messages) // 10_000 + 5


def test_what_others_point_to_is_synced_first(runs: dict) -> None:
    """Assets, changes, reservations and folders come before the persons and calls that link or name them, persons
    before calls: a target can create a contact or a ticket with the links already waiting for it, and no call
    waits for its caller."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for n, message in enumerate(runs["full"].messages):
        if message["type"] == "RECORD":
            first.setdefault(message["stream"], n)
            last[message["stream"]] = n
    asset_streams = [s for s in first if s.startswith("assets_")]
    assert asset_streams, sorted(first)
    for before in [*asset_streams, "changes", "change_activities", "reservations", "knowledge_folders"]:
        assert last[before] < first["persons"], before
    assert last["persons"] < first["incidents"]
    assert last["knowledge_folders"] < first["knowledge_items"]
