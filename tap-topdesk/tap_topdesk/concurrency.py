"""Requests to TOPdesk in parallel, bounded: at a real TOPdesk's latency (100 ms or more a request) what counts is
how many requests go out one after another, so the per-record reads (progress trails, attachments, e-mails, group
members, asset links) and the checks go out side by side, while records still leave the tap in a fixed order.

Every HTTP request of the tap, from any thread, holds a slot while it is on the wire (a retry's back-off sleeps
without one). A request whose answer will be needed later (the first page of each stream, every language's first
page) can be asked ahead: the stream that sends it takes the answer instead. A 429 or 503 from TOPdesk halves the
slots for ``COOL_DOWN_S``; they double back, one step per cool-down, while no other throttling answer comes.

How many slots: TOPdesk documents no rate limit and sends no header saying how much it takes, so no fixed number
above today's 8 can be cited as safe. Above ``START_CONCURRENCY`` the pool finds out (``max_concurrency`` the hard
cap, never exceeded): it starts at 8 and adds a slot while TOPdesk answers as fast as it did unloaded, and takes
slots away when its answers slow down, as a server that queues does before it refuses (TCP Vegas' idea: compare the
time a request takes to the least it took, not wait for a loss). A ``max_concurrency`` of 8 or less is a fixed
bound, as before.
"""

from __future__ import annotations

import itertools
import logging
import queue
import statistics
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

#: ``max_concurrency`` unless set: the adaptive bound's cap.
DEFAULT_MAX_CONCURRENCY = 16
#: Requests in flight a sync starts with (the fixed default before the bound adapted); a ``max_concurrency`` at or
#: below it is a fixed bound.
START_CONCURRENCY = 8
#: Answers judged together: ``WINDOW_PER_SLOT`` x the bound (a window's median, so a few slow list pages among the
#: per-record reads do not count, and a window spans several rounds of every slot).
WINDOW_PER_SLOT = 4
#: Answers per group of the baseline: the least median of ``BASELINE_GROUP`` answers in a row is the time TOPdesk
#: takes unloaded (a median: one freak fast answer does not set it).
BASELINE_GROUP = 8
#: A window answered within this factor of the baseline: TOPdesk is not straining, one slot more.
GROW_AT = 1.25
#: A window slower than this factor of the baseline: the requests queue, a quarter of the slots less.
BACK_OFF_AT = 1.5
#: Windows after a back-off (or a throttling answer) before the bound may grow again.
HOLD_WINDOWS = 3
#: The window after a back-off must answer at most this factor of the one that caused it; else the slower answers
#: came from slower requests (a phase of larger reads), not from a straining server: the baseline is set to them
#: and the slots given back.
CAUSED_AT = 0.9

T = t.TypeVar("T")
R = t.TypeVar("R")


def request_key(prepared: requests.PreparedRequest) -> tuple:
    """What makes two GETs the same: path, parameters (in any order) and ``Accept``."""
    parts = urlsplit(prepared.url or "")
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))), prepared.headers.get("Accept")


