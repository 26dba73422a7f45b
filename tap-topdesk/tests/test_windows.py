"""Windowed extraction: a Virtual Appliance that times out on large lists still yields everything (windows are
halved), a window that keeps failing fails the run naming stream and window, and a window whose paging loses
rows is detected by the recount and re-read."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests
from singer_sdk.exceptions import FatalSyncError

from tap_topdesk.pagination import Page, Window, WindowedReader
from topdesk2intercom_testing.tap import SAME_COUNT, config, shared_sandbox, sync


@pytest.fixture(scope="module")
def dataset() -> dict:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(2000, 5).records


def test_export_timeout_is_survived_through_windows(dataset: dict, caplog: pytest.LogCaptureFixture) -> None:
    """A full sync of every stream completes with exactly the dataset's counts although any list matching more
    than 500 records hangs and fails with 500."""
    url = shared_sandbox(scale=2000, seed=5, export_timeout_over=500)
    # one-year windows hold more than 500 calls, so some must be split to get under the time-out
    cfg = config(url, window_days=365, max_retries=1)
    with caplog.at_level(logging.WARNING):
        run = sync(cfg)
    for stream, resource in SAME_COUNT.items():
        assert run.counts[stream] == len(dataset[resource]), stream
    assert sum(n for s, n in run.counts.items() if s.startswith("assets_")) == len(dataset["assets"])
    assert len({r["id"] for r in run.records("incidents")}) == len(dataset["incidents"])
    assert any("failed" in r.getMessage() and "retrying as" in r.getMessage() for r in caplog.records)


def test_window_that_keeps_failing_fails_the_run() -> None:
    url = shared_sandbox(scale=200, seed=5, export_timeout_over=0)  # every non-empty list "times out"
    cfg = config(url, window_days=4, max_retries=1)
    with pytest.raises(FatalSyncError, match=r"Stream 'incidents': window \[.*\) still fails"):
        sync(cfg, streams=["incidents"])


def test_recount_detects_rows_lost_while_paging() -> None:
    """Offset paging loses a row when one moves out of the window between pages; the id recount notices, and
    the window is re-read (as halves) until complete."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"id": f"r{i}", "modificationDate": (base + timedelta(hours=i)).isoformat()} for i in range(10)]
    calls = {"n": 0}

    def fetch(window: Window, offset: int) -> Page:
        calls["n"] += 1
        inside = [r for r in rows if window.start <= datetime.fromisoformat(r["modificationDate"]) < window.end]
        if calls["n"] == 2:  # first window, second page: row r0 "moved", everything shifts left by one
            inside = inside[1:]
        return Page(inside[offset : offset + 4], offset + 4 < len(inside))

    def fetch_ids(window: Window, offset: int) -> Page:
        inside = [r for r in rows if window.start <= datetime.fromisoformat(r["modificationDate"]) < window.end]
        return Page(inside[offset : offset + 100], offset + 100 < len(inside))

    reader = WindowedReader(
        stream_name="incidents",
        fetch=fetch,
        fetch_ids=fetch_ids,
        page_size=4,
        window_days=2,
        sort_key=lambda r: (r["modificationDate"], r["id"]),
    )
    out = list(reader.read(base, base + timedelta(days=2), start_inclusive=True))
    assert [r["id"] for r in out] == [f"r{i}" for i in range(10)]
    assert reader.windows_split == 1


def test_the_range_is_read_whole_and_in_base_size_windows_once_it_fails() -> None:
    """The whole range is asked first (one listing: the fewest requests); a server that times out on it gets the
    rest in windows of window_days, empty years skipped in growing windows, and once data appears again no window
    larger than window_days is read in full: that size bounds the Virtual Appliance's list size."""
    base = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [{"id": "early", "modificationDate": base.isoformat()}] + [
        {"id": f"late{i}", "modificationDate": (base + timedelta(days=700 + i)).isoformat()} for i in range(60)
    ]
    asked: list[Window] = []
    full_reads: list[Window] = []

    def fetch(window: Window, offset: int) -> Page:
        asked.append(window)
        inside = [r for r in rows if window.start <= datetime.fromisoformat(r["modificationDate"]) < window.end]
        if inside and window.end - window.start > timedelta(days=30):
            raise requests.exceptions.ReadTimeout("the list took too long")
        if inside:
            full_reads.append(window)
        return Page(inside[offset : offset + 100], offset + 100 < len(inside))

    def fetch_ids(window: Window, offset: int) -> Page:
        inside = [r for r in rows if window.start <= datetime.fromisoformat(r["modificationDate"]) < window.end]
        return Page([{"id": r["id"]} for r in inside][offset : offset + 100], offset + 100 < len(inside))

    reader = WindowedReader(
        stream_name="incidents",
        fetch=fetch,
        fetch_ids=fetch_ids,
        page_size=100,
        window_days=30,
        sort_key=lambda r: (r["modificationDate"], r["id"]),
    )
    out = list(reader.read(base, base + timedelta(days=800), start_inclusive=True))
    assert [r["id"] for r in out] == ["early"] + [f"late{i}" for i in range(60)]
    assert asked[0] == Window(base, base + timedelta(days=800))
    assert full_reads and all(w.end - w.start <= timedelta(days=30) for w in full_reads)
    assert reader.windows_split == 1
    assert reader.windows_read < 800 // 30  # the empty stretch still cost fewer windows than base-size stepping


