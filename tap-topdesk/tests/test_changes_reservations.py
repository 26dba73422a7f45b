"""Changes, change activities and reservations against the strict sandbox (issue 15, findings 2, 3, 8, 9, 10):
only documented (or evidenced) requests, every record arrives (full and delta), on change API 1.4.0 as well."""

from __future__ import annotations

import time
import typing as t
from datetime import UTC, datetime

import pytest

from tap_topdesk.client import parse_instant
from topdesk2intercom_testing.tap import Run, Sent, admin, config, recording, start_sandbox, sync

SCALE, SEED = 300, 21
STREAMS = ("changes", "change_activities", "reservations")


def _on(seen: list[Sent], path: str) -> list[dict[str, list[str]]]:
    return [s.params for s in seen if s.path == path]


def _after(records: list[dict], key: str, bookmark: str) -> set[str]:
    """Ids dated at or after ``bookmark`` (what a delta may re-emit)."""
    floor = parse_instant(bookmark)
    return {r["id"] for r in records if r.get(key) and parse_instant(r[key]) >= floor}


@pytest.fixture(scope="module")
def dataset() -> dict:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(SCALE, SEED).records


def _syncs(url: str, dataset: dict, **extra: t.Any) -> dict[str, t.Any]:
    """Full sync with small pages, then one change, one activity and one reservation modified, then a delta."""
    cfg = config(url, page_size=7, **extra)
    with recording() as seen:
        full = sync(cfg, streams=STREAMS)
    change = next(c for c in dataset["changes"] if not c["archived"])
    activity = next(a for a in dataset["change_activities"] if not a["archived"])
    reservation = next(r for r in dataset["reservations"] if not r["archived"])
    admin(url, "PATCH", f"changes/{change['id']}", json={"briefDescription": "changed after the first sync"})
    admin(url, "PATCH", f"change_activities/{activity['id']}", json={"briefDescription": "changed too"})
    admin(url, "PATCH", f"reservations/{reservation['id']}", json={"notes": "changed too"})
    time.sleep(1.1)  # whole-second dates: the delta's upper bound (its start) must lie in a later second
    with recording() as delta_seen:
        delta = sync(cfg, state=full.state, streams=STREAMS)
    return {
        "full": full,
        "delta": delta,
        "seen": seen + delta_seen,
        "modified": {"changes": change["id"], "change_activities": activity["id"], "reservations": reservation["id"]},
    }


@pytest.fixture(scope="module")
def newer(dataset: dict) -> dict[str, t.Any]:
    """The default sandbox: the newer change API (FIQL, fields, 206)."""
    return _syncs(start_sandbox(scale=SCALE, seed=SEED), dataset)


@pytest.fixture(scope="module")
def change_14(dataset: dict) -> dict[str, t.Any]:
    """A tenant on change API 1.4.0: ``/operatorChanges`` refuses ``query`` and ``fields``, every page is a 200."""
    return _syncs(start_sandbox(scale=SCALE, seed=SEED, variants=frozenset({"change-1.4"})), dataset)


def _every_record_arrives(run: Run, dataset: dict) -> None:
    for stream in STREAMS:
        ids = [r["id"] for r in run.records(stream)]
        assert sorted(ids) == sorted(r["id"] for r in dataset[stream]), stream


def _delta_emits_what_changed(runs: dict[str, t.Any], dataset: dict) -> None:
    """The modified record of each stream arrives; nothing dated before the first sync's bookmark does."""
    bookmarks = runs["full"].state["bookmarks"]
    for stream, key in (
        ("changes", "lastModificationDate"),
        ("change_activities", "lastModificationDate"),
        ("reservations", "modificationDate"),
    ):
        emitted = {r["id"] for r in runs["delta"].records(stream)}
        assert runs["modified"][stream] in emitted, stream
        allowed = _after(dataset[stream], key, bookmarks[stream]["replication_key_value"])
        assert emitted <= allowed | {runs["modified"][stream]}, stream


def test_every_change_activity_and_reservation_arrives(newer: dict, dataset: dict) -> None:
    _every_record_arrives(newer["full"], dataset)


def test_delta_emits_what_changed(newer: dict, dataset: dict) -> None:
    _delta_emits_what_changed(newer, dataset)


def test_every_request_is_accepted(newer: dict, change_14: dict) -> None:
    refused = [s for runs in (newer, change_14) for s in runs["seen"] if s.status >= 400]
    # change 1.4.0: the one probe of the windowed shape is refused, then the documented whole-list read follows
    assert [s.path for s in refused] == ["/tas/api/operatorChanges"] * 2, [str(s) for s in refused]


def test_reservations_filter_only_documented_fields(newer: dict) -> None:
    """Finding 2: ``modificationDate`` is not a reservation filter field; seek and ``archived`` are."""
    queries = [q["query"][0] for q in _on(newer["seen"], "/tas/api/reservations") if "query" in q]
    assert queries and not [q for q in queries if "modificationDate" in q]
    assert any("plannedStartDate=ge=" in q for q in queries)


def test_change_activities_send_no_query_and_page_past_a_full_200(newer: dict, dataset: dict) -> None:
    """Finding 3: no ``query`` (undocumented there); a full page answered 200 is followed by the next one."""
    asked = _on(newer["seen"], "/tas/api/operatorChangeActivities")
    assert asked and not [q for q in asked if "query" in q]
    assert len(dataset["change_activities"]) > 7  # longer than one page of the configured size
    assert {q["pageStart"][0] for q in asked} > {"0"}
    assert all(s.status == 200 for s in newer["seen"] if s.path == "/tas/api/operatorChangeActivities")


