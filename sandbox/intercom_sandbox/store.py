"""The in-memory workspace: every object the API can create, plus the seeded UI-only ones (admins, teams,
custom object types).

One ``RLock`` guards all state. Handlers are synchronous and run entirely under the lock (no awaits inside), so the
event loop never interleaves two mutations, and a threaded caller (tests, benchmarks) is equally safe. Records are
plain dicts holding only what was set, so ~200k objects stay in the low hundreds of MB.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intercom_sandbox.capabilities import check_deny

log = logging.getLogger("intercom_sandbox")

DEFAULT_ADMINS: list[dict[str, Any]] = [
    {"id": "991267459", "name": "Sandbox Admin", "email": "admin@sandbox.example"},
    {"id": "991267460", "name": "Fallback Agent", "email": "fallback@sandbox.example"},
]
TICKET_STATE_DEFAULTS = (
    ("submitted", "Submitted", "Submitted"),
    ("in_progress", "In progress", "In progress"),
    ("waiting_on_customer", "Waiting on customer", "Waiting on you"),
    ("resolved", "Resolved", "Resolved"),
)
WORKSPACE_ID = "sandbox0000000000000000000000000000000000"


def now() -> int:
    return int(time.time())


class HexIds:
    """24-hex ids shaped like Intercom's (Mongo ObjectId: 4-byte time, then a counter)."""

    def __init__(self) -> None:
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big") & 0xFFFFFF)
        self._machine = os.urandom(5).hex()

    def next(self) -> str:
        return f"{now() & 0xFFFFFFFF:08x}{self._machine}{next(self._counter) & 0xFFFFFF:06x}"


@dataclass
class Scroll:
    param: str
    ids: list[str]
    position: int = 0
    last_used: float = 0.0
    finished: bool = False


