"""Row-count reconciliation for ``verify``: every expected record (source side) is placed in exactly one bucket
from the ledger (written, merged, matched/listed, held, reported by the load), and every written one is looked up
in Intercom itself. Whatever lands nowhere, or is in the ledger but gone from Intercom, is *unexplained*."""

from __future__ import annotations

import typing as t
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

from tqdm import tqdm

from target_intercom.api import (
    LABEL_SEPARATOR,
    LISTED,
    MATCHED,
    NOT_UPDATABLE,
    RESTORED_BY,
    UPDATE,
    WRITERS,
    Entity,
    IntercomClient,
    IntercomError,
    Ledger,
    decide,
    linked_attribute,
    relationship_ids,
)
from topdesk2intercom.verify_source import Expected

#: kinds whose records stand for something Intercom already has (a match) or nothing at all (a listed item)
#: list endpoints whose answer carries the workspace's total (one request each): "in Intercom" beyond the ledger
TOTALS = {
    "contacts": ("GET", "/contacts"),
    "companies": ("GET", "/companies"),
    "conversations": ("GET", "/conversations"),
    "articles": ("GET", "/articles"),
    "collections": ("GET", "/help_center/collections"),
    "tickets": ("POST", "/tickets/search"),
}
WORKERS = 8
NOT_IN_LEDGER = "not in the ledger, not reported by the load (new in TOPdesk since the load?)"
STALE = "written from an older version: changed in TOPdesk since the load (run the load again)"


@dataclass
class Difference:
    """One unexplained difference: a record, the field (or ``(record)`` for a count difference), both values."""

    kind: str
    source_key: str
    intercom_id: str | None
    field: str
    expected: t.Any
    actual: t.Any

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "source_key": self.source_key,
            "intercom_id": self.intercom_id,
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass
class KindCount:
    kind: str
    source: int = 0
    written: int = 0  # in the ledger as written by the migration
    found: int | None = None  # of those, found in Intercom (None: Intercom offers no way to check this kind)
    explained: Counter = field(default_factory=Counter)  # bucket -> count (flagged, merged, matched, held, ...)
    unexplained: int = 0
    intercom_total: int | None = None
    other_in_intercom: int | None = None  # the workspace's total minus the distinct ids the ledger holds

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "written": self.written,
            "found_in_intercom": self.found,
            "explained": dict(self.explained),
            "explained_total": sum(self.explained.values()),
            "unexplained": self.unexplained,
            "intercom_total": self.intercom_total,
            "other_in_intercom": self.other_in_intercom,
        }


@dataclass
class Counts:
    kinds: dict[str, KindCount]
    written: dict[str, dict[str, Entity]]  # kind -> source key -> entity written by the migration (sample pool)
    differences: list[Difference]
    extra_in_ledger: dict[str, Counter]  # kind -> reason -> entities in the ledger with no source record


def reconcile(expected: Expected, ledger: Ledger, client: IntercomClient) -> Counts:
    kinds: dict[str, KindCount] = {}
    written: dict[str, dict[str, Entity]] = defaultdict(dict)
    differences: list[Difference] = []
    open_issues = _open_issues(ledger)
    held = {(h.kind, h.source_key) for h in ledger.iter_held()}
    for kind in expected.kinds():
        records = expected.records.get(kind, {})
        count = kinds[kind] = KindCount(
            kind, source=len(records) + len(set(expected.flagged.get(kind, {})) - set(records))
        )
        count.explained["flagged by the map"] = len(set(expected.flagged.get(kind, {})) - set(records))
        entities = ledger.lookup_many(kind, records)
        for key in records:
            entity = entities.get(key)
            bucket = _bucket(kind, key, entity, held, open_issues)
            if bucket == "written" and entity is not None:  # (_bucket says "written" of an entity only)
                count.written += 1
                if _stale(kind, entity, expected.hashes[kind].get(key), open_issues.get((kind, key), set())):
                    count.unexplained += 1
                    differences.append(
                        Difference(kind, key, entity.intercom_id, "(record)", "TOPdesk's current version", STALE)
                    )
                else:
                    written[kind][key] = entity
            elif bucket:
                count.explained[bucket] += 1
            else:
                count.unexplained += 1
                differences.append(Difference(kind, key, None, "(record)", "in Intercom", NOT_IN_LEDGER))
        count.explained = Counter({k: n for k, n in count.explained.items() if n})
    missing = _missing_in_intercom(client, written)
    for kind, keys in missing.items():
        kinds[kind].unexplained += len(keys)
        for key, why in sorted(keys.items()):
            entity = written[kind].pop(key)
            differences.append(Difference(kind, key, entity.intercom_id, "(record)", "in Intercom", why))
    for kind, count in kinds.items():
        if kind in CHECKERS:
            count.found = count.written - len(missing.get(kind, ()))
    for kind, (method, path) in TOTALS.items():
        if kind in kinds:
            total = kinds[kind].intercom_total = _total(client, method, path)
            if total is not None:
                ids = {e.intercom_id for e in ledger.entities(kind) if e.intercom_id}
                kinds[kind].other_in_intercom = total - len(ids)
    return Counts(kinds, written, differences, _extra_in_ledger(ledger, expected))


