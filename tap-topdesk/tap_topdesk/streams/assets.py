"""Asset management: templates (TOPdesk's freely definable asset types), one stream per template with a schema
built from its card type's field definitions, and the asset links (parent/child) traversed recursively.

Every request is one that works on each asset API a tenant may run (official descriptions 1.30.0-1.91.1, kept by
guercheLE/topdesk-mcp-rs as ``mcp_store_vassets-<version>.db``):
- ``/templates`` and ``/assets`` list one resource category, ``asset`` unless ``resourceCategory`` says otherwise
  (1.40.0+): templates and items are read per category (the parameter left out for assets), so stock and bulk
  items arrive too;
- ``$filter`` conditions are joined with ``and`` and compare dates with ``gt``/``lt`` only: ``or`` and parentheses
  came with 1.80.0, ``ge``/``le``/``eq``/``ne`` on dates with 1.81.2. An inclusive lower bound is ``gt`` one
  millisecond earlier (asset dates have milliseconds); the records outside every window are one listing per bound;
- ``fields=`` names only what the description lists (``name``, ``modificationDate``, ``creationDate``, ``@type``,
  ``@@summary``, ``@assignments``, user-defined field ids). ``archived`` and ``@status`` come from the documented
  ``archived`` and ``assetStatus`` parameters: each resource category is listed once more per sync, ids only and
  without ``templateId``, for each (the archived ones, the impacted ones; see ``CategoryListings``). (Public
  clients do send ``archived`` and ``@status`` in ``fields=``, UGDSB.PS.Topdesk ``-defaultfields`` and
  jmpijll/forticloud-scripts on asset API 1.88, but no description lists them.) ``type_id`` is the template the
  stream lists;
- a grid row's id is ``id``, or ``unid`` on some tenants when ``fields=`` is sent (jmpijll/forticloud-scripts
  docs/TopDesk_API_Research.md, asset API 1.88): renamed to ``id`` as each page is read, before anything keys by id.
"""

from __future__ import annotations

import itertools
import re
import typing as t
from datetime import UTC, datetime, timedelta
from functools import partial

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import FLOOR, TopdeskStream, WindowedTopdeskStream
from tap_topdesk.concurrency import in_order_ahead
from tap_topdesk.disk_set import DiskSet
from tap_topdesk.pagination import LazyPage, Page, Window, WindowedReader, more_pages, offset_pages
from tap_topdesk.request_check import CheckRequest
from tap_topdesk.snapshot import SnapshotMixin

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

ASSETS_V2 = "application/x.topdesk-am-assets-v2+json"
_BASE = "/tas/api/assetmgmt"
#: ``resourceCategory`` values of ``/templates`` and ``/assets`` (each lists ``asset`` only when it is left out).
CATEGORIES = ("asset", "stock", "bulkItem")
#: ``fields=`` names every asset has (the template's user-defined field ids come after them).
BUILTIN_FIELDS = ("name", "creationDate", "modificationDate", "@type", "@@summary", "@assignments")
#: The ids-only listing (``fields=`` must name something, and ``name`` every asset has).
IDS_ONLY = "name"
#: Flagged ids (archived, impacted) of a category kept in memory; beyond, on disk.
MAX_IDS_IN_MEMORY = 20_000
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


def asset_date(value: datetime) -> str:
    """Asset API dates: offset-less UTC with milliseconds."""
    moment = value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def window_filter(window: Window) -> str:
    """``$filter`` for a window with ``and`` and ``gt``/``lt`` only; an inclusive start is ``gt`` 1 ms before it."""
    start = window.start - timedelta(milliseconds=1) if window.start_inclusive else window.start
    return f"modificationDate gt '{asset_date(start)}' and modificationDate lt '{asset_date(window.end)}'"


def _on_disk(ids: set[str]) -> DiskSet:
    disk = DiskSet()
    for key in ids:
        disk.add(key)
    return disk


def keyed_by_id(rows: t.Iterable[dict], on_unid: t.Callable[[], None] | None = None) -> t.Iterator[dict]:
    """Asset grid rows, each keyed ``id``: a tenant's ``unid`` is renamed (``on_unid`` is told, once)."""
    for row in rows:
        if "id" not in row and "unid" in row:
            row["id"] = row.pop("unid")
            if on_unid is not None:
                on_unid()
                on_unid = None
        yield row


