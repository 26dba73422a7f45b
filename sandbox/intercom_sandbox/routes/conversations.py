"""Conversations: contact-initiated create (answers a ``user_message``), replies and notes with back-dated
``created_at``, management parts (close/open/snooze/assignment), attributes, tags, list and search.

Parts are stored in request order with the timestamps the client gave; ``updated_at`` is always "now", as in
Intercom (reference §7: history import keeps created_at, never updated_at).
"""

from __future__ import annotations

import html
import re
from typing import Any

from intercom_sandbox.capabilities import holds
from intercom_sandbox.errors import bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.admins import find_admin
from intercom_sandbox.routes.attributes import check_value, conversation_attribute_by_name
from intercom_sandbox.routes.contacts import as_html, contact_refs
from intercom_sandbox.routes.custom_objects import check_relationship, relationship_references, render_values
from intercom_sandbox.routes.listing import PageRequest, list_request, parse_search, search_page
from intercom_sandbox.routes.tags import apply_tag, remove_tag, render_applied, require_tag
from intercom_sandbox.search import MISSING, SearchModel
from intercom_sandbox.store import Workspace, now

routes = RouteTable()

MAX_PARTS_SHOWN = 500
_TAGS = re.compile(r"<[^>]+>")
PRIORITY_2_14 = {"none": "not_priority"}


def plaintext(body: str | None) -> str | None:
    """``display_as=plaintext``: markup removed, entities decoded."""
    if body is None:
        return None
    text = re.sub(r"</p>\s*<p[^>]*>|<br\s*/?>", "\n", body)
    return html.unescape(_TAGS.sub("", text)).strip()


def require_conversation(ws: Workspace, raw_id: str, message: str = "Resource Not Found") -> dict[str, Any]:
    conversation = ws.conversations.get(raw_id)
    if conversation is None:
        raise not_found(message)
    return conversation


def require_admin(
    ws: Workspace, admin_id: Any, code: str = "admin_not_found", message: str = "Admin not found"
) -> dict[str, Any]:
    if admin_id in (None, ""):
        raise bad_request("admin_id is required", code="parameter_not_found", field="admin_id")
    admin = find_admin(ws, admin_id)
    if admin is None:
        raise not_found(message, code=code)
    return admin


def contact_author(contact: dict[str, Any]) -> dict[str, Any]:
    author = {"type": contact["role"], "id": contact["id"], "name": contact.get("name")}
    if contact.get("email"):
        author["email"] = contact["email"]
    return author


def author_of(ws: Workspace, kind: str, author_id: str) -> dict[str, Any]:
    if kind == "admin":
        admin = ws.admins.get(author_id)
        if admin is None:
            return {"type": "admin", "id": author_id, "name": None}
        return {"type": "admin", "id": admin["id"], "name": admin["name"], "email": admin["email"]}
    if kind == "bot":
        return {"type": "bot", "id": "0", "name": "Operator"}
    contact = ws.contacts.get(author_id)
    if contact is None:
        return {"type": kind, "id": author_id, "name": None}
    return contact_author(contact)


def attachments_from(urls: Any, files: Any) -> list[dict[str, Any]]:
    if urls is not None and (not isinstance(urls, list) or len(urls) > 10):
        raise bad_request("attachment_urls must be an array of at most 10 URLs", field="attachment_urls")
    if files is not None and (not isinstance(files, list) or len(files) > 10):
        raise bad_request("attachment_files must be an array of at most 10 files", field="attachment_files")
    result = []
    for url in urls or []:
        name = str(url).rstrip("/").rsplit("/", 1)[-1] or "attachment"
        result.append(
            {"type": "upload", "name": name, "url": str(url), "content_type": "application/octet-stream", "filesize": 0}
        )
    for item in files or []:
        item = item or {}
        data = str(item.get("data", ""))
        result.append(
            {
                "type": "upload",
                "name": str(item.get("name", "attachment")),
                "url": f"https://downloads.intercomcdn.com/sandbox/{item.get('name', 'attachment')}",
                "content_type": str(item.get("content_type", "application/octet-stream")),
                "filesize": len(data) * 3 // 4,
            }
        )
    return result


