"""Changes (operator side), their activities and their progress trail.

Evidence for what change 1.4.0 (``sandbox/specs/topdesk/change-1.4.0.openapi.json``) does not document:
newer change APIs take FIQL ``query`` (``number``, ``phase``, ``template.id`` in public clients), ``fields`` and one
``sort`` field out of ``id, creationDate, simple.*, phases.*.plannedEndDate`` and answer 206 while more follow
(UGDSB.PS.Topdesk ``Get-TopdeskOperatorChanges.ps1``; TopdeskConnector C# ``fields=id,number,...``); nothing public
shows a date filter there, so the windows' ``modificationDate`` filter is tried once per run and a refusal switches to
the whole-list read that 1.4.0 documents.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import ModuleUnavailableError, TopdeskStream, WindowedTopdeskStream
from tap_topdesk.concurrency import in_order_ahead
from tap_topdesk.request_check import ACCEPTED, REFUSED, CheckRequest
from tap_topdesk.streams.whole import changed_filter, offset_rows_to_empty

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_topdesk.request_check import StreamCheck

#: Change 1.4.0 states 1000 as the default page size of its lists and no maximum: never ask for more on a fallback.
DOCUMENTED_PAGE = 1000


class RequestRefusedError(FatalAPIError):
    """TOPdesk answered 400: this TOPdesk does not take the request's shape (parameter, FIQL field, sort)."""