class RequestPool:
    """A bound on the requests in flight (``slot``) and the worker threads that read ahead (``submit``).

    ``most`` (``max_concurrency``) is never exceeded; threads and reads ahead are sized to it (idle threads wait at
    the bound). ``level`` is where the adaptive bound stands (``most`` when fixed); ``limit`` is the bound in force,
    ``level`` but while a 429/503 has halved it.

    The adaptive bound (``most`` above ``START_CONCURRENCY``) judges the answers' wire times (``answered``): every
    ``WINDOW_PER_SLOT`` x ``limit`` answers in which the requests waited at the bound (a window where the tap did not
    use its slots says nothing about more), the window's median against the baseline, the least median of
    ``BASELINE_GROUP`` answers in a row seen so far (what TOPdesk takes with few requests on it). Within ``GROW_AT``:
    one slot more; beyond ``BACK_OFF_AT``: a quarter less, and ``HOLD_WINDOWS`` windows without growing. A median
    per window, not per request kind, keeps it small; a phase of slower requests (larger answers) that looks like a
    strain is told apart by the back-off itself: when fewer slots do not answer faster (``CAUSED_AT``), the server
    was not the cause, the baseline becomes the new phase's and the slots come back.
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        cool_down_s: float = COOL_DOWN_S,
        start: int = START_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.most = max(1, int(max_concurrency))
        #: Whether the bound adapts (``most`` above the start) or stays ``most``.
        self.adaptive = self.most > start
        self.level = min(start, self.most) if self.adaptive else self.most
        self.limit = self.level
        self.cool_down_s = cool_down_s
        self._clock = clock
        self.in_flight = 0
        #: The most requests that were on the wire at once (reported by the benchmark and tests).
        self.peak = 0
        #: The highest the adaptive bound went.
        self.highest = self.level
        self.throttled_count = 0
        #: Seconds TOPdesk takes unloaded (``BASELINE_GROUP``), once known.
        self.baseline: float | None = None
        self._calm_at = 0.0
        self._group: list[float] = []
        #: The window's wire times, and how many of its requests took the last free slot.
        self._window: list[float] = []
        self._window_full = 0
        self._hold = 0
        #: After a back-off: the median that caused it and the level before, for the next window to confirm.
        self._backed_off: tuple[float, int] | None = None
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
        """Hold one of the slots while a request is on the wire; its wire time counts for the adaptive bound when
        an answer came (a failure raised inside does not count)."""
        with self._cond:
            while self.in_flight >= self._current_limit():
                self._cond.wait(timeout=1.0)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            full = self.in_flight >= self.limit
        started = self._clock()
        answered = False
        try:
            yield
            answered = True
        finally:
            with self._cond:
                self.in_flight -= 1
                if answered:
                    self._answered(self._clock() - started, full=full)
                self._cond.notify_all()

    def answered(self, seconds: float, *, full: bool = True) -> None:
        """An answer came after ``seconds`` on the wire; ``full``: its request took the last free slot (the tap
        was using its bound). ``slot`` calls it; tests feed it."""
        with self._cond:
            self._current_limit()
            self._answered(seconds, full=full)
            self._cond.notify_all()

    def _current_limit(self) -> int:
        if self.limit < self.level and self._clock() >= self._calm_at:
            self.limit = min(self.level, self.limit * 2)
            self._calm_at = self._clock() + self.cool_down_s
        return self.limit

    def _answered(self, seconds: float, *, full: bool) -> None:
        if not self.adaptive:
            return
        self._group.append(seconds)
        if len(self._group) >= BASELINE_GROUP:
            median = statistics.median(self._group)
            self._group.clear()
            if self.baseline is None or median < self.baseline:
                self.baseline = median
        if self.limit < self.level or self._clock() < self._calm_at:
            self._window.clear()  # throttled: TOPdesk said how much; nothing to judge
            self._window_full = 0
            return
        self._window.append(seconds)
        self._window_full += full
        if len(self._window) < max(BASELINE_GROUP, WINDOW_PER_SLOT * self.limit):
            return
        median = statistics.median(self._window)
        busy = 4 * self._window_full >= 3 * len(self._window)
        self._window.clear()
        self._window_full = 0
        if busy and self.baseline is not None:
            self._judge(median, self.baseline)

    def _judge(self, median: float, baseline: float) -> None:
        """One window in which the bound was used: its median against the baseline."""
        if self._backed_off is not None:
            cause, before = self._backed_off
            self._backed_off = None
            if median > CAUSED_AT * cause and median > BACK_OFF_AT * baseline:
                self.baseline = median
                self._hold = 0
                self._set_level(
                    before,
                    f"TOPdesk answers in {median * 1000:.0f} ms at {self.level} in parallel, no faster than at "
                    f"{before}: slower requests, not a straining TOPdesk (baseline now {median * 1000:.0f} ms)",
                    "back to",
                )
                return
        ratio = median / baseline if baseline > 0 else 1.0
        said = (
            f"TOPdesk answers in {median * 1000:.0f} ms at {self.level} in parallel (baseline {baseline * 1000:.0f} ms)"
        )
        if ratio > BACK_OFF_AT and self.level > 1:
            self._backed_off = (median, self.level)
            self._hold = HOLD_WINDOWS
            self._set_level(max(1, self.level * 3 // 4), said, "lowered to")
        elif self._hold > 0:
            self._hold -= 1
        elif ratio <= GROW_AT and self.level < self.most:
            self._set_level(self.level + 1, said, "raised to")

    def _set_level(self, level: int, said: str, verb: str) -> None:
        """The adaptive bound to ``level`` (not throttled: the bound in force too), said once."""
        LOGGER.info("%s: requests in parallel %s %d", said, verb, level)
        self.level = self.limit = level
        self.highest = max(self.highest, level)

    def throttled(self, status: int) -> None:
        """TOPdesk answered 429/503: halve the bound for a cool-down (said once per halving); the adaptive bound
        comes back to a quarter below where it was refused (not to the refused level), and grows from there only
        after the cool-down and ``HOLD_WINDOWS``."""
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
            if self.adaptive and self.limit >= self.level:
                self.level = max(1, self.level * 3 // 4)
                self._hold = HOLD_WINDOWS
                self._backed_off = None
            self.limit = min(halved, self.level)
            self._calm_at = self._clock() + self.cool_down_s
            self._window.clear()
            self._window_full = 0

    def summary(self) -> str:
        """How many requests went out at once (the benchmark reads it from the log)."""
        baseline = "" if self.baseline is None else f", baseline {self.baseline * 1000:.0f} ms"
        return (
            f"Requests in parallel: peak {self.peak} on the wire, bound at the end {self.limit}, highest "
            f"{self.highest} of max_concurrency {self.most}{baseline}, throttling answers {self.throttled_count}"
        )

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


def connections_for(session: requests.Session, most: int) -> requests.Session:
    """Keep up to ``most`` connections to TOPdesk open in ``session``: ``requests`` keeps 10 per host, so beyond 10
    requests in flight on one session each answer's connection would be closed ("Connection pool is full") and the
    next request open a new one, a TCP and TLS handshake at TOPdesk's latency."""
    from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

    if most > DEFAULT_POOLSIZE:
        for prefix in ("https://", "http://"):
            session.mount(prefix, HTTPAdapter(pool_maxsize=most))
    return session


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
