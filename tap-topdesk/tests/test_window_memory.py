"""Memory of the windowed reader does not follow the size of a window (issue 15): a page is parsed as it is read, a
window listed in key order is emitted as it is read keeping only ids, any other window is spooled to a file, and a
window holding more than ``max_ids`` records is cut. Bookmarks still never get ahead of a record a re-read adds."""

from __future__ import annotations

import contextlib
import io
import json
import re
import typing as t
from datetime import UTC, datetime, timedelta

import pytest

from tap_topdesk.client import TopdeskStream
from tap_topdesk.disk_set import DiskSet
from tap_topdesk.pagination import JsonItems, LazyPage, Page, Window, WindowedReader
from topdesk2intercom_testing.tap import catalog_selecting, config, shared_sandbox

BASE = datetime(2024, 1, 1, tzinfo=UTC)


class Tracked(dict):
    """A record that counts how many of its kind are alive (created in ``__new__``: unpickling counts too)."""

    alive = 0
    most = 0

    def __new__(cls, *args: t.Any, **kwargs: t.Any) -> Tracked:
        Tracked.alive += 1
        Tracked.most = max(Tracked.most, Tracked.alive)
        return super().__new__(cls, *args, **kwargs)

    def __del__(self) -> None:
        Tracked.alive -= 1

    @classmethod
    def reset(cls) -> None:
        cls.alive = cls.most = 0


def stamp(i: int, spacing: timedelta = timedelta(seconds=30)) -> str:
    return (BASE + spacing * i).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def instant(record: dict) -> datetime:
    return datetime.strptime(record["modificationDate"], "%Y-%m-%dT%H:%M:%S.000%z")


class FakeListing:
    """A key-ordered (or id-ordered) listing of ``n`` rows ``spacing`` apart, pages built lazily as ``Tracked`` records;
    ``fetch_ids`` lists ids only. ``move`` = (n, k): from the n-th page request holding rows on, row k is modified
    (its date is then after every window: the next sync's)."""

    def __init__(
        self,
        n: int,
        *,
        by_id: bool = False,
        lazy: bool = True,
        move: tuple[int, int] | None = None,
        spacing: timedelta = timedelta(seconds=30),
    ) -> None:
        self.rows = [(f"r{i:05d}", stamp(i, spacing)) for i in range(n)]
        if by_id:
            self.rows.sort(key=lambda row: row[0][::-1])  # an order unrelated to the key
        self.lazy = lazy
        self.move = move
        self.calls = 0
        self.data_calls = 0
        self.windows: list[tuple[Window, int]] = []

    def inside(self, window: Window) -> list[tuple[str, str]]:
        def within(moment: datetime) -> bool:
            low = moment >= window.start if window.start_inclusive else moment > window.start
            return low and moment < window.end

        return [row for row in self.rows if within(datetime.strptime(row[1], "%Y-%m-%dT%H:%M:%S.000%z"))]

    def fetch(self, window: Window, offset: int, size: int = 100) -> Page | LazyPage:
        self.calls += 1
        rows = self.inside(window)
        self.data_calls += bool(rows)
        if self.move and rows and self.data_calls == self.move[0]:
            rid, _ = self.rows[self.move[1]]
            self.rows[self.move[1]] = (rid, stamp(0, timedelta(days=3650)).replace("2024", "2034"))
            rows = self.inside(window)
        chosen = rows[offset : offset + size]
        more = offset + size < len(rows)
        self.windows.append((window, len(rows)))

        def records() -> t.Iterator[dict]:
            for rid, date in chosen:
                yield Tracked(id=rid, modificationDate=date)

        if self.lazy:
            return LazyPage(records(), lambda: more)
        return Page(list(records()), more)

    def fetch_ids(self, window: Window, offset: int) -> Page:
        rows = self.inside(window)
        return Page([{"id": rid} for rid, _ in rows[offset : offset + 1000]], offset + 1000 < len(rows))


