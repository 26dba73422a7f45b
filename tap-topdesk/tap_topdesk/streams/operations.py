"""Operations management: operational activities and the series they reference (there is no series list)."""

from __future__ import annotations

import typing as t

from tap_topdesk.client import ReferencedDetailStream, WindowedTopdeskStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

OM_COLLECTION = "application/x.topdesk-collection-om-activity-v1+json"


class OperationalActivitiesStream(WindowedTopdeskStream):
    """``/operationalActivities`` (current collection media type: archived and active; ``fields=all`` since the
    default is only id/number), ``{item, next}``, pageStart/pageSize, windowed on modificationDate."""

    name = "operational_activities"
    module = "operations"
    path = "/tas/api/operationalActivities"
    primary_keys = ("id",)
    accept = OM_COLLECTION
    envelope = "item"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 100  # the documented default; the API states no maximum

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.series_seen: set[str] = set()
        #: Series whose read was started ahead: each once, as the sync reads each once (``generate_child_contexts``).
        self.series_started: set[str] = set()

    def base_params(self) -> dict[str, t.Any]:
        return {"fields": "all", "sort": "modificationDate:asc"}

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        archived = row.get("archived")
        if not self.include_archived and isinstance(archived, dict) and archived.get("value"):
            return None
        return super().post_process(row, context)

    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        """Each referenced series once per sync."""
        series_id = (record.get("series") or {}).get("id")
        if series_id and series_id not in self.series_seen:
            self.series_seen.add(series_id)
            yield {"series_id": series_id}

    def check_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        """Request check hook (and what is read ahead): the series a record references, without marking it read
        (the sync still reads it)."""
        series_id = (record.get("series") or {}).get("id")
        if series_id:
            yield {"series_id": series_id}

    def ahead_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        """What is read ahead: a series the first time a record references it. (Started again for each later record,
        a series already synced was read a second time, its answer then dropped: 214 reads for 67 series.)"""
        for child in self.check_child_contexts(record, context):
            series_id = str((child or {}).get("series_id"))
            if series_id not in self.series_started:
                self.series_started.add(series_id)
                yield child


class OperationalSeriesStream(ReferencedDetailStream):
    """``/operationalSeries/{id}`` for every series an extracted activity references."""

    name = "operational_series"
    module = "operations"
    path = "/tas/api/operationalSeries/{series_id}"
    primary_keys = ("id",)
    parent_stream_type = OperationalActivitiesStream
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row.pop("series_id", None)
        return row
