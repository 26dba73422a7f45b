"""Tickets, ticket types (each new type gets the two default attributes and the workspace's four states), type
attributes and states. A ticket reply answers a ``ticket_part``, not the ticket."""

from __future__ import annotations

from typing import Any

from intercom_sandbox.capabilities import holds, linkable_on_create
from intercom_sandbox.errors import ApiError, bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.admins import find_admin
from intercom_sandbox.routes.attributes import check_value
from intercom_sandbox.routes.contacts import as_html, contact_refs
from intercom_sandbox.routes.conversations import (
    attachments_from,
    find_replying_contact,
    new_part,
    requested_created_at,
    require_admin,
)
from intercom_sandbox.routes.custom_objects import check_relationship, relationship_references, render_values
from intercom_sandbox.routes.listing import parse_search, search_page
from intercom_sandbox.routes.tags import apply_tag, remove_tag, require_tag
from intercom_sandbox.search import MISSING, SearchModel
from intercom_sandbox.store import WORKSPACE_ID, Workspace, now

routes = RouteTable()

CATEGORIES = ("Customer", "Back-office", "Tracker")
ATTRIBUTE_TYPES = ("string", "list", "integer", "decimal", "boolean", "datetime", "files")
DEFAULT_ATTRIBUTES = (("_default_title_", False), ("_default_description_", True))


# --- ticket types and attributes ------------------------------------------------------------------------------


def require_ticket_type(ws: Workspace, type_id: Any) -> dict[str, Any]:
    ticket_type = ws.ticket_types.get(str(type_id)) if type_id not in (None, "") else None
    if ticket_type is None:
        raise not_found("Ticket type not found", code="not_found")
    return ticket_type


def render_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    # input_options is an object in the spec (not nullable): types without options leave it out
    body = {k: v for k, v in attr.items() if not k.startswith("_") and not (k == "input_options" and v is None)}
    body["type"] = "ticket_type_attribute"
    body["workspace_id"] = WORKSPACE_ID
    body["ticket_type_id"] = int(attr["ticket_type_id"])
    return body


def render_state(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "ticket_state",
        "id": state["id"],
        "category": state["category"],
        "internal_label": state["internal_label"],
        "external_label": state["external_label"],
    }


def render_ticket_type(ws: Workspace, ticket_type: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "ticket_type",
        "id": ticket_type["id"],
        "name": ticket_type["name"],
        "description": ticket_type.get("description", ""),
        "icon": ticket_type.get("icon", "🎟️"),
        "workspace_id": WORKSPACE_ID,
        "archived": ticket_type.get("archived", False),
        "created_at": ticket_type["created_at"],
        "updated_at": ticket_type["updated_at"],
        "is_internal": ticket_type.get("is_internal", False),
        "ticket_type_attributes": {
            "type": "list" if ws.ticket_type_attributes_key == "data" else "ticket_type_attributes.list",
            ws.ticket_type_attributes_key: [
                render_attribute(ws.ticket_type_attributes[a]) for a in ticket_type["attribute_ids"]
            ],
        },
        "category": ticket_type["category"],
        "ticket_states": {
            "type": "list",
            "data": [render_state(ws.ticket_states[s]) for s in ticket_type["state_ids"]],
        },
    }