def reader_for(listing: FakeListing, *, ordered: bool, **kwargs: t.Any) -> WindowedReader:
    return WindowedReader(
        stream_name="incidents",
        fetch=listing.fetch,
        fetch_ids=listing.fetch_ids,
        page_size=100,
        window_days=30,
        sort_key=lambda r: (r["modificationDate"], r["id"]),
        ordered_by=instant if ordered else None,
        **kwargs,
    )


def drain(records: t.Iterable[dict]) -> list[str]:
    """Consume as a tap does: look at each record and let it go."""
    return [record["id"] for record in records]


@pytest.mark.parametrize(("ordered", "lazy"), [(True, True), (True, False), (False, True), (False, False)])
def test_records_held_at_once_stay_under_a_page_whatever_the_window_holds(ordered: bool, lazy: bool) -> None:
    """5,000 records in one 30-day window, pages of 100: at most a page of records is alive at any moment (a lazy
    page: a record or two), never the window (the old reader held the whole window to sort it)."""
    listing = FakeListing(5000, by_id=not ordered, lazy=lazy)
    Tracked.reset()
    ids = drain(reader_for(listing, ordered=ordered).read(BASE, BASE + timedelta(days=30), start_inclusive=True))
    assert ids == [f"r{i:05d}" for i in range(5000)]
    assert Tracked.most <= (3 if lazy else 101), Tracked.most
    assert Tracked.alive == 0


def test_an_ordered_listing_is_seek_paged_one_request_per_page_holding_a_page_of_ids() -> None:
    """5,000 records in one window, pages of 100, max_ids 1,000: 51 requests (each the first page of what is left,
    from the second the last one ended in: 99 new records a page), no recount, no cut, a page of ids held."""
    listing = FakeListing(5000)
    reader = reader_for(listing, ordered=True, max_ids=1000)
    ids = drain(reader.read(BASE, BASE + timedelta(days=30), start_inclusive=True))
    assert ids == [f"r{i:05d}" for i in range(5000)]
    assert listing.calls == 51
    assert all(window.start == BASE + timedelta(seconds=30 * 99 * i) for i, (window, _) in enumerate(listing.windows))
    assert reader.ids_held_most <= 100 + 1
    assert reader.windows_cut == reader.windows_split == 0


def test_a_second_holding_more_than_a_page_is_read_by_offset() -> None:
    """Seeking cannot move past a second that holds a whole page: that second is read by offset (and recounted),
    then the seek goes on from the next second; every record once, in order."""
    listing = FakeListing(700, spacing=timedelta(milliseconds=2))  # 500 records per second
    reader = reader_for(listing, ordered=True)
    ids = drain(reader.read(BASE, BASE + timedelta(days=30), start_inclusive=True))
    assert sorted(ids) == [f"r{i:05d}" for i in range(700)] and len(set(ids)) == 700
    assert [listing.rows[int(i[1:])][1] for i in ids] == sorted(date for _, date in listing.rows)


def test_an_unordered_window_over_the_bound_is_read_in_halves() -> None:
    listing = FakeListing(3000, by_id=True)
    reader = reader_for(listing, ordered=False, max_ids=1000)
    ids = drain(reader.read(BASE, BASE + timedelta(days=30), start_inclusive=True))
    assert ids == [f"r{i:05d}" for i in range(3000)]
    assert reader.windows_cut >= 1 and reader.windows_split == 0
    assert reader.ids_held_most <= 1001


