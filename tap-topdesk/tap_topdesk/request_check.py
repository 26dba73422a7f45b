"""Request check: the first request each selected stream's sync sends, once, with a page size of 1, before the sync.

A TOPdesk refuses what its API version does not take (a parameter, a FIQL field, a sort) with a 400, and a sync
finds that out hours in, after other streams were written. So before the first stream each selected stream's first
request is sent once as the sync would send it (same path, parameters, ``Accept``, session headers), read-only,
without retries, and judged:

- *accepted* (2xx): the sync reads it;
- *refused* (another 4xx than 401/403/404/429): the stream's documented fallback takes over (changes: the whole
  list of change API 1.4.0; its first request is checked too), or the sync stops before it starts, naming the
  stream, the request and how to deselect it;
- *hidden* (403/404): the operator may not read it; the sync skips it with a warning, as it would anyway;
- *error* (401, 429, 5xx, no answer): not decided here (the sync retries those; on a 401 it fails, saying why).

Windowed streams are checked with what their sync sends first: the listing(s) of the records outside every window,
then their range read whole. A request each of whose parameters (dates and ids set aside) was accepted on the same path
already is taken as accepted without being sent (TOPdesk judges each parameter: "Unknown query parameter", a field
or filter it does not take; assumed, from the error bodies it sends): one asset template's outside listings after
the first template's, which differ only in the template and its fields. Each stream's own first request is sent.
Child streams (progress trails, e-mails, attachments,
memberships, series, asset links) with the id of a parent record: the parent's one-record answer, else a few
look-ups of the parent's own request with a larger page (counted apart). Streams hook in with optional methods:

- ``check_request(context, size) -> CheckRequest | None``: the stream's own first request (None: the family's);
- ``check_requests(context, size) -> list[CheckRequest]``: the stream's own first requests, in the sync's order;
- ``request_checked(check) -> str``: told the verdict; switches to a fallback and says what the sync does instead;
- ``check_child_contexts(record, context)``: child contexts without the side effects of ``generate_child_contexts``;
- ``check_parents()`` and ``check_context(record)``: parents of a stream the SDK does not see as a child;
- ``check_notes() -> list[str]``: what the answers showed about the tenant (a variant the sync adapts to).
"""

from __future__ import annotations

import itertools
import logging
import re
import typing as t
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import requests
from singer_sdk.exceptions import FatalSyncError
from singer_sdk.streams.rest import PageContext

from tap_topdesk.client import FLOOR, TopdeskStream, WindowedTopdeskStream
from tap_topdesk.pagination import JsonItems, Window

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from concurrent.futures import Future

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-topdesk.request-check")

ACCEPTED, REFUSED, HIDDEN, ERROR, NOT_CHECKED = "accepted", "refused", "hidden", "error", "not checked"
#: Page size of the parent look-ups: enough rows to find one that has children (an e-mail entry of a trail).
LOOKUP_PAGE = 25
#: Look-ups per child stream at most: the check must stay a handful of requests.
LOOKUP_BUDGET = 12
#: Rows kept of an answer (for the child streams' parent records): an unpaged list answers whole.
ROWS_KEPT = LOOKUP_PAGE
#: The longest a check request may take (a sync's own timeout can be minutes).
MAX_TIMEOUT = 60


class RequestCheckStopError(FatalSyncError):
    """A selected stream's first request is refused and the stream has no fallback: the sync must not start."""


@dataclass(frozen=True)
class CheckRequest:
    """One GET below the base URL: path, query parameters and ``Accept``."""

    path: str
    params: dict[str, t.Any]
    accept: str = "application/json"

    def sized(self, size_param: str | None, size: int) -> CheckRequest:
        """The same request with the page size parameter set to ``size`` (only where it is sent at all)."""
        if not size_param or size_param not in self.params:
            return self
        return CheckRequest(self.path, {**self.params, size_param: size}, self.accept)


