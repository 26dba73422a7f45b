"""Is a request documented? The operation it calls, held against TOPdesk's OpenAPI descriptions (``../specs/topdesk/``).

TOPdesk refuses what an operation does not document (400), and a client tested only against a lenient stand-in finds
out on a real tenant, hours into a sync. ``check`` lists, for one request, every:

- query parameter the operation does not document;
- FIQL field (``query``; ``$filter`` on the asset API) outside the operation's filter list, where the description
  lists one ("The fields available for filtering are: <ul>...</ul>", parsed; "All top-level fields in the returned
  object" = the properties of the 200 response's schema); lists the reconstruction lost are tables below, each citing
  its source;
- ``fields``/``$fields`` name outside the selectable list, where the description gives one;
- ``sort``/``$orderby`` outside the documented sort fields, or more than one where the description allows one;
- FIQL date with fractional seconds (TOPdesk documents ``yyyy-MM-ddTHH:mm:ssZ``);
- request to a path no description has (``parameter`` is ``(path)``).

Where several descriptions document the same path (supporting files 1.58.0 and 2.7.11, the knowledge base before and
after the explorer migration) a request is documented when one of them documents all of it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from topdesk_sandbox import fiql
from topdesk_sandbox.routes.changes import CHANGE_FIQL, CHANGE_PARAMS, CHANGE_SELECTABLE, CHANGE_SORTS

SPECS = Path(__file__).resolve().parents[1] / "specs" / "topdesk"

#: Spec files in order of preference: where two document the same path, the first listed wins ties.
PREFERENCE = (
    "supporting-files-2.7.11",
    "supporting-files-1.58.0",
    "knowledge-base-after-explorer-migration",
    "knowledge-base-before-explorer-migration",
)

#: ``Violation.code`` of a request to a path no description has.
UNDOCUMENTED_OPERATION = "undocumented_operation"

_FIQL_DATE_FRACTION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+")
_IDENT = re.compile(r"^[A-Za-z_@][\w@.\-]*$")
_TAG = re.compile(r"<[^>]+>")
_FILTER_LIST = re.compile(r"fields available for filtering are:\s*<ul>(.*?)</ul>", re.DOTALL | re.IGNORECASE)
_SUB_FIELDS = re.compile(r"\ball sub-?fields\b", re.IGNORECASE)

# --- what the reconstructed descriptions lost, written out (each with its source) -----------------------------------

#: Knowledge base ``/knowledgeItems``: its ``fields``/``query`` descriptions were not recovered (README: "Known gaps").
#: The lists are those of TOPdesk's description as PipedreamHQ/pipedream copied them into
#: components/topdesk/actions/get-knowledge-items/get-knowledge-items.mjs ("Available filter fields", ``fields``
#: options); ``modificationDate``/``creationDate`` are added to the filter list from Gradient-DS/open-webui
#: thoughts/shared/plans/2026-06-15-topdesk-rest-kb-reconciliation.md, read from the tenant's knowledge-base_SaaS.json
#: ("query (FIQL: parent.id, status.id/name, modificationDate, archived, news, visibility.*, ...)").
KB_ITEM_FILTER = (
    "parent.id", "parent.number", "visibility.sspVisibility", "visibility.sspVisibleFrom", "visibility.sspVisibleUntil",
    "visibility.sspVisibilityFilteredOnBranches", "visibility.operatorVisibilityFilteredOnBranches",
    "visibility.publicKnowledgeItem", "visibility.branches.id", "visibility.branches.name", "manager.id",
    "manager.name", "status.id", "status.name", "standardSolution.id", "standardSolution.name", "externalLink.id",
    "externalLink.type", "externalLink.date", "archived", "news", "modificationDate", "creationDate",
)  # fmt: skip
KB_ITEM_FIELDS = (
    "parent", "visibility", "urls", "news", "manager", "status", "standardSolution", "externalLink", "language",
    "title", "description", "content", "commentsForOperators", "keywords", "creator", "modifier", "creationDate",
    "modificationDate", "translation.creator", "translation.modifier", "translation.creationDate",
    "translation.modificationDate", "availableTranslations",
)  # fmt: skip

#: Asset API ``fields`` (assets-1.91.1 ``GET /assets``): "The ID of any user-defined field can be used", the standard
#: properties 'name', 'modificationDate', 'creationDate', and '@type', '@@summary', '@assignments',
#: '@linkToTemplateCount'. User-defined field IDs are the tenant's (``check(asset_field_ids=...)``).
ASSET_FIELDS = (
    "name", "modificationDate", "creationDate", "@type", "@@summary", "@assignments", "@linkToTemplateCount",
)  # fmt: skip
#: Asset API ``$filter`` fields named by the description (name, templateId, archiveReason, the date fields
#: modificationDate and creationDate, linkedTo, id) besides user-defined fields; ``isLinkedTo(...)`` is a function.
ASSET_FILTER = ("name", "templateId", "archiveReason", "modificationDate", "creationDate", "linkedTo", "id")

#: ``/operatorChanges`` as newer change APIs document it (only 1.4.0 was recovered): FIQL ``query``, ``fields`` and
#: one-field ``sort`` on more fields. The tables, and their sources, are the change routes' (``EVIDENCE.md``).

# --- the model -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One thing the descriptions do not document, named by operation and parameter."""

    operation: str
    parameter: str
    message: str  # what kind of violation (stable, to group by)
    detail: str = ""  # the offending name or value
    code: str = "bad_request"

    def as_dict(self) -> dict[str, str]:
        return {
            "operation": self.operation,
            "parameter": self.parameter,
            "message": self.message,
            "detail": self.detail,
            "code": self.code,
        }

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.operation}: {self.parameter}: {self.message}{detail}"