def _stale(kind: str, entity: Entity | None, current: str | None, issues: set[str]) -> bool:
    """Written from an older version of the record: the load would write it again (``decide``), because TOPdesk
    changed it after the load (and no later load took the change), or a crash left its follow-up unwritten. A part
    or note that Intercom cannot edit is reported by the load instead (``not_updatable``). A record a rollback
    restored holds its values from before the rolled-back run: older than TOPdesk's by design, and compared field
    by field with what the rollback put back."""
    if entity is None or current is None or entity.extra.get(RESTORED_BY):
        return False
    decision = decide(WRITERS[kind], entity, current)
    return decision == UPDATE or (decision == NOT_UPDATABLE and "not_updatable" not in issues)


def _open_issues(ledger: Ledger) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    after = 0
    while True:
        page = ledger.issues(limit=2000, after_id=after)
        for issue in page:
            out[(issue["kind"], issue["source_key"])].add(issue["category"])
        if len(page) < 2000:
            return out
        after = page[-1]["id"]


#: issue categories that account for a record not being in Intercom, in the order they are named
NOT_WRITTEN = ("flagged", "skipped", "orphan", "manual_review", "not_loaded")


def _bucket(kind: str, key: str, entity: Entity | None, held: set, issues: dict) -> str | None:
    """Where one expected record stands: "written", an explained bucket, or None (unexplained)."""
    if entity is not None and entity.status == "written" and entity.intercom_id:
        if entity.extra.get("merged_into"):
            return "merged (same e-mail)"
        represented = WRITERS[kind].represented
        if represented == MATCHED:
            return "matched (not written)"
        if represented == LISTED:
            return "listed (rebuild inventory)"
        return "written"
    if (kind, key) in held:
        return "held (waits for a parent)"
    for category in NOT_WRITTEN:
        if category in issues.get((kind, key), ()):
            return f"reported by the load: {category}"
    if entity is not None and entity.status == "deleted":
        return "rolled back"
    return None


def _extra_in_ledger(ledger: Ledger, expected: Expected) -> dict[str, Counter]:
    """Ledger entities no source record accounts for: placeholder contacts of unregistered callers, aliases
    (a second key of one entity), cycle-check edges. Reported for the record, never a difference."""
    out: dict[str, Counter] = defaultdict(Counter)
    for kind, statuses in ledger.counts().items():
        if not statuses.get("written"):
            continue
        if kind not in expected.records:
            out[kind]["bookkeeping (not a source record)"] += statuses["written"]
    for kind in ("contacts", "tickets", "conversations", "collections"):
        for entity in ledger.entities(kind):
            if entity.source_key in expected.records.get(kind, {}):
                continue
            if entity.extra.get("email_only"):
                out[kind]["placeholder contact of an unregistered caller"] += 1
            elif entity.extra.get("alias_of"):
                out[kind]["alias (second key of one entity)"] += 1
            else:
                out[kind]["no source record (deleted in TOPdesk since?)"] += 1
    return {k: v for k, v in out.items() if v}


def _total(client: IntercomClient, method: str, path: str) -> int | None:
    try:
        if method == "POST":
            body = client.request(
                "POST",
                path,
                idempotent=True,
                json={"query": {"field": "created_at", "operator": ">", "value": 0}, "pagination": {"per_page": 1}},
            )
        else:
            body = client.request("GET", path, params={"per_page": 1})
    except IntercomError:
        return None
    total = body.get("total_count")
    return int(total) if isinstance(total, int) else None


# ---------------------------------------------------------------- is each written entity still in Intercom?


def _get(client: IntercomClient, path: str) -> dict | None:
    """The entity, or None when Intercom answers 404."""
    try:
        return client.request("GET", path)
    except IntercomError as exc:
        if exc.status == 404:
            return None
        raise