def test_changes_sort_on_one_field(newer: dict) -> None:
    """Finding 9: documented sorts take one field."""
    sorts = [q.get("sort", [""])[0] for q in _on(newer["seen"], "/tas/api/operatorChanges")]
    assert sorts and all("," not in s for s in sorts)


def test_changes_replicate_on_last_modification_date(newer: dict) -> None:
    """Finding 10: the detail shape (``fields=all``) has ``lastModificationDate``, not ``modificationDate``."""
    changes = newer["full"].records("changes")
    assert changes and all("modificationDate" not in r and r["lastModificationDate"] for r in changes)
    assert newer["full"].state["bookmarks"]["changes"]["replication_key"] == "lastModificationDate"


def test_include_archived_false_leaves_archived_changes_out(dataset: dict) -> None:
    """Finding 8: ``archived=false`` is ignored once ``query`` is sent; FIQL ``archived==false`` is not."""
    url = start_sandbox(scale=SCALE, seed=SEED)
    with recording() as seen:
        run = sync(config(url, include_archived=False), streams=STREAMS)
    for stream in STREAMS:
        expected = sorted(r["id"] for r in dataset[stream] if not r["archived"])
        assert expected and sorted(r["id"] for r in run.records(stream)) == expected, stream
    windows = [q for q in _on(seen, "/tas/api/operatorChanges") if "query" in q]
    assert windows and all("archived==false" in q["query"][0] and "archived" not in q for q in windows)


def test_change_api_14_reads_the_documented_list(change_14: dict, dataset: dict) -> None:
    """Change API 1.4.0: the whole list without ``query``/``fields``, then each change's detail."""
    _every_record_arrives(change_14["full"], dataset)
    _delta_emits_what_changed(change_14, dataset)
    asked = _on(change_14["seen"], "/tas/api/operatorChanges")
    assert len([q for q in asked if "query" in q]) == 2  # one refused probe per sync
    assert all("fields" not in q and "sort" not in q for q in asked if "query" not in q)
    assert all("lastModificationDate" in r for r in change_14["full"].records("changes"))


def _moving_list(rows: list[str], moves: dict[int, t.Callable[[list[str]], None]], cap: int | None = None):
    """A fetch over ``rows`` that applies ``moves[n]`` before the n-th request (a change deleted or added meanwhile)
    and returns at most ``cap`` rows per page (a server capping the page size)."""
    calls = [0]

    def fetch(offset: int, size: int) -> list[dict]:
        if calls[0] in moves:
            moves[calls[0]](rows)
        calls[0] += 1
        return [{"id": i} for i in rows[offset : offset + min(size, cap or size)]]

    return fetch


def _delete(*names: str) -> t.Callable[[list[str]], None]:
    return lambda rows: [rows.remove(n) for n in names] and None


def _create(*names: str) -> t.Callable[[list[str]], None]:
    return lambda rows: [rows.insert(0, n) for n in names] and None


@pytest.mark.parametrize(
    ("moves", "cap"),
    [
        ({}, None),
        ({}, 4),  # the server returns fewer rows than asked: not the end
        ({2: _delete("r01")}, None),  # a row before the offset deleted: the rest shifts left
        ({1: _create("n1")}, None),  # a row created before the offset: the rest shifts right
        ({1: _create("n1", "n2", "n3", "n4", "n5", "n6")}, None),  # a whole page of them
        ({1: _delete("r06")}, None),  # the last row read deleted: the page resumes after the one before it
    ],
)
def test_whole_list_paging_neither_skips_nor_repeats(moves: dict, cap: int | None) -> None:
    """The whole-list reads (activities, changes on 1.4.0) lose no row another one's deletion shifts."""
    from tap_topdesk.streams.whole import overlapping_rows

    rows = [f"r{i:02d}" for i in range(30)]
    original = list(rows)
    fetch = _moving_list(rows, moves, cap)
    read = [r["id"] for r in overlapping_rows(lambda offset: fetch(offset, 7), 7)]
    assert len(read) == len(set(read))
    assert set(original) - set(read) <= {"r01"}  # only the deleted row may be missing
    assert set(read) <= set(rows) | set(original)


def test_whole_list_paging_fails_loudly_when_the_list_moved_too_far() -> None:
    from singer_sdk.exceptions import FatalAPIError

    from tap_topdesk.streams.whole import overlapping_rows

    rows = [f"r{i:02d}" for i in range(30)]
    fetch = _moving_list(rows, {1: _delete("r00", "r01", "r02", "r03", "r04")})
    with pytest.raises(FatalAPIError, match="moved"):
        list(overlapping_rows(lambda offset: fetch(offset, 7), 7))


def test_change_api_14_keeps_the_bookmark_at_the_sync_start(dataset: dict) -> None:
    """The whole-list read emits in list order: its bookmark is the SDK's unsorted progress marker, capped at the
    sync start, so a change dated in the future cannot make every later delta skip what changes until then."""
    url = start_sandbox(scale=SCALE, seed=SEED, variants=frozenset({"change-1.4"}))
    future = dataset["changes"][0]["id"]
    admin(url, "PATCH", f"changes/{future}", json={"lastModificationDate": "2099-01-01T00:00:00.000+0000"})
    started = datetime.now(UTC)
    run = sync(config(url), streams=["changes"])
    assert len(run.records("changes")) == len(dataset["changes"])
    bookmark = parse_instant(run.state["bookmarks"]["changes"]["replication_key_value"])
    assert bookmark <= datetime.now(UTC) and bookmark >= started.replace(microsecond=0)
