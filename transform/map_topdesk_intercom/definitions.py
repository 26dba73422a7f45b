"""The destination choices (strategies) and what the target provisions or checks before any mapped record:
attribute definitions, ticket types and custom object types (UI-only in Intercom, so declared here for the target
to check). Each definition gives its Singer record."""

from __future__ import annotations

import typing as t
import unicodedata
from dataclasses import dataclass, field

from map_topdesk_intercom.rules import Condition

DATA_TYPES = {
    "contact": {"string", "integer", "float", "boolean", "date", "datetime", "options"},
    "company": {"string", "integer", "float", "boolean", "date", "datetime", "options"},
    "conversation": {"string", "integer", "list", "decimal", "boolean", "datetime"},
    "ticket_type": {"string", "list", "integer", "decimal", "boolean", "datetime", "files"},
}
#: models whose data attribute names share one namespace in Intercom ("You already have 'x' in your people data")
DATA_MODELS = ("contact", "company")
#: custom object attribute formats (Intercom UI: Text, Number, Decimal, List, Boolean, Date).
OBJECT_DATA_TYPES = {"string", "integer", "decimal", "list", "boolean", "date"}
#: strategy -> allowed values (the first is the default).
STRATEGIES = {
    "calls": ("tickets", "conversations"),
    "changes": ("custom_object", "attributes"),
    "known_errors": ("custom_object", "article"),
    "assets": ("custom_object", "companies"),
    "reservations": ("custom_object", "notes"),
}
WITH_OPTIONS = {"options", "list"}
TICKET_CATEGORIES = {"Customer", "Back-office", "Tracker"}
#: where a relationship attribute can live besides another custom object type.
RELATIONSHIP_HOSTS = {"contact", "conversation", "ticket"}
CARDINALITIES = {"one", "many"}
#: attribute data type -> the JSON type its value must have (dates as unix seconds).
ATTRIBUTE_JSON_TYPES = {
    "string": {"string"},
    "options": {"string"},
    "list": {"string"},
    "integer": {"integer"},
    "float": {"number", "integer"},
    "decimal": {"number", "integer"},
    "boolean": {"boolean"},
    "date": {"integer"},
    "datetime": {"integer"},
}


def attribute_name_problem(name: t.Any) -> str | None:
    """Intercom accepts attribute names of letters, digits, currency symbols, hyphens (and, in practice, spaces
    and underscores); a dot would also break ``custom_attributes.<name>`` paths."""
    if not isinstance(name, str) or not name.strip():
        return "attribute name must be a non-empty string"
    if name != name.strip():
        return f"attribute name {name!r} must not start or end with a space"
    bad = sorted({c for c in name if not (c.isalnum() or c in "-_ " or unicodedata.category(c) == "Sc")})
    if bad:
        return (
            f"attribute name {name!r} is rejected by Intercom: only letters, digits, currency symbols, hyphens, "
            f"underscores and spaces are allowed (found {''.join(bad)!r})"
        )
    return None


def _with_optional(out: dict, item: t.Any, keys: tuple[str, ...]) -> dict:
    for key in keys:
        if getattr(item, key) is not None:
            out[key] = getattr(item, key)
    return out


@dataclass
class AttributeDef:
    name: str
    model: str
    data_type: str
    options: list[str] | None = None
    ticket_type: str | None = None
    description: str | None = None
    #: strategy conditions: the definition is only provisioned when they hold
    when: list[Condition] = field(default_factory=list)

    @property
    def source_key(self) -> str:
        scope = f"{self.model}:{self.ticket_type}" if self.ticket_type else self.model
        return f"attribute:{scope}:{self.name}"

    def record(self) -> dict:
        out = {"source_key": self.source_key, "name": self.name, "model": self.model, "data_type": self.data_type}
        return _with_optional(out, self, ("options", "ticket_type", "description"))


@dataclass
class TicketTypeDef:
    name: str
    category: str = "Customer"
    description: str | None = None
    icon: str | None = None
    when: list[Condition] = field(default_factory=list)

    def record(self) -> dict:
        out = {"source_key": f"ticket_type:{self.name}", "name": self.name, "category": self.category}
        return _with_optional(out, self, ("description", "icon"))


@dataclass
class ObjectAttributeDef:
    name: str
    data_type: str
    options: list[str] | None = None
    description: str | None = None

    def record(self) -> dict:
        return _with_optional({"name": self.name, "data_type": self.data_type}, self, ("options", "description"))


@dataclass
class RelationshipDef:
    """A relationship attribute named ``name`` on each of ``hosts`` (contact, conversation, ticket or another
    custom object type) that references instances of the type declaring it."""

    name: str
    hosts: list[str]
    cardinality: str = "many"

    def record(self) -> dict:
        return {"name": self.name, "from": self.hosts, "cardinality": self.cardinality}


@dataclass
class CustomObjectTypeDef:
    name: str
    description: str | None = None
    attributes: list[ObjectAttributeDef] = field(default_factory=list)
    relationships: list[RelationshipDef] = field(default_factory=list)
    when: list[Condition] = field(default_factory=list)

    def attribute(self, name: str) -> ObjectAttributeDef | None:
        return next((a for a in self.attributes if a.name == name), None)

    def relationship(self, name: str) -> RelationshipDef | None:
        return next((r for r in self.relationships if r.name == name), None)

    def record(self) -> dict:
        out = {
            "source_key": f"custom_object_type:{self.name}",
            "name": self.name,
            "attributes": [a.record() for a in self.attributes],
            "relationships": [r.record() for r in self.relationships],
        }
        return _with_optional(out, self, ("description",))