@dataclass
class StreamCheck:
    """The verdict on one stream's first request."""

    stream: str
    verdict: str
    request: str = ""  # path?query, decoded to read (credentials are only ever in the Authorization header)
    status: int | None = None
    message: str = ""  # TOPdesk's own message for a refusal; why, for the other verdicts
    records: int = 0
    fallback: str = ""  # what the sync does instead (of the refused request; without the hidden data)
    action: str = ""  # for a stream that stops the sync: how to deselect it
    sent: str = ""  # path?query exactly as sent (URL-encoded)
    also: list[str] = field(default_factory=list)  # the stream's other first requests, accepted too (as sent)
    covered_by: list[str] = field(default_factory=list)  # of those, not sent: accepted with other streams' requests
    rows: list[dict] = field(default_factory=list, repr=False)

    @property
    def stops(self) -> bool:
        """Whether the sync must not start: a refusal without fallback."""
        return self.verdict == REFUSED and not self.fallback

    @property
    def outcome(self) -> str:
        """What the sync does about it, in one phrase."""
        if self.stops:
            return f"STOPS THE SYNC: {self.action}"
        if self.verdict == HIDDEN:
            return f"the sync {self.fallback}" if self.fallback else "the sync skips it with a warning"
        if self.fallback:
            return f"fallback: {self.fallback}"
        if self.verdict == ERROR and self.status == 401:
            return "the sync fails on its first request (401)"
        if self.verdict == ERROR:
            return "not decided (the sync retries such answers)"
        return ""

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "stream": self.stream,
            "verdict": self.verdict,
            "request": self.request,
            "sent": self.sent,
            "status": self.status,
            "message": self.message,
            "records": self.records,
            "fallback": self.fallback,
            "stops": self.stops,
            "action": self.action,
            "also": [readable(sent) for sent in self.also],
            "covered_by": self.covered_by,
        }


@dataclass
class RequestCheck:
    """Every checked stream, in check order (parents before children), and what it cost."""

    checks: list[StreamCheck] = field(default_factory=list)
    requests: int = 0  # requests sent: one per checked stream, plus fallback checks
    lookups: int = 0  # parent look-ups for child streams
    covered: int = 0  # requests not sent: each of their parameters was accepted on the same path already
    notes: list[str] = field(default_factory=list)  # what the answers showed about the tenant (``check_notes``)
    login_rejected: bool = False  # a 401: nothing after it was asked

    @property
    def stopping(self) -> list[StreamCheck]:
        """The streams the sync stops for before it starts."""
        return [c for c in self.checks if c.stops]

    @property
    def sync_would_fail(self) -> bool:
        """A refusal without fallback stops the sync before it starts; rejected credentials fail its first request."""
        return bool(self.stopping) or self.login_rejected

    def by_stream(self) -> dict[str, StreamCheck]:
        return {c.stream: c for c in self.checks}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for check in self.checks:
            counts[check.verdict] = counts.get(check.verdict, 0) + 1
        told = ", ".join(f"{n} {v}" for v, n in counts.items())
        covered = f"; {self.covered} not sent, their parameters accepted already" if self.covered else ""
        return (
            f"{len(self.checks)} streams checked with their first requests at page size 1 ({told}); "
            f"{self.requests + self.lookups} requests ({self.requests} checks, {self.lookups} parent look-ups){covered}"
        )

    def stop_message(self) -> str:
        """Why the sync does not start: each refused stream, its request, TOPdesk's message and how to deselect it."""
        lines = ["TOPdesk refuses the first request of these selected streams; the sync did not start:"]
        for check in self.stopping:
            status = f"HTTP {check.status}" if check.status else "no answer"
            lines.append(f"- stream '{check.stream}': GET {check.request} -> {status}: {check.message}")
            lines.append(f"  {check.action}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "streams": [c.as_dict() for c in self.checks],
            "requests": self.requests,
            "lookups": self.lookups,
            "covered": self.covered,
            "notes": self.notes,
            "stops": [c.stream for c in self.stopping],
            "login_rejected": self.login_rejected,
        }


