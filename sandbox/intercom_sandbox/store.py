"""The in-memory workspace: every object the API can create, plus the seeded UI-only ones (admins, teams,
custom object types).

One ``RLock`` guards all state. Handlers are synchronous and run entirely under the lock (no awaits inside), so the
event loop never interleaves two mutations, and a threaded caller (tests, benchmarks) is equally safe. Records are
plain dicts holding only what was set, so ~200k objects stay in the low hundreds of MB.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Workspace:
    """All state of one Intercom workspace."""

    admins_seed: list[dict[str, Any]]
    teams_seed: list[dict[str, Any]]
    custom_object_types: tuple[str, ...]
    timezone: str = "UTC"
    search_delay_seconds: float = 0.0  # emulates Intercom's eventually consistent contact search (reference §5)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.hex_ids = HexIds()
            self._seq: dict[str, itertools.count[int]] = {}
            self.mutations = 0
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
            self.custom_objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in self.custom_object_types}
            self.custom_object_by_external_id: dict[str, dict[str, str]] = {t: {} for t in self.custom_object_types}
            self.articles: dict[str, dict[str, Any]] = {}
            self.collections: dict[str, dict[str, Any]] = {}
            created = now()
            self.help_centers: dict[str, dict[str, Any]] = {
                "1": {"id": "1", "identifier": "sandbox", "display_name": "Sandbox Help Center", "created_at": created}
            }
            self.scroll: Scroll | None = None
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