def _new_attribute(ws: Workspace, ticket_type: dict[str, Any], body: dict[str, Any], default: bool) -> dict[str, Any]:
    stamp = now()
    data_type = body["data_type"]
    input_options: dict[str, Any] | None = None
    if data_type == "string":
        input_options = {"multiline": bool(body.get("multiline", False))}
    elif data_type == "list":
        labels = [x.strip() for x in str(body.get("list_items") or "").split(",") if x.strip()]
        input_options = {
            "list_options": [
                {"id": ws.next_id("list_option", 1), "label": label, "archived": False} for label in labels
            ],
            "allow_multiple_values": bool(body.get("allow_multiple_values", False)),
        }
    attr = {
        "id": ws.next_id("ticket_type_attribute", start=150),
        "name": body["name"],
        "description": body.get("description") or "",
        "data_type": data_type,
        "input_options": input_options,
        "order": len(ticket_type["attribute_ids"]),
        "required_to_create": bool(body.get("required_to_create", False)),
        "required_to_create_for_contacts": bool(body.get("required_to_create_for_contacts", False)),
        "visible_on_create": bool(body.get("visible_on_create", True)),
        "visible_to_contacts": bool(body.get("visible_to_contacts", True)),
        "default": default,
        "ticket_type_id": ticket_type["id"],
        "archived": False,
        "created_at": stamp,
        "updated_at": stamp,
    }
    ws.ticket_type_attributes[attr["id"]] = attr
    ticket_type["attribute_ids"].append(attr["id"])
    return attr


@routes.get("/ticket_types")
def list_ticket_types(ctx: Ctx) -> dict[str, Any]:
    return {"type": "list", "data": [render_ticket_type(ctx.ws, t) for t in ctx.ws.ticket_types.values()]}