# --- the first request of each stream family ---------------------------------------------------------------------


def first_requests(stream: TopdeskStream, context: Context | None, size: int = 1) -> list[CheckRequest]:
    """The requests ``stream``'s sync starts with in ``context``, their page size set to ``size``: a windowed
    stream's listing(s) of the records outside every window (``read`` sends them first), then its range read whole
    (windows come only where that fails); another stream's first page."""
    hook = getattr(stream, "check_request", None)
    own = hook(context, size) if hook is not None else None
    if own is not None:
        return [own]
    several = getattr(stream, "check_requests", None)
    if several is not None:
        return several(context, size)
    if isinstance(stream, WindowedTopdeskStream):
        start, inclusive = stream.start_bound(context)
        end = stream.signpost(context)
        floor = FLOOR if stream.from_the_floor(context) else None
        window = Window(start, max(start, end), inclusive)  # read whole first (windows only where that fails)
        queries = [*stream.outside_queries(stream.now(), floor), stream.window_filter(window)]
        return [listing_request(stream, query, size) for query in queries]
    return [sdk_request(stream, context, size)]


def listing_request(stream: WindowedTopdeskStream, query: str, size: int) -> CheckRequest:
    """Page 0 of a filtered listing (a window, the records outside the windows), as the sync asks it."""
    return CheckRequest(stream.path, stream.page_params(query, 0), stream.accept).sized(stream.size_param, size)


#: What varies between requests of one kind: dates (FIQL, OData) and ids (UUIDs, with or without dashes).
_VARIABLE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
)


def request_parts(request: CheckRequest) -> frozenset[tuple[str, str, str, str]]:
    """(path, Accept, parameter, value) of each parameter, dates and ids masked: what TOPdesk judges one by one."""

    def mask(value: t.Any) -> str:
        return _VARIABLE.sub("*", str(value))

    path = mask(request.path)
    params = {(path, request.accept, k, mask(v)) for k, v in request.params.items()}
    return frozenset({(path, request.accept, "", ""), *params})


def sdk_request(stream: TopdeskStream, context: Context | None, size: int) -> CheckRequest:
    """Page 0 of a stream read by the SDK's request loop (``get_http_request``, as ``request_records`` builds it)."""
    request = stream.get_http_request(page=PageContext(stream_context=context, next_page_token=None))
    path = request.url.removeprefix(stream.url_base)
    params = dict(request.params) if isinstance(request.params, dict) else {}
    accept = request.headers.get("Accept", stream.accept)
    return CheckRequest(path, params, accept).sized(stream.size_param, size)


def lookup_requests(stream: TopdeskStream, context: Context | None) -> list[CheckRequest]:
    """Requests that find parent records when the check's answer had none: a page of ``LOOKUP_PAGE`` of the same
    request; for a windowed stream, of the sync's windows newest first (its first window is often years before any
    data), each ``window_days`` long as the sync's, so that none is a list a Virtual Appliance times out on."""
    hook = getattr(stream, "check_request", None)
    own = hook(context, LOOKUP_PAGE) if hook is not None else None
    if own is not None:
        return [own]
    if not isinstance(stream, WindowedTopdeskStream):
        return [sdk_request(stream, context, LOOKUP_PAGE)]
    start, _inclusive = stream.start_bound(context)
    step = timedelta(days=max(1, int(stream.config.get("window_days", 90))))
    windows: list[Window] = []
    end = stream.signpost(context)
    while end > start and len(windows) < LOOKUP_BUDGET:
        windows.append(Window(max(start, end - step), end))
        end -= step
    return [listing_request(stream, stream.window_filter(window), LOOKUP_PAGE) for window in windows]


# --- messages ------------------------------------------------------------------------------------------------------


