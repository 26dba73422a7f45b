"""Rate-limit pacer shared by every thread of one Intercom client.

Intercom counts requests in fixed 10-second windows and reports, on every response, ``X-RateLimit-Limit`` (the
window's budget), ``X-RateLimit-Remaining`` (what is left after this request) and ``X-RateLimit-Reset`` (unix
seconds when the window ends). The pacer trusts the server's count and adds what it cannot see yet:

* ``used`` is the highest count the server reported for the newest window (``limit - remaining``; out-of-order
  answers only ever raise it). ``in_flight`` are requests sent but not answered: they may be counted in the old or
  in the new window, so they are charged to whichever window is current. A request is sent only while
  ``used + in_flight < limit``. This holds across a boundary too: if the server is still in the old window the count
  is exact, if it already rolled over the new window holds at most ``in_flight`` + new sends, which the same bound
  keeps below the limit. So by design the budget is never exceeded by this client (zero 429 in steady state).
* When the budget is spent, nothing moves until the window has ended (``reset`` + ``lead`` + ``guard`` on our
  clock). The first request after that, like the very first request of the run when the limit is unknown, is a
  lone *probe* (a slow request still in flight does not hold it back): its answer tells the new window's reset and
  count, then the gate opens and the new window's whole budget is used in one burst (so utilisation is the full
  limit whenever there is enough work).
* Clock skew: a request sent at local time ``s`` that the server still counts in the window ending at ``reset`` proves
  our clock is ahead by more than ``s - reset``; ``lead`` keeps the largest such proof. A probe answered 429 in the
  old window was early: ``lead`` grows by at least a step that doubles per early probe (``guard``, 2x, 4x...), so a
  skew of seconds costs a few 429s once, not one per window; it never shrinks (a late burst costs nothing while
  the budget outlasts the remaining window). A server clock ahead of ours only makes the probe late.

Several private apps of one workspace (:class:`Pacers`): each token has its own pacer fed by its own app's headers,
and all of them share one lock and condition, so a request goes through whichever app has budget first (taken in
turn). Intercom limits the workspace too (25,000/min across its private apps, so three apps at 10,000/min could
exceed it): each app's pacer is capped at an equal share of the workspace's window budget, and a 429 that leaves the
app budget (``X-RateLimit-Remaining`` > 0: the workspace's limit, not the app's) spends the window for every app.

Counters (``snapshot()``): requests sent, 429s received, accepted/rejected per server window (keyed by its reset,
as the server counted them), seconds spent waiting in :meth:`Pacer.acquire` (summed over threads).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, cast

#: Intercom's rate-limit docs: the per-minute limit is spread over 10-second windows (used until the answers'
#: ``X-RateLimit-Reset`` show the window's length: :attr:`Pacer.window_seconds`).
DOCUMENTED_WINDOW_S = 10
#: Intercom's rate-limit docs: all private apps of a workspace share 25,000 requests per minute.
WORKSPACE_LIMIT_PER_MINUTE = 25_000
#: Windows kept in the per-window counters (10 s each: more than 2 hours).
MAX_WINDOWS = 1000
#: Weight of the newest answer in the latency's moving average (about the last 50 answers count).
LATENCY_WEIGHT = 0.02


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class Pacer:
    """Gate for sends (:meth:`acquire`) fed by every answer (:meth:`release`); thread-safe."""

    def __init__(
        self,
        *,
        guard: float = 0.1,
        clock: Callable[[], float] = time.time,
        cap: int | None = None,
        cond: threading.Condition | None = None,
    ) -> None:
        #: Seconds to wait after a window's reset (our clock) before probing the next one.
        self.guard = guard
        self.clock = clock
        #: At most this many requests per window even when the server allows more (this app's share of the
        #: workspace's budget); None: the server's limit only.
        self.cap = cap
        self._cond = cond or threading.Condition()
        self._limit: int | None = None
        self._reset: int | None = None
        self._used = 0
        self._in_flight = 0
        self._lead = 0.0
        self._step = guard
        self._probe: float | None = None  # send time of the outstanding probe
        self._latency: float | None = None  # moving average of send-to-answer seconds
        self.requests_sent = 0
        self.requests_over_limit = 0
        self.wait_seconds = 0.0
        self.windows: OrderedDict[int, dict[str, int]] = OrderedDict()
        #: the window's length as the answers show it: the shortest step between two consecutive resets seen
        #: (None until answers from two windows came; Intercom's docs say 10 s)
        self.window_seconds: int | None = None

    def acquire(self) -> float:
        """Block until a request may be sent; returns the send time (wall clock) to hand back to :meth:`release`."""
        started = time.monotonic()
        with self._cond:
            while True:
                now = self.clock()
                if self._take(now):
                    self.wait_seconds += time.monotonic() - started
                    return now
                self._cond.wait(self._wake_in(now))

    def release(self, sent_at: float, headers: Mapping[str, str] | None, status: int | None) -> None:
        """Account for the answer to a request sent at ``sent_at`` (``headers``/``status`` None: no answer)."""
        limit = remaining = reset = None
        if headers is not None:
            limit = _header_int(headers, "X-RateLimit-Limit")
            remaining = _header_int(headers, "X-RateLimit-Remaining")
            reset = _header_int(headers, "X-RateLimit-Reset")
        answered = self.clock()
        with self._cond:
            self._in_flight -= 1
            if headers is not None and answered >= sent_at:
                sample = answered - sent_at
                self._latency = (
                    sample if self._latency is None else self._latency + LATENCY_WEIGHT * (sample - self._latency)
                )
            if sent_at == self._probe:
                self._probe = None
            if status == 429:
                self.requests_over_limit += 1
            if limit is None or remaining is None or reset is None:
                # no count from the server (a broken connection, an error page without headers): it may still have
                # counted the request, so it stays charged to the current window until an answer says otherwise
                self._used += 1
            else:
                self._count(reset, status)
                proof = sent_at - reset
                if status == 429 and proof >= self._lead:  # a probe sent too early: search upwards, fast
                    self._lead = max(proof, self._lead + self._step)
                    self._step *= 2
                else:
                    self._lead = max(self._lead, proof)
                self._limit = limit
                used = max(limit - remaining, 0)
                if self._reset is None or reset > self._reset:
                    if self._reset is not None:
                        self._step = self.guard  # the server moved on: our boundary estimate works again
                        step = reset - self._reset
                        self.window_seconds = step if self.window_seconds is None else min(self.window_seconds, step)
                    self._reset, self._used = reset, used
                elif reset == self._reset:
                    self._used = max(self._used, used)
            self._cond.notify_all()

    def spend(self, reset: int) -> None:
        """Another limit than this app's (the workspace's) refused a request in the window ending at ``reset``:
        nothing more is sent in it; the next window is probed as usual."""
        with self._cond:
            if self._reset is None or reset >= self._reset:
                self._reset = reset
                self._used = max(self._used, self.budget or 0)
            self._cond.notify_all()

    @property
    def limit(self) -> int | None:
        """The window's budget as the server last reported it (None before the first answer)."""
        return self._limit

    @property
    def budget(self) -> int | None:
        """What this pacer sends per window: the server's limit within :attr:`cap` (None before the first answer)."""
        if self._limit is None:
            return None
        return self._limit if self.cap is None else min(self._limit, self.cap)

    @property
    def reset(self) -> int | None:
        """The newest window's end (``X-RateLimit-Reset``, unix seconds) as the server last reported it."""
        return self._reset

    @property
    def latency_s(self) -> float | None:
        """Moving average of the seconds from send to answer (None before the first answer): with the limit, what
        sizes the requests in flight needed to use the budget."""
        return self._latency

    def snapshot(self) -> dict[str, Any]:
        """Counters for logs and reports; ``windows`` maps each window's reset time to accepted/rejected counts."""
        with self._cond:
            return {
                "requests_sent": self.requests_sent,
                "requests_over_limit": self.requests_over_limit,
                "wait_seconds": round(self.wait_seconds, 3),
                "limit": self._limit,
                "window_seconds": self.window_seconds,
                "clock_lead_seconds": round(self._lead, 3),
                "latency_seconds": None if self._latency is None else round(self._latency, 4),
                "windows": {reset: dict(counts) for reset, counts in self.windows.items()},
            }

    # --- internals (called with the lock held) -----------------------------------------------------------------

    def _take(self, now: float) -> bool:
        """Count one send if the gate is open now (budget left, or the window's probe)."""
        budget = self.budget
        if budget is not None and self._used + self._in_flight < budget:
            pass
        elif self._may_probe(now):
            self._probe = now
        else:
            return False
        self._in_flight += 1
        self.requests_sent += 1
        return True

    def _stale(self, now: float) -> bool:
        """The newest known window has ended on our clock (or no window is known yet)."""
        return self._reset is None or now >= self._reset + self._lead + self.guard

    def _may_probe(self, now: float) -> bool:
        """One probe at a time once the window is over. Requests still in flight from the old window may land in the
        new one too; as they fit the old budget they are fewer than the limit, so probe + in flight still fits."""
        if self._probe is not None or not self._stale(now):
            return False
        budget = self.budget
        return self._in_flight == 0 if budget is None else self._in_flight < budget

    def _wake_in(self, now: float) -> float:
        """Seconds until the gate may open without an answer arriving (answers notify at once); at most 1 s so that
        a stepped wall clock is noticed."""
        if self._reset is not None and not self._stale(now):
            return min(max(self._reset + self._lead + self.guard - now, 0.001), 1.0)
        return 1.0

    def _count(self, reset: int, status: int | None) -> None:
        counts = self.windows.get(reset)
        if counts is None:
            counts = self.windows[reset] = {"accepted": 0, "rejected": 0}
            while len(self.windows) > MAX_WINDOWS:
                self.windows.popitem(last=False)
        counts["rejected" if status == 429 else "accepted"] += 1


