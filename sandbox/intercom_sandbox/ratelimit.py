"""Intercom's rate limit: the per-minute budget split evenly into 10-second windows aligned to the wall clock.

Every response carries ``X-RateLimit-Limit`` (the window budget), ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (unix seconds of the window's end); beyond the budget the request is answered 429 and not
processed. Counters also feed ``/__sandbox/stats``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 10


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


class RateLimiter:
    """Fixed 10-s windows; thread-safe so that a threaded server or test harness cannot overshoot the budget."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.budget = max(per_minute // (60 // WINDOW_SECONDS), 1)
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._seen = 0
        self._accepted = 0
        self.requests_served = 0
        self.requests_rejected = 0
        self.max_seen_in_window = 0
        self.max_accepted_in_window = 0

    def hit(self) -> Decision:
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            if window != self._window:
                self._window, self._seen, self._accepted = window, 0, 0
            self._seen += 1
            self.max_seen_in_window = max(self.max_seen_in_window, self._seen)
            reset = (window + 1) * WINDOW_SECONDS
            if self._accepted >= self.budget:
                self.requests_rejected += 1
                return Decision(False, self.budget, 0, reset)
            self._accepted += 1
            self.requests_served += 1
            self.max_accepted_in_window = max(self.max_accepted_in_window, self._accepted)
            return Decision(True, self.budget, self.budget - self._accepted, reset)

    def reset_counters(self) -> None:
        with self._lock:
            self._window, self._seen, self._accepted = -1, 0, 0
            self.requests_served = self.requests_rejected = 0
            self.max_seen_in_window = self.max_accepted_in_window = 0

    def stats(self) -> dict[str, int]:
        return {
            "requests_served": self.requests_served,
            "requests_rejected_429": self.requests_rejected,
            "max_requests_in_window": self.max_seen_in_window,
            "max_accepted_in_window": self.max_accepted_in_window,
            "window_budget": self.budget,
        }