def readable(path_url: str) -> str:
    """``path?query`` with the query decoded, to read (``modificationDate=ge=...`` rather than ``%3Dge%3D``)."""
    parts = urlsplit(path_url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return parts.path + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")


def topdesk_message(response: requests.Response) -> str:
    """TOPdesk's own words: ``[{"message"}]`` (classic APIs) or ``{"errors": [{"errorMessage"|"detail",
    "appliesTo"}]}`` (reservations, knowledge base, assets); else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    entries = body.get("errors", [body]) if isinstance(body, dict) else body if isinstance(body, list) else []
    texts = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        text = entry.get("message") or entry.get("errorMessage") or entry.get("detail") or entry.get("errorCode")
        applies = entry.get("appliesTo")
        applies = ", ".join(str(a) for a in applies) if isinstance(applies, list) else applies
        if text:
            texts.append(f"{text} (applies to: {applies})" if applies else str(text))
    return "; ".join(texts) or f"{response.status_code} {response.reason}".strip()


def deselect_action(stream: TopdeskStream, request: CheckRequest) -> str:
    """How to leave the stream out: Meltano's ``select`` (with every selected descendant, which would still make the
    sync read the stream), or the tap's own setting where it changes the refused request."""
    names = [stream.name] + [d.name for d in stream.descendent_streams if d.selected or d.has_selected_descendents]
    patterns = ", ".join(f"'!{n}.*'" for n in names)
    which = f"'{stream.name}'" + (f" and its child streams {', '.join(names[1:])}" if len(names) > 1 else "")
    excludes = "; ".join(f"meltano select tap-topdesk --exclude {n} '*'" for n in names)
    text = (
        f"deselect {which}: in meltano.yml under tap-topdesk `select: ['*.*', {patterns}]` ({excludes}), "
        "or unselect it in the catalog"
    )
    if stream.include_archived and "archived" in str(request.params).lower():
        text += "; or set include_archived: false (the request then asks for active records only)"
    return text


# --- the check -----------------------------------------------------------------------------------------------------


def checked_streams(tap: Tap) -> list[TopdeskStream]:
    """The streams a sync reads (selected, or parent of a selected one), parents before children; not the CSV
    exports (no request)."""
    streams = [
        s for s in tap.streams.values() if isinstance(s, TopdeskStream) and (s.selected or s.has_selected_descendents)
    ]
    return sorted(streams, key=lambda s: (_depth(s), s.name))


def _depth(stream: TopdeskStream) -> int:
    if getattr(stream, "check_parents", None) is not None:
        return 1
    depth, kind = 0, stream.parent_stream_type
    while kind is not None:
        depth += 1
        kind = getattr(kind, "parent_stream_type", None)
    return depth


def _key(context: Context | None) -> tuple:
    return tuple(sorted((context or {}).items()))


#: A check request's verdict and the records of its answer.
SendResult = tuple["StreamCheck", list[dict]]