def entity_path(kind: str, entity: Entity) -> str | None:
    """Where one written entity is read back (None: Intercom has no GET for it on its own)."""
    iid = entity.intercom_id
    paths = {
        "contacts": f"/contacts/{iid}",
        "companies": f"/companies/{iid}",
        "tickets": f"/tickets/{iid}",
        "conversations": f"/conversations/{iid}",
        "articles": f"/articles/{iid}",
        "collections": f"/help_center/collections/{iid}",
        "contact_notes": f"/notes/{iid}",
    }
    if kind == "custom_object_instances":
        return f"/custom_object_instances/{quote(entity.extra.get('object_type') or '', safe='')}/{iid}"
    if kind == "ticket_parts" and entity.extra.get("ticket_id"):
        return f"/tickets/{entity.extra['ticket_id']}"
    if kind == "conversation_parts" and entity.extra.get("conversation_id"):
        return f"/conversations/{entity.extra['conversation_id']}"
    if kind == "contact_companies" and entity.extra.get("contact_id"):
        return f"/contacts/{entity.extra['contact_id']}"
    if kind == "custom_object_links" and entity.extra.get("from_id"):
        link = entity.extra
        if link.get("from_kind") == "custom_object_instances":
            return f"/custom_object_instances/{quote(link.get('from_type') or '', safe='')}/{link['from_id']}"
        return f"/{link.get('from_kind')}/{link['from_id']}"
    return paths.get(kind)


def linked_ids(entity: Entity, answer: dict) -> list[str]:
    """What the link's attribute holds on its from-entity, as read back: the relationship's instance ids, or for a
    link written as text (the workspace keeps no such relationship: check intercom) the labels of its text."""
    attributes = "ticket_attributes" if entity.extra.get("from_kind") == "tickets" else "custom_attributes"
    if entity.extra.get("as_text"):
        text = (answer.get(attributes) or {}).get(linked_attribute(entity.extra.get("relationship") or ""))
        return [v for v in str(text or "").split(LABEL_SEPARATOR) if v]
    return relationship_ids((answer.get(attributes) or {}).get(entity.extra.get("relationship")))


def link_value(entity: Entity) -> str:
    """What a written link put in its attribute: the instance id, or its label for a link written as text."""
    return str(entity.extra.get("label") if entity.extra.get("as_text") else entity.extra.get("to_id"))


def contains(kind: str, entity: Entity, answer: dict | None) -> bool:
    """Whether the read-back answer holds the entity (parts: in their container; links: on the contact)."""
    if answer is None:
        return False
    if kind in ("ticket_parts", "conversation_parts"):
        listing = kind
        parts = (answer.get(listing) or {}).get(listing) or []
        return any(str(p.get("id")) == str(entity.intercom_id) for p in parts)
    if kind == "contact_companies":
        companies = (answer.get("companies") or {}).get("data") or []
        return any(str(c.get("id")) == str(entity.extra.get("company_id")) for c in companies)
    if kind == "custom_object_links":
        return link_value(entity) in linked_ids(entity, answer)
    return True


CHECKERS = {
    "contacts",
    "companies",
    "tickets",
    "conversations",
    "articles",
    "collections",
    "contact_notes",
    "custom_object_instances",
    "ticket_parts",
    "conversation_parts",
    "contact_companies",
    "custom_object_links",
}


def _missing_in_intercom(client: IntercomClient, written: dict[str, dict[str, Entity]]) -> dict[str, dict[str, str]]:
    """Source keys whose ledger entity Intercom no longer has, with why. Each container is read once (parts,
    links)."""
    jobs: dict[str, list[tuple[str, str, Entity]]] = defaultdict(list)  # path -> [(kind, key, entity)]
    for kind, entities in written.items():
        if kind not in CHECKERS:
            continue
        for key, entity in entities.items():
            path = entity_path(kind, entity)
            if path:
                jobs[path].append((kind, key, entity))
    missing: dict[str, dict[str, str]] = defaultdict(dict)
    with (
        ThreadPoolExecutor(WORKERS) as pool,
        tqdm(total=len(jobs), desc="verify: reading Intercom", unit=" entities", disable=None) as bar,
    ):
        for path, answer in zip(jobs, pool.map(lambda p: _get(client, p), jobs), strict=True):
            bar.update()
            for kind, key, entity in jobs[path]:
                if not contains(kind, entity, answer):
                    missing[kind][key] = _why_missing(kind, path, answer)
    return missing


def _why_missing(kind: str, path: str, answer: dict | None) -> str:
    """A record read on its own is gone; one read within another entity (a part, a link) is gone with it, or
    was removed from it."""
    if kind in CONTAINED:
        where = path.rsplit("/", 1)[0].lstrip("/") + " " + path.rsplit("/", 1)[1]
        return (
            f"missing in Intercom: {where}, which held it, is gone"
            if answer is None
            else f"missing in Intercom: no longer on {where}"
        )
    return "missing in Intercom (deleted after the load?)"


#: kinds read back within another entity (their ticket or conversation, the contact or entity a link is on)
CONTAINED = {"ticket_parts", "conversation_parts", "contact_companies", "custom_object_links"}