def grid_rows(payload: t.Any, on_unid: t.Callable[[], None] | None = None) -> list[dict]:
    """The rows of an asset grid answer, each keyed ``id``."""
    return list(keyed_by_id((payload or {}).get("dataSet") or [], on_unid))


def category_param(category: str) -> dict[str, str]:
    """``resourceCategory`` for stock and bulk items; left out for assets (its default, and APIs before 1.40.0 lack
    the parameter)."""
    return {} if category == "asset" else {"resourceCategory": category}


def templates_by_category(stream: TopdeskStream, context: Context | None = None) -> t.Iterator[tuple[str, dict]]:
    """(category, template) for every template the operator can read, asset, stock and bulk-item ones (the three
    lists asked side by side); an API that refuses ``resourceCategory`` (400, before 1.40.0) has assets only."""
    asked = [
        (category, stream.pool.submit(stream.get, f"{_BASE}/templates", category_param(category), context=context))
        for category in CATEGORIES
    ]
    for category, answer in asked:
        try:
            response = answer.result()
        except FatalAPIError as exc:
            if category == "asset" or not str(exc).startswith("400 "):
                raise
            stream.logger.warning("Asset templates: no %s templates on this tenant (%s)", category, exc)
            continue
        for template in (stream.body(response) or {}).get("dataSet") or []:
            yield category, template


class AssetTemplatesStream(SnapshotMixin, TopdeskStream):
    """``/assetmgmt/templates``: the asset types (standard and freely definable), stock and bulk-item types."""

    name = "asset_templates"
    module = "assets"
    path = f"{_BASE}/templates"
    primary_keys = ("id",)
    envelope = "dataSet"

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        for _category, template in templates_by_category(self, context):
            yield template


class CategoryListings:
    """What the asset streams of one resource category share in a sync, so that a template with few assets costs one
    request: one upper bound (``signpost``), the category's archived and impacted ids over the range its templates
    read (one ids-only listing each, ``archived=true`` / ``assetStatus=IMPACTED`` without ``templateId``), and which
    of the listings of the records outside every range hold any asset of the category (ids only; a template lists
    its own only then). Sent side by side, once, when the first stream of the category reads (or with the sync's
    first pages).

    The bound is taken before the flags are read: an asset whose flag changes later carries a newer modification
    date, so it is outside this sync's range and the next sync reads it with its new flags."""

    def __init__(self, first: AssetsStream, context: Context | None) -> None:
        self.signpost = WindowedTopdeskStream.signpost(first, context)
        self.now = first.now()
        outside, flags = first.category_listings_params(context, self.signpost, self.now)
        # asked ahead with the first pages of the sync (``TapTopdesk.ask_first_pages_ahead``), else asked here
        for params in (*outside, *flags):
            first.ask_ahead(first.page_request({**params, "pageStart": 0}), context)
        #: per listing of ``outside_queries``: whether any asset of the category is in it
        self.outside_found = [bool(first.ids_listed(params, context)) for params in outside]
        sets = [first.ids_listed(params, context) for params in flags]
        self.archived: set[str] | DiskSet = sets[0] if first.include_archived else set()
        self.impacted = sets[-1]