class Checker:
    """Sends the check requests with each stream's own session and headers, once, and keeps the answers, so that
    child streams find their parent's records."""

    def __init__(self, tap: Tap) -> None:
        self.tap = tap
        self.result = RequestCheck()
        self.answers: dict[tuple[str, tuple], list[dict]] = {}
        self.looked_up: dict[tuple[str, tuple], Lookup] = {}
        self.budget = 0
        #: each part (``request_parts``) of an accepted request -> the stream it was accepted for
        self.accepted: dict[tuple[str, str, str, str], str] = {}
        #: the first requests of the streams without a parent, built once, and those sent ahead (by ``id``)
        self.firsts: dict[str, list[CheckRequest]] = {}
        self.early: dict[int, Future[SendResult]] = {}

    def send_ahead(self, streams: list[TopdeskStream]) -> None:
        """Send the first requests of the streams without a parent side by side (``max_concurrency``; a real TOPdesk
        answers each in 100 ms or more): each stream's first, then, once it is accepted, its others (``check_all``
        sends no more after a refusal), leaving out those a request before them covers as far as can be told in
        advance. ``send_once`` takes their answers, in the streams' order, as if sent then (and sends what was not
        sent ahead)."""
        covered: set[tuple[str, str, str, str]] = set()
        for stream in streams:
            if _needs_parent(stream) or not stream.pool.parallel:
                continue
            requests_ = self.firsts[stream.name] = first_requests(stream, None)
            ahead = []
            for request in requests_:
                parts = request_parts(request)
                if not parts <= covered:
                    ahead.append(request)
                covered |= parts
            if ahead:
                self.early[id(ahead[0])] = stream.pool.submit(self._send_first, stream, ahead[0], ahead[1:])

    def _send_first(self, stream: TopdeskStream, first: CheckRequest, rest: list[CheckRequest]) -> SendResult:
        """A stream's first request; once accepted, the rest side by side (a refused one: no more, as ``check_all``)."""
        answer = self.send(stream, first)
        if answer[0].verdict == ACCEPTED:
            self.early.update((id(r), stream.pool.submit(self.send, stream, r)) for r in rest)
        return answer

    @staticmethod
    def prepare(stream: TopdeskStream, request: CheckRequest) -> requests.PreparedRequest:
        return stream.build_prepared_request(
            method="GET",
            url=stream.url_base + request.path,
            params=request.params,
            headers={**stream.http_headers, "Accept": request.accept},
        )

    def send(self, stream: TopdeskStream, request: CheckRequest) -> tuple[StreamCheck, list[dict]]:
        """One attempt, no retries; the verdict and the answer's records."""
        prepared = self.prepare(stream, request)
        sent = str(prepared.path_url)
        check = StreamCheck(stream.name, ERROR, readable(sent), sent=sent)
        lazy = stream.parses_as_read()  # an unpaged list answers whole: parse a few rows
        try:
            authenticated = stream.authenticator(prepared)  # as the SDK's ``_request`` sends it
            with stream.pool.slot():
                response = stream.requests_session.send(
                    authenticated, timeout=min(stream.timeout, MAX_TIMEOUT), stream=lazy
                )
        except requests.RequestException as exc:
            check.message = f"no answer: {type(exc).__name__}"
            return check, []
        check.status = status = response.status_code
        if status < 300:
            try:
                if lazy:
                    with response:
                        response.raw.decode_content = True  # gzip as ``iter_content`` would undo it
                        items = iter(JsonItems(response.raw, stream.envelope)) if status != 204 else iter(())
                        rows = list(itertools.islice(items, ROWS_KEPT))
                        records = len(rows) + sum(1 for _ in items)
                else:
                    rows = stream.extract(stream.body(response))
                    records = len(rows)
            except (ValueError, requests.RequestException):
                rows, records = [], 0
            check.verdict, check.records = ACCEPTED, records
            return check, rows[:ROWS_KEPT]
        check.message = topdesk_message(response)
        if status == 401:
            self.result.login_rejected = True
            check.message = "TOPdesk rejected the credentials: check 'username' (login name) and 'app_password'"
        elif status in (403, 404):
            check.verdict = HIDDEN
        elif status != 429 and status < 500:
            check.verdict = REFUSED
        return check, []

    def check(self, stream: TopdeskStream) -> StreamCheck:
        """Check one stream (its parents must have been checked already), tell it the verdict, record it."""
        context: Context | None = None
        if self.result.login_rejected:
            verdict = StreamCheck(stream.name, NOT_CHECKED, message="TOPdesk rejected the credentials (401)")
            self.result.checks.append(verdict)
            return verdict
        if _needs_parent(stream):
            self.budget = LOOKUP_BUDGET
            context = next(self.contexts(stream), None)
            if context is None:
                spent = LOOKUP_BUDGET - self.budget
                verdict = StreamCheck(stream.name, NOT_CHECKED, message=f"no parent record ({spent} look-ups)")
                self.result.checks.append(verdict)
                return verdict
        requests_ = self.firsts.pop(stream.name, None) or first_requests(stream, context)
        verdict, rows, request = self.check_all(stream, requests_)
        if verdict.verdict == REFUSED:
            verdict.action = deselect_action(stream, request)
        hook = getattr(stream, "request_checked", None)
        note = hook(verdict) if hook is not None else ""
        if verdict.verdict == REFUSED and note:
            verdict.fallback = note
            rows = self.check_fallback(stream, context, requests_, verdict)
        elif note:
            verdict.fallback = note
        verdict.rows = rows
        self.answers[(stream.name, _key(context))] = rows
        self.result.checks.append(verdict)
        return verdict

    def check_all(
        self, stream: TopdeskStream, requests_: list[CheckRequest]
    ) -> tuple[StreamCheck, list[dict], CheckRequest]:
        """Each request in turn until one is not accepted: its verdict (else the first one's, with every record
        counted), the records found, and the request the verdict is on."""
        rows: list[dict] = []
        first: StreamCheck | None = None
        for request in requests_:
            check, found = self.send_once(stream, request)
            rows.extend(found[: ROWS_KEPT - len(rows)])
            if check.verdict != ACCEPTED:
                return check, rows, request
            if first is None:
                first = check
            else:
                first.also.append(check.sent)
                first.covered_by = sorted({*first.covered_by, *check.covered_by})
                first.records += check.records
        assert first is not None  # every stream has a first request
        return first, rows, requests_[0]

    def send_once(self, stream: TopdeskStream, request: CheckRequest) -> tuple[StreamCheck, list[dict]]:
        """``send``, unless each part of the request was accepted already: then accepted, not sent."""
        parts = request_parts(request)
        if parts <= self.accepted.keys():
            self.result.covered += 1
            sent = self.prepare(stream, request).path_url
            check = StreamCheck(stream.name, ACCEPTED, readable(sent), sent=sent)
            check.covered_by = sorted({self.accepted[p] for p in parts} - {stream.name})
            return check, []
        early = self.early.pop(id(request), None)
        check, rows = early.result() if early is not None else self.send(stream, request)
        self.result.requests += 1
        if check.verdict == ACCEPTED:
            self.accepted.update((p, stream.name) for p in parts if p not in self.accepted)
        return check, rows

    def check_fallback(
        self, stream: TopdeskStream, context: Context | None, refused: list[CheckRequest], verdict: StreamCheck
    ) -> list[dict]:
        """The fallback's own first requests, when it sends others: refused too, the sync stops after all."""
        requests_ = [r for r in first_requests(stream, context) if r not in refused]
        if not requests_:
            return []
        again, rows, request = self.check_all(stream, requests_)
        if again.verdict == REFUSED:
            verdict.message += f"; the fallback's request GET {again.request} is refused too: {again.message}"
            verdict.fallback = ""
            verdict.action = deselect_action(stream, request)
        else:
            verdict.fallback += f" (its request GET {again.request}: {again.verdict})"
        return rows

    # --- parents ---------------------------------------------------------------------------------------------

    def parents(self, stream: TopdeskStream) -> list[TopdeskStream]:
        hook = getattr(stream, "check_parents", None)
        if hook is not None:
            return list(hook())
        return [s for s in self.tap.streams.values() if isinstance(s, TopdeskStream) and stream in s.child_streams]

    def contexts(self, stream: TopdeskStream) -> Iterator[Context]:
        """Contexts ``stream`` is synced in, from its parents' records (answers first, then look-ups)."""
        for parent in self.parents(stream):
            parent_contexts: t.Iterable[Context | None] = self.contexts(parent) if _needs_parent(parent) else [None]
            for parent_context in parent_contexts:
                for record in self.records(parent, parent_context):
                    yield from self.child_contexts(stream, parent, record, parent_context)

    @staticmethod
    def child_contexts(
        stream: TopdeskStream, parent: TopdeskStream, record: dict, context: Context | None
    ) -> Iterator[Context]:
        own = getattr(stream, "check_context", None)
        if own is not None:
            found: t.Iterable[Context | None] = [own(record)]
        else:
            found = getattr(parent, "check_child_contexts", parent.generate_child_contexts)(record, context)
        yield from (c for c in found if c is not None)

    def records(self, stream: TopdeskStream, context: Context | None) -> Iterator[dict]:
        """The stream's records in ``context``: its check answer, then looked-up ones, one look-up at a time while
        the caller asks for more and the budget lasts (kept for the next child stream)."""
        yield from self.answers.get((stream.name, _key(context)), [])
        lookup = self.looked_up.setdefault((stream.name, _key(context)), Lookup(lookup_requests(stream, context)))
        position = 0
        while True:
            while position < len(lookup.rows):
                yield lookup.rows[position]
                position += 1
            if not lookup.pending or self.budget <= 0:
                return
            self.budget -= 1
            self.result.lookups += 1
            verdict, rows = self.send(stream, lookup.pending.pop(0))
            if verdict.verdict != ACCEPTED:
                lookup.pending.clear()
            lookup.rows.extend(rows)


