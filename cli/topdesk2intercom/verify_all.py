"""``verify --all``: every record the migration wrote, read back from Intercom and compared field by field with what
the map makes of its TOPdesk record (the sample's comparison: :class:`verify_fields.Comparer`), at a fraction of the
load's requests (issue #20).

How it reads. Contacts (search), companies, custom object instances, articles and collections through their list
endpoints at the largest page size; tickets and conversations one ``GET`` each, which carries their parts; contact
notes one list per contact that has any; contact-company links and relationship links from the answers their hosts
gave (kept on disk). A written record no list showed is read on its own (a company without contacts, which
Intercom's lists leave out) or is missing. Each kind is first counted (every mapped record in one bucket: written,
flagged, held, reported, rolled back; or unexplained), as the sample mode does.

Streaming and resumable: the mapped records, the pages' progress and every difference live in a SQLite file
(:mod:`verify_store`); each page is committed with its cursor, so memory stays flat and a verify killed and started
again continues. ``--kind`` limits it (parts go with their ticket or conversation, links with theirs)."""

from __future__ import annotations

import itertools
import json
import time
import typing as t
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from tqdm import tqdm

from target_intercom.api import Entity, IntercomClient, IntercomError, Ledger
from topdesk2intercom.verify_counts import NOT_IN_LEDGER, STALE, _bucket, _get, _stale, entity_path
from topdesk2intercom.verify_fields import COMPARERS, Compared, Comparer, issue_fields
from topdesk2intercom.verify_store import BATCH, Store

#: the kinds in the order they are read: hosts before what is read from their answers
ORDER = (
    "companies",
    "contacts",
    "custom_object_instances",
    "tickets",
    "conversations",
    "collections",
    "articles",
    "contact_notes",
    "contact_companies",
    "custom_object_links",
)
PARTS = {"tickets": "ticket_parts", "conversations": "conversation_parts"}
#: kinds whose answers later comparisons read again (a contact's companies, the relationship attributes of a link's
#: host): kept in the store, only what those comparisons look at
HOSTS = {"contacts", "tickets", "conversations", "custom_object_instances"}
#: kinds compared on their host's answer (a contact's companies, a relationship attribute)
LINK_KINDS = {"contact_companies", "custom_object_links"}
#: "every record": a search that matches every contact
ALL_CONTACTS = {"field": "created_at", "operator": ">", "value": 0}
WORKERS = 8
PER_PAGE = 150


def selected(kinds: t.Sequence[str]) -> list[str]:
    """The kinds ``--kind`` names, in reading order (all when none); parts come with their container."""
    unknown = sorted(set(kinds) - set(ORDER) - set(PARTS.values()))
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}: one of {', '.join(ORDER)}")
    wanted = set(kinds) | {c for c, p in PARTS.items() if p in kinds}
    return [k for k in ORDER if not kinds or k in wanted]