def requested_created_at(ws: Workspace, body: dict[str, Any]) -> int | None:
    """The ``created_at`` a create or reply asks for, or None for "now": also when the workspace ignores it
    (capability ``created_at``; refused: 400 before anything changes)."""
    value = body.get("created_at")
    if value is None or not holds(ws, "created_at", "created_at cannot be set through the API", "created_at"):
        return None
    return int(value)


def new_part(
    ws: Workspace,
    part_type: str,
    author: tuple[str, str],
    body: str | None,
    created_at: int | None,
    attachments: list[dict[str, Any]] | None = None,
    assigned_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    stamp = now()
    part: dict[str, Any] = {
        "id": ws.next_id("part", start=100),
        "part_type": part_type,
        "body": body,
        "created_at": int(created_at) if created_at is not None else stamp,
        "updated_at": stamp,
        "author": list(author),
    }
    if attachments:
        part["attachments"] = attachments
    if assigned_to:
        part["assigned_to"] = assigned_to
    return part


def render_part(ws: Workspace, part: dict[str, Any], plain: bool = False, state: str | None = None) -> dict[str, Any]:
    body = part.get("body")
    rendered = {
        "type": "conversation_part",
        "id": part["id"],
        "part_type": part["part_type"],
        "body": plaintext(body) if plain else body,
        "created_at": part["created_at"],
        "updated_at": part["updated_at"],
        "notified_at": part["created_at"],
        "assigned_to": part.get("assigned_to"),
        "author": author_of(ws, *part["author"]),
        "attachments": list(part.get("attachments") or []),
        "external_id": None,
        "redacted": False,
        "metadata": {},
        "email_message_metadata": None,
        "app_package_code": None,
    }
    if state is not None:
        rendered["state"] = state
    return rendered


def _statistics(conv: dict[str, Any]) -> dict[str, Any]:
    parts = conv["parts"]
    stats: dict[str, Any] = {
        "type": "conversation_statistics",
        "count_reopens": sum(1 for p in parts if p["part_type"] == "open"),
        "count_assignments": sum(1 for p in parts if p["part_type"] == "assignment"),
        "count_conversation_parts": len(parts) + 1,
    }
    contact_replies = [p["created_at"] for p in parts if p["author"][0] != "admin" and p["part_type"] == "comment"]
    admin_replies = [p["created_at"] for p in parts if p["author"][0] == "admin" and p["part_type"] == "comment"]
    closes = [p for p in parts if p["part_type"] == "close"]
    if contact_replies:
        stats["first_contact_reply_at"], stats["last_contact_reply_at"] = contact_replies[0], contact_replies[-1]
    if admin_replies:
        stats["first_admin_reply_at"], stats["last_admin_reply_at"] = admin_replies[0], admin_replies[-1]
    if closes:
        stats["first_close_at"], stats["last_close_at"] = closes[0]["created_at"], closes[-1]["created_at"]
        stats["last_closed_by_id"] = closes[-1]["author"][1]
    return stats


def _assignee(value: Any, new_shapes: bool) -> int | None:
    if value in (None, "", "0", 0):
        return 0 if new_shapes else None
    return int(value)


def render_conversation(ws: Workspace, conv: dict[str, Any], ctx: Ctx, with_parts: bool = True) -> dict[str, Any]:
    from intercom_sandbox.routes.companies import render_company

    plain = ctx.query.get("display_as") == "plaintext"
    source = conv["source"]
    priority = conv.get("priority", "none")
    if not ctx.new_shapes:
        priority = PRIORITY_2_14.get(priority, "priority")
    teammates = []
    for part in conv["parts"]:
        if part["author"][0] == "admin" and {"type": "admin", "id": part["author"][1]} not in teammates:
            teammates.append({"type": "admin", "id": part["author"][1]})
    first_reply = next(
        (p for p in conv["parts"] if p["author"][0] in ("user", "lead") and p["part_type"] == "comment"), None
    )
    if source["author"][0] in ("user", "lead"):
        first_reply = {"created_at": conv["created_at"]}
    body: dict[str, Any] = {
        "type": "conversation",
        "id": conv["id"],
        "title": conv.get("title"),
        "created_at": conv["created_at"],
        "updated_at": conv["updated_at"],
        "waiting_since": conv.get("waiting_since"),
        "snoozed_until": conv.get("snoozed_until"),
        "source": {
            "type": "conversation",
            "id": source["id"],
            "delivered_as": source["delivered_as"],
            "subject": source.get("subject") or "",
            "body": plaintext(source["body"]) if plain else source["body"],
            "author": author_of(ws, *source["author"]),
            "attachments": list(source.get("attachments") or []),
            "url": None,
            "redacted": False,
        },
        "contacts": contact_refs(ws, conv["contact_ids"]),
        "first_contact_reply": (
            {"created_at": first_reply["created_at"], "type": "conversation", "url": None} if first_reply else None
        ),
        "admin_assignee_id": _assignee(conv.get("admin_assignee_id"), ctx.new_shapes),
        "team_assignee_id": _assignee(conv.get("team_assignee_id"), ctx.new_shapes),
        "open": conv["state"] != "closed",
        "state": conv["state"],
        "read": conv.get("read", False),
        "tags": {
            "type": "tag.list",
            "tags": [render_applied(ws, t, a) for t, a in (conv.get("tags") or {}).items() if t in ws.tags],
        },
        "priority": priority,
        "sla_applied": None,
        "statistics": _statistics(conv),
        "conversation_rating": None,
        "teammates": {"type": "admin.list", "teammates": teammates},
        "custom_attributes": render_values(
            ws, dict(conv.get("custom_attributes") or {}), relationship_references(ws, "conversation")
        ),
        "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
        "ai_agent_participated": False,
    }
    if conv.get("company_id") in ws.companies:
        body["company"] = render_company(ws, ws.companies[conv["company_id"]])
    if with_parts:
        shown = conv["parts"][-MAX_PARTS_SHOWN:]
        body["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": [render_part(ws, p, plain) for p in shown],
            "total_count": len(shown),
        }
    return body


def find_replying_contact(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """Contact replies name the contact by ``intercom_user_id``, ``user_id`` (external id) or ``email``."""
    contact = None
    if body.get("intercom_user_id"):
        contact = ws.contacts.get(str(body["intercom_user_id"]))
    elif body.get("user_id"):
        contact = ws.contacts.get(ws.contact_by_external_id.get(str(body["user_id"]), ""))
    elif body.get("email"):
        contact = ws.contacts.get(ws.contact_by_email.get(str(body["email"]).lower(), ""))
        if contact is None:
            contact = next(
                (c for c in ws.contacts.values() if (c.get("email") or "").lower() == str(body["email"]).lower()), None
            )
    else:
        raise bad_request("intercom_user_id, user_id or email is required", code="parameter_not_found")
    if contact is None:
        raise not_found("User Not Found")
    return contact


@routes.post("/conversations")
def create_conversation(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    sender = body.get("from")
    if not isinstance(sender, dict) or sender.get("type") not in ("user", "lead", "contact") or not sender.get("id"):
        raise bad_request("from is required", code="parameter_not_found", field="from")
    contact = ws.contacts.get(str(sender["id"]))
    if contact is None:
        raise not_found("User Not Found")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("body is required", code="parameter_not_found", field="body")
    stamp = now()
    created_at = requested_created_at(ws, body)
    created_at = stamp if created_at is None else created_at
    message_id = ws.next_id("message", start=403918330)
    conv_id = ws.next_id("conversation", start=1)
    conv = {
        "id": conv_id,
        "created_at": created_at,
        "updated_at": stamp,
        "source": {
            "id": message_id,
            "delivered_as": "customer_initiated",
            "subject": body.get("subject") or "",
            "body": as_html(text),
            "author": [contact["role"], contact["id"]],
            "attachments": attachments_from(body.get("attachment_urls"), None),
        },
        "contact_ids": [contact["id"]],
        "state": "open",
        "read": False,
        "waiting_since": created_at,
        "priority": "none",
        "parts": [],
    }
    ws.conversations[conv_id] = conv
    ws.touch()
    return {
        "type": "user_message",
        "id": message_id,
        "created_at": created_at,
        "body": text,
        "message_type": "email" if body.get("subject") else "inapp",
        "conversation_id": conv_id,
    }


def _reply(
    ws: Workspace, conv_id: str, body: dict[str, Any], allow_last: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shared by conversation replies: returns (conversation, new part)."""
    created_at = requested_created_at(ws, body)
    kind = body.get("type")
    message_type = body.get("message_type")
    if kind == "admin":
        if message_type not in ("comment", "note", "quick_reply"):
            raise bad_request("message_type must be one of comment, note, quick_reply", field="message_type")
        conv = require_conversation(ws, conv_id)
        admin = require_admin(ws, body.get("admin_id"))
        text = body.get("body")
        if message_type != "quick_reply" and (not isinstance(text, str) or not text.strip()):
            raise bad_request("body is required", code="parameter_not_found", field="body")
        part = new_part(
            ws,
            message_type,
            ("admin", admin["id"]),
            as_html(text) if isinstance(text, str) else None,
            created_at,
            attachments_from(body.get("attachment_urls"), body.get("attachment_files")),
        )
        if message_type == "comment":
            conv["waiting_since"] = None
    elif kind == "user":
        if message_type != "comment":
            raise bad_request("message_type must be comment", field="message_type")
        contact = find_replying_contact(ws, body)
        if conv_id == "last" and allow_last:
            mine = [c for c in ws.conversations.values() if contact["id"] in c["contact_ids"]]
            if not mine:
                raise not_found()
            conv = max(mine, key=lambda c: (c["updated_at"], int(c["id"])))
        else:
            conv = require_conversation(ws, conv_id)
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("body is required", code="parameter_not_found", field="body")
        part = new_part(
            ws,
            "comment",
            (contact["role"], contact["id"]),
            as_html(text),
            created_at,
            attachments_from(body.get("attachment_urls"), body.get("attachment_files")),
        )
        if contact["id"] not in conv["contact_ids"]:
            conv["contact_ids"].append(contact["id"])
        if conv["state"] != "open":
            conv["state"], conv["snoozed_until"] = "open", None
        conv["waiting_since"] = conv.get("waiting_since") or part["created_at"]
    else:
        raise bad_request("type must be admin or user", field="type")
    conv["parts"].append(part)
    conv["updated_at"] = now()
    ws.touch()
    return conv, part


@routes.post("/conversations/{conversation_id}/reply")
def reply_conversation(ctx: Ctx) -> dict[str, Any]:
    conv, _part = _reply(ctx.ws, ctx.path["conversation_id"], ctx.json())
    return render_conversation(ctx.ws, conv, ctx)


@routes.post("/conversations/{conversation_id}/parts")
def manage_conversation(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    conv = require_conversation(ws, ctx.path["conversation_id"])
    message_type = body.get("message_type")
    if message_type not in ("close", "snoozed", "open", "assignment"):
        raise bad_request("message_type must be one of close, snoozed, open, assignment", field="message_type")
    admin = require_admin(ws, body.get("admin_id"))
    text = body.get("body")
    html_body = as_html(text) if isinstance(text, str) and text.strip() else None
    author = ("admin", admin["id"])
    if message_type == "close":
        part = new_part(ws, "close", author, html_body, None)
        conv["state"], conv["snoozed_until"], conv["waiting_since"] = "closed", None, None
    elif message_type == "snoozed":
        until = body.get("snoozed_until")
        if not isinstance(until, int | float) or isinstance(until, bool):
            raise bad_request("snoozed_until is required", code="parameter_not_found", field="snoozed_until")
        part = new_part(ws, "snoozed", author, None, None)
        conv["state"], conv["snoozed_until"] = "snoozed", int(until)
    elif message_type == "open":
        part = new_part(ws, "open", author, None, None)
        conv["state"], conv["snoozed_until"] = "open", None
    else:
        assignee = str(body.get("assignee_id", ""))
        kind = body.get("type")
        if kind not in ("admin", "team"):
            raise bad_request("type must be admin or team", field="type")
        if assignee in ("", "0"):
            target = None
        elif kind == "admin":
            if assignee not in ws.admins:
                raise not_found("Assignee not found", code="assignee_not_found")
            target = {"type": "admin", "id": assignee}
        else:
            if assignee not in ws.teams:
                raise not_found("Team not found", code="team_not_found")
            target = {"type": "team", "id": assignee}
        part = new_part(ws, "assignment", author, html_body, None, assigned_to=target)
        conv["admin_assignee_id" if kind == "admin" else "team_assignee_id"] = None if target is None else assignee
    conv["parts"].append(part)
    conv["updated_at"] = now()
    ws.touch()
    return render_conversation(ws, conv, ctx)


def validate_conversation_attributes(ws: Workspace, values: Any) -> dict[str, Any]:
    """Values must name existing, non-archived conversation attributes; list values are option labels."""
    if not isinstance(values, dict):
        raise bad_request("custom_attributes must be an object", field="custom_attributes")
    known = conversation_attribute_by_name(ws)
    out = dict(values)
    for name, value in values.items():
        attr = known.get(name)
        if attr is None or attr.get("archived"):
            raise bad_request(f"Custom attribute '{name}' does not exist", code="parameter_not_found")
        if attr["data_type"] == "relationship":
            out[name] = check_relationship(ws, name, attr.get("reference") or {}, value)
            continue
        if value is None:
            continue
        if attr["data_type"] == "list":
            labels = {o["label"] for o in attr.get("options", []) if not o.get("archived")}
            if str(value) not in labels:
                raise bad_request(f"'{value}' is not a valid option for {name}", field=name)
        check_value(name, attr["data_type"], value)
    return out


@routes.put("/conversations/{conversation_id}")
def update_conversation(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    conv = require_conversation(ws, ctx.path["conversation_id"])
    if "read" in body:
        conv["read"] = bool(body["read"])
    if "title" in body:
        conv["title"] = body["title"]
    if "custom_attributes" in body:
        merged = dict(conv.get("custom_attributes") or {})
        merged.update(validate_conversation_attributes(ws, body["custom_attributes"]))
        conv["custom_attributes"] = {k: v for k, v in merged.items() if v is not None}
    if "company_id" in body:
        if body["company_id"] is None:
            conv.pop("company_id", None)
        elif str(body["company_id"]) not in ws.companies:
            raise not_found("Company Not Found", code="company_not_found")
        else:
            conv["company_id"] = str(body["company_id"])
    conv["updated_at"] = now()
    ws.touch()
    return render_conversation(ws, conv, ctx)


def ticket_as_conversation(ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the conversations API reads it (EVIDENCE.md, assumed): its default title and description as
    title and source, its parts (state changes included) as conversation parts, open or closed as the ticket."""
    attributes = ticket.get("attributes") or {}
    contact = ticket["contact_ids"][0] if ticket["contact_ids"] else None
    return {
        "id": ticket["id"],
        "title": attributes.get("_default_title_"),
        "created_at": ticket["created_at"],
        "updated_at": ticket["updated_at"],
        "contact_ids": ticket["contact_ids"],
        "company_id": ticket.get("company_id"),
        "admin_assignee_id": ticket.get("admin_assignee_id"),
        "team_assignee_id": ticket.get("team_assignee_id"),
        "state": "open" if ticket["open"] else "closed",
        "parts": ticket["parts"],
        "source": {
            "id": ticket["id"],
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": attributes.get("_default_description_") or "",
            "author": ["user", contact] if contact else ["bot", "0"],
            "attachments": [],
        },
    }


@routes.get("/conversations/{conversation_id}")
def get_conversation(ctx: Ctx) -> dict[str, Any]:
    ticket = ctx.ws.tickets.get(ctx.path["conversation_id"])
    if ticket is not None:  # a ticket is a conversation (EVIDENCE.md): readable, not listed or changed through it
        return render_conversation(ctx.ws, ticket_as_conversation(ticket), ctx)
    return render_conversation(ctx.ws, require_conversation(ctx.ws, ctx.path["conversation_id"]), ctx)


@routes.delete("/conversations/{conversation_id}")
def delete_conversation(ctx: Ctx) -> dict[str, Any]:
    conv = require_conversation(ctx.ws, ctx.path["conversation_id"])
    del ctx.ws.conversations[conv["id"]]
    ctx.ws.touch()
    return {"id": conv["id"], "object": "conversation", "deleted": True}


@routes.post("/conversations/{conversation_id}/tags")
def tag_conversation(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    conv = require_conversation(ws, ctx.path["conversation_id"], message="Conversation not found")
    admin = require_admin(ws, body.get("admin_id"))
    tag = require_tag(ws, body.get("id"))
    return apply_tag(ws, conv, tag["id"], admin["id"])


@routes.delete("/conversations/{conversation_id}/tags/{tag_id}")
def untag_conversation(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    conv = require_conversation(ws, ctx.path["conversation_id"], message="Conversation not found")
    require_admin(ws, body.get("admin_id"))
    require_tag(ws, ctx.path["tag_id"])
    return remove_tag(ws, conv, ctx.path["tag_id"])


# --- list and search ------------------------------------------------------------------------------------------

_SOURCE_FIELDS = ("type", "id", "delivered_as", "subject", "url")


def _conversation_field(conv: dict[str, Any], name: str) -> Any:
    if name.startswith("custom_attributes."):
        return (conv.get("custom_attributes") or {}).get(name[len("custom_attributes.") :], MISSING)
    if name.startswith("source."):
        sub = name[len("source.") :]
        source = conv["source"]
        if sub == "body":
            text = plaintext(source["body"]) or ""
            return [*text.split(), text]  # "=" matches a word of the body (reference §5)
        if sub == "author.id":
            return source["author"][1]
        if sub == "author.type":
            return source["author"][0]
        if sub == "type":
            return "conversation"
        if sub in _SOURCE_FIELDS:
            return source.get(sub)
        return MISSING
    if name == "contact_ids":
        return list(conv["contact_ids"])
    if name == "tag_ids":
        return list(conv.get("tags") or {})
    if name == "teammate_ids":
        return sorted({p["author"][1] for p in conv["parts"] if p["author"][0] == "admin"})
    if name == "open":
        return conv["state"] != "closed"
    if name in ("admin_assignee_id", "team_assignee_id"):
        value = conv.get(name)
        return int(value) if value is not None and value != "" else 0
    if name == "channel_initiated":
        return "customer" if conv["source"]["author"][0] != "admin" else "admin"
    if name == "id":
        return int(conv["id"])
    return conv.get(name)


SEARCH_MODEL = SearchModel(
    name="conversation",
    getter=_conversation_field,
    inclusive_ranges=True,
    numeric_id=True,
)


def _conversation_list(ctx: Ctx, req: PageRequest) -> dict[str, Any]:
    ws = ctx.ws
    chosen, total, pages = search_page(ws, "conversations", ws.conversations.values(), SEARCH_MODEL, req)
    return {
        "type": "conversation.list",
        "pages": pages,
        "total_count": total,
        "conversations": [render_conversation(ws, ws.conversations[i], ctx, with_parts=False) for i in chosen],
    }


@routes.get("/conversations")
def list_conversations(ctx: Ctx) -> dict[str, Any]:
    return _conversation_list(ctx, list_request(ctx, 20))


@routes.post("/conversations/search")
def search_conversations(ctx: Ctx) -> dict[str, Any]:
    return _conversation_list(ctx, parse_search(ctx, SEARCH_MODEL, 20))