class ChangesStream(WindowedTopdeskStream):
    """``/tas/api/operatorChanges`` with ``fields=all`` (the detail shape, dated by ``lastModificationDate``: the
    list's ``modificationDate`` is not in it) in a ``{results}`` envelope; pageStart/pageSize, 206 while more.

    Windows filter FIQL ``modificationDate`` (the list item's name of the same instant) and page sorted by ``id``
    alone (one sort field, as documented; ids make the order total). Archived changes are left out with FIQL
    ``archived==false``: with a ``query``, TOPdesk ignores the ``archived`` parameter.

    Where ``/operatorChanges`` refuses that request (change API 1.4.0: no ``query``, no ``fields``), the stream reads
    the documented list whole and fetches the detail of each change dated from the lower bound on.
    """

    name = "changes"
    module = "changes"
    path = "/tas/api/operatorChanges"
    primary_keys = ("id",)
    envelope = "results"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 5000
    replication_key = "lastModificationDate"
    fiql_field = "modificationDate"
    #: A full page may be followed by more even without 206 (1.4.0 documents only 200).
    full_page_means_more = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: None until the first read asks; then whether this TOPdesk refused the windowed request shape.
        self.whole_list: bool | None = None

    @property
    def is_sorted(self) -> bool:  # type: ignore[override]
        """Windows emit in (key, id) order; the whole-list fallback emits in list order."""
        return not self.whole_list

    def base_params(self) -> dict[str, t.Any]:
        return {"fields": "all", "sort": "id:asc"}

    def extra_query(self) -> str | None:
        return None if self.include_archived else "archived==false"

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 400:
            raise RequestRefusedError(self.response_error_message(response))
        super().validate_response(response)

    def probe_params(self) -> dict[str, t.Any]:
        """The windowed request shape (query, fields, sort) with a page of one: what a refusal is tested on."""
        params = self.page_params(self.outside_filter(datetime.now(UTC), None), 0)
        params[str(self.size_param)] = 1
        return params

    def windows_refused(self, context: Context | None) -> bool:
        """One request with the windows' shape; a 400 means this is change API 1.4.0 (or another refusing it)."""
        try:
            self.get(self.path, self.probe_params(), context=context)
        except RequestRefusedError as exc:
            self.logger.warning(
                "Stream '%s': TOPdesk refuses FIQL/fields/sort on %s (%s); reading the whole list instead "
                "(change API 1.4.0) and the detail of each change that changed",
                self.name,
                self.path,
                exc,
            )
            return True
        return False

    def check_request(self, context: Context | None, size: int) -> CheckRequest | None:
        """Request check hook: once the windows are refused, the whole list's first page; else the windows' (None)."""
        if not self.whole_list:
            return None
        return CheckRequest(self.path, {str(self.offset_param): 0, str(self.size_param): size}, self.accept)

    def request_checked(self, check: StreamCheck) -> str:
        """Request check hook: the windows' request accepted or refused decides the read, so the sync does not ask
        again (``windows_refused``)."""
        if check.verdict == ACCEPTED:
            self.whole_list = False
        elif check.verdict == REFUSED:
            self.use_whole_list()
            return "reads the whole list (change API 1.4.0) and the detail of each change that changed"
        return ""

    def use_whole_list(self) -> None:
        self.whole_list = True
        self._state_manager = None  # rebuilt unsorted: the SDK's manager fixes is_sorted when created

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.whole_list is None:
            self.whole_list = False
            if self.windows_refused(context):
                self.use_whole_list()
        if self.whole_list:
            yield from self.read_whole(context)
        else:
            yield from super().read(context)

    def read_whole(self, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
        """Every list item (1.4.0 shape, ``modificationDate``), archived ones left out here when excluded (a list
        filtered by the server shifts under offset paging when a change is archived meanwhile); the detail of each
        one dated from the lower bound on (asked side by side, emitted in the list's order)."""
        keep = changed_filter(self, context, "modificationDate")
        rows = offset_rows_to_empty(self, {}, context, DOCUMENTED_PAGE)
        wanted = (str(row["id"]) for row in rows if (self.include_archived or not row.get("archived")) and keep(row))
        for _change_id, detail in in_order_ahead(self.pool, wanted, lambda change_id: self.detail(change_id, context)):
            if detail is not None:
                yield detail

    def detail(self, change_id: str, context: Context | None) -> dict | None:
        """``GET /operatorChanges/{id}``; None when the change is gone since it was listed."""
        try:
            return self.body(self.get(f"{self.path}/{change_id}", context=context))
        except ModuleUnavailableError as exc:
            if exc.status != 404:
                raise
            self.logger.warning("Stream '%s': change %s is gone since it was listed", self.name, change_id)
            return None

    def get_child_context(self, record: dict, context: Context | None) -> Context | None:
        return {"change_id": record["id"]}


class ChangeProgressTrailStream(TopdeskStream):
    """``/operatorChanges/{id}/progresstrail``: ``{results}``, no paging."""

    name = "change_progress_trail"
    module = "changes"
    path = "/tas/api/operatorChanges/{change_id}/progresstrail"
    primary_keys = ("id",)
    envelope = "results"
    parent_stream_type = ChangesStream
    parent_key = "change_id"
    state_partitioning_keys: t.ClassVar[list[str]] = []


class ChangeActivitiesStream(TopdeskStream):
    """``/operatorChangeActivities?fields=all`` (an empty ``fields`` returns only ids), read whole: change 1.4.0
    documents no ``query`` there, and only 200 for its pages, so paging asks on until an empty page. Emits the
    activities whose ``lastModificationDate`` is from the lower bound on; archived ones are left out here when
    excluded (see ``ChangesStream.read_whole``)."""

    name = "change_activities"
    module = "changes"
    path = "/tas/api/operatorChangeActivities"
    primary_keys = ("id",)
    envelope = "results"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = DOCUMENTED_PAGE
    replication_key = "lastModificationDate"
    is_sorted = False

    #: Parameters of every page (an empty ``fields`` returns only ids).
    list_params: t.ClassVar[dict[str, str]] = {"fields": "all"}

    def check_request(self, context: Context | None, size: int) -> CheckRequest:
        """Request check hook: the list's first page."""
        params = {**self.list_params, str(self.offset_param): 0, str(self.size_param): size}
        return CheckRequest(self.path, params, self.accept)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        keep = changed_filter(self, context)
        for row in offset_rows_to_empty(self, self.list_params, context, self.page_size or DOCUMENTED_PAGE):
            if (self.include_archived or not row.get("archived")) and keep(row):
                yield row