class VerifyAll:
    """One verify --all over ``store`` (new or partly done)."""

    def __init__(self, store: Store, ledger: Ledger, client: IntercomClient, kinds: t.Sequence[str] = ()) -> None:
        self.store, self.ledger, self.client = store, ledger, client
        self.kinds = selected(kinds)
        self.compare = Comparer(client, ledger)
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="verify")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # ------------------------------------------------------------------ the whole run

    def run(self, extract: Callable[[], Iterator[tuple[str, str, dict, str | None]]]) -> None:
        sent, started = self.client.stats.get("requests_sent", 0), time.monotonic()
        try:
            if not self.store.get("extracted"):
                self.extract(extract())
            for kind in self.kinds:
                self.count(kind)
                if PARTS.get(kind):
                    self.count(PARTS[kind])
                self.read(kind)
                self.unseen(kind)
                if PARTS.get(kind):
                    self.unseen(PARTS[kind])
            self.store.put("finished", True)
        finally:
            self.store.add("requests", self.client.stats.get("requests_sent", 0) - sent)
            self.store.add("seconds", round(time.monotonic() - started, 1))

    def extract(self, records: Iterator[tuple[str, str, dict, str | None]]) -> None:
        """Every mapped record into the store, in batches (a kill here starts the extraction again)."""
        source = 0
        self.store.clear_expected()
        while batch := list(itertools.islice(records, BATCH)):
            with self.store.transaction():
                self.store.add_expected((k, key, r, h) for k, key, r, h in batch if h is not None)
                self.store.add_flagged((k, key) for k, key, _, h in batch if h is None)
            source += len(batch)
        self.store.put("mapped_records", source)
        self.store.put("extracted", True)

    # ------------------------------------------------------------------ counts: each mapped record in one bucket

    def count(self, kind: str) -> None:
        after, finished = self.store.step(kind, "count")
        if finished:
            return
        held = {h.source_key for h in self.ledger.iter_held(kind)}
        if after is None:  # the map's flagged records, once
            self.store.page(
                kind, "count", "", counts=[(kind, "flagged by the map", self.store.flagged_not_expected(kind))]
            )
            after = ""
        while page := self.store.expected_keys(kind, after):
            keys = [key for key, _ in page]
            entities = self.ledger.lookup_many(kind, keys)
            issues = self.ledger.issues_for(kind, keys)
            counts: dict[str, int] = {}
            differences = []
            for key, digest in page:
                entity = entities.get(key)
                categories = {i["category"] for i in issues.get(key, [])}
                bucket = _bucket(kind, key, entity, held, {(kind, key): categories})
                if bucket is None:
                    differences.append(_difference(kind, key, None, "(record)", "in Intercom", NOT_IN_LEDGER))
                    bucket = "unexplained"
                elif bucket == "written" and entity is not None and _stale(kind, entity, digest, categories):
                    differences.append(
                        _difference(kind, key, entity.intercom_id, "(record)", "TOPdesk's current version", STALE)
                    )
                counts[bucket] = counts.get(bucket, 0) + 1
            after = keys[-1]
            self.store.page(
                kind, "count", after, differences=differences, counts=[(kind, b, n) for b, n in counts.items()]
            )
        self.store.page(kind, "count", after, finished=True)

    # ------------------------------------------------------------------ read-back

    def read(self, kind: str) -> None:
        start, finished = self.store.step(kind, "read")
        if finished:
            return
        cursor = start
        bar = tqdm(desc=f"verify --all: {kind}", unit=" records", disable=None)
        try:
            for answers, cursor in self.pages(kind, start):
                self.compare_page(kind, answers, cursor)
                bar.update(len(answers))
        finally:
            bar.close()
        self.store.page(kind, "read", cursor, finished=True)  # a list's last page says so; a ledger walk ends here

    def pages(self, kind: str, cursor: str | None) -> Iterator[tuple[list[dict], str | None]]:
        """The kind's records as Intercom answers them, page by page, each with the cursor after it (None: the
        last), from ``cursor`` on."""
        if kind in ("tickets", "conversations", "contact_notes") or kind in LINK_KINDS:
            yield from self.ledger_pages(kind, cursor)
            return
        after = _loads(cursor)
        if kind == "contacts":
            source = self.client.pages("/contacts/search", search=ALL_CONTACTS, per_page=PER_PAGE, after=after)
            yield from ((items, _dumps(nxt)) for items, nxt in source)
        elif kind == "companies":
            source = self.client.pages("/companies/list", method="POST", params={"per_page": 60}, after=after)
            yield from ((items, _dumps(nxt)) for items, nxt in source)
        elif kind == "custom_object_instances":
            yield from self.instance_pages(after or {})
        else:
            path = {"articles": "/articles", "collections": "/help_center/collections"}[kind]
            source = self.client.pages(path, params={"per_page": PER_PAGE}, after=after)
            yield from ((items, _dumps(nxt)) for items, nxt in source)

    def instance_pages(self, at: dict) -> Iterator[tuple[list[dict], str | None]]:
        """Every custom object type's instances, type after type (``at``: the type and its page to go on from)."""
        types = sorted({str(e.extra.get("object_type")) for e in self.ledger.entities("custom_object_instances")})
        for object_type in types:
            if at and object_type < at["type"]:
                continue
            after = at.get("after") if at and object_type == at["type"] else None
            path = f"/custom_object_instances/{quote(object_type, safe='')}"
            for items, nxt in self.client.pages(path, params={"per_page": PER_PAGE}, after=after):
                following = {"type": object_type, "after": nxt} if nxt else _next_type(types, object_type)
                yield [{**i, "_object_type": object_type} for i in items], _dumps(following)
            at = {}

    def ledger_pages(self, kind: str, cursor: str | None) -> Iterator[tuple[list[dict], str | None]]:
        """Kinds read one request per record (tickets, conversations: their parts come with them), one list per
        contact (its notes), or from their host's answer (links): the ledger's written entities in pages, read in
        parallel, each answer tagged with the entity it stands for."""
        after = int(cursor or -1)
        while written := self.ledger.entities_after(kind, after, PER_PAGE):
            after = written[-1].seq
            mapped = self.store.mapped_among(kind, [e.source_key for e in written])
            page = [e for e in written if e.source_key in mapped]  # not an alias (a call number) or bookkeeping
            if kind == "contact_notes":
                contacts = sorted({str(e.extra.get("contact_id")) for e in page})
                notes = dict(zip(contacts, self.pool.map(self.notes_of, contacts), strict=True))
                answers = [
                    {**notes[str(e.extra.get("contact_id"))].get(str(e.intercom_id), _MISSING), "_entity": e.source_key}
                    for e in page
                ]
            elif kind in LINK_KINDS:
                answers = self.link_answers(kind, page)
            else:
                answers = list(self.pool.map(lambda e: self.answer_for(kind, e), page))
            yield [{**a, "id": a.get("id") or e.intercom_id} for a, e in zip(answers, page, strict=True)], str(after)

    def notes_of(self, contact_id: str) -> dict[str, dict]:
        try:
            return {str(n.get("id")): n for n in self.client.paginate(f"/contacts/{contact_id}/notes")}
        except IntercomError as exc:
            if exc.status == 404:
                return {}
            raise

    def answer_for(self, kind: str, entity: Entity) -> dict:
        """A ticket or conversation as ``GET`` answers it."""
        answer = _get(self.client, entity_path(kind, entity) or "")
        return {**(answer or _MISSING), "_entity": entity.source_key}

    def link_answers(self, kind: str, page: list[Entity]) -> list[dict]:
        """Each link's host as its own read answered it (kept in the store), or read now (a host of a kind not
        verified in this run, or one no list showed)."""
        hosts = [self.store.host(*_host_of(kind, e)) for e in page]
        unread = [i for i, host in enumerate(hosts) if host is None]
        read = self.pool.map(lambda i: _get(self.client, entity_path(kind, page[i]) or ""), unread)
        for i, host in zip(unread, read, strict=True):
            hosts[i] = host
        return [
            {**(h or _MISSING), "id": e.intercom_id, "_entity": e.source_key} for h, e in zip(hosts, page, strict=True)
        ]

    def compare_page(self, kind: str, answers: list[dict], cursor: str | None) -> None:
        """Compare one page of answers with their mapped records; the results and ``cursor`` in one commit."""
        ids = [str(a.get("id")) for a in answers if a.get("id") is not None]
        by_id = self.ledger.written_by_ids(kind, ids)
        pairs = [
            (entity, answer)
            for answer in answers
            for entity in by_id.get(str(answer.get("id")), [])
            if answer.get("_entity") in (None, entity.source_key)
        ]
        if kind == "contacts":  # a contact shows its first ten companies: the rest from its own list
            for answer in answers:
                listed = answer.get("companies") or {}
                if listed.get("has_more") or int(listed.get("total_count") or 0) > len(listed.get("data") or []):
                    everyone = list(self.client.paginate(f"/contacts/{answer['id']}/companies"))
                    answer["companies"] = {**listed, "data": everyone, "has_more": False}
        results = self.compared(kind, pairs)
        hosts = [(kind, str(a["id"]), _host_part(a)) for a in answers if kind in HOSTS and a.get("id")]
        if PARTS.get(kind):  # the parts in each answer
            results += self.compared_parts(PARTS[kind], answers)
        not_ours = len(answers) - len({str(e.intercom_id) for e, _ in pairs})
        self.store.page(
            kind,
            "read",
            cursor,
            finished=cursor is None,
            seen=[(r.kind, r.source_key, len(r.fields)) for r in results],
            hosts=hosts,
            differences=[d for r in results for d in _differences(r)],
            counts=[(kind, "in Intercom, not from the ledger", not_ours)]
            if not_ours and kind not in LINK_KINDS
            else [],
        )

    def compared(self, kind: str, pairs: list[tuple[Entity, dict]]) -> list[Compared]:
        """Each (entity, answer) compared with its mapped record: the records the counts call written (a merged
        person, a matched teammate, one changed in TOPdesk since the load are counted, not compared; an alias or a
        bookkeeping entry has no mapped record of its own)."""
        keys = [e.source_key for e, _ in pairs]
        records = self.store.expected_records(kind, keys)
        issues = self.ledger.issues_for(kind, keys)
        return [
            self.compare(
                kind,
                entity.source_key,
                records[entity.source_key][0],
                entity,
                None if answer.get("_missing") else answer,
                issue_fields(issues.get(entity.source_key, [])),
            )
            for entity, answer in pairs
            if _comparable(kind, entity, records, issues)
        ]

    def compared_parts(self, kind: str, containers: list[dict]) -> list[Compared]:
        listing = kind
        pairs: list[tuple[Entity, dict]] = []
        for container in containers:
            parts = (container.get(listing) or {}).get(listing) or []
            by_id = self.ledger.written_by_ids(kind, [str(p.get("id")) for p in parts])
            pairs += [(e, container) for p in parts for e in by_id.get(str(p.get("id")), [])]
        return self.compared(kind, pairs)

    def unseen(self, kind: str) -> None:
        """Written records no page showed: read on their own (a company without contacts), or missing."""
        cursor, finished = self.store.step(kind, "unseen")
        if finished or kind not in COMPARERS:
            return
        after = int(cursor or -1)
        while page := self.ledger.entities_after(kind, after, BATCH):
            after = page[-1].seq
            keys = [e.source_key for e in page]
            expected, issues = self.store.expected_records(kind, keys), self.ledger.issues_for(kind, keys)
            seen = self.store.seen_among(kind, keys)
            todo = [e for e in page if e.source_key not in seen and _comparable(kind, e, expected, issues)]
            if kind in PARTS.values() or kind in LINK_KINDS or kind in ("tickets", "conversations", "contact_notes"):
                answers: list[dict | None] = [None] * len(todo)  # read with their container already: not there
            else:
                answers = list(self.pool.map(lambda e: _get(self.client, entity_path(kind, e) or ""), todo))
            pairs = [(e, a if a is not None else _MISSING) for e, a in zip(todo, answers, strict=True)]
            results = self.compared(kind, pairs)
            self.store.page(
                kind,
                "unseen",
                str(after),
                seen=[(r.kind, r.source_key, len(r.fields)) for r in results],
                differences=[d for r in results for d in _differences(r)],
            )
        self.store.page(kind, "unseen", str(after), finished=True)