def test_a_row_modified_while_the_listing_is_read_makes_it_skip_nothing_and_the_bookmark_waits() -> None:
    """A row is modified between pages 1 and 2 (it leaves the range: the next sync reads it): with offset paging
    every later row would shift and one be skipped; seek paging returns every other row once, in order, and a
    bookmark kept the way the stream keeps it (moved only while the reader is settled, or when it settles) is
    never ahead of a record not yet emitted."""
    listing = FakeListing(450, move=(2, 150))
    keys = dict(listing.rows)
    held: list[str] = []
    committed: list[str] = []
    reader = reader_for(listing, ordered=True, on_settled=lambda: committed.append(max(held)))
    emitted: list[str] = []
    for record in reader.read(BASE, BASE + timedelta(days=30), start_inclusive=True):
        emitted.append(record["id"])
        (held if reader.unsettled else committed).append(record["modificationDate"])
        waiting = [keys[rid] for rid in keys if rid not in emitted and rid != "r00150"]
        if committed and waiting:
            assert max(committed) <= min(waiting), record["id"]
    assert emitted == [rid for rid in keys if rid != "r00150"]
    assert reader.windows_split == 0
    assert max(committed) == keys["r00449"]


def test_json_items_parse_a_body_one_record_at_a_time() -> None:
    body = {"item": [{"id": f"p{i}", "text": "é" * 3000, "n": i} for i in range(200)], "next": "/more"}
    items = JsonItems(io.BytesIO(json.dumps(body).encode()), "item")
    assert list(items) == body["item"]
    assert items.extras == {"next": "/more"}
    assert list(JsonItems(io.BytesIO(b' [1, 2.5, {"a": [3]}] '), None)) == [1, 2.5, {"a": [3]}]
    assert list(JsonItems(io.BytesIO(b""), None)) == []
    assert list(JsonItems(io.BytesIO(b'["a\\ud800b"]'), None)) == ["a\ud800b"]  # kept, for the mapper to flag
    assert list(JsonItems(io.BytesIO(b'{"id": "x"}'), None)) == [{"id": "x"}]
    assert list(JsonItems(io.BytesIO(b'{"results": [], "next": null}'), "results")) == []
    with pytest.raises(json.JSONDecodeError):
        list(JsonItems(io.BytesIO(b'[{"id": 1}, {"id": '), None))


def test_incidents_stream_holds_its_bookmark_until_a_window_is_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    """The incidents stream over a listing where a row is modified while paged, asked for a STATE every 3 records:
    no STATE names a bookmark whose second is after a record emitted later (a crash there would lose it), each
    record comes once, and the final bookmark is the newest record."""
    from tap_topdesk.streams.incidents import IncidentsStream
    from tap_topdesk.tap import TapTopdesk

    cfg = config(shared_sandbox(scale=200, seed=5), window_days=30, page_size=100)
    tap = TapTopdesk(config=cfg, catalog=catalog_selecting(cfg, ["incidents"]), parse_env_config=False)
    stream = tap.streams["incidents"]
    # 75 days read whole in pages of 100; a row of page 3 is modified while page 2 is read
    listing = FakeListing(450, move=(2, 250), spacing=timedelta(hours=4))
    monkeypatch.setattr(IncidentsStream, "STATE_MSG_FREQUENCY", 3)
    monkeypatch.setattr(stream, "fetch_page", lambda params, context: Page([], False))  # nothing outside windows
    monkeypatch.setattr(
        stream,
        "fetch_window_page",
        lambda window, offset, context, ids_only=False: (
            listing.fetch_ids(window, offset) if ids_only else listing.fetch(window, offset)
        ),
    )
    monkeypatch.setattr(tap, "ensure_probed", lambda: None, raising=False)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        stream.sync()
    messages = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    ids = [r["id"] for r in records]
    assert ids == [rid for rid, _ in listing.rows if rid != "r00250"]
    states = 0
    for i, message in enumerate(messages):
        if message["type"] != "STATE":
            continue
        bookmark = message["value"]["bookmarks"].get("incidents", {}).get("replication_key_value")
        if bookmark is None:
            continue
        states += 1
        later = [m["record"]["modificationDate"][:19] for m in messages[i + 1 :] if m["type"] == "RECORD"]
        assert all(key >= bookmark[:19] for key in later), (bookmark, min(later))
    assert states >= 3  # one per page read (the SDK writes a STATE only when it changed)
    final = [m for m in messages if m["type"] == "STATE"][-1]["value"]["bookmarks"]["incidents"]
    assert final["replication_key_value"] == max(r["modificationDate"] for r in records)


