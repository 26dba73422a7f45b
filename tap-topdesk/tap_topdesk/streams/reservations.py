"""Reservations: ``$top`` only, no offset; 206 means "ask again with a later plannedStartDate" (seek paging)."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import FiqlIncrementalStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class ReservationsStream(FiqlIncrementalStream):
    """Seek on ``plannedStartDate`` (``=ge=`` the last seen value, skipping the ids already read at that
    instant), filtered incrementally on modificationDate."""

    name = "reservations"
    module = "reservations"
    path = "/tas/api/reservations"
    primary_keys = ("id",)
    envelope = "results"
    max_page_size = 10000

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        since = self.since_query(context)
        archived = None if self.include_archived else "archived==false"
        top = self.page_size or 1000
        boundary: str | None = None
        at_boundary: set[str] = set()
        while True:
            parts = [since, archived, f"plannedStartDate=ge={boundary}" if boundary else None]
            params = {"$top": top, "query": ";".join(p for p in parts if p)}
            response = self.get(self.path, params, context=context)
            rows = self.extract(self.body(response))
            fresh = [r for r in rows if r.get("id") not in at_boundary]
            more = response.status_code == 206 and bool(rows)
            last = rows[-1].get("plannedStartDate") if rows else None
            if more:  # decide the next seek position before the SDK post-processes (normalises) the rows
                if not last:
                    msg = "Reservations: a full page ended with a reservation without plannedStartDate; cannot seek"
                    raise FatalAPIError(msg)
                if not fresh:
                    msg = f"Reservations: more than $top={top} reservations start at {last}; raise page_size"
                    raise FatalAPIError(msg)
                if last != boundary:
                    at_boundary = set()
                at_boundary.update(r["id"] for r in rows if r.get("plannedStartDate") == last)
            yield from fresh
            if not more:
                return
            boundary = last
