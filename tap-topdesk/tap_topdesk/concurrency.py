"""Requests to TOPdesk in parallel, bounded: at a real TOPdesk's latency (100 ms or more a request) what counts is
how many requests go out one after another, so the per-record reads (progress trails, attachments, e-mails, group
members, asset links) and the checks go out side by side, while records still leave the tap in a fixed order.

Every HTTP request of the tap, from any thread, holds one of ``max_concurrency`` slots while it is on the wire (a
retry's back-off sleeps without one). A request whose answer will be needed later (the first page of each stream,
every language's first page) can be asked ahead: the stream that sends it takes the answer instead. A 429 or 503
from TOPdesk halves the slots for ``COOL_DOWN_S``; they double back, one step per cool-down, while no other
throttling answer comes.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import typing as t
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from functools import partial
from urllib.parse import parse_qsl, urlsplit

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import requests

LOGGER = logging.getLogger("tap-topdesk")
#: Seconds the halved bound holds before it may double again.
COOL_DOWN_S = 30.0
#: Items read ahead per request slot (parent records whose children are being read, assets whose links are).
READ_AHEAD_PER_SLOT = 4
#: Seconds a worker thread waits for work before it ends.
IDLE_S = 5.0
#: Statuses that say "slow down": Too Many Requests, Service Unavailable.
THROTTLING = (429, 503)

T = t.TypeVar("T")
R = t.TypeVar("R")


def request_key(prepared: requests.PreparedRequest) -> tuple:
    """What makes two GETs the same: path, parameters (in any order) and ``Accept``."""
    parts = urlsplit(prepared.url or "")
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))), prepared.headers.get("Accept")


class RequestPool:
    """A bound on the requests in flight (``slot``) and the worker threads that read ahead (``submit``)."""

    def __init__(self, max_concurrency: int, *, cool_down_s: float = COOL_DOWN_S) -> None:
        self.most = max(1, int(max_concurrency))
        self.limit = self.most
        self.cool_down_s = cool_down_s
        self.in_flight = 0
        #: The most requests that were on the wire at once (reported by the benchmark and tests).
        self.peak = 0
        self.throttled_count = 0
        self._calm_at = 0.0
        self._cond = threading.Condition()
        #: Work for the threads: (background?, order, future, call); the sync's own work goes first, answers asked
        #: ahead (``ask_ahead``) take the threads it leaves idle.
        self._queue: queue.PriorityQueue[tuple[bool, int, Future[t.Any], Callable[[], t.Any]]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        #: Answers asked ahead, by request (``ask_ahead``), until taken (``take``) or dropped.
        self._ahead: dict[tuple, Future[tuple[requests.Response, t.IO[bytes]]]] = {}

    @property
    def parallel(self) -> bool:
        """Whether reads ahead are made at all (``max_concurrency`` 1: one request at a time, as before)."""
        return self.most > 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the slots while a request is on the wire."""
        with self._cond:
            while self.in_flight >= self._current_limit():
                self._cond.wait(timeout=1.0)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def _current_limit(self) -> int:
        if self.limit < self.most and time.monotonic() >= self._calm_at:
            self.limit = min(self.most, self.limit * 2)
            self._calm_at = time.monotonic() + self.cool_down_s
        return self.limit

    def throttled(self, status: int) -> None:
        """TOPdesk answered 429/503: halve the bound for a cool-down (said once per halving)."""
        with self._cond:
            self.throttled_count += 1
            halved = max(1, self.limit // 2)
            if halved < self.limit:
                LOGGER.warning(
                    "TOPdesk answered %s: requests in parallel lowered from %d to %d for %.0f s",
                    status,
                    self.limit,
                    halved,
                    self.cool_down_s,
                )
            self.limit = halved
            self._calm_at = time.monotonic() + self.cool_down_s

    def submit(self, fn: Callable[..., T], *args: t.Any, **kwargs: t.Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` on a worker thread (its requests take slots as any other), before anything
        asked ahead that waits."""
        return self._put(False, partial(fn, *args, **kwargs))

    def _put(self, background: bool, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            self._queue.put((background, next(self._order), future, call))
            if len(self._threads) < self.most:
                thread = threading.Thread(target=self._work, name=f"tap-topdesk-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        """Take work until none came for ``IDLE_S`` (a finished sync leaves no thread behind)."""
        while True:
            try:
                _background, _order, future, call = self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                with self._cond:
                    if self._queue.empty():
                        self._threads.remove(threading.current_thread())
                        return
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001  a worker hands any failure to whoever takes the result
                future.set_exception(exc)

    def ask_ahead(
        self, prepared: requests.PreparedRequest, send: Callable[[], tuple[requests.Response, t.IO[bytes]]]
    ) -> None:
        """Send ``prepared`` now, on a worker (``send``: with its stream's retries, the body spooled); the stream
        that later sends the same request takes the answer instead (``take``). Once per request."""
        if not self.parallel:
            return
        key = request_key(prepared)
        with self._cond:
            if key not in self._ahead:
                self._ahead[key] = self._put(True, send)

    def take(self, prepared: requests.PreparedRequest) -> tuple[requests.Response, t.IO[bytes]] | None:
        """The answer to ``prepared`` asked ahead (waiting for it; its failure raised here), or None."""
        if not self._ahead:
            return None
        with self._cond:
            future = self._ahead.pop(request_key(prepared), None)
        return None if future is None else future.result()

    def drop_ahead(self) -> None:
        """Forget the answers asked ahead that nobody took (a stream that read otherwise, or stopped early)."""
        with self._cond:
            ahead, self._ahead = self._ahead, {}
        for future in ahead.values():
            if not future.cancel() and future.exception() is None:
                future.result()[1].close()


def in_order_ahead(pool: RequestPool, items: Iterable[T], fetch: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """``(item, fetch(item))`` in the items' order, the fetches running up to ``READ_AHEAD_PER_SLOT`` x
    ``max_concurrency`` items ahead on the pool (one after another without parallel slots); a fetch's failure is
    raised at its item."""
    if not pool.parallel:
        for item in items:
            yield item, fetch(item)
        return
    depth = READ_AHEAD_PER_SLOT * pool.most
    ahead: deque[tuple[T, Future[R]]] = deque()
    try:
        for item in items:
            ahead.append((item, pool.submit(fetch, item)))
            if len(ahead) > depth:
                first, future = ahead.popleft()
                yield first, future.result()
        while ahead:
            first, future = ahead.popleft()
            yield first, future.result()
    finally:
        for _item, future in ahead:
            future.cancel()