@dataclass(frozen=True)
class FieldList:
    """Documented field names: exact names, prefixes (``area.`` = every sub-field of ``area``)."""

    names: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or name.startswith(self.prefixes))

    @classmethod
    def of(cls, names: Iterable[str], prefixes: Iterable[str] = ()) -> FieldList:
        return cls(frozenset(names), tuple(prefixes))


@dataclass(frozen=True)
class SortRule:
    """What ``sort`` takes: an allow-list or a deny-list of fields, and whether several orderings may be joined."""

    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()
    single: bool = False
    odata: bool = False  # ``$orderby=<field> asc|desc`` rather than ``sort=<field>:asc``


@dataclass(frozen=True)
class Operation:
    """One documented operation, reduced to what ``check`` needs."""

    spec: str
    method: str
    path: str  # server base + template, e.g. /tas/api/incidents/id/{id}
    operation_id: str
    params: frozenset[str]
    fiql: frozenset[str] = frozenset()  # query parameters that carry FIQL (or the asset API's OData-ish $filter)
    filters: FieldList | None = None
    selectable: dict[str, FieldList] = field(default_factory=dict)  # fields / $fields -> names
    sorts: dict[str, SortRule] = field(default_factory=dict)  # sort / $orderby -> rule
    user_fields: bool = False  # fields/$filter also take the tenant's user-defined asset field IDs

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} ({self.operation_id}, {self.spec})"


# --- reading the descriptions ----------------------------------------------------------------------------------------


def _text(html: str) -> str:
    return " ".join(_TAG.sub(" ", html).split()).strip(" .")


def _split_names(text: str) -> list[str] | None:
    """``a, b and c`` → names, or None when it is prose rather than a list of names."""
    names = [n.strip() for n in re.split(r",|\band\b", text) if n.strip()]
    return names if names and all(_IDENT.match(n) for n in names) else None


def _top_level_exceptions(text: str) -> set[str]:
    match = re.search(r"except for ([^.]*)", text)
    return set(_split_names(match.group(1)) or ()) if match else set()


def parse_filter_item(item: str, top_level: Collection[str]) -> tuple[set[str], set[str]] | None:
    """One ``<li>`` of a filter list → (names, prefixes), or None when it cannot be read reliably."""
    text = _text(item)
    if text.startswith("All top-level fields in the returned object"):
        # "... except for status. Use archived==true or archived==false instead." documents ``archived`` too
        named = set(re.findall(r"\b(\w+)==", text))
        return (set(top_level) - _top_level_exceptions(text) | named, set()) if top_level else None
    paren = re.match(r"^([\w.@\-]+(?:\s*(?:,|\band\b)\s*[\w.@\-]+)*)\s*\(([^)]*)\)$", text)
    if paren:  # reservations: ``requester (id, email)``, ``optionalFields1, optionalFields2 (all sub-fields)``
        paren_heads = _split_names(paren.group(1)) or []
        if _SUB_FIELDS.search(paren.group(2)):
            return set(), {f"{h}." for h in paren_heads}
        subs = _split_names(paren.group(2))
        return ({f"{h}.{s}" for h in paren_heads for s in subs}, set()) if subs else None
    head, colon, rest = text.partition(":")
    heads = _split_names(head)
    if heads is None:
        return None
    if not colon:
        return set(heads), set()
    first = rest.split(".")[0]
    if _SUB_FIELDS.search(first) or re.search(r"\ball\b", first):  # ``operatorGroup: id, name and all tasks``
        return set(), {f"{h}." for h in heads}
    subs = _split_names(first)
    if subs:  # ``supplier: id, name, forFirstLine``
        return {f"{h}.{s}" for h in heads for s in subs}, set()
    return set(heads), set()  # ``linkedPerson: Only equal null and not equal null is supported``


