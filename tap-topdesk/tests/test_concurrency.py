"""Requests side by side (issue 16): the children of a call, the asset links and the first pages of every stream are
read on a pool of ``max_concurrency`` slots, yet the tap writes exactly what it wrote one request at a time, in the
same order; the slots are never exceeded, a 429/503 halves them, and a failure surfaces where the read belongs."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tap_topdesk.concurrency import RequestPool, in_order_ahead
from topdesk2intercom_testing.tap import config, recording, shared_sandbox, sync

SCALE, SEED = 300, 16
#: Streams with per-record reads (children, links) and first pages of several families.
STREAMS = [
    "incidents",
    "incident_progress_trail",
    "incident_emails",
    "incident_attachments",
    "changes",
    "change_progress_trail",
    "operators",
    "operator_group_members",
    "asset_links",
    "knowledge_items",
    "operational_activities",
    "operational_series",
    "persons",
    "branches",
]


def _without_time(messages: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages]


def test_a_sync_side_by_side_writes_what_one_request_at_a_time_writes() -> None:
    """Same RECORD and STATE messages in the same order (a call's children right where they were), and no request
    sent more often: nothing read ahead is lost or asked twice."""
    url = shared_sandbox(scale=SCALE, seed=SEED, latency_ms=5)
    with recording() as one_sent:
        one = sync(config(url, max_concurrency=1, start_date="2001-01-01T00:00:00Z"), streams=STREAMS)
    with recording() as many_sent:
        many = sync(config(url, max_concurrency=8, start_date="2001-01-01T00:00:00Z"), streams=STREAMS)
    records_one = [m for m in _without_time(one.messages) if m["type"] == "RECORD"]
    records_many = [m for m in _without_time(many.messages) if m["type"] == "RECORD"]
    assert len(records_one) > 1000 and records_many == records_one
    assert {m["stream"] for m in records_one} >= {"incident_progress_trail", "asset_links", "operator_group_members"}
    bookmarks = [m["value"] for m in one.messages if m["type"] == "STATE"][-1]["bookmarks"]
    assert [m["value"] for m in many.messages if m["type"] == "STATE"][-1]["bookmarks"] == bookmarks

    def shapes(sent: list) -> Counter:  # dates aside: the two syncs started at different moments
        return Counter(s.path for s in sent)

    assert shapes(many_sent) == shapes(one_sent)


def test_slots_bound_the_requests_in_flight_from_every_thread() -> None:
    pool = RequestPool(3)
    inside = threading.Semaphore(0)
    release = threading.Event()

    def request() -> None:
        with pool.slot():
            inside.release()
            release.wait(5)

    futures = [pool.submit(request) for _ in range(10)]
    for _ in range(3):
        assert inside.acquire(timeout=5)
    assert not inside.acquire(timeout=0.2)  # the fourth waits for a slot
    assert pool.in_flight == 3
    release.set()
    for future in futures:
        future.result(timeout=5)
    assert pool.peak == 3 and pool.in_flight == 0


def test_a_429_or_503_halves_the_slots_for_a_cool_down_then_they_double_back(caplog: pytest.LogCaptureFixture) -> None:
    pool = RequestPool(8, cool_down_s=0.2)
    pool.throttled(429)
    assert pool.limit == 4
    pool.throttled(503)
    assert pool.limit == 2
    assert "requests in parallel lowered from 4 to 2" in caplog.text
    time.sleep(0.25)
    with pool.slot():
        assert pool.limit == 4  # one step back per cool-down
    time.sleep(0.25)
    with pool.slot():
        assert pool.limit == 8


def test_a_throttling_answer_from_topdesk_halves_the_tap_pool() -> None:
    """The stream's response check tells the pool (and still retries the request)."""
    import requests
    from singer_sdk.exceptions import RetriableAPIError

    from tap_topdesk.tap import TapTopdesk

    tap = TapTopdesk(config=config("http://127.0.0.1:9", max_concurrency=8), parse_env_config=False)
    stream = tap.streams["incidents"]
    response = requests.Response()
    response.status_code, response.url = 503, "http://127.0.0.1:9/tas/api/incidents"
    with pytest.raises(RetriableAPIError):
        stream.validate_response(response)
    assert tap.request_pool.limit == 4


def test_reads_ahead_come_in_order_and_a_failure_at_its_own_item() -> None:
    pool = RequestPool(4)

    def fetch(n: int) -> int:
        time.sleep(0.01 * (n % 3))  # finishing out of order
        if n == 30:
            raise ValueError("item 30")
        return n * n

    got = []
    with pytest.raises(ValueError, match="item 30"):
        for n, square in in_order_ahead(pool, range(50), fetch):
            got.append((n, square))
    assert got == [(n, n * n) for n in range(30)]
    assert list(in_order_ahead(RequestPool(1), range(5), fetch)) == [(n, n * n) for n in range(5)]


def test_answers_asked_ahead_are_taken_once_and_the_rest_dropped() -> None:
    import requests

    pool = RequestPool(2)
    sent: list[str] = []

    def prepared(url: str) -> requests.PreparedRequest:
        return requests.Request("GET", url, headers={"Accept": "application/json"}).prepare()

    def send(url: str):
        import io

        sent.append(url)
        return requests.Response(), io.BytesIO(b"[]")

    pool.ask_ahead(prepared("http://x/a?b=1&c=2"), lambda: send("a"))
    pool.ask_ahead(prepared("http://x/a?c=2&b=1"), lambda: send("a again"))  # the same request: asked once
    pool.ask_ahead(prepared("http://x/d"), lambda: send("d"))
    assert pool.take(prepared("http://x/a?c=2&b=1")) is not None
    assert pool.take(prepared("http://x/a?b=1&c=2")) is None  # taken already: the stream sends it itself
    pool.drop_ahead()
    assert pool.take(prepared("http://x/d")) is None
    assert sorted(sent) == ["a", "d"]


def test_a_series_many_activities_reference_is_read_once() -> None:
    """Read ahead, a series is started for the first activity referencing it only: the later ones would read it
    again and drop the answer (the sync writes each series once)."""
    url = shared_sandbox(scale=2000, seed=SEED, latency_ms=20)  # ~100 activities, a series referenced far apart
    streams = ["operational_activities", "operational_series"]
    with recording() as sent:
        run = sync(config(url, max_concurrency=2), streams=streams)  # reads 8 activities ahead
    series = [m["record"]["id"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == "operational_series"]
    referencing = Counter(
        (m["record"].get("series") or {}).get("id")
        for m in run.messages
        if m["type"] == "RECORD" and m["stream"] == "operational_activities"
    )
    assert len(series) == len(set(series)) >= 2 and max(referencing[s] for s in series) >= 2
    reads = Counter(s.path for s in sent if "/operationalSeries/" in s.path)
    # each series once, plus the request check's one read of a series
    assert sum(reads.values()) == len(series) + 1 and max(reads.values()) <= 2
