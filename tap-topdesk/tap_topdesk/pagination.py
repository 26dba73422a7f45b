"""Paging for TOPdesk's endpoint families and the windowed, count-checked reader.

TOPdesk has no cursors: every family pages by offset (``pageStart``/``pageSize``, ``start``/``page_size``), says
"more" with HTTP 206 or a body ``next``, and "nothing" with 204. Large lists on a Virtual Appliance time out, so
big streams are read in ``modificationDate`` windows; each window is paged completely, checked against a second
(id-only) listing, and split in half on a failure or a mismatch — down to one day, then the run fails loudly.
"""

from __future__ import annotations

import logging
import time
import typing as t
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import requests
from singer_sdk.exceptions import FatalSyncError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MIN_WINDOW = timedelta(days=1)
#: How far an empty window may grow (in multiples of window_days) before data appears.
MAX_GROWTH = 8


class TopdeskOffsetPaginator(BaseAPIPaginator[int]):
    """Offset paging for every TOPdesk family: next offset = offset + page size while the answer says more.

    "More" is HTTP 206 (classic APIs, assets, knowledge base) or a non-null body ``next`` (persons v2, OM). The
    offset is always advanced by the *requested* page size, never by a ``next`` URL, because mixing families is
    the classic TOPdesk paging bug (``start`` on assets silently repeats page 0).
    """

    def __init__(self, page_size: int, start: int = 0) -> None:
        super().__init__(start)
        self.page_size = page_size

    def has_more(self, response: requests.Response) -> bool:
        return more_pages(response)

    def get_next(self, response: requests.Response) -> int | None:
        return (self.current_value or 0) + self.page_size


def more_pages(response: requests.Response) -> bool:
    """Whether TOPdesk says another page follows."""
    if response.status_code == 206:
        return True
    if response.status_code == 204 or not response.content:
        return False
    if "json" in response.headers.get("Content-Type", "") and response.content[:1] == b"{":
        payload = response.json()
        return bool(payload.get("next"))
    return False


def offset_pages(fetch: Callable[[int], Page], page_size: int) -> Iterator[Page]:
    """Every page of one listing: offset 0, then ``page_size`` further while a page says more and is not empty."""
    offset = 0
    while True:
        page = fetch(offset)
        yield page
        if not page.more or not page.records:
            return
        offset += page_size


@dataclass(frozen=True)
class Window:
    """A half-open range of the replication key (``start_inclusive`` False only for a caller that asks for it)."""

    start: datetime
    end: datetime
    start_inclusive: bool = True

    def __str__(self) -> str:
        left = "[" if self.start_inclusive else "("
        return f"{left}{self.start.isoformat()}, {self.end.isoformat()})"

    def halves(self) -> tuple[Window, Window]:
        mid = self.start + (self.end - self.start) / 2
        mid = mid.replace(microsecond=0)  # FIQL bounds are whole seconds
        return replace(self, end=mid), Window(mid, self.end, True)


@dataclass
class Page:
    """One page of a window: its records and whether more follow."""

    records: list[dict]
    more: bool


class WindowFailedError(Exception):
    """A window could not be read completely and consistently."""