def parse_filter_list(description: str, top_level: Collection[str]) -> FieldList | None:
    """The description's "fields available for filtering" list, or None when it has none or one item is prose."""
    listed = _FILTER_LIST.search(description)
    if not listed:
        only = re.search(r"The only field you can filter on is the '(\w+)' field", description)
        return FieldList.of([only.group(1)]) if only else None
    names: set[str] = set()
    prefixes: set[str] = set()
    for item in re.findall(r"<li>(.*?)</li>", listed.group(1), re.DOTALL):
        parsed = parse_filter_item(item, top_level)
        if parsed is None:
            return None
        names |= parsed[0]
        prefixes |= parsed[1]
    return FieldList.of(names, sorted(prefixes))


def parse_selectable(description: str) -> FieldList | None:
    """``fields`` names where the description lists them (``Valid field names ... listed below:`` + ``* name``)."""
    if "listed below:" not in description:
        return None
    tail = description.split("listed below:", 1)[1]
    names = re.findall(r"^\s*\*\s*([\w.@]+)\s*$", tail, re.MULTILINE)
    keywords = ["all"] if "'all'" in description else []
    return FieldList.of([*names, *keywords, ""]) if names else None  # "mentioned but empty" is documented too


def parse_sort(name: str, description: str) -> SortRule | None:
    """``sort``: "It is currently possible to sort on a and b" (one of those), "Fields not allowed for sorting
    are: ..." (a deny-list); ``$orderby``: "a *single field*"."""
    if name == "$orderby":
        return SortRule(single="single field" in description, odata=True)
    only = re.search(r"currently possible to sort on ([\w.]+(?:\s*(?:,|and)\s*[\w.]+)*)", description)
    if only:
        return SortRule(allowed=frozenset(_split_names(only.group(1)) or ()), single=True)
    denied = re.search(r"Fields not allowed for sorting are:\s*([^\n]*)", description)
    if denied:
        return SortRule(denied=frozenset(n.strip() for n in denied.group(1).split(",") if n.strip()))
    return None


