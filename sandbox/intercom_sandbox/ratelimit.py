"""Intercom's rate limits: per app and per workspace, each per-minute budget split evenly into 10-second windows
aligned to the wall clock.

Every private app (token) of a workspace has its own budget (``X-RateLimit-Limit`` is the app's window budget); all
apps of the workspace share one workspace budget. A request is checked against its app's window first (spent: 429,
``X-RateLimit-Remaining: 0``), then the workspace's (spent: 429 with the app's headers, its ``Remaining`` unchanged:
**assumed**, see EVIDENCE.md). Only accepted requests count against either budget; a 429 is not processed. Counters
also feed ``/__sandbox/stats``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 10


def window_budget(per_minute: int) -> int:
    """The per-minute limit as requests per 10-s window (``limit // 6``, at least 1)."""
    return max(per_minute // (60 // WINDOW_SECONDS), 1)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    #: refused because the workspace's window was spent (the app's own budget was not)
    workspace_limited: bool = False

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


class WorkspaceLimiter:
    """The budget all apps of one workspace share, and the lock every app limiter of the workspace decides under
    (so that a threaded server cannot overshoot either budget)."""

    def __init__(self, per_minute: int) -> None:
        self.budget = window_budget(per_minute)
        self.lock = threading.Lock()
        self.apps: list[RateLimiter] = []
        self._window = -1
        self._seen = 0
        self._accepted = 0
        self.requests_served = 0
        self.requests_rejected = 0
        self.requests_rejected_workspace = 0
        self.max_seen_in_window = 0
        self.max_accepted_in_window = 0

    def add_app(self, per_minute: int, clock: Callable[[], float] = time.time) -> RateLimiter:
        """A new app (token) of this workspace with its own per-minute limit."""
        limiter = RateLimiter(per_minute, clock=clock, workspace=self)
        self.apps.append(limiter)
        return limiter

    def _enter(self, window: int) -> None:
        """Count a request in ``window`` (caller holds the lock)."""
        if window != self._window:
            self._window, self._seen, self._accepted = window, 0, 0
        self._seen += 1
        self.max_seen_in_window = max(self.max_seen_in_window, self._seen)

    def reset_counters(self) -> None:
        with self.lock:
            self._window, self._seen, self._accepted = -1, 0, 0
            self.requests_served = self.requests_rejected = self.requests_rejected_workspace = 0
            self.max_seen_in_window = self.max_accepted_in_window = 0
            for app in self.apps:
                app._reset_unlocked()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests_served": self.requests_served,
                "requests_rejected_429": self.requests_rejected,
                "max_requests_in_window": self.max_seen_in_window,
                "max_accepted_in_window": self.max_accepted_in_window,
                "window_budget": self.apps[0].budget if self.apps else self.budget,
                "workspace_window_budget": self.budget,
                "requests_rejected_workspace_429": self.requests_rejected_workspace,
                "apps": [
                    {
                        "app": f"app{number}",
                        "requests_served": app.requests_served,
                        "requests_rejected_429": app.requests_rejected,
                        "max_accepted_in_window": app.max_accepted_in_window,
                        "window_budget": app.budget,
                    }
                    for number, app in enumerate(self.apps, start=1)
                ],
            }


class RateLimiter:
    """One app's fixed 10-s windows; with a ``workspace``, also that workspace's shared budget. Thread-safe.

    ``clock`` is read once per request and decides the window for both budgets (tests replace it)."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.time, workspace: WorkspaceLimiter | None = None
    ) -> None:
        self.budget = window_budget(per_minute)
        self.clock = clock
        self.workspace = workspace
        self._lock = workspace.lock if workspace is not None else threading.Lock()
        self._reset_unlocked()

    def _reset_unlocked(self) -> None:
        self._window, self._seen, self._accepted = -1, 0, 0
        self.requests_served = 0
        self.requests_rejected = 0
        self.max_seen_in_window = 0
        self.max_accepted_in_window = 0

    def hit(self) -> Decision:
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        workspace = self.workspace
        with self._lock:
            if window != self._window:
                self._window, self._seen, self._accepted = window, 0, 0
            self._seen += 1
            self.max_seen_in_window = max(self.max_seen_in_window, self._seen)
            if workspace is not None:
                workspace._enter(window)
            reset = (window + 1) * WINDOW_SECONDS
            if self._accepted >= self.budget:
                self._reject(workspace_limited=False)
                return Decision(False, self.budget, 0, reset)
            if workspace is not None and workspace._accepted >= workspace.budget:
                self._reject(workspace_limited=True)
                return Decision(False, self.budget, self.budget - self._accepted, reset, workspace_limited=True)
            self._accepted += 1
            self.requests_served += 1
            self.max_accepted_in_window = max(self.max_accepted_in_window, self._accepted)
            if workspace is not None:
                workspace._accepted += 1
                workspace.requests_served += 1
                workspace.max_accepted_in_window = max(workspace.max_accepted_in_window, workspace._accepted)
            return Decision(True, self.budget, self.budget - self._accepted, reset)

    def _reject(self, workspace_limited: bool) -> None:
        """Count a 429 (caller holds the lock)."""
        self.requests_rejected += 1
        if self.workspace is not None:
            self.workspace.requests_rejected += 1
            if workspace_limited:
                self.workspace.requests_rejected_workspace += 1

    def reset_counters(self) -> None:
        with self._lock:
            self._reset_unlocked()

    def stats(self) -> dict[str, int]:
        """This app's counters (the workspace's: ``WorkspaceLimiter.stats``)."""
        return {
            "requests_served": self.requests_served,
            "requests_rejected_429": self.requests_rejected,
            "max_requests_in_window": self.max_seen_in_window,
            "max_accepted_in_window": self.max_accepted_in_window,
            "window_budget": self.budget,
        }