#: Exceptions that mean "this window failed after the request-level retries".
WINDOW_ERRORS = (
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


class WindowedReader:
    """Reads ``[start, end)`` in windows of ``window_days``; yields each verified window sorted by (key, id).

    ``fetch(window, offset)`` returns one full page; ``fetch_ids(window, offset)`` one page of ids only (a cheap
    recount, used when a window needed more than one page: only multi-page offset paging can lose rows that move
    while it runs). A window is retried as two halves on a timeout/5xx that outlived the request retries, on a
    duplicate, or when the recount lists ids the paging never returned.
    """

    def __init__(
        self,
        *,
        stream_name: str,
        fetch: Callable[[Window, int], Page],
        page_size: int,
        window_days: int,
        sort_key: Callable[[dict], tuple],
        fetch_ids: Callable[[Window, int], Page] | None = None,
        id_page_size: int | None = None,
        record_id: Callable[[dict], t.Any] = lambda r: r.get("id"),
        logger: logging.Logger | None = None,
    ) -> None:
        self.stream_name = stream_name
        self.fetch = fetch
        self.fetch_ids = fetch_ids
        self.page_size = page_size
        self.id_page_size = id_page_size or page_size
        self.step = timedelta(days=max(1, window_days))
        self.sort_key = sort_key
        self.record_id = record_id
        self.logger = logger or logging.getLogger("tap-topdesk")
        self.windows_read = 0
        self.windows_split = 0

    def windows(self, start: datetime, end: datetime, *, start_inclusive: bool) -> list[Window]:
        """Consecutive windows covering ``[start, end)``."""
        result = []
        lo, inclusive = start, start_inclusive
        while lo < end:
            hi = min(lo + self.step, end)
            result.append(Window(lo, hi, inclusive))
            lo, inclusive = hi, True
        return result

    def read(self, start: datetime, end: datetime, *, start_inclusive: bool) -> Iterator[dict]:
        """All records of the range, window by window, each window complete and sorted.

        Windows are planned lazily: after an empty window the next one doubles (up to ``MAX_GROWTH`` times
        ``window_days``) so years without data cost a few requests; a grown window that holds data is read as
        base-size windows instead, and any non-empty or failed window resets the size. A failed window is
        replaced by its two halves.
        """
        pending: deque[Window] = deque()
        lo, inclusive, step = start, start_inclusive, self.step
        emitted = 0
        last_log = time.monotonic()
        while pending or lo < end:
            planned = not pending
            if planned:
                window = Window(lo, min(lo + step, end), inclusive)
                lo, inclusive = window.end, True
                if window.end - window.start > self.step and self._has_data(window):
                    # Data again after a gap: read the grown window in base-size windows, so that window_days keeps
                    # bounding both the size of each list request and the records held in memory.
                    pending.extend(self.windows(window.start, window.end, start_inclusive=window.start_inclusive))
                    step = self.step
                    continue
            else:
                window = pending.popleft()
            try:
                records = self.read_window(window)
            except WindowFailedError as exc:
                step = self.step
                if window.end - window.start <= MIN_WINDOW:
                    msg = (
                        f"Stream '{self.stream_name}': window {window} still fails at the minimum size of one day "
                        f"({exc}). Giving up instead of skipping it; raise request_timeout or retry later."
                    )
                    raise FatalSyncError(msg) from exc
                first, second = window.halves()
                self.windows_split += 1
                self.logger.warning(
                    "Stream '%s': window %s failed (%s); retrying as %s and %s",
                    self.stream_name,
                    window,
                    exc,
                    first,
                    second,
                )
                pending.appendleft(second)
                pending.appendleft(first)
                continue
            self.windows_read += 1
            if planned:
                step = self.step if records else min(step * 2, self.step * MAX_GROWTH)
            records.sort(key=self.sort_key)
            emitted += len(records)
            now = time.monotonic()
            if records or now - last_log > 30:
                self.logger.info(
                    "Stream '%s': window %s → %d records (%d so far, %d windows read)",
                    self.stream_name,
                    window,
                    len(records),
                    emitted,
                    self.windows_read,
                )
                last_log = now
            yield from records
        self.logger.info(
            "Stream '%s': %d records in %d windows (%d split after a failure or mismatch)",
            self.stream_name,
            emitted,
            self.windows_read,
            self.windows_split,
        )

    def read_window(self, window: Window) -> list[dict]:
        """Page one window completely; recount it when it took several pages."""
        collected: dict[t.Any, dict] = {}
        paged = 0
        pages = 0
        try:
            for page in offset_pages(lambda offset: self.fetch(window, offset), self.page_size):
                pages += 1
                paged += len(page.records)
                for record in page.records:
                    collected[self.record_id(record)] = record
            if paged != len(collected):
                msg = f"paging returned {paged} rows but {len(collected)} distinct records (rows moved)"
                raise WindowFailedError(msg)
            if pages > 1 and self.fetch_ids is not None:
                listed = self._recount(window)
                missing = listed - collected.keys()
                if missing:
                    msg = (
                        f"count mismatch: paging returned {len(collected)} records, the recount lists "
                        f"{len(listed)} of which {len(missing)} were never returned"
                    )
                    raise WindowFailedError(msg)
        except WINDOW_ERRORS as exc:
            raise WindowFailedError(f"{type(exc).__name__}: {exc}") from exc
        return list(collected.values())

    def _has_data(self, window: Window) -> bool:
        """One cheap page of a grown window; a failure counts as data (the base-size windows will tell)."""
        try:
            return bool((self.fetch_ids or self.fetch)(window, 0).records)
        except WINDOW_ERRORS:
            return True

    def _recount(self, window: Window) -> set:
        assert self.fetch_ids is not None
        fetch_ids = self.fetch_ids
        ids: set = set()
        for page in offset_pages(lambda offset: fetch_ids(window, offset), self.id_page_size):
            ids.update(self.record_id(r) for r in page.records)
        return ids
