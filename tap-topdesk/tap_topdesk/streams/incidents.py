"""Calls (incidents) and their progress trail, attachments and e-mails."""

from __future__ import annotations

import base64
import typing as t

from tap_topdesk.client import ModuleUnavailableError, ReferencedDetailStream, TopdeskStream, WindowedTopdeskStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_topdesk.request_check import StreamCheck

_ARCHIVED_STATUSES = "(firstLineArchived,secondLineArchived,partialArchived)"


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