class AssetsStream(WindowedTopdeskStream):
    """Assets (or stock or bulk items) of one template: ``/assetmgmt/assets?templateId=..&resourceCategory=..&fields=
    <builtins + card fields>`` (Accept assets-v2), pageStart/pageSize (max 1000), 206 while more, windowed with
    ``$filter`` on modificationDate (offset-less UTC in this API)."""

    module = "assets"
    path = f"{_BASE}/assets"
    primary_keys = ("id",)
    accept = ASSETS_V2
    envelope = "dataSet"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 1000

    def __init__(self, tap: t.Any, template: dict, card_type: dict, category: str = "asset") -> None:
        self.template = template
        self.card_type = card_type
        self.category = category
        self._built_schema = build_schema(card_type)
        self._outside_query = ""
        self._flags: tuple[str, set[str] | DiskSet, set[str] | DiskSet] = ("", set(), set())
        self._unid_noted = False
        super().__init__(tap=tap, name=f"assets_{slug(str(template.get('text') or template.get('id')))}")

    @property
    def schema(self) -> dict:
        return self._built_schema

    def requested_fields(self) -> str:
        keys = [k for k in field_keys(self.card_type) if k not in BUILTIN_FIELDS]
        return ",".join(BUILTIN_FIELDS + tuple(keys))

    def window_filter(self, window: Window) -> str:
        return window_filter(window)

    def outside_queries(self, now: datetime, floor: datetime | None) -> list[str]:
        """One ``$filter`` per bound of the records outside every window (no ``or`` on older APIs); ``isEmpty`` is
        the API's documented test for no date."""
        parts = [f"modificationDate gt '{asset_date(now)}'"]
        if floor is not None:
            parts += [f"modificationDate lt '{asset_date(floor)}'", "modificationDate isEmpty"]
        return parts

    def outside_filter(self, now: datetime, floor: datetime | None) -> str:
        """The listing ``read_outside`` is reading now (one of ``outside_queries``; the first when none is)."""
        return self._outside_query or self.outside_queries(now, floor)[0]

    def peers(self) -> list[AssetsStream]:
        """The streams of this template's category a sync reads (this one too)."""
        return [
            s
            for s in self._tap.streams.values()
            if isinstance(s, AssetsStream) and s.category == self.category and (s.selected or s is self)
        ]

    def category_listings(self, context: Context | None) -> CategoryListings:
        """This sync's listings shared by the streams of this template's category (read by the first of them)."""
        shared: dict[str, CategoryListings] = self._tap.__dict__.setdefault("asset_category_listings", {})
        if self.category not in shared:
            shared[self.category] = CategoryListings(self, context)
        return shared[self.category]

    def category_listings_params(
        self, context: Context | None, signpost: datetime, now: datetime, offset: int = 0
    ) -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]]]:
        """The category's ids-only listings (no ``templateId``): of the records outside every range (whichever of
        its streams reads from the floor asks for those before it too), and flagged archived / impacted over the
        range its streams read."""
        peers = self.peers()
        start = min(s.start_bound(context)[0] for s in peers)
        floor = FLOOR if any(s.from_the_floor(context) for s in peers) else None

        def category(query: str, flag: dict[str, str]) -> dict[str, t.Any]:
            params = {**self.page_params(query, offset, ids_only=True), **flag}
            del params["templateId"]
            return params

        outside = [category(query, {}) for query in self.outside_queries(now, floor)]
        flags = [{"archived": "true"}] if self.include_archived else []
        in_range = window_filter(Window(start, signpost))
        return outside, [category(in_range, flag) for flag in [*flags, {"assetStatus": "IMPACTED"}]]

    def signpost(self, context: Context | None) -> datetime:
        """The category's, once its listings were read (the flags hold up to it)."""
        shared = self._tap.__dict__.get("asset_category_listings", {}).get(self.category)
        return shared.signpost if shared is not None else super().signpost(context)

    def check_requests(self, context: Context | None, size: int) -> list[CheckRequest]:
        """Request check hook: what the sync sends first, the category's listings (see ``CategoryListings``), then
        the template's range read whole."""
        signpost = super().signpost(context)
        start, inclusive = self.start_bound(context)
        outside, flags = self.category_listings_params(context, signpost, self.now())
        window = self.page_params(self.window_filter(Window(start, max(start, signpost), inclusive)), 0)
        listings = [*outside, *flags, window]
        return [CheckRequest(self.path, params, self.accept).sized(self.size_param, size) for params in listings]

    def read_outside(self, now: datetime, floor: datetime | None, context: Context | None) -> t.Iterator[dict]:
        """The records outside every window, one listing per bound (the three sets are disjoint), each only when the
        category's ids-only listing of it found an asset."""
        found = self.category_listings(context).outside_found
        try:
            for query, any_asset in zip(self.outside_queries(now, floor), found, strict=False):
                if any_asset:
                    self._outside_query = query
                    yield from super().read_outside(now, floor, context)
        finally:
            self._outside_query = ""

    def page_params(self, query: str, offset: int, *, ids_only: bool = False) -> dict[str, t.Any]:
        params = {
            "templateId": self.template["id"],
            **category_param(self.category),
            "fields": IDS_ONLY if ids_only else self.requested_fields(),
            "$filter": query,
            "$orderby": "modificationDate asc",
            "pageStart": offset,
            "pageSize": self.page_size,
        }
        if not self.include_archived:
            params["archived"] = "false"
        return params

    def extract(self, payload: t.Any) -> list[dict]:
        return grid_rows(payload, None if self._unid_noted else self._note_unid)

    def check_notes(self) -> list[str]:
        """Request check hook: the grid's key, when the check's answers (or the asset links' parent look-ups) held
        a row."""
        if not self._unid_noted:
            return []
        return ["the asset grids key rows 'unid' instead of 'id' (as on asset API 1.88 tenants): read as 'id'"]

    def _note_unid(self) -> None:
        self._unid_noted = True
        self.logger.info("Stream '%s': this tenant's asset grid keys rows 'unid'; read as 'id'", self.name)

    def fetch_page(self, params: dict[str, t.Any], context: Context | None) -> Page | LazyPage:
        """One page, parsed row by row as it is read (a page of 1,000 wide rows is never held whole); rows of a full
        listing get ``archived`` and ``@status`` from the listing's flag sets, read (ids only) before its first row."""
        if params["fields"] == IDS_ONLY:
            return super().fetch_page(params, context)
        page = self.stream_page(params, context)
        on_unid = None if self._unid_noted else self._note_unid

        def rows() -> t.Iterator[dict]:
            for row in keyed_by_id(page.records, on_unid):
                archived, impacted = self.flags(params["$filter"], context)
                row["archived"] = row["id"] in archived
                row["@status"] = "IMPACTED" if row["id"] in impacted else "OPERATIONAL"
                yield row

        flagged = LazyPage(rows(), lambda: page.more, close=page.close)
        flagged.response = page.response
        return flagged

    def pages_streamable(self) -> bool:
        """``fetch_page`` parses as it reads already (and adds the flags)."""
        return False

    def flags(self, query: str, context: Context | None) -> tuple[set[str] | DiskSet, set[str] | DiskSet]:
        """The archived and the impacted ids: the category's for the range, read once per listing for a listing of
        the records outside every range (rare: read only when the category has any)."""
        if not self._reading_outside:
            shared = self.category_listings(context)
            return shared.archived, shared.impacted
        if self._flags[0] != query:
            listing = self.page_params(query, 0, ids_only=True)
            archived = self.ids_listed({**listing, "archived": "true"}, context) if self.include_archived else set()
            self._flags = (query, archived, self.ids_listed({**listing, "assetStatus": "IMPACTED"}, context))
        return self._flags[1], self._flags[2]

    def ids_listed(self, params: dict[str, t.Any], context: Context | None) -> set[str] | DiskSet:
        """The ids an ids-only listing holds, every page (on disk beyond ``MAX_IDS_IN_MEMORY``)."""
        ids: set[str] | DiskSet = set()

        def fetch(offset: int) -> Page | LazyPage:
            return super(AssetsStream, self).fetch_page({**params, "pageStart": offset}, context)

        for page in offset_pages(fetch, self.page_size or 1000):
            for row in page.records:
                if isinstance(ids, set) and len(ids) >= MAX_IDS_IN_MEMORY:
                    ids = _on_disk(ids)
                ids.add(str(row.get("id", row.get("unid"))))
        return ids

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row.setdefault("type_id", self.template.get("id"))  # the listing is filtered on this template
        return super().post_process(row, context)