@routes.post("/ticket_types")
def create_ticket_type(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Name is a required parameter.", code="parameter_not_found")
    category = body.get("category") or "Customer"
    if category not in CATEGORIES:
        raise bad_request("category must be one of Customer, Back-office, Tracker", field="category")
    stamp = now()
    ticket_type: dict[str, Any] = {
        "id": ws.next_id("ticket_type", start=1),
        "name": name,
        "description": body.get("description") or "",
        "icon": body.get("icon") or "🎟️",
        "category": category,
        "is_internal": bool(body.get("is_internal", False)),
        "archived": False,
        "created_at": stamp,
        "updated_at": stamp,
        "attribute_ids": [],
        "state_ids": list(ws.ticket_states),
    }
    ws.ticket_types[ticket_type["id"]] = ticket_type
    for attr_name, multiline in DEFAULT_ATTRIBUTES:
        _new_attribute(ws, ticket_type, {"name": attr_name, "data_type": "string", "multiline": multiline}, True)
    ws.touch()
    return render_ticket_type(ws, ticket_type)


@routes.get("/ticket_types/{ticket_type_id}")
def get_ticket_type(ctx: Ctx) -> dict[str, Any]:
    return render_ticket_type(ctx.ws, require_ticket_type(ctx.ws, ctx.path["ticket_type_id"]))


@routes.put("/ticket_types/{ticket_type_id}")
def update_ticket_type(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket_type = require_ticket_type(ws, ctx.path["ticket_type_id"])
    if "category" in body and body["category"] not in CATEGORIES:
        raise bad_request("category must be one of Customer, Back-office, Tracker", field="category")
    for key in ("name", "description", "category", "icon", "archived", "is_internal"):
        if key in body and body[key] is not None:
            ticket_type[key] = body[key]
    ticket_type["updated_at"] = now()
    ws.touch()
    return render_ticket_type(ws, ticket_type)


@routes.post("/ticket_types/{ticket_type_id}/attributes")
def create_ticket_type_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket_type = require_ticket_type(ws, ctx.path["ticket_type_id"])
    for key in ("name", "description", "data_type"):
        if not isinstance(body.get(key), str) or (key != "description" and not body[key].strip()):
            raise bad_request(f"{key} is a required parameter.", code="parameter_not_found", field=key)
    if body["data_type"] not in ATTRIBUTE_TYPES:
        raise bad_request("Data Type isn't an option", field="data_type")
    names = {ws.ticket_type_attributes[a]["name"].lower() for a in ticket_type["attribute_ids"]}
    if body["name"].lower() in names:
        raise bad_request(f"An attribute named '{body['name']}' already exists on this ticket type")
    attr = _new_attribute(ws, ticket_type, body, False)
    ws.touch()
    return render_attribute(attr)


@routes.put("/ticket_types/{ticket_type_id}/attributes/{attribute_id}")
def update_ticket_type_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket_type = require_ticket_type(ws, ctx.path["ticket_type_id"])
    attr = ws.ticket_type_attributes.get(ctx.path["attribute_id"])
    if attr is None or attr["ticket_type_id"] != ticket_type["id"]:
        raise not_found()
    for key in (
        "name",
        "description",
        "required_to_create",
        "required_to_create_for_contacts",
        "visible_on_create",
        "visible_to_contacts",
        "archived",
    ):
        if key in body and body[key] is not None:
            attr[key] = body[key]
    if "multiline" in body and attr["data_type"] == "string":
        attr["input_options"] = {"multiline": bool(body["multiline"])}
    if "list_items" in body and attr["data_type"] == "list":
        existing = {o["label"]: o for o in (attr["input_options"] or {}).get("list_options", [])}
        labels = [x.strip() for x in str(body["list_items"]).split(",") if x.strip()]
        options = [
            existing.get(label) or {"id": ws.next_id("list_option", 1), "label": label, "archived": False}
            for label in labels
        ]
        attr["input_options"] = {
            "list_options": options,
            "allow_multiple_values": bool(
                body.get("allow_multiple_values", (attr["input_options"] or {}).get("allow_multiple_values", False))
            ),
        }
    attr["updated_at"] = now()
    ws.touch()
    return render_attribute(attr)


@routes.get("/ticket_states")
def list_ticket_states(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    data = []
    for state in ws.ticket_states.values():
        types = [
            {
                "type": "ticket_type",
                "id": t["id"],
                "name": t["name"],
                "description": t.get("description", ""),
                "icon": t.get("icon", ""),
                "archived": t.get("archived", False),
                "is_internal": t.get("is_internal", False),
                "category": t["category"],
            }
            for t in ws.ticket_types.values()
            if state["id"] in t["state_ids"]
        ]
        rendered = render_state(state)
        rendered["ticket_types"] = {"type": "list", "data": types}
        rendered["archived"] = state.get("archived", False)
        data.append(rendered)
    return {"type": "list", "data": data}


# --- tickets --------------------------------------------------------------------------------------------------


def require_ticket(
    ws: Workspace, ticket_id: str, code: str = "ticket_not_found", message: str = "Ticket not found"
) -> dict[str, Any]:
    ticket = ws.tickets.get(ticket_id)
    if ticket is None:
        raise not_found(message, code=code)
    return ticket


def _part_author(ws: Workspace, kind: str, author_id: str) -> dict[str, Any]:
    if kind == "admin":
        admin = ws.admins.get(author_id) or {"id": author_id, "name": None, "email": ""}
        author = {"id": admin["id"], "type": "admin", "name": admin["name"]}
        if admin.get("email"):
            author["email"] = admin["email"]
        return author
    if kind == "bot":
        return {"id": "0", "type": "bot", "name": "Fin"}
    contact = ws.contacts.get(author_id) or {"id": author_id}
    author = {"id": author_id, "type": "user", "name": contact.get("name")}
    if contact.get("email"):
        author["email"] = contact["email"]
    return author


def render_ticket_part(ws: Workspace, part: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "ticket_part", "id": part["id"], "part_type": part["part_type"]}
    if part.get("body") is not None or part["part_type"] in ("comment", "note"):
        body["body"] = part.get("body")
    for key in ("previous_ticket_state", "ticket_state"):
        if part.get(key):
            body[key] = part[key]
    body["created_at"] = part["created_at"]
    body["updated_at"] = part["updated_at"]
    if part.get("assigned_to"):
        body["assigned_to"] = part["assigned_to"]
    body["author"] = _part_author(ws, *part["author"])
    body["attachments"] = list(part.get("attachments") or [])
    body["redacted"] = False
    return body


def _ticket_attributes_out(ws: Workspace, ticket: dict[str, Any]) -> dict[str, Any]:
    ticket_type = ws.ticket_types.get(ticket["ticket_type_id"])
    values = render_values(ws, dict(ticket.get("attributes") or {}), relationship_references(ws, "ticket"))
    if ticket_type:  # the default attributes are always present, null when unset (spec search example)
        for attr_id in ticket_type["attribute_ids"]:
            name = ws.ticket_type_attributes[attr_id]["name"]
            if name.startswith("_default_"):
                values.setdefault(name, None)
    return values


def render_ticket(ws: Workspace, ticket: dict[str, Any], new_shapes: bool = True) -> dict[str, Any]:
    ticket_type = ws.ticket_types[ticket["ticket_type_id"]]
    state = ws.ticket_states[ticket["state_id"]]
    body: dict[str, Any] = {
        "type": "ticket",
        "id": ticket["id"],
        "ticket_id": ticket["ticket_id"],
        "ticket_attributes": _ticket_attributes_out(ws, ticket),
        "ticket_state": render_state(state),
        "ticket_type": render_ticket_type(ws, ticket_type),
        "contacts": contact_refs(ws, ticket["contact_ids"]),
        "admin_assignee_id": int(ticket.get("admin_assignee_id") or 0),
        "team_assignee_id": int(ticket.get("team_assignee_id") or 0),
        "created_at": ticket["created_at"],
        "updated_at": ticket["updated_at"],
        "ticket_parts": {
            "type": "ticket_part.list",
            "ticket_parts": [render_ticket_part(ws, p) for p in ticket["parts"]],
            "total_count": len(ticket["parts"]),
        },
        "open": ticket["open"],
        "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
        "category": ticket_type["category"],
        "is_shared": ticket.get("is_shared", False),
    }
    if ticket.get("snoozed_until") is not None:
        body["snoozed_until"] = ticket["snoozed_until"]
    if ticket.get("previous_state_id"):
        body["previous_ticket_state_id"] = ticket["previous_state_id"]
    return body


def _validate_attributes(ws: Workspace, ticket_type: dict[str, Any], values: Any, creating: bool) -> dict[str, Any]:
    """Ticket attributes are addressed by name; unknown names are rejected; list values must be option ids."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise bad_request("ticket_attributes must be an object", field="ticket_attributes")
    attrs = {ws.ticket_type_attributes[a]["name"]: ws.ticket_type_attributes[a] for a in ticket_type["attribute_ids"]}
    references = relationship_references(ws, "ticket")
    out = dict(values)
    for name, value in values.items():
        attr = attrs.get(name)
        unknown = f"Ticket attribute '{name}' does not exist for this ticket type"
        if (attr is None or attr.get("archived")) and name in references:  # a relationship to custom objects
            if holds(ws, "ticket_relationships", unknown, name) and (
                not creating or linkable_on_create(ws, "ticket", "ticket_attributes", name, value)
            ):
                out[name] = check_relationship(ws, name, references[name], value)
            else:
                del out[name]
            continue
        if attr is None or attr.get("archived"):
            raise bad_request(unknown, field=name)
        if value is None:
            continue
        if attr["data_type"] == "list":
            option_ids = {o["id"] for o in (attr["input_options"] or {}).get("list_options", [])}
            chosen = value if isinstance(value, list) else [value]
            if any(str(v) not in option_ids for v in chosen):
                raise bad_request(f"'{value}' is not a valid list item id for {name}", field=name)
        check_value(name, attr["data_type"], value)
    if creating:
        missing = [
            n
            for n, a in attrs.items()
            if a.get("required_to_create") and not a.get("archived") and values.get(n) in (None, "")
        ]
        if missing:
            raise bad_request("Missing required ticket attributes", field=missing[0])
    return out


def _resolve_contact(ws: Workspace, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, dict):
        raise bad_request("contacts must be objects with id, external_id or email", field="contacts")
    if ref.get("id"):
        contact = ws.contacts.get(str(ref["id"]))
    elif ref.get("external_id"):
        contact = ws.contacts.get(ws.contact_by_external_id.get(str(ref["external_id"]), ""))
    elif ref.get("email"):
        email = str(ref["email"])
        contact = ws.contacts.get(ws.contact_by_email.get(email.lower(), ""))
        if contact is None:  # an unknown email creates a contact (reference §6.7)
            stamp = now()
            contact = {
                "id": ws.hex_ids.next(),
                "role": "user",
                "email": email,
                "created_at": stamp,
                "updated_at": stamp,
            }
            ws.contacts[contact["id"]] = contact
            ws.contact_by_email[email.lower()] = contact["id"]
    else:
        raise bad_request("contacts must be objects with id, external_id or email", field="contacts")
    if contact is None:
        raise not_found("User Not Found")
    return contact


def _state_part(ws: Workspace, previous: str, current: str, author: tuple[str, str]) -> dict[str, Any]:
    stamp = now()
    return {
        "id": ws.next_id("part", start=100),
        "part_type": "ticket_state_updated_by_admin",
        "previous_ticket_state": previous,
        "ticket_state": current,
        "created_at": stamp,
        "updated_at": stamp,
        "author": list(author),
    }


@routes.post("/tickets")
def create_ticket(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    if body.get("ticket_type_id") in (None, ""):
        raise bad_request("ticket_type_id is a required parameter.", code="parameter_not_found")
    ticket_type = require_ticket_type(ws, body["ticket_type_id"])
    refs = body.get("contacts")
    if not isinstance(refs, list) or not refs:
        raise bad_request("contacts is a required parameter.", code="parameter_not_found", field="contacts")
    attributes = _validate_attributes(ws, ticket_type, body.get("ticket_attributes"), creating=True)
    assignment = body.get("assignment") or {}
    admin_assignee = assignment.get("admin_assignee_id")
    if admin_assignee not in (None, "", "0", 0) and find_admin(ws, admin_assignee) is None:
        raise not_found("Assignee not found", code="assignee_not_found")
    team_assignee = assignment.get("team_assignee_id")
    if team_assignee not in (None, "", "0", 0) and str(team_assignee) not in ws.teams:
        raise not_found("Team not found", code="team_not_found")
    company_id = body.get("company_id")
    if company_id not in (None, "") and str(company_id) not in ws.companies:
        raise not_found("Company Not Found", code="company_not_found")
    created_at = requested_created_at(ws, body)
    contacts = [_resolve_contact(ws, ref) for ref in refs]
    stamp = now()
    created_at = stamp if created_at is None else created_at
    submitted = next(s for s in ticket_type["state_ids"] if ws.ticket_states[s]["category"] == "submitted")
    ticket: dict[str, Any] = {
        "id": ws.next_id("conversation", start=1),  # a ticket is a conversation: one id space (EVIDENCE.md)
        "ticket_id": ws.next_id("ticket_number", start=1),
        "ticket_type_id": ticket_type["id"],
        "state_id": submitted,
        "contact_ids": [c["id"] for c in contacts],
        "attributes": {k: v for k, v in attributes.items() if v is not None},
        "admin_assignee_id": str(admin_assignee) if admin_assignee not in (None, "", "0", 0) else None,
        "team_assignee_id": str(team_assignee) if team_assignee not in (None, "", "0", 0) else None,
        "company_id": str(company_id) if company_id not in (None, "") else None,
        "created_at": created_at,
        "updated_at": stamp,
        "open": True,
        "parts": [],
    }
    part = _state_part(ws, "submitted", "submitted", ("bot", "0"))
    part["created_at"] = created_at
    ticket["parts"].append(part)
    ws.tickets[ticket["id"]] = ticket
    ws.touch()
    return render_ticket(ws, ticket, ctx.new_shapes)


@routes.get("/tickets/{ticket_id}")
def get_ticket(ctx: Ctx) -> dict[str, Any]:
    return render_ticket(ctx.ws, require_ticket(ctx.ws, ctx.path["ticket_id"]), ctx.new_shapes)


def _acting_admin(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """The admin named by ``admin_id`` (404 when unknown), else the workspace's first admin."""
    actor = ws.first_admin
    if body.get("admin_id") not in (None, ""):
        found = find_admin(ws, body["admin_id"])
        if found is None:
            raise not_found("Admin not found", code="admin_not_found")
        actor = found
    return actor


def _change_state(
    ws: Workspace, ticket: dict[str, Any], ticket_type: dict[str, Any], state_id: str, actor: dict[str, Any]
) -> None:
    """Move the ticket to a state of its type (400 otherwise), with a state-change part when it changes."""
    if state_id not in ticket_type["state_ids"]:
        raise ApiError(
            400, "ticket_state_id_invalid", "Ticket state id is not valid or is not associated with the ticket type"
        )
    if state_id != ticket["state_id"]:
        previous = ws.ticket_states[ticket["state_id"]]["category"]
        ticket["previous_state_id"] = ticket["state_id"]
        ticket["state_id"] = state_id
        ticket["parts"].append(
            _state_part(ws, previous, ws.ticket_states[state_id]["category"], ("admin", actor["id"]))
        )


def _assign(ws: Workspace, ticket: dict[str, Any], assignee: str) -> None:
    """``assignee_id``: "0" unassigns the admin; an admin or a team id assigns it (404 otherwise)."""
    if assignee == "0":
        ticket["admin_assignee_id"] = None
    elif assignee in ws.admins:
        ticket["admin_assignee_id"] = assignee
    elif assignee in ws.teams:
        ticket["team_assignee_id"] = assignee
    else:
        raise not_found("Assignee not found", code="assignee_not_found")


@routes.put("/tickets/{ticket_id}")
def update_ticket(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket = require_ticket(ws, ctx.path["ticket_id"])
    ticket_type = ws.ticket_types[ticket["ticket_type_id"]]
    actor = _acting_admin(ws, body)
    if "ticket_attributes" in body:
        values = _validate_attributes(ws, ticket_type, body["ticket_attributes"], creating=False)
        merged = dict(ticket["attributes"])
        merged.update(values)
        ticket["attributes"] = {k: v for k, v in merged.items() if v is not None}
    if body.get("ticket_state_id") not in (None, ""):
        _change_state(ws, ticket, ticket_type, str(body["ticket_state_id"]), actor)
    if "assignee_id" in body:
        _assign(ws, ticket, str(body["assignee_id"] or "0"))
    if "open" in body and body["open"] is not None:
        ticket["open"] = bool(body["open"])
    if "is_shared" in body and body["is_shared"] is not None:
        ticket["is_shared"] = bool(body["is_shared"])
    if "snoozed_until" in body:
        ticket["snoozed_until"] = body["snoozed_until"]
    if "company_id" in body:
        if body["company_id"] not in (None, "") and str(body["company_id"]) not in ws.companies:
            raise not_found("Company Not Found", code="company_not_found")
        ticket["company_id"] = body["company_id"] or None
    ticket["updated_at"] = now()
    ws.touch()
    return render_ticket(ws, ticket, ctx.new_shapes)


@routes.post("/tickets/{ticket_id}/reply")
def reply_ticket(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket = require_ticket(ws, ctx.path["ticket_id"], code="not_found", message="Resource Not Found")
    ticket_type = ws.ticket_types[ticket["ticket_type_id"]]
    created_at = requested_created_at(ws, body)
    kind, message_type = body.get("type"), body.get("message_type")
    text = body.get("body")
    attachments = attachments_from(body.get("attachment_urls"), body.get("attachment_files"))
    if kind == "admin":
        if message_type not in ("comment", "note", "quick_reply"):
            raise bad_request("message_type must be one of comment, note, quick_reply", field="message_type")
        admin = require_admin(ws, body.get("admin_id"))
        author = ("admin", admin["id"])
    elif kind == "user":
        if ticket_type["category"] == "Back-office":
            raise ApiError(400, "parameter_mismatch", "User replies are not allowed on Backoffice tickets")
        if message_type != "comment":
            raise bad_request("message_type must be comment", field="message_type")
        contact = find_replying_contact(ws, body)
        author = ("user", contact["id"])
        ticket["open"] = True  # a customer's reply reopens a closed ticket (EVIDENCE.md: assumed)
    else:
        raise bad_request("type must be admin or user", field="type")
    if message_type != "quick_reply" and (not isinstance(text, str) or not text.strip()):
        raise bad_request("body is required", code="parameter_not_found", field="body")
    html_body = as_html(text) if isinstance(text, str) else None
    part = new_part(ws, message_type, author, html_body, created_at, attachments)
    ticket["parts"].append(part)
    ticket["updated_at"] = part["updated_at"]
    ws.touch()
    rendered = render_ticket_part(ws, part)
    rendered.pop("assigned_to", None)
    return rendered


@routes.delete("/tickets/{ticket_id}")
def delete_ticket(ctx: Ctx) -> dict[str, Any]:
    ticket = require_ticket(ctx.ws, ctx.path["ticket_id"])
    del ctx.ws.tickets[ticket["id"]]
    ctx.ws.touch()
    return {"id": ticket["id"], "object": "ticket", "deleted": True}


@routes.post("/tickets/{ticket_id}/tags")
def tag_ticket(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket = require_ticket(ws, ctx.path["ticket_id"])
    admin = require_admin(ws, body.get("admin_id"))
    tag = require_tag(ws, body.get("id"))
    return apply_tag(ws, ticket, tag["id"], admin["id"])


@routes.delete("/tickets/{ticket_id}/tags/{tag_id}")
def untag_ticket(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    ticket = require_ticket(ws, ctx.path["ticket_id"])
    require_admin(ws, body.get("admin_id"))
    require_tag(ws, ctx.path["tag_id"])
    return remove_tag(ws, ticket, ctx.path["tag_id"])


def ticket_getter(ws: Workspace) -> Any:
    """Field lookup for ticket search; bound to the workspace for states, types and attribute ids."""

    def field(ticket: dict[str, Any], name: str) -> Any:
        attributes = ticket.get("attributes") or {}
        if name.startswith("ticket_attribute."):
            attr = ws.ticket_type_attributes.get(name[len("ticket_attribute.") :])
            return MISSING if attr is None else attributes.get(attr["name"], MISSING)
        if name == "title":
            return attributes.get("_default_title_")
        if name == "description":
            return attributes.get("_default_description_")
        if name == "id":
            return int(ticket["id"])
        if name == "contact_ids":
            return list(ticket["contact_ids"])
        if name == "teammate_ids":
            return sorted({p["author"][1] for p in ticket["parts"] if p["author"][0] == "admin"})
        if name in ("admin_assignee_id", "team_assignee_id"):
            value = ticket.get(name)
            return int(value) if value is not None and value != "" else 0
        if name == "state":
            return ws.ticket_states[ticket["state_id"]]["category"]
        if name == "category":
            return ws.ticket_types[ticket["ticket_type_id"]]["category"]
        if name == "tag_ids":
            return list(ticket.get("tags") or {})
        return ticket.get(name, MISSING)

    return field


@routes.post("/tickets/search")
def search_tickets(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    model = SearchModel(name="ticket", getter=ticket_getter(ws), inclusive_ranges=True, numeric_id=True)
    chosen, total, pages = search_page(ws, "tickets", ws.tickets.values(), model, parse_search(ctx, model, 20))
    return {
        "type": "ticket.list",
        "tickets": [render_ticket(ws, ws.tickets[i], ctx.new_shapes) for i in chosen],
        "total_count": total,
        "pages": pages,
    }