class _Spec:
    """One description file: ``$ref`` resolution and the top-level fields of an operation's answer."""

    def __init__(self, path: Path) -> None:
        self.name = path.name.removesuffix(".openapi.json")
        self.doc = orjson.loads(path.read_bytes())
        url = self.doc["servers"][0]["url"]
        self.base = re.sub(r"^https?://\{host\}", "", url).rstrip("/")

    def resolve(self, node: dict) -> dict:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            target: object = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target if isinstance(target, dict) else {}
            seen += 1
        return node

    def top_level(self, op: dict) -> set[str]:
        """Properties of the object a 200/206 answer holds (its items, for a list); empty where the schema was lost."""
        for status in ("200", "206"):
            response = self.resolve(op.get("responses", {}).get(status, {}))
            for media in (response.get("content") or {}).values():
                schema = self.resolve(media.get("schema") or {})
                if schema.get("type") == "array":
                    schema = self.resolve(schema.get("items") or {})
                if schema.get("properties"):
                    return set(schema["properties"])
        return set()

    def operations(self, known_top_level: dict[tuple[str, str], set[str]]) -> Iterable[Operation]:
        """Its operations; ``known_top_level`` lends the answer's fields of the same operation in a newer description
        where this one lost its schema (supporting files 1.58.0), and learns this one's."""
        for template, item in self.doc["paths"].items():
            shared = [self.resolve(p) for p in item.get("parameters", [])]
            for method, op in item.items():
                if method == "parameters" or not isinstance(op, dict):
                    continue
                params = shared + [self.resolve(p) for p in op.get("parameters", [])]
                key = (method.upper(), self.base + template)
                top_level = self.top_level(op) or known_top_level.get(key, set())
                known_top_level.setdefault(key, top_level)
                queried = [p for p in params if p.get("in") == "query"]
                yield self._operation(template, method.upper(), op, queried, top_level)

    def _operation(self, template: str, method: str, op: dict, params: list[dict], top_level: set[str]) -> Operation:
        path = self.base + template
        names = frozenset(p["name"] for p in params)
        described = {p["name"]: p.get("description") or "" for p in params}
        fiql_params = frozenset(n for n in ("query",) if n in names and "FIQL" in described[n])
        filters = None
        if "query" in fiql_params:
            filters = parse_filter_list(described["query"], top_level)
        selectable: dict[str, FieldList] = {}
        sorts: dict[str, SortRule] = {}
        for name in names & {"fields", "$fields"}:
            listed = parse_selectable(described[name])
            if listed is not None:
                selectable[name] = listed
        for name in names & {"sort", "$orderby"}:
            rule = parse_sort(name, described[name])
            if rule is not None:
                sorts[name] = rule
        user_fields = False
        if path == "/services/knowledge-base-v1/knowledgeItems" and method == "GET":
            fiql_params, filters = frozenset({"query"}), FieldList.of(KB_ITEM_FILTER)
            selectable["fields"] = FieldList.of(KB_ITEM_FIELDS)
        elif path.startswith("/services/knowledge-base-v1") and "query" in names:
            fiql_params = frozenset({"query"})  # FIQL per the KB description's own wording (lost here), no list
        if path == "/tas/api/operatorChanges" and method == "GET":
            names |= CHANGE_PARAMS
            fiql_params, filters = frozenset({"query"}), FieldList.of(CHANGE_FIQL)
            dotted = [f"{n}." for n in sorted(CHANGE_SELECTABLE)]  # ``simple.status`` selects within ``simple``
            selectable["fields"] = FieldList.of([*CHANGE_SELECTABLE, "all"], dotted)
            sorts["sort"] = SortRule(allowed=CHANGE_SORTS, single=True)
        if path == "/tas/api/assetmgmt/assets" and method == "GET":
            fiql_params, filters, user_fields = frozenset({"$filter"}), FieldList.of(ASSET_FILTER), True
            selectable["fields"] = FieldList.of(ASSET_FIELDS)
        return Operation(
            spec=self.name,
            method=method,
            path=path,
            operation_id=str(op.get("operationId") or f"{method} {path}"),
            params=names,
            fiql=fiql_params,
            filters=filters,
            selectable=selectable,
            sorts=sorts,
            user_fields=user_fields,
        )


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    literals: int
    operation: Operation


@functools.cache
def _routes() -> dict[tuple[str, int], list[_Route]]:
    """Every documented operation, by (method, number of path segments), most specific template first."""
    if not SPECS.is_dir():
        raise FileNotFoundError(f"TOPdesk descriptions not found at {SPECS}")
    files = sorted(SPECS.glob("*.openapi.json"))
    rank = {name: i for i, name in enumerate(PREFERENCE)}
    files.sort(key=lambda p: rank.get(p.name.removesuffix(".openapi.json"), len(rank)))
    table: dict[tuple[str, int], list[_Route]] = {}
    known_top_level: dict[tuple[str, str], set[str]] = {}
    for file in files:
        for op in _Spec(file).operations(known_top_level):
            segments = op.path.strip("/").split("/")
            regex = "/" + "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
            literals = sum(not s.startswith("{") for s in segments)
            table.setdefault((op.method, len(segments)), []).append(_Route(re.compile(regex + "$"), literals, op))
    for routes in table.values():
        routes.sort(key=lambda r: -r.literals)  # stable: preference order kept within a specificity
    return table


def operations(method: str, path: str) -> list[Operation]:
    """The documented operations a request could be calling: all those with the most specific matching template."""
    routes = _routes().get((method.upper(), len(path.strip("/").split("/"))), [])
    found: list[Operation] = []
    best = -1
    for route in routes:
        if route.literals < best:
            break
        if route.pattern.match(path):
            best = route.literals
            found.append(route.operation)
    return found


# --- checking a request ----------------------------------------------------------------------------------------------


def _fiql_violations(op: Operation, name: str, value: str, user_fields: Collection[str] | None) -> list[Violation]:
    try:
        node = fiql.parse(value)
    except fiql.FiqlError:
        return []  # malformed FIQL is the route's 400 to give
    out: list[Violation] = []
    for cmp in _comparisons(node):
        selector = ".".join(cmp.path)
        if op.filters is not None and selector not in op.filters:
            out.append(_field_violation(op, name, selector))
        for arg in cmp.args:
            if arg is not None and _FIQL_DATE_FRACTION.search(arg):
                message = "FIQL date with fractional seconds; TOPdesk documents yyyy-MM-ddTHH:mm:ssZ"
                out.append(Violation(op.label, name, message, arg, "invalid_query"))
    return out


