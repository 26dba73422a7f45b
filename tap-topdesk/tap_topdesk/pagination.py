"""Paging for TOPdesk's endpoint families and the windowed, count-checked reader.

TOPdesk has no cursors: every family pages by offset (``pageStart``/``pageSize``, ``start``/``page_size``), says
"more" with HTTP 206 or a body ``next``, and "nothing" with 204. A large stream is read as one range of
``modificationDate`` first (the fewest requests: the paging floor); where that fails, as on a Virtual Appliance that
times out on large lists, the rest is read in ``window_days`` windows, and a window that fails is split in half, down
to one day, then the run fails loudly. A listing sorted by the replication key is paged by seeking (each page starts
at the second the last one ended in), so rows that move while it is read cannot make it skip one; any other listing
is paged by offset and checked against a second (id-only) listing.

Memory does not follow the size of a range: a page can be parsed one record at a time from its spooled body
(:class:`LazyPage`), a listing in replication-key order is emitted as it is read, holding the ids of a page, and any
other window is spooled to a temporary file and emitted sorted once verified; one holding more than ``max_ids``
records is read in halves (see :class:`WindowedReader`).
"""

from __future__ import annotations

import codecs
import json
import logging
import pickle
import re
import tempfile
import time
import typing as t
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import requests
from singer_sdk.exceptions import FatalSyncError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

MIN_WINDOW = timedelta(days=1)
#: How far an empty window may grow (in multiples of window_days) before data appears.
MAX_GROWTH = 8
#: Records (ids) one window may hold at once before it is cut: the ids of a window are what the reader keeps (for
#: the duplicate check and the recount), about 100 bytes each, so this bounds them at a few MB at any data size.
MAX_IDS = 20_000
#: The shortest window that is halved because it holds too many records to sort (halves are whole seconds).
MIN_SPLIT = timedelta(seconds=2)
#: Bytes of a spooled window (or page body) kept in memory before it goes to a temporary file.
SPOOL_IN_MEMORY = 1 << 20


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


def offset_pages(fetch: Callable[[int], Page | LazyPage], page_size: int) -> Iterator[Page | LazyPage]:
    """Every page of one listing: offset 0, then ``page_size`` further while a page says more and is not empty.

    The caller reads each page before asking for the next (a :class:`LazyPage` is read once, as it is parsed).
    """
    offset = 0
    while True:
        page = fetch(offset)
        yield page
        if not page.more or not has_records(page):
            return
        del page  # not held while the next one is fetched
        offset += page_size


def has_records(page: Page | LazyPage) -> bool:
    """Whether a page holds a record (a lazy page parses at most its first one to tell, or has been read)."""
    if isinstance(page, LazyPage):
        return page.has_records()
    return bool(page.records)


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: Characters decoded from a spooled body at a time.
_CHUNK = 1 << 16


class BinaryReader(t.Protocol):
    """What ``JsonItems`` reads from: a binary file, or a streamed response's ``raw`` (urllib3)."""

    def read(self, size: int, /) -> bytes: ...