class Pacers:
    """The pacers of the workspace's private apps, one per access token (in the tokens' order); thread-safe.

    :meth:`acquire` returns the app whose turn it is if it has budget, else the next one that has, else waits for
    the first to open; the read-only properties sum or summarise the apps for the loader, ``plan`` and the reports.
    """

    def __init__(
        self,
        apps: int = 1,
        *,
        workspace_per_minute: int | None = WORKSPACE_LIMIT_PER_MINUTE,
        guard: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if apps < 1:
            raise ValueError("at least one app (access token) is needed")
        self.clock = clock
        self._cond = threading.Condition()
        per_window = None if workspace_per_minute is None else workspace_per_minute // (60 // DOCUMENTED_WINDOW_S)
        share = None if per_window is None else max(per_window // apps, 1)
        self.apps = [Pacer(guard=guard, clock=clock, cap=share, cond=self._cond) for _ in range(apps)]
        self._turn = itertools.count()

    def acquire(self, app: int | None = None) -> tuple[int, float]:
        """Block until one app (``app``, when given) may send; returns its index and the send time."""
        started = time.monotonic()
        count = len(self.apps)
        with self._cond:
            while True:
                now = self.clock()
                first = next(self._turn) if app is None else app
                for step in range(count if app is None else 1):
                    index = (first + step) % count
                    pacer = self.apps[index]
                    if pacer._take(now):  # the apps share this group's lock, which is held here
                        pacer.wait_seconds += time.monotonic() - started
                        return index, now
                candidates = self.apps if app is None else [self.apps[app]]
                self._cond.wait(min(p._wake_in(now) for p in candidates))

    def release(self, app: int, sent_at: float, headers: Mapping[str, str] | None, status: int | None) -> bool:
        """Account for an answer to ``app``'s request. A 429 that leaves the app budget is the workspace's limit:
        the window is spent for every app, and True is returned (the caller says whose limit it was)."""
        self.apps[app].release(sent_at, headers, status)
        if status != 429 or headers is None:
            return False
        remaining, reset = _header_int(headers, "X-RateLimit-Remaining"), _header_int(headers, "X-RateLimit-Reset")
        if not remaining or reset is None:
            return False
        for pacer in self.apps:
            pacer.spend(reset)
        return True

    @property
    def limit(self) -> int | None:
        """Requests per window all apps together send at most (None until each app answered once)."""
        budgets = [pacer.budget for pacer in self.apps]
        return None if None in budgets else sum(cast(int, budget) for budget in budgets)

    @property
    def reset(self) -> int | None:
        resets = [pacer.reset for pacer in self.apps if pacer.reset is not None]
        return max(resets) if resets else None

    @property
    def latency_s(self) -> float | None:
        latencies = [pacer.latency_s for pacer in self.apps if pacer.latency_s is not None]
        return sum(latencies) / len(latencies) if latencies else None

    @property
    def window_seconds(self) -> int | None:
        return next((pacer.window_seconds for pacer in self.apps if pacer.window_seconds is not None), None)

    @property
    def requests_sent(self) -> int:
        return sum(pacer.requests_sent for pacer in self.apps)

    def snapshot(self) -> dict[str, Any]:
        """The counters of :meth:`Pacer.snapshot` summed over the apps (``limit``: what they send together per
        window; ``windows``: per server window), and ``apps``: each app's own, without its windows."""
        apps = [pacer.snapshot() for pacer in self.apps]
        windows: dict[int, dict[str, int]] = {}
        for snap in apps:
            for reset, counts in snap.pop("windows").items():
                total = windows.setdefault(reset, {"accepted": 0, "rejected": 0})
                total["accepted"] += counts["accepted"]
                total["rejected"] += counts["rejected"]
        latency = self.latency_s
        return {
            "requests_sent": sum(snap["requests_sent"] for snap in apps),
            "requests_over_limit": sum(snap["requests_over_limit"] for snap in apps),
            "wait_seconds": round(sum(snap["wait_seconds"] for snap in apps), 3),
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "clock_lead_seconds": max(snap["clock_lead_seconds"] for snap in apps),
            "latency_seconds": None if latency is None else round(latency, 4),
            "windows": dict(sorted(windows.items())),
            "apps": apps,
        }
