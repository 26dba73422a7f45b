"""The field sample of ``verify``: records drawn across every written kind, the request body the target builds for
each (its writers' own body code where it needs no workspace lookups) compared field by field with the entity
Intercom returns. Deviations the load already reported for that record and field (``timestamp_lost``, a body
with a note about files over the size limit, a caller's entry kept as a note) are *explained*."""

from __future__ import annotations

import decimal
import numbers
import random
import typing as t
from dataclasses import dataclass, field

from tqdm import tqdm

from target_intercom.api import (
    COMPANY_FIELDS,
    CONTACT_FIELDS,
    DATED_PREFIX,
    RESTORED_BY,
    Change,
    Entity,
    IntercomClient,
    Ledger,
    caller_files_as_note,
    caller_note_body,
    list_options,
    people_body,
    text_of,
    type_attributes,
)
from topdesk2intercom.verify_counts import Difference, _get, entity_path, link_value, linked_ids

MIN_SAMPLE, MAX_SAMPLE = 25, 50
#: (kind, source key) -> the Intercom id the ledger holds for it (how the writers resolve a record's refs)
Resolve = t.Callable[[str, str | None], str | None]
CASE_FOLDED = {"email"}  # Intercom stores e-mail addresses lower-cased


@dataclass
class Compared:
    """One sampled record: what was compared, what differed, what differed but is explained."""

    kind: str
    source_key: str
    intercom_id: str | None
    fields: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    explained: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "source_key": self.source_key,
            "intercom_id": self.intercom_id,
            "fields_compared": self.fields,
            "differing": [d.field for d in self.differences],
            "explained": self.explained,
        }


# ---------------------------------------------------------------- sampling


def clamp(size: int) -> int:
    return max(MIN_SAMPLE, min(MAX_SAMPLE, size))