def load_seed(path: Path | None, default: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if path is None:
        return [dict(item) for item in default]
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list")
    return data


OBJECT_ATTRIBUTE_TYPES = ("string", "integer", "decimal", "float", "list", "boolean", "date", "datetime")
RELATIONSHIP_HOSTS = ("contact", "conversation", "ticket")


def parse_custom_objects(names: Iterable[str], definitions: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Object types by name: ``{"attributes": {name: data_type} | None, "relationships": [...]}``. A name-only type
    (``--custom-object-types``) has ``attributes: None`` (any attribute accepted) and no relationships.

    A definition is ``{"name", "attributes": [{"name", "data_type"}], "relationships": [{"name", "from":
    [contact|conversation|ticket|<object type>], "cardinality": "one"|"many"}]}``; a relationship belongs to the type
    it points to, and lives as an attribute on each ``from`` model."""
    types: dict[str, dict[str, Any]] = {str(n): {"attributes": None, "relationships": []} for n in names}
    definitions = list(definitions)
    for item in definitions:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ValueError(f"custom object definition without a name: {item!r}")
        entry = types.setdefault(item["name"], {"attributes": None, "relationships": []})
        if "attributes" in item:
            attributes: dict[str, str] = {}
            for attr in item.get("attributes") or []:
                data_type = attr.get("data_type", "string")
                if data_type not in OBJECT_ATTRIBUTE_TYPES:
                    raise ValueError(f"{item['name']}.{attr.get('name')}: unknown data_type {data_type!r}")
                attributes[str(attr["name"])] = data_type
            entry["attributes"] = attributes
    for item in definitions:
        for rel in item.get("relationships") or []:
            hosts = rel.get("from") or []
            hosts = [hosts] if isinstance(hosts, str) else list(hosts)
            cardinality = rel.get("cardinality") or "many"
            if cardinality not in ("one", "many"):
                raise ValueError(f"{item['name']}.{rel.get('name')}: cardinality must be one or many")
            for host in hosts:
                if host not in RELATIONSHIP_HOSTS and host not in types:
                    raise ValueError(f"{item['name']}.{rel.get('name')}: unknown host {host!r}")
            if not hosts or not isinstance(rel.get("name"), str):
                raise ValueError(f"{item['name']}: a relationship needs a name and at least one `from`")
            types[item["name"]]["relationships"].append(
                {"name": rel["name"], "from": hosts, "cardinality": cardinality, "description": rel.get("description")}
            )
    return types


def load_custom_objects(path: Path | None) -> tuple[dict[str, Any], ...]:
    if path is None:
        return ()
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of custom object definitions")
    return tuple(data)


@dataclass
class Workspace:
    """All state of one Intercom workspace."""

    admins_seed: list[dict[str, Any]]
    teams_seed: list[dict[str, Any]]
    custom_object_types: tuple[str, ...]
    timezone: str = "UTC"
    #: full definitions as an admin creates them in Settings > Data > Custom Objects (``--custom-objects``)
    custom_object_definitions: tuple[dict[str, Any], ...] = ()
    search_delay_seconds: float = 0.0  # emulates Intercom's eventually consistent contact search (reference §5)
    #: where a ticket type lists its attributes: "data" (the spec's response examples) or "ticket_type_attributes"
    #: (its ticket_type_attribute_list schema); both are documented
    ticket_type_attributes_key: str = "data"
    #: capabilities this workspace lacks, name -> "refused" | "ignored" (``capabilities.py``); empty: all hold
    deny: dict[str, str] = field(default_factory=dict)
    #: the help center's locales, the default first (an article's other locales are its translations)
    help_center_locales: tuple[str, ...] = ("en",)
    #: seconds a bulk job's task reports ``pending`` after its items were applied (``routes/bulk.py``)
    bulk_job_delay_seconds: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.deny = check_deny(self.deny)
        if not self.help_center_locales or len(set(self.help_center_locales)) != len(self.help_center_locales):
            raise ValueError(f"help center locales must be distinct and at least one: {self.help_center_locales!r}")
        self.object_types = parse_custom_objects(self.custom_object_types, self.custom_object_definitions)
        self.reset()

    def define_custom_objects(self, definitions: Iterable[dict[str, Any]]) -> list[str]:
        """What an admin does in Settings > Data > Custom Objects while the workspace is live: new types (or new
        definitions of existing ones, replacing them) with their attributes and relationships; instances stay."""
        definitions = list(definitions)
        names = {item.get("name") for item in definitions if isinstance(item, dict)}
        with self.lock:
            kept = tuple(d for d in self.custom_object_definitions if d.get("name") not in names)
            types = parse_custom_objects(self.custom_object_types, (*kept, *definitions))  # raises before changing
            self.custom_object_definitions = (*kept, *definitions)
            self.object_types = types
            for name in types:
                self.custom_objects.setdefault(name, {})
                self.custom_object_by_external_id.setdefault(name, {})
            # parse_custom_objects has refused any definition without a string name: this only narrows the type.
            self._seed_relationships(only={n for n in names if isinstance(n, str)})
        return sorted(str(n) for n in names)

    def reset(self) -> None:
        with self.lock:
            self.hex_ids = HexIds()
            self._seq: dict[str, itertools.count[int]] = {}
            self.mutations = 0
            #: "METHOD /spec/path field" -> times a request carried a body field the 2.16 spec does not document
            #: (dropped before the handler, as Intercom ignores it; see ``documented.py``)
            self.undocumented_fields: Counter[str] = Counter()
            #: capability -> values refused or dropped because the workspace lacks it (``capabilities.py``)
            self.denials: Counter[str] = Counter()
            self.search_cache: dict[Any, Any] = {}
            self.admins: dict[str, dict[str, Any]] = {}
            for admin in self.admins_seed:
                record = {"id": str(admin["id"]), "name": admin.get("name", ""), "email": admin.get("email", "")}
                record["team_ids"] = []
                self.admins[record["id"]] = record
            if not self.admins:
                raise ValueError("at least one admin is required (GET /me answers as the first one)")
            self.teams: dict[str, dict[str, Any]] = {}
            for team in self.teams_seed:
                team_id = str(team["id"])
                admin_ids = [str(a) for a in team.get("admin_ids", [])]
                self.teams[team_id] = {"id": team_id, "name": team.get("name", ""), "admin_ids": admin_ids}
                for admin_id in admin_ids:
                    if admin_id in self.admins:
                        self.admins[admin_id]["team_ids"].append(team_id)
            self.contacts: dict[str, dict[str, Any]] = {}
            self.searchable_after: dict[str, float] = {}  # contact id -> monotonic time it becomes searchable
            self.contact_by_email: dict[str, str] = {}  # lower-cased email of users -> id
            self.contact_by_external_id: dict[str, str] = {}
            self.companies: dict[str, dict[str, Any]] = {}
            self.company_by_company_id: dict[str, str] = {}
            #: companies DELETE archived (Intercom archives them, it does not delete them), by company_id
            self.archived_companies: dict[str, dict[str, Any]] = {}
            self.notes: dict[str, dict[str, Any]] = {}
            self.tags: dict[str, dict[str, Any]] = {}
            self.tag_by_name: dict[str, str] = {}
            self.conversations: dict[str, dict[str, Any]] = {}
            self.tickets: dict[str, dict[str, Any]] = {}
            self.ticket_types: dict[str, dict[str, Any]] = {}
            self.ticket_type_attributes: dict[str, dict[str, Any]] = {}
            self.ticket_states: dict[str, dict[str, Any]] = {}
            self.data_attributes: dict[int, dict[str, Any]] = {}
            self.conversation_attributes: dict[int, dict[str, Any]] = {}
            self.custom_objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in self.object_types}
            self.custom_object_by_external_id: dict[str, dict[str, str]] = {t: {} for t in self.object_types}
            self.articles: dict[str, dict[str, Any]] = {}
            self.collections: dict[str, dict[str, Any]] = {}
            created = now()
            self.help_centers: dict[str, dict[str, Any]] = {
                "1": {"id": "1", "identifier": "sandbox", "display_name": "Sandbox Help Center", "created_at": created}
            }
            self.scroll: Scroll | None = None
            #: Preview bulk jobs (``/contacts/bulk``, ``/companies/bulk``) by id
            self.bulk_jobs: dict[str, dict[str, Any]] = {}
            self.created_at = created
            for category, internal, external in TICKET_STATE_DEFAULTS:
                state_id = self.next_id("ticket_state", start=8000)
                self.ticket_states[state_id] = {
                    "id": state_id,
                    "category": category,
                    "internal_label": internal,
                    "external_label": external,
                    "archived": False,
                }
            from intercom_sandbox.routes.attributes import seed_default_data_attributes

            seed_default_data_attributes(self)
            self._seed_relationships()

    def _seed_relationships(self, only: Iterable[str] | None = None) -> None:
        """The relationship attributes the UI creates with the object types: on contacts a data attribute, on
        conversations and tickets a conversation attribute (tickets are conversations in Intercom), both of data type
        ``relationship`` with ``reference: {type: one|many, object_type_id}``; on another object type an attribute
        of that type (``object_relationships``)."""
        if only is None:
            self.object_relationships: dict[str, dict[str, dict[str, Any]]] = {}
        for name in self.object_types:
            self.object_relationships.setdefault(name, {})
        stamp = self.created_at
        wanted = set(self.object_types if only is None else only)
        for target, definition in self.object_types.items():
            if target not in wanted:
                continue
            for rel in definition["relationships"]:
                reference = {"type": rel["cardinality"], "object_type_id": target}
                for host in rel["from"]:
                    if host == "contact":
                        if any(
                            a["model"] == "contact" and a["name"] == rel["name"] for a in self.data_attributes.values()
                        ):
                            continue
                        attr_id = self.next_int("data_attribute", start=1)
                        self.data_attributes[attr_id] = {
                            "id": attr_id, "model": "contact", "name": rel["name"],
                            "full_name": f"custom_attributes.{rel['name']}", "label": rel["name"],
                            "description": rel.get("description") or "", "data_type": "relationship",
                            "reference": reference, "api_writable": True, "ui_writable": True,
                            "messenger_writable": False, "custom": True, "archived": False,
                            "admin_id": self.first_admin["id"], "created_at": stamp, "updated_at": stamp,
                        }  # fmt: skip
                    elif host in ("conversation", "ticket"):
                        if any(a["name"] == rel["name"] for a in self.conversation_attributes.values()):
                            continue  # one attribute serves both (``from: [ticket, conversation]``)
                        attr_id = self.next_int("conversation_attribute", start=1)
                        self.conversation_attributes[attr_id] = {
                            "id": attr_id, "name": rel["name"], "description": rel.get("description") or "",
                            "data_type": "relationship", "reference": reference, "required": False,
                            "visible_to_team_ids": [], "archived": False, "created_at": stamp, "updated_at": stamp,
                            "admin_id": self.first_admin["id"],
                        }  # fmt: skip
                    else:
                        self.object_relationships[host][rel["name"]] = {"name": rel["name"], **reference}

    def next_id(self, kind: str, start: int = 1) -> str:
        counter = self._seq.get(kind)
        if counter is None:
            counter = self._seq[kind] = itertools.count(start)
        return str(next(counter))

    def next_int(self, kind: str, start: int = 1) -> int:
        return int(self.next_id(kind, start))

    def touch(self) -> None:
        """Invalidates cached search orderings."""
        self.mutations += 1
        if self.search_cache:
            self.search_cache.clear()

    @property
    def first_admin(self) -> dict[str, Any]:
        return next(iter(self.admins.values()))

    def note_undocumented(self, fields: list[str]) -> None:
        with self.lock:
            self.undocumented_fields.update(fields)
        for name in fields:
            log.warning("ignored a field the Intercom 2.16 spec does not document: %s", name)

    def note_denied(self, capability: str) -> None:
        with self.lock:
            self.denials[capability] += 1
        log.info("the workspace lacks %s (%s)", capability, self.deny.get(capability))

    def counts(self) -> dict[str, int]:
        return {
            "admins": len(self.admins),
            "teams": len(self.teams),
            "contacts": len(self.contacts),
            "companies": len(self.companies),
            "notes": len(self.notes),
            "tags": len(self.tags),
            "conversations": len(self.conversations),
            "conversation_parts": sum(len(c["parts"]) for c in self.conversations.values()),
            "tickets": len(self.tickets),
            "ticket_parts": sum(len(t["parts"]) for t in self.tickets.values()),
            "ticket_types": len(self.ticket_types),
            "ticket_type_attributes": len(self.ticket_type_attributes),
            "data_attributes": sum(1 for a in self.data_attributes.values() if a.get("custom")),
            "conversation_attributes": len(self.conversation_attributes),
            "custom_object_instances": sum(len(v) for v in self.custom_objects.values()),
            "articles": len(self.articles),
            "collections": len(self.collections),
        }

    def export(self) -> dict[str, Any]:
        """Internal records, sorted by id, for comparing the outcome of two runs."""

        def ordered(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted((dict(r) for r in records), key=lambda r: (len(str(r["id"])), str(r["id"])))

        return {
            "admins": ordered(self.admins.values()),
            "teams": ordered(self.teams.values()),
            "contacts": ordered(self.contacts.values()),
            "companies": ordered(self.companies.values()),
            "archived_companies": ordered(self.archived_companies.values()),
            "notes": ordered(self.notes.values()),
            "tags": ordered(self.tags.values()),
            "conversations": ordered(self.conversations.values()),
            "tickets": ordered(self.tickets.values()),
            "ticket_types": ordered(self.ticket_types.values()),
            "ticket_type_attributes": ordered(self.ticket_type_attributes.values()),
            "ticket_states": ordered(self.ticket_states.values()),
            "data_attributes": ordered(a for a in self.data_attributes.values() if a.get("custom")),
            "conversation_attributes": ordered(self.conversation_attributes.values()),
            "custom_object_instances": {t: ordered(v.values()) for t, v in self.custom_objects.items()},
            "articles": ordered(self.articles.values()),
            "collections": ordered(self.collections.values()),
        }