class JsonItems:
    """The records of a JSON body, parsed one at a time from a binary file: a bare array, an object whose
    ``envelope`` key holds the array (its other keys land in ``extras``: ``next``...), or one object.

    Only one record (plus a chunk of text) is in memory at a time, however large the body is. Each record is
    decoded by the standard library's C scanner, as ``response.json()`` would. Not ijson: its C backend (yajl)
    turns a lone surrogate escape (``"\\ud800"``, which TOPdesk can send) into ``?`` without a word (lloyd/yajl
    #232, jeroen/jsonlite #466), where the mapper must see it to flag the field; its Python backend keeps it but
    is 26x slower. Measured on a page of 1,000 incidents (5 MB): 28 ms here, 48 ms ijson/yajl2_c, 745 ms
    ijson/python, 38 ms ``json.loads`` whole.
    """

    def __init__(self, raw: BinaryReader, envelope: str | None) -> None:
        self.raw = raw
        self.envelope = envelope
        self.extras: dict[str, t.Any] = {}
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def __iter__(self) -> Iterator[t.Any]:
        first = self._peek()
        if first == "":
            return
        if first == "[":
            yield from self._array()
        elif first == "{" and self.envelope is not None:
            yield from self._members()
        else:
            value = self._value()
            if isinstance(value, list):
                yield from value
            elif value is not None:
                yield value
        if self._peek() != "":
            raise json.JSONDecodeError("Extra data", self._buf, self._pos)

    def _fill(self) -> bool:
        """Append decoded text (at least as much as is buffered: a value longer than a chunk costs O(n log n))."""
        while not self._eof:
            wanted = max(_CHUNK, len(self._buf) - self._pos)
            data = self.raw.read(wanted)
            text = self._decoder.decode(data, final=not data)
            self._eof = not data
            if text:
                self._buf = self._buf[self._pos :] + text
                self._pos = 0
                return True
        return False

    def _peek(self) -> str:
        """The next non-blank character ("" at the end), not consumed."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _take(self, expected: str) -> str:
        char = self._peek()
        if char not in expected or char == "":
            raise json.JSONDecodeError(f"Expecting one of {expected!r}", self._buf, self._pos)
        self._pos += 1
        return char

    def _value(self) -> t.Any:
        self._peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                if self._fill():
                    continue
                raise
            if end == len(self._buf) and self._fill():  # a number may go on in the next chunk
                continue
            self._pos = end
            return value

    def _array(self) -> Iterator[t.Any]:
        self._take("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._take(",]") == "]":
                return

    def _members(self) -> Iterator[t.Any]:
        self._take("{")
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self._value()
            self._take(":")
            if key == self.envelope and self._peek() == "[":
                yield from self._array()
            else:
                value = self._value()
                if key == self.envelope and isinstance(value, list):
                    yield from value
                else:
                    self.extras[key] = value
            if self._take(",}") == "}":
                return


class LazyPage:
    """A page whose records are parsed one at a time as they are read (once), e.g. from a spooled response body.

    ``more`` is known once the records are read (a body ``next`` may follow the array); asking earlier reads
    the rest without keeping it. ``count`` is the number of records read so far.
    """

    def __init__(self, items: Iterable[dict], more: Callable[[], bool], close: Callable[[], None] | None = None):
        self._items = iter(items)
        self._more = more
        self._close = close
        self._ahead: list[dict] = []
        self._done = False
        self.count = 0
        #: The HTTP answer the page came from, when it came from one (set by its maker).
        self.response: t.Any = None
        self.records: Generator[dict, None, None] = self._iterate()

    def _iterate(self) -> Generator[dict, None, None]:
        try:
            while self._ahead or not self._done:
                if self._ahead:
                    record = self._ahead.pop()
                else:
                    try:
                        record = next(self._items)
                    except StopIteration:
                        break
                self.count += 1
                yield record
        finally:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def has_records(self) -> bool:
        if self.count or self._ahead:
            return True
        if self._done:
            return False
        try:
            self._ahead.append(next(self._items))
        except StopIteration:
            self._finish()
            return False
        return True

    @property
    def more(self) -> bool:
        if not self._done:
            for _ in self.records:
                pass
        return self._more()

    def close(self) -> None:
        """Stop reading (the rest of the page is not wanted)."""
        self.records.close()
        self._finish()


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

    def __init__(self, message: str, window: Window | None = None) -> None:
        super().__init__(message)
        self.window = window


class WindowTooLargeError(WindowFailedError):
    """A window whose records must be sorted before they are emitted holds more than the bound: read it in halves."""


#: Exceptions that mean "this window failed after the request-level retries".
WINDOW_ERRORS = (
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class WindowedReader:
    """Reads ``[start, end)``: the whole range first, in windows of ``window_days`` where that fails; every record
    once, each window verified.

    ``fetch(window, offset)`` returns one page (a :class:`Page` or a :class:`LazyPage`); ``fetch_ids(window,
    offset)`` one page of ids only (a cheap recount of an offset-paged window that needed more than one page: only
    offset paging can lose rows that move while it runs). A window is retried in smaller windows on a timeout/5xx
    that outlived the request retries, on a duplicate, or when the recount lists ids the paging never returned.

    What is held does not grow with the data:

    - ``ordered_by`` given (the listing comes sorted by the replication key; it returns a record's key as an
      instant): seek paging (see ``_read_ordered``), records emitted as they are read, the ids of one page kept.
      ``unsettled`` is True from the first record of a page until the page is read (and every piece a failure left
      is verified); then ``on_settled()`` is called: a stream must not move its bookmark past records emitted while
      unsettled before that call. A re-read skips the ids already emitted. A listing found out of order is warned
      about and read as unordered from there on.
    - otherwise: offset paging; each record is spooled to a temporary file (only its sort key, id and file offset
      are kept) and the window is emitted sorted by ``sort_key`` once verified; a window holding more than
      ``max_ids`` records is read in halves instead.
    """

    def __init__(
        self,
        *,
        stream_name: str,
        fetch: Callable[[Window, int], Page | LazyPage],
        page_size: int,
        window_days: int,
        sort_key: Callable[[dict], tuple],
        fetch_ids: Callable[[Window, int], Page | LazyPage] | None = None,
        id_page_size: int | None = None,
        record_id: Callable[[dict], t.Any] = lambda r: r.get("id"),
        logger: logging.Logger | None = None,
        ordered_by: Callable[[dict], datetime | None] | None = None,
        max_ids: int = MAX_IDS,
        on_settled: Callable[[], None] | None = None,
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
        self.ordered_by = ordered_by
        self.max_ids = max(1, max_ids)
        self.on_settled = on_settled
        self.windows_read = 0
        self.windows_split = 0
        self.windows_cut = 0
        #: The most ids one window read held (they are what the reader keeps per window).
        self.ids_held_most = 0
        #: Whether records were emitted from a range not verified yet (see the class docstring).
        self.unsettled = False
        #: Ids emitted from ranges a re-read may list again (a failed read's, the second a cut stopped in).
        self._emitted: set = set()
        #: Windows to read before planning further, each with whether it is a piece left by a failure or a cut
        #: (the reader settles once none is open) and whether it is a retry after a failure.
        self._pending: deque[tuple[Window, bool, bool]] = deque()
        self._open_pieces = 0

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
        """All records of the range: first the range whole, one listing paged to its end (the paging floor: a
        server that answers large lists needs no windows).

        When a window larger than ``window_days`` fails (a time-out or 5xx that outlived the request retries, a
        recount mismatch), the rest of it is read in windows of ``window_days``, planned lazily: after an empty
        window the next one doubles (up to ``MAX_GROWTH`` times ``window_days``) so years without data cost a few
        requests; a grown window that holds data is read as base-size windows instead, and any non-empty or failed
        window resets the size. A failed window of ``window_days`` or less is replaced by its two halves.
        """
        pending = self._pending
        pending.clear()
        lo, inclusive, step = start, start_inclusive, max(end - start, self.step)
        whole = True
        total = 0
        last_log = time.monotonic()
        while pending or lo < end:
            planned = not pending
            if planned:
                window, piece, retry = Window(lo, min(lo + step, end), inclusive), False, False
                lo, inclusive = window.end, True
                if not whole and window.end - window.start > self.step and self._has_data(window):
                    # Data again after a gap: read the grown window in base-size windows, so that window_days keeps
                    # bounding the size of each list request.
                    windows = self.windows(window.start, window.end, start_inclusive=window.start_inclusive)
                    pending.extend((w, False, False) for w in windows)
                    step = self.step
                    continue
            else:
                window, piece, retry = pending.popleft()
            try:
                count = yield from self._read_window(window)
            except WindowFailedError as exc:
                failed = exc.window or window
                too_large = isinstance(exc, WindowTooLargeError)
                step, whole = self.step, False
                if not too_large and failed.end - failed.start > self.step:
                    self.windows_split += 1
                    self.logger.warning(
                        "Stream '%s': %s failed (%s); reading it in %s-day windows",
                        self.stream_name,
                        failed,
                        exc,
                        self.step.days,
                    )
                    if planned and failed.end == window.end:  # the rest of the range, planned afresh
                        lo, inclusive = failed.start, failed.start_inclusive
                    else:
                        windows = self.windows(failed.start, failed.end, start_inclusive=failed.start_inclusive)
                        pending.extendleft((w, True, True) for w in reversed(windows))
                        self._open_pieces += len(windows) - piece
                    continue
                if not too_large and failed.end - failed.start <= MIN_WINDOW:
                    if retry or not piece:
                        msg = (
                            f"Stream '{self.stream_name}': window {failed} still fails at the minimum size of one "
                            f"day ({exc}). Giving up instead of skipping it; raise request_timeout or retry later."
                        )
                        raise FatalSyncError(msg) from exc
                    # a piece a cut left below a day: once more as it is
                    self.windows_split += 1
                    self.logger.warning("Stream '%s': window %s failed (%s); retrying", self.stream_name, failed, exc)
                    pending.appendleft((failed, True, True))
                    continue
                first, second = failed.halves()
                if too_large:
                    self.windows_cut += 1
                else:
                    self.windows_split += 1
                (self.logger.info if too_large else self.logger.warning)(
                    "Stream '%s': window %s %s; retrying as %s and %s",
                    self.stream_name,
                    failed,
                    exc if too_large else f"failed ({exc})",
                    first,
                    second,
                )
                retry = retry or not too_large
                pending.appendleft((second, True, retry))
                pending.appendleft((first, True, retry))
                self._open_pieces += 2 - piece
                continue
            self.windows_read += 1
            if piece:
                self._open_pieces -= 1
            if not self._open_pieces:
                self._settle()
            if planned and not whole:
                step = self.step if count else min(step * 2, self.step * MAX_GROWTH)
            total += count
            now = time.monotonic()
            if count or now - last_log > 30:
                self.logger.info(
                    "Stream '%s': window %s → %d records (%d so far, %d windows read)",
                    self.stream_name,
                    window,
                    count,
                    total,
                    self.windows_read,
                )
                last_log = now
        self.logger.info(
            "Stream '%s': %d records in %d windows (%d split after a failure or mismatch, %d cut at %d records)",
            self.stream_name,
            total,
            self.windows_read,
            self.windows_split,
            self.windows_cut,
            self.max_ids,
        )

    def _settle(self) -> None:
        self._emitted.clear()
        if self.unsettled:
            self.unsettled = False
            if self.on_settled is not None:
                self.on_settled()

    def _read_window(self, window: Window) -> t.Generator[dict, None, int]:
        """Read one window (emitting its records); the number emitted. Raises WindowFailedError."""
        try:
            if self.ordered_by is not None:
                return (yield from self._read_ordered(window))
            return (yield from self._read_spooled(window))
        except WINDOW_ERRORS as exc:
            raise WindowFailedError(f"{type(exc).__name__}: {exc}") from exc

    def _pages(self, window: Window) -> Iterator[Page | LazyPage]:
        return offset_pages(lambda offset: self.fetch(window, offset), self.page_size)

    def _read_ordered(self, window: Window) -> t.Generator[dict, None, int]:
        """Seek paging: each page is the first page of what is left of the window, from the second of the last
        record read (``[second, end)``, its records already read skipped); emitted as read.

        No offset is sent, so a row that moves while the window is read cannot shift a page over another row: a
        record changed meanwhile leaves the window (its new date is past the sync's end, for the next sync), and
        nothing else moves. No recount is needed, and what is kept is the ids of one page and of one second. A
        page is settled once read: a re-read never finds a record older than the second it starts from.
        """
        assert self.ordered_by is not None
        ordered_by = self.ordered_by
        rest = window
        second: datetime | None = None  # the second of the latest record, and the ids read in it
        in_second: set = set()
        emitted = 0
        try:
            while True:
                page = self.fetch(rest, 0)
                seen: set = set()
                for record in page.records:
                    rid = self.record_id(record)
                    if rid in seen:
                        msg = f"paging returned {rid!r} twice (rows moved)"
                        raise WindowFailedError(msg)
                    seen.add(rid)
                    moment = ordered_by(record)
                    moment = None if moment is None else _whole_second(moment)
                    if moment is None or (second is not None and moment < second):
                        if isinstance(page, LazyPage):
                            page.close()
                        self._emitted |= seen | in_second
                        return emitted + (yield from self._listing_unordered(rest))
                    if moment != second:
                        second, in_second = moment, set()
                    elif rid in in_second:
                        continue  # read on the page before, at the second this page starts from
                    in_second.add(rid)
                    if rid not in self._emitted:
                        self.unsettled = True
                        emitted += 1
                        yield record
                self.ids_held_most = max(self.ids_held_most, len(seen) + len(in_second))
                if not page.more or not seen:
                    return emitted
                del page  # not held while the next one is fetched
                assert second is not None
                if second == _whole_second(rest.start):
                    # a whole page in one second: seeking cannot move on; that second by offset, then on from the next
                    self._emitted |= in_second
                    emitted += yield from self._read_spooled(Window(second, second + timedelta(seconds=1)))
                    second, in_second = second + timedelta(seconds=1), set()
                if not self._open_pieces:
                    self._settle()
                rest = Window(second, window.end, True)
        except WINDOW_ERRORS as exc:
            self._emitted |= in_second
            raise WindowFailedError(f"{type(exc).__name__}: {exc}", rest) from exc
        except WindowFailedError as exc:
            self._emitted |= in_second
            exc.window = exc.window or rest
            raise

    def _listing_unordered(self, rest: Window) -> t.Generator[dict, None, int]:
        """The listing is not sorted by the replication key as requested: what is left of the window is read by
        offset, spooled and sorted (what was emitted of it skipped), and so is every later window."""
        self.logger.warning(
            "Stream '%s': the listing of window %s is not sorted by the replication key as requested: the rest is "
            "read by offset and sorted here, and so are later windows",
            self.stream_name,
            rest,
        )
        self.ordered_by = None
        return (yield from self._read_spooled(rest))

    def _read_spooled(self, window: Window) -> t.Generator[dict, None, int]:
        """Spool the window's records to a file, keeping (sort key, offset) and ids; emit sorted once verified."""
        seen: set = set()
        index: list[tuple[tuple, int]] = []
        pages = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            for page in self._pages(window):
                pages += 1
                for record in page.records:
                    rid = self.record_id(record)
                    if rid in seen:
                        msg = f"paging returned {rid!r} twice (rows moved)"
                        raise WindowFailedError(msg, window)
                    seen.add(rid)
                    if len(seen) > self.max_ids and window.end - window.start >= MIN_SPLIT:
                        if isinstance(page, LazyPage):
                            page.close()
                        msg = f"holds more than {self.max_ids} records to sort"
                        raise WindowTooLargeError(msg, window)
                    if rid in self._emitted:
                        continue
                    index.append((self.sort_key(record), spool.tell()))
                    pickle.dump(record, spool, pickle.HIGHEST_PROTOCOL)
                del page  # not held while the next one is fetched
            self.ids_held_most = max(self.ids_held_most, len(seen))
            self._verify(window, seen, pages)
            del seen
            index.sort(key=lambda entry: entry[0])
            for _key, offset in index:
                spool.seek(offset)
                yield pickle.load(spool)  # the file this reader wrote a moment ago
        return len(index)

    def _verify(self, window: Window, seen: set, pages: int) -> None:
        """Recount a window that took several pages: every id the id listing holds must have been read."""
        if pages <= 1 or self.fetch_ids is None:
            return
        fetch_ids = self.fetch_ids
        listed = missing = 0
        for page in offset_pages(lambda offset: fetch_ids(window, offset), self.id_page_size):
            for row in page.records:
                listed += 1
                if self.record_id(row) not in seen:
                    missing += 1
        if missing:
            msg = (
                f"count mismatch: paging returned {len(seen)} records, the recount lists {listed} of which "
                f"{missing} were never returned"
            )
            raise WindowFailedError(msg, window)

    def _has_data(self, window: Window) -> bool:
        """One cheap page of a grown window; a failure counts as data (the base-size windows will tell)."""
        try:
            page = (self.fetch_ids or self.fetch)(window, 0)
            found = has_records(page)
            if isinstance(page, LazyPage):
                page.close()
            return found
        except WINDOW_ERRORS:
            return True