@pytest.mark.parametrize("ordered", [True, False])
def test_a_server_that_answers_gets_one_listing_paged_to_its_end(ordered: bool) -> None:
    """Three years of 2,500 records in pages of 1,000: three requests (the paging floor), plus the recount an
    offset-paged listing needs; a seek-paged one needs none."""
    base = datetime(2021, 1, 1, tzinfo=UTC)
    rows = [{"id": f"r{i:04d}", "modificationDate": (base + timedelta(hours=10 * i)).isoformat()} for i in range(2500)]
    if not ordered:
        rows.sort(key=lambda r: r["id"][::-1])
    sent: list[str] = []

    def inside(window: Window) -> list[dict]:
        return [r for r in rows if window.start <= datetime.fromisoformat(r["modificationDate"]) < window.end]

    def fetch(window: Window, offset: int) -> Page:
        sent.append("page")
        found = inside(window)
        return Page(found[offset : offset + 1000], offset + 1000 < len(found))

    def fetch_ids(window: Window, offset: int) -> Page:
        sent.append("ids")
        found = inside(window)
        return Page([{"id": r["id"]} for r in found][offset : offset + 5000], offset + 5000 < len(found))

    reader = WindowedReader(
        stream_name="incidents",
        fetch=fetch,
        fetch_ids=fetch_ids,
        page_size=1000,
        id_page_size=5000,
        window_days=90,
        sort_key=lambda r: (r["modificationDate"], r["id"]),
        ordered_by=(lambda r: datetime.fromisoformat(r["modificationDate"])) if ordered else None,
    )
    out = list(reader.read(base, base + timedelta(days=3 * 365), start_inclusive=True))
    assert sorted(r["id"] for r in out) == [f"r{i:04d}" for i in range(2500)]
    assert [r["modificationDate"] for r in out] == sorted(r["modificationDate"] for r in rows)
    assert sent == ["page"] * 3 + ([] if ordered else ["ids"])


def test_windows_cover_range_without_overlap() -> None:
    reader = WindowedReader(
        stream_name="x", fetch=lambda w, o: Page([], False), page_size=10, window_days=90, sort_key=lambda r: ()
    )
    start = datetime(2020, 1, 1, tzinfo=UTC)
    windows = reader.windows(start, start + timedelta(days=200), start_inclusive=False)
    assert [w.end - w.start for w in windows] == [timedelta(days=90), timedelta(days=90), timedelta(days=20)]
    assert not windows[0].start_inclusive
    assert all(w.start_inclusive for w in windows[1:])
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_resume_from_a_mid_stream_bookmark_emits_exactly_the_rest() -> None:
    """Incidents are emitted sorted by (modificationDate, id): a run interrupted after any STATE resumes from its
    bookmark's second (``ge``: TOPdesk stores whole seconds) and emits exactly the records from it on."""
    url = shared_sandbox(scale=500, seed=2)
    cfg = config(url)
    full = sync(cfg, streams=["incidents"]).records("incidents")
    keys = [(r["modificationDate"], r["id"]) for r in full]
    assert keys == sorted(keys)
    bookmark = full[200]["modificationDate"]
    state = {"bookmarks": {"incidents": {"replication_key": "modificationDate", "replication_key_value": bookmark}}}
    rest = sync(cfg, state=state, streams=["incidents"]).records("incidents")
    expected = [r["id"] for r in full if r["modificationDate"] >= bookmark]
    assert [r["id"] for r in rest] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-01-25T11:14:25.000+0000", "2023-01-25T11:14:25.000+00:00"),
        ("2025-08-19T13:49:58.187", "2025-08-19T13:49:58.187+00:00"),
        ("2020-10-01T14:10:00Z", "2020-10-01T14:10:00.000+00:00"),
        ("2024-06-01T02:00:00.5+02:00", "2024-06-01T00:00:00.500+00:00"),
        ("2026-10-23T00:00:00.000", "2026-10-23T00:00:00.000+00:00"),
        ("2024-02-29T23:59:59.999+0000", "2024-02-29T23:59:59.999+00:00"),  # past the 28th: checked as a date
        ("2023-02-29T10:00:00.000+0000", None),
        ("2023-13-01T10:00:00.000+0000", None),
        ("2023-01-01T10:00:00.000+0100", "2023-01-01T09:00:00.000+00:00"),
        ("I 2301 103", None),
        ("2024-01-25", None),
    ],
)
def test_dates_normalised_to_rfc3339_utc(raw: str, expected: str | None) -> None:
    from tap_topdesk.client import normalise_datetime

    assert normalise_datetime(raw) == expected
