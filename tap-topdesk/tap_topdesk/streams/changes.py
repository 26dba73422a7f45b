"""Changes (operator side), their activities and their progress trail."""

from __future__ import annotations

import typing as t

from tap_topdesk.client import FiqlIncrementalStream, TopdeskStream, WindowedTopdeskStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class ChangesStream(WindowedTopdeskStream):
    """``/tas/api/operatorChanges`` with ``fields=all`` (the detail shape, incl. ``lastModificationDate``) in a
    ``{results}`` envelope; pageStart/pageSize, 206 while more. Replicated on the list's ``modificationDate`` (the
    same instant as the detail's ``lastModificationDate``): the field FIQL and ``sort`` accept, so the bookmark and
    the window filter are the same field."""

    name = "changes"
    module = "changes"
    path = "/tas/api/operatorChanges"
    primary_keys = ("id",)
    envelope = "results"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 5000

    def base_params(self) -> dict[str, t.Any]:
        # creationDate/id are documented sort fields: a stable order for offset paging inside a window.
        params: dict[str, t.Any] = {"fields": "all", "sort": "creationDate:asc,id:asc"}
        if not self.include_archived:
            params["archived"] = "false"
        return params

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


class ChangeActivitiesStream(FiqlIncrementalStream):
    """``/operatorChangeActivities`` with ``fields=all`` (an empty ``fields`` returns only ids); pageStart/pageSize,
    206 while more. Activities carry ``lastModificationDate`` (no ``modificationDate``)."""

    name = "change_activities"
    module = "changes"
    path = "/tas/api/operatorChangeActivities"
    primary_keys = ("id",)
    envelope = "results"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 1000
    replication_key = "lastModificationDate"
    fiql_field = "lastModificationDate"
    fiql_archived = False

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        params["fields"] = "all"
        if not self.include_archived:
            params["archived"] = "false"
        return params
