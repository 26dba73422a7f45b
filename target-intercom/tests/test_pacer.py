"""The pacer: its gate on its own (fake clock, no server), then 20 threads against a rate-limited sandbox."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from target_intercom.client import IntercomError
from target_intercom.pacer import Pacer, Pacers
from topdesk2intercom_testing.target import intercom_sandbox


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


def _blocked(pacer: Pacer, seconds: float = 0.2) -> threading.Event:
    """Start an acquire in a thread; the returned event is set once it got through."""
    done = threading.Event()
    threading.Thread(target=lambda: (pacer.acquire(), done.set()), daemon=True).start()
    done.wait(seconds)
    return done


def test_first_request_alone_then_budget_then_probe() -> None:
    now = [1000.0]
    pacer = Pacer(guard=0.1, clock=lambda: now[0])
    first = pacer.acquire()
    second = _blocked(pacer)
    assert not second.is_set()  # limit unknown: the first answer comes first
    pacer.release(first, _headers(5, 4, 1010), 200)  # lets the waiting thread through (in flight: 1)
    assert second.wait(2)
    for _ in range(3):
        pacer.acquire()  # used 1 + in flight 4 = limit 5
    waiting = _blocked(pacer)
    assert not waiting.is_set()
    pacer.release(first, _headers(5, 0, 1010), 200)  # the server saw all 5: no room, whatever is still in flight
    for _ in range(3):
        pacer.release(first, _headers(5, 1, 1010), 200)
    time.sleep(0.1)
    assert not waiting.is_set()
    now[0] = 1010.2  # the window ended (+ guard): one probe goes, the rest waits for its answer
    waiting.wait(2)
    assert waiting.is_set()
    behind_probe = _blocked(pacer)
    assert not behind_probe.is_set()
    pacer.release(now[0], _headers(5, 4, 1020), 200)  # the probe landed in the new window: the gate opens
    for _ in range(3):
        pacer.acquire()
    assert behind_probe.wait(2)
    assert not _blocked(pacer, 0.1).is_set()  # 1 used + 4 in flight
    snapshot = pacer.snapshot()
    assert snapshot["requests_sent"] == 10 and snapshot["requests_over_limit"] == 0
    assert snapshot["windows"] == {1010: {"accepted": 5, "rejected": 0}, 1020: {"accepted": 1, "rejected": 0}}


def test_a_slow_request_in_flight_does_not_hold_back_the_probe() -> None:
    now = [1000.0]
    pacer = Pacer(guard=0.1, clock=lambda: now[0])
    pacer.release(pacer.acquire(), _headers(5, 4, 1010), 200)
    pacer.acquire()  # slow: not answered in this test
    pacer.release(pacer.acquire(), _headers(5, 0, 1010), 200)
    spent = _blocked(pacer, 0.1)
    assert not spent.is_set()  # budget spent
    now[0] = 1010.1
    probe = pacer.acquire()  # the window is over: one probe, although a request is still in flight
    waiting = _blocked(pacer, 0.1)
    assert not waiting.is_set() and not spent.is_set()  # one probe at a time
    pacer.release(probe, _headers(5, 4, 1020), 200)
    assert waiting.wait(2) and spent.wait(2)  # 1 used + 3 in flight


def test_clock_ahead_of_server_is_learned() -> None:
    now = [2000.3]
    pacer = Pacer(guard=0.1, clock=lambda: now[0])
    sent = pacer.acquire()  # our clock says 2000.3, but the server still counts it in the window ending at 2000
    pacer.release(sent, _headers(5, 0, 2000), 429)
    assert pacer.snapshot()["clock_lead_seconds"] == 0.3 and pacer.snapshot()["requests_over_limit"] == 1
    now[0] = 2000.35  # not yet 2000 + lead + guard: the next probe waits
    probe = _blocked(pacer, 0.1)
    assert not probe.is_set()
    now[0] = 2000.45
    assert probe.wait(2)


@pytest.mark.parametrize(
    ("apps", "workspace_per_minute", "budget"),
    [
        (1, 25_000, 100),  # one app: its own 100 per window (the workspace's 4,166 do not bind)
        (3, 1_500, 249),  # three apps of 100 each, a workspace of 250 per window: 83 per app
    ],
)
def test_pacing_uses_each_window_fully_without_429(apps: int, workspace_per_minute: int, budget: int) -> None:
    """600/min per app = 100 per 10-s window, 100 ms latency, 20 threads: up to ~200 requests/s of demand.

    Starts 0.3 s before a window boundary (so that requests in flight cross it, limit not known yet) and runs two
    full windows; each worker's last request waits for the window after them (so exactly 20 land there). Measured on
    the server (the limiters' decisions per window, all apps together) and cross-checked with the client's counters,
    which come from the X-RateLimit headers. With several apps the workspace's budget is the one that binds.
    """
    extra = tuple(f"app-{n}-token" for n in range(2, apps + 1))
    with intercom_sandbox(
        rate_limit_per_minute=600,
        workspace_rate_limit_per_minute=workspace_per_minute,
        extra_tokens=extra,
        latency_ms=100,
    ) as sb:
        server = sb.record_windows()
        time.sleep((9.7 - time.time() % 10) % 10)  # to 0.3 s before the next boundary
        started = time.time()
        first_full = math.ceil(started / 10) * 10  # start of the first window the run covers entirely
        stop_at = first_full + 19.5
        with sb.client(concurrency=20, workspace_rate_limit=workspace_per_minute) as client:

            def worker() -> int:
                count = 0
                while time.time() < stop_at:
                    client.request("GET", "/me")
                    count += 1
                return count

            with ThreadPoolExecutor(max_workers=20) as pool:
                done = sum(pool.map(lambda _: worker(), range(20)))
            stats = client.stats
        full = (first_full + 10, first_full + 20)  # reset times of the two windows the run covers entirely
        print(
            f"\n{apps} app(s): server accepted per window: {dict(server.accepted)}, rejected: "
            f"{dict(server.rejected)}; client: sent {stats['requests_sent']}, 429 {stats['requests_over_limit']}, "
            f"waited {stats['wait_seconds']:.1f} thread-s, windows {stats['windows']}"
        )
        assert stats["limit"] == budget
        assert stats["requests_over_limit"] == 0 and sum(server.rejected.values()) == 0
        assert sb.stats()["requests_rejected_429"] == 0
        assert all(server.accepted[reset] >= 0.95 * budget for reset in full)
        assert max(server.accepted.values()) <= budget and server.accepted[first_full + 30] == 20
        assert {reset: counts["accepted"] for reset, counts in stats["windows"].items()} == dict(server.accepted)
        assert done == stats["requests_sent"] == sum(server.accepted.values())
        served = [app["requests_served"] for app in sb.stats()["apps"]]
        assert len(served) == apps and min(served) >= 0.8 * sum(served) / apps  # every app carries its share


def test_429_waits_for_reset_and_learns_a_server_clock_behind_ours() -> None:
    """The server's clock runs ``d`` seconds behind ours, so its window ends 1 s from now although ours says it
    ended ``d - 1`` seconds ago; another app has already spent that window's budget (10 per window)."""
    with intercom_sandbox(rate_limit_per_minute=60) as sb:
        now = time.time()
        behind = now % 10 + 1.0
        sb.limiter.clock = lambda: time.time() - behind  # a skewed server clock, same limiter
        for _ in range(10):
            assert requests.get(f"{sb.url}/me", headers={"Authorization": f"Bearer {sb.token}"}, timeout=5).ok
        with sb.client() as client:
            client.max_throttled = 0
            with pytest.raises(IntercomError) as caught:
                client.request("GET", "/me")
            error = caught.value
            assert (error.status, error.code, error.ambiguous) == (429, "rate_limit_exceeded", False)
            client.max_throttled = 10
            assert client.request("GET", "/me")["type"] == "admin"  # retried after the server's reset
            done = time.time()
            stats = client.stats
    print(
        f"\nserver behind by {behind:.2f} s: {stats['requests_over_limit']} x 429, learned lead "
        f"{stats['clock_lead_seconds']} s, done {done - now:.2f} s after the start"
    )
    assert 1.0 <= done - now < 3.0
    assert behind - 1.0 <= stats["clock_lead_seconds"] <= behind + 1.0
    assert 2 <= stats["requests_over_limit"] <= 6 and stats["requests_sent"] == stats["requests_over_limit"] + 1


def test_latency_is_a_moving_average_of_answered_requests() -> None:
    """The loader sizes its requests in flight from ``limit`` and ``latency_s``; no answer, no sample."""
    now = [1000.0]
    pacer = Pacer(guard=0.1, clock=lambda: now[0])
    assert pacer.latency_s is None and pacer.limit is None
    sent = pacer.acquire()
    now[0] += 0.2
    pacer.release(sent, _headers(100, 99, 1010), 200)
    assert pacer.latency_s == pytest.approx(0.2) and pacer.limit == 100
    sent = pacer.acquire()
    now[0] += 5.0
    pacer.release(sent, None, None)  # a broken connection tells nothing about the server's latency
    assert pacer.latency_s == pytest.approx(0.2)
    for _ in range(500):
        sent = pacer.acquire()
        now[0] += 0.4
        pacer.release(sent, _headers(1000, 500, 2000), 200)
    assert pacer.latency_s == pytest.approx(0.4, abs=0.01)
    assert pacer.snapshot()["latency_seconds"] == pytest.approx(0.4, abs=0.01)


def test_the_window_length_is_read_from_the_answers() -> None:
    """Nothing assumes Intercom's 10-second windows once two windows answered: their resets are a window apart."""
    now = [1000.0]
    pacer = Pacer(guard=0.1, clock=lambda: now[0])
    pacer.release(pacer.acquire(), _headers(100, 99, 1030), 200)
    assert pacer.window_seconds is None and pacer.reset == 1030
    now[0] = 1031.0
    pacer.release(pacer.acquire(), _headers(100, 99, 1060), 200)
    assert pacer.window_seconds == 30 and pacer.snapshot()["window_seconds"] == 30


# ------------------------------------------------------------------ several apps (tokens) of one workspace


def _answered(pacers: Pacers, limit: int, reset: int, remaining: int | None = None) -> None:
    """Every app sends its first request (the probe) and gets its window's answer."""
    for index in range(len(pacers.apps)):
        app, sent = pacers.acquire(index)
        pacers.release(app, sent, _headers(limit, limit - 1 if remaining is None else remaining, reset), 200)


def _group_blocked(pacers: Pacers, seconds: float = 0.2) -> threading.Event:
    done = threading.Event()
    threading.Thread(target=lambda: (pacers.acquire(), done.set()), daemon=True).start()
    done.wait(seconds)
    return done


def test_apps_take_turns_and_each_stays_within_its_share_of_the_workspace() -> None:
    """3 apps at 10 per window, a workspace of 120/min (20 per window): each app sends at most 6 per window, so
    the three together never exceed the workspace's 20, and the sends alternate between the apps."""
    now = [1000.0]
    pacers = Pacers(3, workspace_per_minute=120, clock=lambda: now[0])
    _answered(pacers, 10, 1010)
    assert pacers.limit == 18 and [p.budget for p in pacers.apps] == [6, 6, 6]
    taken = [pacers.acquire()[0] for _ in range(15)]  # 1 used + 5 in flight per app
    assert sorted(taken) == [0] * 5 + [1] * 5 + [2] * 5
    assert len(set(taken[:3])) == 3  # in turn, not one app's share first
    assert not _group_blocked(pacers).is_set()  # every app's share is spent
    snapshot = pacers.snapshot()
    assert snapshot["requests_sent"] == 18 and snapshot["limit"] == 18 and len(snapshot["apps"]) == 3


def test_one_apps_429_slows_that_app_and_a_workspace_429_slows_all() -> None:
    now = [1000.0]
    pacers = Pacers(2, workspace_per_minute=600, clock=lambda: now[0])  # 100 per window: each app's own 10 bind
    _answered(pacers, 10, 1010)
    app, sent = pacers.acquire(0)
    pacers.release(app, sent, _headers(10, 0, 1010), 429)  # app 0 spent its window (another client used it)
    assert {pacers.acquire()[0] for _ in range(5)} == {1}  # app 1 goes on alone
    app, sent = pacers.acquire(1)
    pacers.release(app, sent, _headers(10, 3, 1010), 429)  # app 1 has budget left: the workspace's limit
    assert pacers.apps[0].snapshot()["requests_over_limit"] == 1
    waiting = _group_blocked(pacers)
    assert not waiting.is_set()  # no app sends before the window ends
    now[0] = 1010.2
    assert waiting.wait(2)  # the next window's probe
    assert pacers.snapshot()["requests_over_limit"] == 2


def test_a_request_for_one_app_waits_for_that_app() -> None:
    """The preflight's GET /me per token goes through that token's pacer, whatever the other apps have left."""
    now = [1000.0]
    pacers = Pacers(2, clock=lambda: now[0])
    _answered(pacers, 1, 1010, remaining=0)  # both spent
    done = threading.Event()
    threading.Thread(target=lambda: (pacers.acquire(1), done.set()), daemon=True).start()
    assert not done.wait(0.2)
    now[0] = 1010.2
    assert done.wait(2)
    assert pacers.apps[1].requests_sent == 2 and pacers.apps[0].requests_sent == 1