def test_the_spooled_request_still_mirrors_the_sdks_request() -> None:
    """``TopdeskStream._request_spooled`` is singer-sdk's private ``RESTStream._request`` with the body streamed to a
    spool file. singer-sdk is pinned; when an upgrade changes ``_request`` (what it calls, the metric log's
    parameters), this fails and names what to carry over, instead of a sync failing hours in."""
    import inspect

    from singer_sdk.streams.rest import RESTStream

    source = inspect.getsource(RESTStream._request)
    calls = re.findall(r"self\.([\w.]+)\(", source)
    expected = ["authenticator", "requests_session.send", "_write_request_duration_log", "validate_response"]
    assert calls == expected, calls
    assert "self._LOG_REQUEST_METRIC_URLS" in source
    parameters = list(inspect.signature(RESTStream._write_request_duration_log).parameters)
    assert parameters == ["self", "endpoint", "response", "context", "extra_tags"]
    mine = re.findall(r"self\.([\w.]+)\(", inspect.getsource(TopdeskStream._request_spooled))
    assert [c for c in mine if c in expected] == expected


def test_disk_set_remembers_on_disk_and_iterates_in_order() -> None:
    with DiskSet() as keys:
        assert keys.add("b") and keys.add("a") and not keys.add("b")
        assert "a" in keys and "c" not in keys and len(keys) == 2
        for i in range(2500):  # more than one batch of iteration
            keys.add(f"k{i:05d}")
        seen = []
        for key in keys:
            seen.append(key)
            keys.add(f"_{key}")  # adding while iterating is allowed (before the position: not iterated)
        assert seen[:2] == ["a", "b"] and seen[2:] == [f"k{i:05d}" for i in range(2500)]
        assert len(keys) == 2 * 2502


def test_asset_links_reach_assets_only_linked_and_emit_each_link_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assets the listing does not hold (a template the operator cannot list) are visited through their links after
    the listed ones: every link reachable from the listed assets arrives, once."""
    from tap_topdesk.streams.assets import AssetLinksStream
    from tap_topdesk.tap import TapTopdesk
    from topdesk_sandbox.generator import build_dataset

    links = build_dataset(60, 5).records["asset_links"]
    listed = sorted({link["sourceId"] for link in links})[:3]
    monkeypatch.setattr(AssetLinksStream, "asset_ids", lambda self, context: iter(listed))
    url = shared_sandbox(scale=60, seed=5)
    cfg = config(url)
    tap = TapTopdesk(config=cfg, catalog=catalog_selecting(cfg, ["asset_links"]), parse_env_config=False)
    emitted = list(tap.streams["asset_links"].read(None))
    pairs = [(link["sourceId"], link["targetId"]) for link in links]
    reached, frontier = set(listed), set(listed)
    while frontier:  # the assets connected to the listed ones, through links in either direction
        frontier = {b for s, t_ in pairs for a, b in ((s, t_), (t_, s)) if a in frontier and b not in reached}
        reached |= frontier
    expected = {link["linkId"] for link in links if link["sourceId"] in reached}
    assert len(expected) > len(listed)  # some links were reached only through a linked asset
    assert sorted(r["linkId"] for r in emitted) == sorted(expected)


def test_glibc_is_told_to_map_large_blocks_and_to_give_freed_pages_back() -> None:
    """Linux with glibc (CI's Debian, the Meltano images): the threshold is fixed and the trim runs; elsewhere the
    calls do nothing and say so."""
    import platform

    from tap_topdesk.memory import fix_mmap_threshold, release_free_memory

    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert fix_mmap_threshold() is glibc
    assert release_free_memory() in ((True, False) if glibc else (False,))