class AssetLinksStream(SnapshotMixin, TopdeskStream):
    """Links between assets from ``/assetLinks?sourceId=`` (one call per asset, both directions): every listed asset,
    then the assets reached only through a link, each once (the data may contain cycles), deduplicated on linkId.
    Each link is emitted once, as seen from the first asset that listed it: ``sourceId`` = that asset."""

    name = "asset_links"
    module = "assets"
    path = f"{_BASE}/assetLinks"
    primary_keys = ("linkId",)

    def fetch_ids(self, template_id: str, category: str, context: Context | None, window: Window, offset: int) -> Page:
        """One page of the ids of one template's assets in a window."""
        params = {
            "templateId": template_id,
            **category_param(category),
            "fields": "name,modificationDate",
            "$filter": window_filter(window),
            "pageStart": offset,
            "pageSize": 1000,
        }
        response = self.get(f"{_BASE}/assets", params, context=context, accept=ASSETS_V2)
        return Page(grid_rows(self.body(response)), more_pages(response))

    def asset_ids(self, context: Context | None) -> t.Iterator[str]:
        """Every asset, stock and bulk-item id (all templates, archived too): per template, in modificationDate
        windows, so a Virtual Appliance export time-out on a large asset list is survived the same way as for the
        asset streams."""
        start = datetime(2000, 1, 1, tzinfo=UTC)
        end = datetime.now(UTC) + timedelta(days=1)
        for category, template in list(templates_by_category(self, context)):
            reader = WindowedReader(
                stream_name=f"{self.name} (assets of {template.get('text')})",
                fetch=partial(self.fetch_ids, str(template.get("id")), category, context),
                page_size=1000,
                window_days=int(self.config.get("window_days", 90)),
                sort_key=lambda r: (str(r.get("modificationDate")), str(r.get("id"))),
                logger=self.logger,
            )
            for row in reader.read(start, end, start_inclusive=True):
                yield str(row.get("id"))

    def check_parents(self) -> list[TopdeskStream]:
        """Request check hook: the streams whose records' ids ``/assetLinks`` is asked with (every asset stream)."""
        return [s for s in self._tap.streams.values() if isinstance(s, AssetsStream)]

    def check_context(self, record: dict) -> Context:
        return {"asset_id": str(record.get("id"))}

    def check_request(self, context: Context | None, size: int) -> CheckRequest:
        """Request check hook: the links of one asset (the request sent for each; it has no paging)."""
        return CheckRequest(self.path, self.links_params(str((context or {}).get("asset_id"))), self.accept)

    def links_params(self, asset_id: str) -> dict[str, t.Any]:
        return {"sourceId": asset_id}

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The listed assets first, as they are listed, then those reached only through a link (a template the
        operator cannot list), level by level. What is remembered (assets visited, links emitted, assets linked)
        is kept on disk: memory does not follow the number of assets."""
        with DiskSet() as visited, DiskSet() as seen_links, DiskSet() as linked:

            def fetch_links(asset_id: str) -> list[dict]:
                return self.body(self.get(self.path, self.links_params(asset_id), context=context)) or []

            def links_of(assets: t.Iterable[str]) -> t.Iterator[dict[str, t.Any]]:
                """Each asset's links (asked side by side, taken in order), each link once."""
                for asset_id, links in in_order_ahead(self.pool, assets, fetch_links):
                    for link in links:
                        other = link.get("assetId")
                        if other:
                            linked.add(str(other))  # visited later unless listed (cycle-safe through ``visited``)
                        if seen_links.add(str(link.get("linkId"))):
                            yield {**link, "sourceId": asset_id, "targetId": other}

            yield from links_of(a for a in self.asset_ids(context) if visited.add(a))
            while pending := list(itertools.islice((a for a in linked if a not in visited), 1000)):
                yield from links_of(a for a in pending if visited.add(a))
            self.logger.info("Stream 'asset_links': %d links between %d assets", len(seen_links), len(visited))


def discover_asset_streams(tap: t.Any) -> list[TopdeskStream]:
    """One stream per template the operator can read, of every resource category (``/templates`` + ``/cardTypes``;
    a template without a card type gets the built-in columns only), at discovery time."""
    probe = AssetTemplatesStream(tap=tap)
    card_types = probe.pool.submit(probe.get, f"{_BASE}/cardTypes")
    templates = list(templates_by_category(probe))
    cards_body = probe.body(card_types.result()) or {}
    cards = {str(c.get("key", "")).upper(): c for c in cards_body.get("cardTypes") or []}
    streams: list[TopdeskStream] = []
    names: set[str] = set()
    for category, template in templates:
        card = cards.get(str(template.get("id", "")).upper(), {"fields": []})
        stream = AssetsStream(tap, template, card, category)
        if stream.name in names:  # two templates with the same display name: disambiguate by id
            renamed = {**template, "text": f"{template.get('text')} {template.get('id')}"}
            stream = AssetsStream(tap, renamed, card, category)
        names.add(stream.name)
        streams.append(stream)
    return streams
