"""Capabilities the migration relies on that the 2.16 description does not document (EVIDENCE.md: **assumed**).

A real workspace may lack any of them, so the migration probes each one live and falls back. To test that, the
sandbox plays a workspace that lacks a capability (``WorkspaceSettings(deny={name: mode})``, ``serve --deny``):

- ``refused``: Intercom answers 400 ``parameter_invalid`` naming the field (the error envelope of ``errors.py``);
- ``ignored``: 200, but the value is silently dropped: not stored, not echoed, absent from every later read.

By default every capability holds (today's behaviour). Routes ask :func:`holds` (write paths: refuse or tell the
caller to drop the value) or :func:`denied` (read paths); each denial is counted in ``/__sandbox/stats`` → ``denied``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from intercom_sandbox.errors import bad_request

if TYPE_CHECKING:
    from intercom_sandbox.store import Workspace

#: capability name -> what the workspace does when it holds (the route that honours it)
CAPABILITIES: dict[str, str] = {
    "ticket_relationships": "custom-object relationship values in ticket_attributes (POST /tickets, PUT /tickets/{id})",
    "created_with_links": "custom-object relationship values in the create request: custom_attributes of "
    "POST /contacts, ticket_attributes of POST /tickets (PUT /contacts/{id}, PUT /tickets/{id} unaffected)",
    "instance_links": "relationship values between custom object instances (POST /custom_object_instances/{type})",
    "relationship_listing": "relationship attributes listed with data_type relationship and a reference "
    "(GET /data_attributes, GET /conversations/attributes)",
    "created_at": "created_at kept as sent on tickets, conversations and their replies (comments and notes)",
    "placeholder_emails": "contacts with an e-mail in the reserved top-level domain .invalid on POST /contacts, "
    "PUT /contacts/{id}",
    "article_translations": "an article's or a collection's translated_content for the help center's other locales",
    "archived_company_upsert": "POST /companies with an archived company's company_id restores that company",
}
REFUSED, IGNORED = "refused", "ignored"
MODES = (REFUSED, IGNORED)


def check_deny(deny: Mapping[str, str]) -> dict[str, str]:
    """The ``deny`` setting, validated: known capability names, known modes."""
    for name, mode in deny.items():
        if name not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r}; valid: {', '.join(CAPABILITIES)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} for {name}; valid: {', '.join(MODES)}")
    return dict(deny)


def parse_deny(values: Iterable[str]) -> dict[str, str]:
    """``--deny CAP[:MODE][,CAP[:MODE]...]`` (repeatable) as a ``deny`` setting; MODE defaults to ``refused``."""
    deny: dict[str, str] = {}
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, _, mode = item.partition(":")
            deny[name.strip()] = mode.strip() or REFUSED
    return check_deny(deny)


def denied(ws: Workspace, capability: str) -> str | None:
    """How this workspace lacks ``capability``: None (it holds), ``"refused"`` or ``"ignored"``."""
    if capability not in CAPABILITIES:
        raise KeyError(capability)
    return ws.deny.get(capability)


def holds(ws: Workspace, capability: str, message: str, field: str) -> bool:
    """Whether a request may use ``capability``. When the workspace lacks it the denial is counted and either
    refused (400 ``parameter_invalid`` naming ``field``, raised before anything is changed) or ignored (False:
    the caller drops the value)."""
    mode = denied(ws, capability)
    if mode is None:
        return True
    ws.note_denied(capability)
    if mode == REFUSED:
        raise bad_request(message, field=field)
    return False


def linkable_on_create(ws: Workspace, host: str, field: str, name: str, value: Any) -> bool:
    """Whether a relationship value may be set by the create of a ``host`` (``contact``, ``ticket``): only where the
    workspace holds ``created_with_links`` (refused, naming ``<field>.<name>``, before anything is stored). A null
    or empty value links nothing: not checked."""
    if value is None or value == []:
        return True
    message = f"Relationship attribute '{name}' cannot be set when creating a {host}; update the {host} instead"
    return holds(ws, "created_with_links", message, f"{field}.{name}")