def draw(
    pool: dict[str, dict[str, Entity]], size: int, seed: int, include: t.Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """``size`` (kind, source key) pairs: the forced ones first, then one per kind (every written kind appears),
    then at random from the rest. Same pool and seed, same sample."""
    rng = random.Random(seed)
    comparable = {k: sorted(v) for k, v in sorted(pool.items()) if k in COMPARERS and v}
    chosen = list(dict.fromkeys(pair for pair in include if pair[1] in pool.get(pair[0], {}) and pair[0] in comparable))
    for kind, keys in comparable.items():
        if len(chosen) >= size:
            break
        if not any(c[0] == kind for c in chosen):
            chosen.append((kind, rng.choice(keys)))
    taken = set(chosen)
    rest = [(k, key) for k, keys in comparable.items() for key in keys if (k, key) not in taken]
    rng.shuffle(rest)
    return chosen + rest[: max(0, size - len(chosen))]


# ---------------------------------------------------------------- comparing values


def _words(value: str) -> str:
    return text_of(value) if "<" in value else " ".join(value.split())


def _number(value: t.Any) -> float | None:
    """A number however it travelled (int, float, Decimal, or the numeric string of a decimal attribute)."""
    try:
        return float(value) if isinstance(value, (numbers.Real, decimal.Decimal, str)) else None
    except ValueError:
        return None


def same(name: str, expected: t.Any, actual: t.Any) -> bool:
    """Equal as Intercom stores it: e-mails case-insensitively, text with HTML and whitespace normalised, numbers
    by value, lists as sets, a named object (``plan``) by its name."""
    if isinstance(actual, dict) and not isinstance(expected, dict) and "name" in actual:
        actual = actual["name"]
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or (expected in (0, 1) and actual in (0, 1) and bool(expected) == bool(actual))
    if isinstance(expected, numbers.Number) or isinstance(actual, numbers.Number):
        return _number(expected) is not None and _number(expected) == _number(actual)
    if isinstance(expected, str) and isinstance(actual, str):
        if name.split(".")[-1] in CASE_FOLDED:
            return expected.strip().casefold() == actual.strip().casefold()
        return _words(expected) == _words(actual)
    if isinstance(expected, list) and isinstance(actual, list):
        return sorted(map(str, expected)) == sorted(map(str, actual))
    return expected == actual


def _flat(body: dict, prefix: str = "") -> dict[str, t.Any]:
    """Top-level fields plus one level of attribute maps (``custom_attributes.Priority``), None values left out
    (the writers drop them: nothing is sent)."""
    out: dict[str, t.Any] = {}
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, dict) and key.endswith("attributes"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _lookup(answer: dict, name: str) -> t.Any:
    if name in answer:  # a name with dots of its own (a relationship)
        return answer[name]
    value: t.Any = answer
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ---------------------------------------------------------------- what the target sends, per kind


def _expected_contact(record: dict, entity: Entity, resolve: Resolve) -> dict:
    return people_body(record, CONTACT_FIELDS)


def _expected_company(record: dict, entity: Entity, resolve: Resolve) -> dict:
    return people_body(record, COMPANY_FIELDS)


def _contact(record: dict, resolve: Resolve) -> str | None:
    """``contact_for``: the person's contact, else the placeholder contact of the caller's e-mail."""
    refs = record.get("refs") or {}
    email = (record.get("contact_email") or "").strip().lower()
    return resolve("contacts", refs.get("contact")) or (resolve("contacts", f"email:{email}") if email else None)


def _expected_ticket(record: dict, entity: Entity, resolve: Resolve) -> dict:
    """``TicketWriter``: contact, assignee, attributes and ``created_at`` of the create, then the state (by
    category) and ``open``."""
    refs = record.get("refs") or {}
    body: dict = {
        "ticket_attributes": record.get("ticket_attributes") or {},
        "created_at": record.get("created_at"),
        "contact": _contact(record, resolve),
        "admin_assignee_id": resolve("admins", refs.get("admin")),
        "team_assignee_id": resolve("teams", refs.get("team")),
    }
    if record.get("ticket_state"):
        body["ticket_state.category"] = record["ticket_state"]
    if record.get("open") is False:
        body["open"] = False
    return body


def _expected_part(record: dict, entity: Entity, resolve: Resolve) -> dict:
    """``reply_body``: the body (a note about files over the limit may follow it), date, part type and author (a
    contact's comment, else the matched admin; the fallback admin is not known here, so not compared). A caller's
    entry with files on a ticket is a note naming the caller (``caller_files_as_note``)."""
    author = (record.get("refs") or {}).get("author")
    if caller_files_as_note(entity.kind, record):
        return {
            "body": caller_note_body(record),
            "created_at": record.get("created_at"),
            "part_type": "note",
            "author.id": None,
        }
    contact = (
        resolve("contacts", author)
        if record.get("author_type") == "user" and record.get("message_type") == "comment"
        else None
    )
    return {
        "body": record.get("body") or "",
        "created_at": record.get("created_at"),
        "part_type": record.get("message_type") or "comment",
        "author.id": contact or (resolve("admins", author) if record.get("author_type") != "user" else None),
    }


def _expected_conversation(record: dict, entity: Entity, resolve: Resolve) -> dict:
    """``ConversationWriter``: opening message, date, title and attributes, open or closed."""
    body: dict = {
        "source.body": record.get("body") or record.get("title") or record["source_key"],
        "created_at": record.get("created_at"),
        "title": record.get("title"),
        "custom_attributes": record.get("custom_attributes") or {},
    }
    body["state"] = "open" if record.get("open") is not False and record.get("state") != "closed" else "closed"
    refs = record.get("refs") or {}
    body |= {
        "contact": _contact(record, resolve),
        "company.id": resolve("companies", refs.get("company")),
        "admin_assignee_id": resolve("admins", refs.get("admin")),
        "team_assignee_id": resolve("teams", refs.get("team")),
    }
    return body


def _expected_instance(record: dict, entity: Entity, resolve: Resolve) -> dict:
    body = {"external_id": str(record["external_id"]), "custom_attributes": record.get("custom_attributes") or {}}
    for key in ("external_created_at", "external_updated_at"):
        body[key] = record.get(key)
    return body


def _expected_article(record: dict, entity: Entity, resolve: Resolve) -> dict:
    """``ArticleWriter``: title, description, body, state and the matched teammate as author (Intercom takes no
    date: ``timestamp_lost`` is reported for every article, so ``created_at`` is not compared)."""
    return {key: record.get(key) for key in ("title", "description", "body")} | {
        "state": record.get("state") or "draft",
        "author_id": resolve("admins", (record.get("refs") or {}).get("author")),
    }


def _expected_collection(record: dict, entity: Entity, resolve: Resolve) -> dict:
    return {"name": record.get("name"), "description": record.get("description") or ""}


def _expected_note(record: dict, entity: Entity, resolve: Resolve) -> dict:
    return {"body": record.get("body")}


def _expected_contact_company(record: dict, entity: Entity, resolve: Resolve) -> dict:
    return {"company": entity.extra.get("company_id")}


def _expected_link(record: dict, entity: Entity, resolve: Resolve) -> dict:
    """``CustomObjectLinkWriter``: the target instance among the from-entity's relationship attribute."""
    return {f"{entity.extra.get('relationship')}": link_value(entity)}


COMPARERS: dict[str, t.Callable[[dict, Entity, Resolve], dict]] = {
    "contacts": _expected_contact,
    "companies": _expected_company,
    "tickets": _expected_ticket,
    "ticket_parts": _expected_part,
    "conversations": _expected_conversation,
    "conversation_parts": _expected_part,
    "custom_object_instances": _expected_instance,
    "articles": _expected_article,
    "collections": _expected_collection,
    "contact_notes": _expected_note,
    "contact_companies": _expected_contact_company,
    "custom_object_links": _expected_link,
}


def _readback(kind: str, entity: Entity, answer: dict) -> dict:
    """The part of the answer that stands for the record (a part within its container)."""
    if kind in ("ticket_parts", "conversation_parts"):
        parts = (answer.get(kind) or {}).get(kind) or []
        return next((p for p in parts if str(p.get("id")) == str(entity.intercom_id)), {})
    if kind == "contact_companies":  # attached: the company is among the contact's companies
        ids = [str(c.get("id")) for c in (answer.get("companies") or {}).get("data") or []]
        wanted = str(entity.extra.get("company_id"))
        return {"company": wanted if wanted in ids else f"not attached (companies: {', '.join(ids) or 'none'})"}
    if kind == "custom_object_links":  # linked: the target instance is in the relationship's list
        ids, wanted = linked_ids(entity, answer), link_value(entity)
        found = wanted if wanted in ids else f"not linked ({', '.join(ids) or 'none'})"
        return {entity.extra.get("relationship"): found}
    if kind in ("articles", "collections") and entity.extra.get("translation_of"):  # one locale's content
        return (answer.get("translated_content") or {}).get(entity.extra.get("locale")) or {}
    if kind in ("tickets", "conversations"):  # the contact: among the entity's contacts
        ids = [str(c.get("id")) for c in (answer.get("contacts") or {}).get("contacts") or []]
        return {**answer, "contact": ids[0] if len(ids) == 1 else ids}
    return answer


#: a compared field -> (the field of the update request a restored change holds, where the answer has its value)
RESTORED_AS = {
    "ticket_state.category": ("ticket_state_id", "ticket_state.id"),
    "state": ("open", "open"),
    "company.id": ("company_id", "company.id"),
}


def _restored(name: str, readback: dict, restored: Change | None) -> str | None:
    """A field a rollback put back holds the value from before the rolled-back run, as the ledger keeps it."""
    if restored is None:
        return None
    field_, answered = RESTORED_AS.get(name, (name, name))
    values = _flat(restored.before)
    if field_ not in values or not same(name, values[field_], _lookup(readback, answered)):
        return None
    return (
        f"restored by rollback {restored.restored_by} to its value from before run {restored.run_id}; TOPdesk's "
        "newer value comes with the next load"
    )


def _explained(
    kind: str,
    name: str,
    expected: t.Any,
    actual: t.Any,
    record: dict,
    issue_fields: dict[str, str],
    restored: str | None = None,
) -> str | None:
    """Why a differing field is not a difference, or None."""
    if restored:
        return restored
    for reported in (name, name.split(".")[0]):
        if reported in issue_fields:
            return f"reported by the load: {issue_fields[reported]}"
    if (
        name == "body"
        and isinstance(actual, str)
        and isinstance(expected, str)
        and _words(actual).startswith(_words(expected))
        and "Not uploaded" in actual
    ):
        return "files over the size limit are named at the end of the body"
    if (
        name in ("body", "source.body")
        and isinstance(actual, str)
        and isinstance(expected, str)
        and _words(actual).startswith(_words(DATED_PREFIX))
        and _words(expected) in _words(actual)
    ):
        return "the workspace does not keep created_at: the TOPdesk date is written first in the text"
    if name == "part_type" and actual == "note" and record.get("author_type") == "user":
        return "a caller's entry without a contact is kept as a note"
    return None


def compare(
    kind: str,
    key: str,
    record: dict,
    entity: Entity,
    answer: dict | None,
    issue_fields: dict[str, str],
    resolve: Resolve,
    restored: Change | None = None,
) -> Compared:
    """One record: every field the target sends, read back; ``issue_fields`` = the load's issues on this record
    (field -> "category: reason"); ``restored``: the change whose values a rollback put back in the record."""
    result = Compared(kind, key, entity.intercom_id)
    if answer is None:
        result.fields.append("(record)")
        result.differences.append(
            Difference(kind, key, entity.intercom_id, "(record)", "in Intercom", "missing in Intercom (404)")
        )
        return result
    readback = _readback(kind, entity, answer)
    if not readback:
        result.fields.append("(record)")
        result.differences.append(
            Difference(kind, key, entity.intercom_id, "(record)", "in Intercom", "not in its container's parts")
        )
        return result
    for name, expected in _flat(COMPARERS[kind](record, entity, resolve)).items():
        actual = _lookup(readback, name)
        result.fields.append(name)
        if same(name, expected, actual):
            continue
        reason = _explained(kind, name, expected, actual, record, issue_fields, _restored(name, readback, restored))
        if reason:
            result.explained.append({"field": name, "expected": expected, "actual": actual, "why": reason})
        else:
            result.differences.append(Difference(kind, key, entity.intercom_id, name, expected, actual))
    return result


def issue_fields(issues: t.Iterable[dict]) -> dict[str, str]:
    """field -> "category: reason" of a record's open issues that name a field (what the load reported)."""
    return {i["field"]: f"{i['category']}: {i['reason']}" for i in issues if i["field"]}


class Comparer:
    """One record's comparison with what comparing needs beyond it: the ledger (the ids its refs resolve to, what a
    rollback restored) and, for tickets, their list attributes' labels (each ticket type read once). The sample and
    ``verify --all`` both compare through it."""

    def __init__(self, client: IntercomClient, ledger: Ledger) -> None:
        self.client, self.ledger = client, ledger
        self.options: dict[str, dict[str, dict[str, str]]] = {}  # ticket type id -> attribute -> option id -> label

    def __call__(
        self, kind: str, key: str, record: dict, entity: Entity, answer: dict | None, issues: dict[str, str]
    ) -> Compared:
        if kind == "tickets" and answer:
            answer = _with_list_labels(self.client, self.options, answer)
        restored = (
            self.ledger.changes.restored_by(kind, key, entity.extra[RESTORED_BY])
            if entity.extra.get(RESTORED_BY)
            else None
        )
        return compare(
            kind, key, record, entity, answer, issues, lambda k, key_: _resolve(self.ledger, k, key_), restored
        )


def compare_sample(
    client: IntercomClient,
    ledger: Ledger,
    records: dict[str, dict[str, dict]],
    pool: dict[str, dict[str, Entity]],
    sample: list[tuple[str, str]],
) -> list[Compared]:
    """Read each sampled record back from Intercom by its ledger id and compare it with its mapped record."""
    comparer = Comparer(client, ledger)
    out = []
    for kind, key in tqdm(sample, desc="verify: comparing the sample", unit=" records", disable=None):
        entity = pool[kind][key]
        path = entity_path(kind, entity)
        answer = _get(client, path) if path else None
        issues = issue_fields(ledger.issues_for(kind, [key]).get(key, []))
        out.append(comparer(kind, key, records[kind][key], entity, answer, issues))
    return out


def _with_list_labels(client: IntercomClient, options: dict[str, dict[str, dict[str, str]]], ticket: dict) -> dict:
    """A ticket with its list attributes' option ids as labels (the map writes labels; Intercom takes and keeps
    option ids), each ticket type read once."""
    type_id = str((ticket.get("ticket_type") or {}).get("id") or "")
    if type_id not in options:
        ticket_type = _get(client, f"/ticket_types/{type_id}") or {}
        options[type_id] = {
            str(a.get("name")): {str(o.get("id")): str(o.get("label")) for o in list_options(a)}
            for a in type_attributes(ticket_type)
            if a.get("data_type") == "list"
        }
    lists = options[type_id]

    def label(name: str, value: t.Any) -> t.Any:
        labels = lists.get(name)
        if labels is None:
            return value
        return [labels.get(str(v), v) for v in value] if isinstance(value, list) else labels.get(str(value), value)

    return {**ticket, "ticket_attributes": {k: label(k, v) for k, v in (ticket.get("ticket_attributes") or {}).items()}}


def _resolve(ledger: Ledger, kind: str, key: str | None) -> str | None:
    if not key:
        return None
    entity = ledger.lookup(kind, key)
    return entity.intercom_id if entity and entity.status == "written" else None
