"""Calls (incidents) and their progress trail, attachments and e-mails."""

from __future__ import annotations

import base64
import logging
import threading
import typing as t
from concurrent.futures import CancelledError, Future
from functools import cached_property

from tap_topdesk.client import (
    LOGGER,
    ModuleUnavailableError,
    ReferencedDetailStream,
    TopdeskStream,
    WindowedTopdeskStream,
    _context_key,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_topdesk.request_check import StreamCheck

_ARCHIVED_STATUSES = "(firstLineArchived,secondLineArchived,partialArchived)"

#: Calls, the first of the sync, whose attachments are always read and compared with their progress trail (the live
#: check of ``AttachmentGate``).
CHECK_CALLS = 100
#: Of those, how many must hold an attachment for the check to count (fewer: nothing shown, every call is read).
CHECK_MIN_WITH = 3


def is_attachment_entry(entry: dict) -> bool:
    """A progress trail entry of the attachment kind: incident 4.2.6 ``ProgressTrail`` has ``fileName``,
    ``downloadUrl`` and ``size`` "only for attachment" (a value, not the key: a union may carry nulls)."""
    return bool(entry.get("fileName") or entry.get("downloadUrl"))


class AttachmentGate:
    """Whether a call's ``/attachments`` can be left unread because its progress trail lists no attachment entry.

    The trail lists attachment entries (incident 4.2.6), but that it lists *every* attachment of the call is not
    documented: assumed (sandbox EVIDENCE.md). So it is checked live, on the tenant's own calls: the attachments of the
    first ``CHECK_CALLS`` calls in sync order are read whatever their trail says and counted against it; only when
    every count matched and ``CHECK_MIN_WITH`` of them had attachments (``verdict`` True) are the later calls without
    an attachment entry skipped. Any later call whose attachments are read and whose count differs stops the skipping
    for the rest of the sync (the fallback: one read per call, as before), with a warning. Calls are numbered in
    sync order whether their reads go out ahead or not, so the same calls are read at any ``max_concurrency``.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.verdict: Future[bool] = Future()
        self.mismatch = False
        self.skipped = 0
        self._lock = threading.Lock()
        self._next = 0
        self._checked = 0
        self._with = 0
        self._resolved = False
        #: Attachment entries of each call's trail read and not yet compared (popped by ``trail_count``).
        self._trail: dict[str, int] = {}

    def number(self) -> int:
        """The next call's place in sync order."""
        with self._lock:
            seq, self._next = self._next, self._next + 1
            return seq

    def trail_read(self, incident_id: str, entries: int) -> None:
        with self._lock:
            self._trail[incident_id] = entries

    def trail_count(self, incident_id: str) -> int | None:
        with self._lock:
            return self._trail.pop(incident_id, None)

    def may_skip(self) -> bool:
        """Whether a skip can still come of it (no mismatch seen, the check not failed)."""
        if self.mismatch:
            return False
        return not self.verdict.done() or self.verdict.result()

    def skip_now(self, seq: int, entries: int | None) -> bool:
        """For a call read without reading ahead: skip its attachments? (The check is over by then.)"""
        if seq < CHECK_CALLS or entries != 0:
            return False
        self.conclude(seq)
        return self.may_skip()

    def conclude(self, seq: int) -> None:
        """A call after the check is needed: a check that is not over (a call of it failed) counts as failed."""
        if seq >= CHECK_CALLS and not self.verdict.done():
            self._resolve(False, "not every checked call could be compared")

    def observe(self, seq: int, incident_id: str, entries: int | None, rows: int, *, skipped: bool) -> None:
        """A call's attachments as synced against its trail's attachment entries (None: its trail was not read)."""
        if skipped:
            self.skipped += 1
            return
        if entries is not None and entries != rows and not self.mismatch:
            self.mismatch = True
            self.logger.warning(
                "Stream 'incident_attachments': call %s has %d attachments but its progress trail lists %d: this "
                "TOPdesk's trail does not list every attachment, so every call's attachments are read from now on%s",
                incident_id,
                rows,
                entries,
                f" (the {self.skipped} calls skipped before had none in their trail: re-run the sync from an "
                "earlier state to read them)"
                if self.skipped
                else "",
            )
            self._resolve(False, "a count differed")
        if seq >= CHECK_CALLS:
            return
        with self._lock:
            self._checked += 1
            self._with += rows > 0
            done = self._checked >= CHECK_CALLS
        if done and not self.verdict.done():
            if self._with >= CHECK_MIN_WITH:
                self._resolve(True, "")
            else:
                self._resolve(False, f"only {self._with} of them had attachments")

    def _resolve(self, verdict: bool, why: str) -> None:
        with self._lock:
            if self._resolved:
                return
            self._resolved = True
        self.verdict.set_result(verdict)  # outside the lock: the calls waiting for it go on in its callbacks
        if verdict:
            self.logger.info(
                "Stream 'incident_attachments': the progress trails of the first %d calls list exactly their "
                "attachments (%d of them have some): attachments are read only for calls whose trail lists one",
                CHECK_CALLS,
                self._with,
            )
        else:
            self.logger.info("Stream 'incident_attachments': every call's attachments are read (%s)", why)


class IncidentsStream(WindowedTopdeskStream):
    """``/tas/api/incidents`` with ``all=true`` (partials and archived calls too), windowed on modificationDate.

    pageStart/pageSize (max 10000), 206 while more, 204 when a window is empty; ``dateFormat=iso8601``.
    """

    name = "incidents"
    module = "incidents"
    path = "/tas/api/incidents"
    primary_keys = ("id",)
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 10000

    def base_params(self) -> dict[str, t.Any]:
        return {"all": "true", "sort": "modificationDate:asc,id:asc", "dateFormat": "iso8601"}

    def extra_query(self) -> str | None:
        return None if self.include_archived else f"status=out={_ARCHIVED_STATUSES}"

    def get_child_context(self, record: dict, context: Context | None) -> Context | None:
        return {"incident_id": record["id"]}


class _IncidentChild(TopdeskStream):
    """A per-call list: ``start``/``page_size`` paging, 206 while more, 204 when empty."""

    parent_stream_type = IncidentsStream
    module = "incidents"
    parent_key = "incident_id"
    state_partitioning_keys: t.ClassVar[list[str]] = []  # re-read whenever the call changes: no per-call bookmarks
    offset_param = "start"
    size_param = "page_size"
    max_page_size = 100


class IncidentProgressTrailStream(_IncidentChild):
    """The call's progress trail: memos/actions, e-mail entries and attachment entries, in time order."""

    name = "incident_progress_trail"
    path = "/tas/api/incidents/id/{incident_id}/progresstrail"
    primary_keys = ("id",)

    @cached_property
    def _attachment_gate(self) -> AttachmentGate | None:
        """The gate of the attachments stream when the sync reads it."""
        attachments = self._tap.streams.get(IncidentAttachmentsStream.name)
        return attachments.gate if isinstance(attachments, IncidentAttachmentsStream) and attachments.selected else None

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The trail; its attachment entries counted for ``AttachmentGate`` once it was read whole."""
        gate = self._attachment_gate
        entries = 0
        for row in super().read(context):
            entries += is_attachment_entry(row)
            yield row
        if gate is not None and context:
            gate.trail_read(str(context.get("incident_id")), entries)

    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        """Only e-mail entries (``title``/``sender``) have children: their id is that of ``/emails/id/{id}``."""
        if "sender" in record or "title" in record:
            yield {"incident_id": (context or {}).get("incident_id"), "email_id": record["id"]}


class IncidentEmailsStream(ReferencedDetailStream):
    """``/tas/api/emails/id/{id}`` for every e-mail entry of a call's progress trail.

    It needs its own permission (general 1.2.0: 'requires read permission on "Sent email messages"'): a 403 here
    says that one permission is missing, not that the incidents module is hidden. It is reported once, and the
    sync goes on without e-mail bodies (the trail's e-mail entries still carry title and sender).
    """

    name = "incident_emails"
    module = "incidents"
    path = "/tas/api/emails/id/{email_id}"
    primary_keys = ("id",)
    parent_stream_type = IncidentProgressTrailStream
    parent_key = "incident_id"
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.forbidden = False

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.forbidden:
            return
        try:
            yield from super().read(context)
        except ModuleUnavailableError as exc:
            if exc.status != 403:
                raise
            self.forbid()

    def forbid(self) -> None:
        """No e-mail is asked for any more this run; said once, as a warning and in the tap's unavailable list."""
        if self.forbidden:
            return
        self.forbidden = True
        msg = (
            "the operator lacks the read permission on 'Sent email messages' (403 on /tas/api/emails/id/...): "
            "calls and their progress trails are extracted, e-mail bodies are not; grant that permission to "
            "extract them"
        )
        self.logger.warning("Stream '%s': %s", self.name, msg)
        record = getattr(self._tap, "record_unavailable", None)
        if record is not None:
            record(self.name, msg)

    def request_checked(self, check: StreamCheck) -> str:
        """Request check hook: a 403 is the missing permission; the sync then asks for no e-mail at all."""
        if check.status != 403:
            return ""
        self.forbid()
        return (
            "asks for no e-mail: calls and progress trails are extracted without e-mail bodies (no read permission "
            "on 'Sent email messages')"
        )

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row.setdefault("id", (context or {}).get("email_id"))
        return row


class IncidentAttachmentsStream(_IncidentChild):
    """Attachment metadata; the binary too when ``download_attachments`` and it is within ``max_attachment_mb``."""

    name = "incident_attachments"
    path = "/tas/api/incidents/id/{incident_id}/attachments"
    primary_keys = ("id",)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = AttachmentGate(LOGGER)  # the stream's own logger is quiet (a child)
        #: Each call's place in sync order (``AttachmentGate.number``), from its start ahead until it is synced.
        self._seqs: dict[tuple, int] = {}

    @cached_property
    def _trail(self) -> TopdeskStream | None:
        trail = self._tap.streams.get(IncidentProgressTrailStream.name)
        return trail if isinstance(trail, TopdeskStream) else None

    def start(self, context: Context) -> tuple:
        """Read ahead as any child, except after the check: then the read waits for the call's trail (started just
        before it, the trail being the first child) and for the check's verdict, and is not sent when the trail lists
        no attachment and the verdict allows it."""
        key = _context_key(context)
        with self._ahead_lock:
            if key in self._ahead:
                return key
        seq = self.gate.number()
        trail = self._trail
        trail_read = trail.ahead_future(context) if trail is not None else None
        with self._ahead_lock:
            self._seqs[key] = seq
        if seq < CHECK_CALLS or trail_read is None or not self.gate.may_skip():
            return super().start(context)
        chained: Future[list[dict]] = Future()
        with self._ahead_lock:
            self._ahead[key] = chained

        def read() -> None:
            if chained.set_running_or_notify_cancel():
                inner = self.pool.submit(self._read_all, dict(context))
                inner.add_done_callback(lambda done: _copy_outcome(done, chained))

        def decide(verdict: Future[bool]) -> None:
            if verdict.result() and not self.gate.mismatch:
                if chained.set_running_or_notify_cancel():
                    chained.set_result([])
            else:
                read()

        def after_trail(done: Future[list[dict]]) -> None:
            if done.cancelled():
                chained.cancel()  # the call was passed without syncing its children
            elif done.exception() is not None or any(is_attachment_entry(r) for r in done.result()):
                read()
            else:
                self.gate.verdict.add_done_callback(decide)

        trail_read.add_done_callback(after_trail)
        return key

    def forget(self, key: tuple) -> None:
        with self._ahead_lock:
            self._seqs.pop(key, None)
        super().forget(key)

    def records_read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """What the read started ahead found (or a read now), compared with the call's trail (``AttachmentGate``)."""
        key = _context_key(context)
        with self._ahead_lock:
            future = self._ahead.pop(key, None)
            seq = self._seqs.pop(key, None)
        incident = str((context or {}).get("incident_id"))
        entries = self.gate.trail_count(incident)
        skipped = False
        if future is not None:
            seq = self.gate.number() if seq is None else seq
            self.gate.conclude(seq)
            rows = future.result()
            skipped = not rows and entries == 0 and seq >= CHECK_CALLS and self.gate.may_skip()
        else:
            seq = self.gate.number()
            skipped = self.gate.skip_now(seq, entries)
            rows = [] if skipped else list(self.read(context))
        self.gate.observe(seq, incident, entries, len(rows), skipped=skipped)
        return rows

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The list, each row with its binary (or why not): downloaded as it is read, so a read started ahead
        downloads on the pool too."""
        for row in super().read(context):
            yield self.with_content(row, context)

    def with_content(self, row: dict, context: Context | None) -> dict:
        limit = float(self.config.get("max_attachment_mb", 10)) * 1024 * 1024
        size = row.get("size")
        too_large = isinstance(size, int | float) and size > limit
        download = bool(self.config.get("download_attachments"))
        row["content_base64"] = None
        if too_large:
            row["download_skipped_reason"] = f"size {size} bytes exceeds max_attachment_mb ({limit:.0f} bytes)"
        elif not download:
            row["download_skipped_reason"] = "download_attachments is off"
        elif not row.get("downloadUrl"):
            row["download_skipped_reason"] = "no downloadUrl"
        else:
            response = self.get(str(row["downloadUrl"]), context=context, accept="*/*")
            row["content_base64"] = base64.b64encode(response.content).decode("ascii")
            row["download_skipped_reason"] = None
        return row


def _copy_outcome(done: Future[list[dict]], into: Future[list[dict]]) -> None:
    """``into`` takes ``done``'s result or failure."""
    if done.cancelled():
        into.set_exception(CancelledError())
        return
    error = done.exception()
    if error is not None:
        into.set_exception(error)
    else:
        into.set_result(done.result())
