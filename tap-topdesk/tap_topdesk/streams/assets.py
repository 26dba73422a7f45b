"""Asset management: templates (TOPdesk's freely definable asset types), one stream per template with a schema
built from its card type's field definitions, and the asset links (parent/child) traversed recursively."""

from __future__ import annotations

import re
import typing as t
from collections import deque
from datetime import UTC, datetime, timedelta

from tap_topdesk.client import TopdeskStream, WindowedTopdeskStream
from tap_topdesk.pagination import Page, Window, WindowedReader, more_pages
from tap_topdesk.snapshot import SnapshotMixin

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

ASSETS_V2 = "application/x.topdesk-am-assets-v2+json"
_BASE = "/tas/api/assetmgmt"
_NULLABLE_DT = {"type": ["string", "null"], "format": "date-time"}
_NAMED = {
    "type": ["object", "null"],
    "properties": {"id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}},
}
#: Grid columns every asset has, besides its template's fields.
BUILTIN_PROPERTIES: dict[str, dict] = {
    "id": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "archived": {"type": ["boolean", "null"]},
    "creationDate": _NULLABLE_DT,
    "modificationDate": _NULLABLE_DT,
    "@etag": {"type": ["string", "null"]},
    "type_id": {"type": ["string", "null"]},
    "@type": {
        "type": ["object", "null"],
        "properties": {"name": {"type": ["string", "null"]}, "icon": {"type": ["string", "null"]}},
    },
    "@@summary": {"type": ["string", "null"]},
    "@status": {"type": ["string", "null"]},
    "@assignments": {
        "type": ["object", "null"],
        "properties": {
            "locations": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {
                        "linkId": {"type": ["string", "null"]},
                        "linkedObjectType": {"type": ["string", "null"]},
                        "branch": _NAMED,
                        "location": _NAMED,
                        "inheritanceParentId": {"type": ["string", "null"]},
                    },
                },
            },
            "persons": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {
                        "linkId": {"type": ["string", "null"]},
                        "linkedObjectType": {"type": ["string", "null"]},
                        "person": _NAMED,
                        "personGroup": _NAMED,
                        "inheritanceParentId": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
}
#: Card type field ``type`` → JSON Schema (dropdowns/unknown kinds: any JSON value).
FIELD_TYPES: dict[str, dict] = {
    "STRING": {"type": ["string", "null"]},
    "TEXT": {"type": ["string", "null"]},
    "MEMO": {"type": ["string", "null"]},
    "NUMBER": {"type": ["number", "null"]},
    "INTEGER": {"type": ["integer", "null"]},
    "BOOLEAN": {"type": ["boolean", "null"]},
    "BOOL": {"type": ["boolean", "null"]},
    "DATE": _NULLABLE_DT,
    "DATETIME": _NULLABLE_DT,
}
_ANY: dict = {"type": ["string", "number", "integer", "boolean", "object", "array", "null"]}


def slug(text: str) -> str:
    """``Server (CI)`` → ``server_ci``; ``Key card`` → ``key_card``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unnamed"


def build_schema(card_type: dict) -> dict:
    """The asset stream's schema from the card type's field definitions."""
    properties = dict(BUILTIN_PROPERTIES)
    for field in card_type.get("fields") or []:
        key = field.get("key")
        if not key or key in BUILTIN_PROPERTIES:
            continue
        kind = str(field.get("type") or "").upper()
        prop = dict(FIELD_TYPES.get(kind, _ANY))
        if field.get("displayName"):
            prop["description"] = str(field["displayName"])
        properties[key] = prop
    return {"type": "object", "properties": properties}


def field_keys(card_type: dict) -> list[str]:
    return [f["key"] for f in card_type.get("fields") or [] if f.get("key")]


class AssetTemplatesStream(SnapshotMixin, TopdeskStream):
    """``/assetmgmt/templates``: the asset types (standard and freely definable)."""

    name = "asset_templates"
    module = "assets"
    path = f"{_BASE}/templates"
    primary_keys = ("id",)
    envelope = "dataSet"


class AssetsStream(WindowedTopdeskStream):
    """Assets of one template: ``/assetmgmt/assets?templateId=..&fields=<card fields + builtins>`` (Accept
    assets-v2), pageStart/pageSize (max 1000), 206 while more, windowed with ``$filter`` on modificationDate
    (offset-less UTC in this API)."""

    module = "assets"
    path = f"{_BASE}/assets"
    primary_keys = ("id",)
    accept = ASSETS_V2
    envelope = "dataSet"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 1000

    def __init__(self, tap: t.Any, template: dict, card_type: dict) -> None:
        self.template = template
        self.card_type = card_type
        self._built_schema = build_schema(card_type)
        super().__init__(tap=tap, name=f"assets_{slug(str(template.get('text') or template.get('id')))}")

    @property
    def schema(self) -> dict:
        return self._built_schema

    def requested_fields(self) -> str:
        builtins = [
            "name", "archived", "creationDate", "modificationDate", "@etag", "type_id",
            "@type", "@@summary", "@status", "@assignments",
        ]  # fmt: skip
        keys = [k for k in field_keys(self.card_type) if k not in builtins]
        return ",".join(builtins + keys)

    @staticmethod
    def asset_date(value: t.Any) -> str:
        """Asset API dates: offset-less UTC with milliseconds."""
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"

    def window_filter(self, window: Window) -> str:
        """``$filter`` for a window (this API speaks OData, not FIQL)."""
        op = "ge" if window.start_inclusive else "gt"
        return (
            f"modificationDate {op} '{self.asset_date(window.start)}' and "
            f"modificationDate lt '{self.asset_date(window.end)}'"
        )

    def outside_filter(self, now: datetime, floor: datetime | None) -> str:
        """``$filter`` for the assets outside every window (``isEmpty``: the API's documented test for no date)."""
        parts = [f"modificationDate gt '{self.asset_date(now)}'"]
        if floor is not None:
            parts += [f"modificationDate lt '{self.asset_date(floor)}'", "modificationDate isEmpty"]
        return " or ".join(parts)

    def page_params(self, query: str, offset: int, *, ids_only: bool = False) -> dict[str, t.Any]:
        return {
            "templateId": self.template["id"],
            "fields": "name" if ids_only else self.requested_fields(),
            "$filter": query,
            "$orderby": "modificationDate asc",
            "pageStart": offset,
            "pageSize": self.page_size,
        }

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        if "id" not in row and "unid" in row:  # some tenants spell the grid id ``unid``
            row["id"] = row.pop("unid")
        return super().post_process(row, context)


class AssetLinksStream(SnapshotMixin, TopdeskStream):
    """Links between assets from ``/assetLinks?sourceId=`` (one call per asset, both directions), traversed
    breadth-first from every asset with a visited set (the data may contain cycles) and deduplicated on linkId.
    Each link is emitted once, as seen from the first asset that listed it: ``sourceId`` = that asset."""

    name = "asset_links"
    module = "assets"
    path = f"{_BASE}/assetLinks"
    primary_keys = ("linkId",)

    def asset_ids(self, context: Context | None) -> t.Iterator[str]:
        """Every asset id (all templates, archived too): per template, in modificationDate windows, so a Virtual
        Appliance export time-out on a large asset list is survived the same way as for the asset streams."""
        templates = (self.body(self.get(f"{_BASE}/templates", context=context)) or {}).get("dataSet") or []
        start = datetime(2000, 1, 1, tzinfo=UTC)
        end = datetime.now(UTC) + timedelta(days=1)
        for template in templates:

            def fetch(window: Window, offset: int, template_id: str = str(template.get("id"))) -> Page:
                op = "ge" if window.start_inclusive else "gt"
                params = {
                    "templateId": template_id,
                    "fields": "name,modificationDate",
                    "$filter": (
                        f"modificationDate {op} '{AssetsStream.asset_date(window.start)}' and "
                        f"modificationDate lt '{AssetsStream.asset_date(window.end)}'"
                    ),
                    "pageStart": offset,
                    "pageSize": 1000,
                }
                response = self.get(f"{_BASE}/assets", params, context=context, accept=ASSETS_V2)
                return Page((self.body(response) or {}).get("dataSet") or [], more_pages(response))

            reader = WindowedReader(
                stream_name=f"{self.name} (assets of {template.get('text')})",
                fetch=fetch,
                page_size=1000,
                window_days=int(self.config.get("window_days", 90)),
                sort_key=lambda r: (str(r.get("modificationDate")), str(r.get("id"))),
                record_id=lambda r: r.get("id") or r.get("unid"),
                logger=self.logger,
            )
            for row in reader.read(start, end, start_inclusive=True):
                yield str(row.get("id") or row.get("unid"))

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        visited: set[str] = set()
        seen_links: set[str] = set()
        queue: deque[str] = deque(self.asset_ids(context))
        while queue:
            asset_id = queue.popleft()
            if asset_id in visited:
                continue
            visited.add(asset_id)
            links = self.body(self.get(self.path, {"sourceId": asset_id}, context=context)) or []
            for link in links:
                other = link.get("assetId")
                if other and other not in visited:
                    queue.append(other)  # recurse into linked assets (cycle-safe through ``visited``)
                link_id = link.get("linkId")
                if link_id in seen_links:
                    continue
                seen_links.add(link_id)
                yield {**link, "sourceId": asset_id, "targetId": other}
        self.logger.info("Stream 'asset_links': %d links between %d assets", len(seen_links), len(visited))


def discover_asset_streams(tap: t.Any) -> list[TopdeskStream]:
    """One stream per template the operator can read (``/templates`` + ``/cardTypes``), at discovery time."""
    probe = AssetTemplatesStream(tap=tap)
    templates = probe.extract(probe.body(probe.get(f"{_BASE}/templates")))
    cards_body = probe.body(probe.get(f"{_BASE}/cardTypes")) or {}
    cards = {str(c.get("key", "")).upper(): c for c in cards_body.get("cardTypes") or []}
    streams: list[TopdeskStream] = []
    names: set[str] = set()
    for template in templates:
        card = cards.get(str(template.get("id", "")).upper(), {"fields": []})
        stream = AssetsStream(tap, template, card)
        if stream.name in names:  # two templates with the same display name: disambiguate by id
            stream = AssetsStream(tap, {**template, "text": f"{template.get('text')} {template.get('id')}"}, card)
        names.add(stream.name)
        streams.append(stream)
    return streams
