"""What every preflight check shares: where a person fixes each kind of object in Intercom, how Intercom's
listings are read, and how its errors are told without the token."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterable

from target_intercom.client import IntercomError

#: where a person creates or fixes each kind of object in Intercom
PAGES = {
    "contact": "Settings > Data > People",
    "company": "Settings > Data > Companies",
    "conversation": "Settings > Data > Conversations",
    "ticket_type": "Settings > Helpdesk > Tickets",
    "custom_object": "Settings > Data > Custom Objects",
    "team": "Settings > Workspace > Teammates > Teams",
    "admin": "Settings > Workspace > Teammates",
}
DATA_MODELS = ("contact", "company")
#: the map's contact/company data types as Intercom reports them back (``options`` is a string with options)
DATA_TYPE_AS_READ = {"datetime": "date", "options": "string"}
#: custom object attribute formats as Intercom's UI names them
OBJECT_FORMATS = {
    "string": "Text",
    "integer": "Number",
    "decimal": "Decimal",
    "list": "List",
    "boolean": "Boolean",
    "date": "Date",
}
BUILTIN_TICKET_ATTRIBUTES = ("_default_title_", "_default_description_")
#: an external id no migration writes: looking it up tells "type missing" from "instance missing"
PROBE_EXTERNAL_ID = "topdesk2intercom-preflight-probe"
#: tries of one create whose answer was lost (each after checking that the previous one did not happen)
CREATE_ATTEMPTS = 4
LOGGER_NAME = "target_intercom.preflight"  # one logger for the whole preflight, whichever module logs
_BEARER = re.compile(r"(?i)bearer\s+\S+")


#: conversations (the map defines conversation attributes: calls or changes written as conversations) cannot be
#: written quietly: 2.16 has no ``skip_notifications`` on ``POST /conversations`` nor on a contact's reply
CONVERSATIONS_NOTIFY = (
    "This map writes conversations. Intercom's API cannot create them quietly: each imported conversation and "
    "customer reply can start workflows, Fin, CSAT surveys, auto-replies and e-mails as if it were new. Before the "
    "load, pause the workflows, series and Fin profiles that react to new conversations and turn off CSAT surveys "
    "and conversation e-mails (Settings > Workflows, Fin, Messenger); or load into a workspace that is not live yet; "
    "or write calls as tickets (strategy calls: tickets), which are created quietly."
)


def redact(text: str) -> str:
    return _BEARER.sub("Bearer [redacted]", text)


def describe(exc: IntercomError) -> str:
    status = f"{exc.status} " if exc.status else ""
    code = f"{exc.code}: " if exc.code else ""
    return redact(f"{status}{code}{exc.message}")


def fold(name: t.Any) -> str:
    return " ".join(str(name).split()).casefold()


def listing(body: t.Any, key: str = "data") -> list[dict]:
    items = body.get(key) if isinstance(body, dict) else body
    return [i for i in items or [] if isinstance(i, dict)]


def type_attributes(ticket_type: dict) -> list[dict]:
    """A ticket type's attributes in either documented shape: ``ticket_type_attributes.data`` (the 2.16 spec's
    response examples) or ``ticket_type_attributes.ticket_type_attributes`` (its ``ticket_type_attribute_list``
    schema). Reading one shape only would see no attribute in the other, and create them all again."""
    embedded = ticket_type.get("ticket_type_attributes")
    if isinstance(embedded, dict) and "data" not in embedded:
        return listing(embedded, "ticket_type_attributes")
    return listing(embedded)


def list_options(attribute: dict) -> list[dict]:
    """A ticket type list attribute's options, ``input_options.list_options`` (``[{id, label, archived}]``, as the
    sandbox and Intercom's UI show them; the 2.16 spec types ``input_options`` as a free object: EVIDENCE.md)."""
    return listing((attribute.get("input_options") or {}).get("list_options"))


def option_names(raw: t.Any) -> list[str]:
    return [str(o) for o in raw] if isinstance(raw, list) else []


def backticked(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def relationships(object_types: Iterable[tuple[str, Iterable[dict]]]) -> list[dict]:
    """Every relationship of these custom object types ((type name, its relationship definitions)), one per host it
    starts from: ``{"name", "host", "target", "cardinality"}`` (many unless the map says one)."""
    out: list[dict] = []
    for target, rels in object_types:
        for rel in rels:
            hosts = rel.get("from") or []
            out.extend(
                {
                    "name": str(rel.get("name")),
                    "host": str(host),
                    "target": str(target),
                    "cardinality": rel.get("cardinality") or "many",
                }
                for host in ([hosts] if isinstance(hosts, str) else hosts)
            )
    return out


def id_of(obj: dict) -> str:
    return str(obj.get("id"))
