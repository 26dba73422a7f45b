"""Rate limit acceptance: 600/min = 100 per 10-s window; 200 requests in one window get 100 x 200 then 429s."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from intercom_sandbox_testkit import TOKEN, SandboxFactory


def _wait_for_window_start(margin: float = 7.0) -> None:
    """Start right after a 10-s boundary so that the burst falls into a single window."""
    now = time.time()
    if now % 10 > 10 - margin:
        time.sleep(10 - now % 10 + 0.05)


def test_burst_of_200_gets_100_then_429(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(rate_limit_per_minute=600)
    url = f"{sandbox.url}/tags"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=headers, limits=httpx.Limits(max_connections=16)) as client:
        client.get(f"{sandbox.url}/__sandbox/health")  # warm up (admin paths are not counted)
        _wait_for_window_start()
        started = time.time()
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: client.get(url), range(200)))
        elapsed = time.time() - started
    assert elapsed < 2.0, f"burst took {elapsed:.2f}s"
    window_end = (math.floor(started / 10) + 1) * 10
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100 and statuses.count(429) == 100
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(100))  # counts down 99..0
    for response in responses:
        assert response.headers["x-ratelimit-limit"] == "100"
        assert int(response.headers["x-ratelimit-reset"]) == window_end
        if response.status_code == 429:
            assert response.headers["x-ratelimit-remaining"] == "0"
            body = response.json()
            assert body["type"] == "error.list" and body["errors"][0]["code"] == "rate_limit_exceeded"
    stats = httpx.get(f"{sandbox.url}/__sandbox/stats").json()
    assert stats["requests_served"] == 100 and stats["requests_rejected_429"] == 100
    assert stats["max_requests_in_window"] == 200 and stats["window_budget"] == 100


def test_headers_on_every_response(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(rate_limit_per_minute=600)
    for response in (sandbox.get("/me"), sandbox.get("/contacts/nope"), httpx.get(f"{sandbox.url}/me")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)
        assert int(response.headers["x-ratelimit-reset"]) % 10 == 0