#: what stands for a record Intercom did not answer (compared as missing)
_MISSING: dict = {"_missing": True}


def _host_of(kind: str, link: Entity) -> tuple[str, str]:
    """(host kind, host Intercom id) whose answer holds ``link``."""
    if kind == "contact_companies":
        return "contacts", str(link.extra.get("contact_id"))
    return str(link.extra.get("from_kind")), str(link.extra.get("from_id"))


def _comparable(kind: str, entity: Entity, records: dict[str, tuple[dict, str]], issues: dict[str, list[dict]]) -> bool:
    """Whether the entity is one the counts call written: it has a mapped record (not an alias or a bookkeeping
    entry), stands for it on its own (not a merged person, a matched teammate) and is not older than it (counted as
    a difference already)."""
    key = entity.source_key
    if key not in records or kind not in COMPARERS or _bucket(kind, key, entity, set(), {}) != "written":
        return False
    categories = {i["category"] for i in issues.get(key, [])}
    return not _stale(kind, entity, records[key][1], categories)


def _difference(kind: str, key: str, intercom_id: str | None, name: str, expected: t.Any, actual: t.Any) -> dict:
    return {
        "kind": kind,
        "source_key": key,
        "intercom_id": intercom_id,
        "field": name,
        "expected": expected,
        "actual": actual,
    }


def _differences(result: Compared) -> list[dict]:
    return [d.as_dict() for d in result.differences] + [
        {
            **_difference(result.kind, result.source_key, result.intercom_id, e["field"], e["expected"], e["actual"]),
            "why": e["why"],
        }
        for e in result.explained
    ]


def _host_part(answer: dict) -> dict:
    """What later comparisons read of a host's answer: its attributes (relationship links) and companies."""
    return {k: answer[k] for k in ("id", "custom_attributes", "ticket_attributes", "companies") if k in answer}


def _next_type(types: list[str], current: str) -> dict | None:
    later = [x for x in types if x > current]
    return {"type": later[0]} if later else None


def _dumps(value: t.Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _loads(text: str | None) -> t.Any:
    return json.loads(text) if text else None