@dataclass
class Lookup:
    """The look-ups of one stream in one context: the rows found so far and the requests not sent yet."""

    pending: list[CheckRequest]
    rows: list[dict] = field(default_factory=list)


def _needs_parent(stream: TopdeskStream) -> bool:
    return stream.parent_stream_type is not None or getattr(stream, "check_parents", None) is not None


def run_request_check(tap: Tap, *, log: bool = True) -> RequestCheck:
    """Check every stream a sync of ``tap`` reads; logs each verdict that is not a plain acceptance."""
    checker = Checker(tap)
    streams = checked_streams(tap)
    checker.send_ahead(streams)
    for stream in streams:
        verdict = checker.check(stream)
        if not log:
            continue
        if verdict.verdict == ACCEPTED and not verdict.fallback:
            LOGGER.info("Request check: stream '%s' accepted (GET %s)", verdict.stream, verdict.request)
        elif not verdict.stops:
            # a hidden stream that took its own measure (``request_checked``) has said so itself: once is enough
            level = logging.INFO if verdict.verdict == HIDDEN and verdict.fallback else logging.WARNING
            LOGGER.log(
                level,
                "Request check: stream '%s' %s (GET %s): %s%s",
                verdict.stream,
                verdict.verdict,
                verdict.request or "-",
                verdict.message,
                f"; {verdict.outcome}" if verdict.outcome else "",
            )
    for stream in streams:
        hook = getattr(stream, "check_notes", None)
        for note in hook() if hook is not None else []:
            if note not in checker.result.notes:
                checker.result.notes.append(note)
    if log:
        LOGGER.info("Request check: %s", checker.result.summary())
        for note in checker.result.notes:
            LOGGER.info("Request check: %s", note)
    return checker.result


def format_request_check(result: RequestCheck) -> str:
    """A readable table: stream, verdict, request, then TOPdesk's message and what the sync does."""
    width = max((len(c.stream) for c in result.checks), default=10)
    lines = [f"Request check: {result.summary()}", f"{'stream'.ljust(width)}  {'verdict'.ljust(11)}  request"]
    lines.append("-" * (width + 80))
    for check in result.checks:
        lines.append(f"{check.stream.ljust(width)}  {check.verdict.ljust(11)}  {check.request or '-'}")
        said = f"HTTP {check.status}: {check.message}" if check.status and check.message else check.message
        lines.extend(f"{''.ljust(width)}  {''.ljust(11)}  -> {detail}" for detail in (said, check.outcome) if detail)
    lines.extend(f"Note: {note}" for note in result.notes)
    if result.stopping:
        lines.append(result.stop_message())
    return "\n".join(lines)
