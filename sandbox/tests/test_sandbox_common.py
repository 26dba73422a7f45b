"""Fault and latency injection shared by both sandboxes: clients must see real 5xx answers and broken
connections, while the sandboxes' own admin API stays reliable for tests that set up or inspect data."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox_common.faults import FaultInjectionMiddleware
from sandbox_common.server import ServerThread


async def ok(request):
    return JSONResponse({"ok": True})


def make_app(**kwargs) -> FaultInjectionMiddleware:
    app = Starlette(routes=[Route("/api/thing", ok), Route("/__sandbox/health", ok)])
    errors = lambda status: JSONResponse([{"message": "An error occurred on the server"}], status_code=status)  # noqa: E731
    return FaultInjectionMiddleware(app, error_response=errors, seed=3, **kwargs)


def test_every_request_faults_at_rate_one_with_both_kinds() -> None:
    seen: set[str] = set()
    with ServerThread(make_app(fault_rate=1.0)) as server:
        for _ in range(30):
            try:
                response = requests.get(f"{server.url}/api/thing", timeout=5)
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                seen.add("reset")
            else:
                assert response.status_code in (500, 502, 503)
                assert response.json() == [{"message": "An error occurred on the server"}]
                seen.add("5xx")
    assert seen == {"reset", "5xx"}


def test_admin_paths_are_never_faulted_or_slowed() -> None:
    with ServerThread(make_app(fault_rate=1.0, latency_ms=500)) as server:
        started = time.monotonic()
        for _ in range(10):
            assert requests.get(f"{server.url}/__sandbox/health", timeout=5).json() == {"ok": True}
        assert time.monotonic() - started < 2.5


def test_latency_is_added_to_each_request() -> None:
    with ServerThread(make_app(latency_ms=200)) as server:
        started = time.monotonic()
        assert requests.get(f"{server.url}/api/thing", timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.2


def test_fault_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        make_app(fault_rate=1.5)


def test_capacity_slows_each_request_beyond_it_by_the_requests_in_progress() -> None:
    """``capacity`` N: up to N requests in progress each take ``latency_ms``; beyond, latency x in progress / N."""
    middleware = make_app(latency_ms=100, capacity=4)
    for in_progress, seconds in ((1, 0.1), (4, 0.1), (5, 0.125), (8, 0.2), (16, 0.4)):
        middleware.in_progress = in_progress
        assert middleware.delay_s() == pytest.approx(seconds)
    assert make_app(latency_ms=100).delay_s() == pytest.approx(0.1)  # no capacity: no limit
    with pytest.raises(ValueError, match="capacity"):
        make_app(capacity=0)


def test_requests_in_progress_are_counted_while_they_are_handled() -> None:
    from concurrent.futures import ThreadPoolExecutor

    seen: list[int] = []

    async def slow(request):
        seen.append(middleware.in_progress)
        await asyncio.sleep(0.3)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/slow", slow), Route("/__sandbox/health", ok)])
    middleware = FaultInjectionMiddleware(app, error_response=lambda status: JSONResponse({}, status), capacity=2)
    with ServerThread(middleware) as server, ThreadPoolExecutor(6) as executor:
        statuses = list(
            executor.map(lambda _: requests.get(f"{server.url}/api/slow", timeout=10).status_code, range(6))
        )
        requests.get(f"{server.url}/__sandbox/health", timeout=5)  # the admin API is not counted
    assert statuses == [200] * 6 and max(seen) >= 2 and middleware.in_progress == 0