def _comparisons(node: fiql.Node) -> Iterable[fiql.Cmp]:
    if isinstance(node, fiql.Cmp):
        yield node
    else:
        for part in node.parts:
            yield from _comparisons(part)


def _field_violation(op: Operation, name: str, selector: str) -> Violation:
    message = "filter field not in the operation's documented filter list"
    return Violation(op.label, name, message, selector, "invalid_query")


_ODATA_FIELD = re.compile(r"([A-Za-z_@][\w@.\-]*)\s+(?:eq|ne|gt|lt|ge|le|in|contains|isEmpty|isNotEmpty)\b")


def _odata_violations(op: Operation, name: str, value: str, user_fields: Collection[str] | None) -> list[Violation]:
    """Asset ``$filter``: field names before an operator, outside quoted literals and ``isLinkedTo(...)``."""
    if op.filters is None or user_fields is None:
        return []
    bare = re.sub(r"'(?:[^']|'')*'", "''", value)
    return [
        _field_violation(op, name, selector)
        for selector in _ODATA_FIELD.findall(bare)
        if selector not in op.filters and selector not in user_fields and selector not in ("and", "or", "not")
    ]


def _selection_violations(op: Operation, name: str, value: str, user_fields: Collection[str] | None) -> list[Violation]:
    listed = op.selectable[name]
    out = []
    for item in value.split(",") if value else [""]:
        item = item.strip()
        if item in listed:
            continue
        if op.user_fields and not item.startswith("@") and (user_fields is None or item in user_fields):
            continue  # a user-defined field ID (unknowable without the tenant's card types)
        message = "field not among those the operation documents as selectable"
        out.append(Violation(op.label, name, message, item, "invalid_fields"))
    return out


def _sort_violations(op: Operation, name: str, value: str) -> list[Violation]:
    rule = op.sorts[name]
    orderings = [o.strip() for o in value.split(",") if o.strip()]
    out = []
    if rule.single and len(orderings) > 1:
        message = "several sort fields; the operation documents sorting on a single field"
        out.append(Violation(op.label, name, message, value, "invalid_sort"))
    for ordering in orderings:
        sort_field = ordering.split()[0] if rule.odata else ordering.split(":")[0]
        if (rule.allowed is not None and sort_field not in rule.allowed) or sort_field in rule.denied:
            message = "sort field not among those the operation documents"
            out.append(Violation(op.label, name, message, sort_field, "invalid_sort"))
    return out


def check_operation(
    op: Operation, params: Sequence[tuple[str, str]], *, asset_field_ids: Collection[str] | None = None
) -> list[Violation]:
    """What in ``params`` (decoded query pairs) ``op`` does not document."""
    out: list[Violation] = []
    user_fields = asset_field_ids if op.user_fields else None
    for name, value in params:
        if name not in op.params:
            message = "query parameter not documented for this operation"
            out.append(Violation(op.label, name, message, value, "unknown_parameter"))
        elif name in op.fiql:
            check_filter = _odata_violations if name == "$filter" else _fiql_violations
            out.extend(check_filter(op, name, value, user_fields))
        elif name in op.selectable:
            out.extend(_selection_violations(op, name, value, user_fields))
        elif name in op.sorts:
            out.extend(_sort_violations(op, name, value))
    return list(dict.fromkeys(out))  # a field named twice in one filter is one violation


def check(
    method: str, path: str, params: Sequence[tuple[str, str]], *, asset_field_ids: Collection[str] | None = None
) -> list[Violation]:
    """Everything about one request the descriptions do not document ([] = documented). ``asset_field_ids``: the
    tenant's user-defined asset field IDs, which the asset API's ``fields`` and ``$filter`` accept (None = unknown:
    any name not starting with ``@`` is taken for one)."""
    candidates = operations(method, path)
    if not candidates:
        message = "no TOPdesk description documents this operation"
        return [Violation(f"{method.upper()} {path}", "(path)", message, path, UNDOCUMENTED_OPERATION)]
    best: list[Violation] | None = None
    for op in candidates:
        found = check_operation(op, params, asset_field_ids=asset_field_ids)
        if not found:
            return []
        if best is None or len(found) < len(best):
            best = found
    return best or []
