"""Reservations: ``$top`` only, no offset; 206 means "ask again with a later plannedStartDate" (seek paging)."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import TopdeskStream, fiql_datetime, normalise_datetime, parse_instant
from tap_topdesk.request_check import CheckRequest
from tap_topdesk.streams.whole import changed_filter

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def seek_literal(value: t.Any) -> str | None:
    """A ``plannedStartDate`` as the FIQL literal the next seek sends (None: not a date-time)."""
    fixed = normalise_datetime(value) if isinstance(value, str) else None
    return fiql_datetime(parse_instant(fixed)) if fixed else None


class ReservationsStream(TopdeskStream):
    """Read whole on every run and emitted from the bookmark on (see ``whole.py``): reservations 2.0.0 filter
    ``query`` on ``status, archived, number, ..., plannedStartDate, plannedEndDate`` and sub-fields, not on
    ``modificationDate`` (which the records carry).

    Seek on ``plannedStartDate`` (``=ge=`` the last page's last value, skipping the ids already read at that
    instant). ``archived`` is always in the query, both values when archived reservations are included: the
    default of a list without it is not documented.
    """

    name = "reservations"
    module = "reservations"
    path = "/tas/api/reservations"
    primary_keys = ("id",)
    envelope = "results"
    max_page_size = 10000
    replication_key = "modificationDate"
    is_sorted = False

    def page_params(self, top: int, boundary: str | None) -> dict[str, t.Any]:
        """One page: ``$top`` and FIQL on ``archived``, from the seek position ``boundary`` after the first page."""
        archived = "(archived==true,archived==false)" if self.include_archived else "archived==false"
        return {"$top": top, "query": f"{archived};plannedStartDate=ge={boundary}" if boundary else archived}

    def check_request(self, context: Context | None, size: int) -> CheckRequest:
        """Request check hook: the first page."""
        return CheckRequest(self.path, self.page_params(size, None), self.accept)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each page is parsed as it is read (a page of $top=10000 is never held whole)."""
        keep = changed_filter(self, context)
        top = self.page_size or 1000
        boundary: str | None = None
        at_boundary: set[str] = set()
        while True:
            page = self.stream_page(self.page_params(top, boundary), context)
            rows = fresh = 0
            last: str | None = None
            tail: set[str] = set()  # ids of the rows at the page's latest plannedStartDate
            for row in page.records:
                rows += 1
                # the seek position is taken before the SDK post-processes (normalises) the row
                literal = seek_literal(row.get("plannedStartDate"))
                if literal != last or rows == 1:
                    last, tail = literal, set()
                tail.add(row["id"])
                if row.get("id") in at_boundary:
                    continue
                fresh += 1
                if keep(row):
                    yield row
            more = page.response.status_code == 206 and bool(rows)
            if not more:
                return
            if not last:
                msg = "Reservations: a full page ended with a reservation without plannedStartDate; cannot seek"
                raise FatalAPIError(msg)
            if not fresh:
                msg = f"Reservations: more than $top={top} reservations start at {last}; raise page_size"
                raise FatalAPIError(msg)
            if last != boundary:
                at_boundary = set()
            at_boundary |= tail
            boundary = last
