"""Contacts: users (unique by email, case-insensitive, and by external_id — archived ones included, 409 with
``id=`` in the message) and leads (exempt), plus their companies, notes and tags sub-resources."""

from __future__ import annotations

import time
from typing import Any

from intercom_sandbox import pagination
from intercom_sandbox.capabilities import holds, linkable_on_create
from intercom_sandbox.errors import ApiError, bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.admins import admin_author, find_admin
from intercom_sandbox.routes.attributes import check_custom_attributes
from intercom_sandbox.routes.custom_objects import relationship_references, render_values
from intercom_sandbox.routes.listing import PageRequest, list_request, parse_search, search_page
from intercom_sandbox.routes.tags import apply_tag, remove_tag, render_applied, require_tag
from intercom_sandbox.search import MISSING, SearchModel
from intercom_sandbox.store import WORKSPACE_ID, Workspace, now

routes = RouteTable()

WRITABLE = (
    "role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at", "owner_id",
    "unsubscribed_from_emails", "email_verified",
)  # fmt: skip
DATE_FIELDS = frozenset(
    {
        "created_at", "signed_up_at", "updated_at", "last_seen_at", "last_contacted_at", "last_replied_at",
        "last_email_opened_at", "last_email_clicked_at", "ios_last_seen_at", "android_last_seen_at",
    }
)  # fmt: skip
NULL_FIELDS = (
    "last_replied_at", "last_contacted_at", "last_email_opened_at", "last_email_clicked_at", "language_override",
    "browser", "browser_version", "browser_language", "os",
)  # fmt: skip
DEVICE_FIELDS = (
    "android_app_name", "android_app_version", "android_device", "android_os_version", "android_sdk_version",
    "android_last_seen_at", "ios_app_name", "ios_app_version", "ios_device", "ios_os_version", "ios_sdk_version",
    "ios_last_seen_at",
)  # fmt: skip
EMBED_LIMIT = 10
#: the top-level domain reserved by RFC 2606 / 6761 for addresses that cannot exist (the map's
#: ``topdesk-person-…@placeholder.invalid``); ``.example``, which test data uses for real-looking people, is not denied
RESERVED_TLDS = frozenset({"invalid"})
STRING_FIELDS = ("external_id", "email", "phone", "name", "avatar", "role")
INT_FIELDS = ("signed_up_at", "last_seen_at")


def _contact_field(contact: dict[str, Any], name: str) -> Any:
    if name.startswith("custom_attributes."):
        return (contact.get("custom_attributes") or {}).get(name[len("custom_attributes.") :], MISSING)
    if name == "tag_id":
        return list(contact.get("tags") or {})
    if name == "company_id":
        return list(contact.get("company_ids") or [])
    if name == "email_domain":
        email = contact.get("email") or ""
        return email.split("@", 1)[1] if "@" in email else None
    if name == "formatted_phone":
        return contact.get("phone")
    if name.startswith("location."):
        return None
    if name in ("has_hard_bounced", "marked_email_as_spam"):
        return False
    if name == "unsubscribed_from_emails":
        return bool(contact.get("unsubscribed_from_emails", False))
    return contact.get(name)


SEARCH_MODEL = SearchModel(name="contact", getter=_contact_field, date_fields=DATE_FIELDS, day_granular_dates=True)


def require_contact(ws: Workspace, contact_id: str) -> dict[str, Any]:
    contact = ws.contacts.get(contact_id)
    if contact is None:
        raise not_found("User Not Found")
    return contact


def _embedded(ids: list[str], kind: str, contact_id: str, sub: str) -> dict[str, Any]:
    shown = ids[:EMBED_LIMIT]
    return {
        "type": "list",
        "data": [
            {"type": kind, "id": i, "url": f"/{kind}s/{i}" if kind != "company" else f"/companies/{i}"} for i in shown
        ],
        "url": f"/contacts/{contact_id}/{sub}",
        "total_count": len(ids),
        "has_more": len(ids) > EMBED_LIMIT,
    }


def render_contact(ws: Workspace, contact: dict[str, Any], new_shapes: bool = True) -> dict[str, Any]:
    contact_id = contact["id"]
    email = contact.get("email") or ""
    owner = contact.get("owner_id")
    body: dict[str, Any] = {
        "type": "contact",
        "id": contact_id,
        "workspace_id": WORKSPACE_ID,
        "external_id": contact.get("external_id"),
        "role": contact["role"],
        "email": email,
        "email_domain": email.split("@", 1)[1] if "@" in email else "",
        "phone": contact.get("phone"),
        "name": contact.get("name"),
        "avatar": {"type": "avatar", "image_url": contact["avatar"]} if contact.get("avatar") else None,
        "owner_id": (str(owner) if new_shapes else int(owner)) if owner is not None else None,
        "social_profiles": {"type": "list", "data": []},
        "has_hard_bounced": False,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": bool(contact.get("unsubscribed_from_emails", False)),
        "created_at": contact["created_at"],
        "updated_at": contact["updated_at"],
        "signed_up_at": contact.get("signed_up_at"),
        "last_seen_at": contact.get("last_seen_at"),
    }
    for name in NULL_FIELDS:
        body[name] = contact.get(name)
    body["location"] = {
        "type": "location", "country": None, "region": None, "city": None, "country_code": None, "continent_code": None,
    }  # fmt: skip
    for name in DEVICE_FIELDS:
        body[name] = None
    body["custom_attributes"] = render_values(
        ws, dict(contact.get("custom_attributes") or {}), relationship_references(ws, "contact")
    )
    body["tags"] = _embedded(list(contact.get("tags") or {}), "tag", contact_id, "tags")
    body["notes"] = _embedded(list(contact.get("note_ids") or []), "note", contact_id, "notes")
    body["companies"] = _embedded(list(contact.get("company_ids") or []), "company", contact_id, "companies")
    subscriptions = {
        "type": "list",
        "data": [],
        "url": f"/contacts/{contact_id}/subscriptions",
        "total_count": 0,
        "has_more": False,
    }
    body["opted_out_subscription_types"] = dict(subscriptions)
    body["opted_in_subscription_types"] = dict(subscriptions)
    for name in ("utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term", "referrer"):
        body[name] = None
    body["enabled_push_messaging"] = None
    return body


def contact_refs(ws: Workspace, contact_ids: list[str]) -> dict[str, Any]:
    """The ``contact.list`` of references a conversation or ticket carries."""
    return {
        "type": "contact.list",
        "contacts": [
            {"type": "contact", "id": c, "external_id": (ws.contacts.get(c) or {}).get("external_id")}
            for c in contact_ids
        ],
    }


def _conflict(existing: dict[str, Any]) -> ApiError:
    prefix = "An archived contact" if existing.get("archived") else "A contact"
    return ApiError(409, "conflict", f"{prefix} matching those details already exists with id={existing['id']}")


def _check_unique(ws: Workspace, role: str, email: Any, external_id: Any, self_id: str | None = None) -> None:
    """Users are unique by email (case-insensitive) and external_id; archived users still block; leads exempt."""
    if role != "user":
        return
    if email:
        other = ws.contact_by_email.get(str(email).lower())
        if other is not None and other != self_id:
            raise _conflict(ws.contacts[other])
    if external_id not in (None, ""):
        other = ws.contact_by_external_id.get(str(external_id))
        if other is not None and other != self_id:
            raise _conflict(ws.contacts[other])


def _index(ws: Workspace, contact: dict[str, Any]) -> None:
    if contact["role"] != "user":
        return
    if contact.get("email"):
        ws.contact_by_email[contact["email"].lower()] = contact["id"]
    if contact.get("external_id") not in (None, ""):
        ws.contact_by_external_id[str(contact["external_id"])] = contact["id"]


def _unindex(ws: Workspace, contact: dict[str, Any]) -> None:
    if contact.get("email") and ws.contact_by_email.get(contact["email"].lower()) == contact["id"]:
        del ws.contact_by_email[contact["email"].lower()]
    ext = contact.get("external_id")
    if ext not in (None, "") and ws.contact_by_external_id.get(str(ext)) == contact["id"]:
        del ws.contact_by_external_id[str(ext)]


def is_placeholder(email: str) -> bool:
    """An address in a reserved top-level domain: whether a workspace takes it is assumed (``placeholder_emails``)."""
    return email.rpartition("@")[2].rstrip(".").rpartition(".")[2].lower() in RESERVED_TLDS


def _links_on_create(ws: Workspace, values: Any) -> Any:
    """``custom_attributes`` of ``POST /contacts`` without the relationship values the workspace ignores on create
    (``created_with_links``: refused before anything is stored). A null or empty value links nothing: not checked."""
    if not isinstance(values, dict):
        return values
    references = relationship_references(ws, "contact")
    out = dict(values)
    for name, value in values.items():
        if name in references and not linkable_on_create(ws, "contact", "custom_attributes", name, value):
            del out[name]
    return out


def _validated_fields(ws: Workspace, body: dict[str, Any], creating: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in WRITABLE:
        if name not in body:
            continue
        value = body[name]
        if value is not None:
            if name in STRING_FIELDS and not isinstance(value, str):
                raise bad_request(f"{name} must be a string", field=name)
            if name in INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise bad_request(f"{name} must be a unix timestamp", field=name)
            if name == "role" and value not in ("user", "lead"):
                raise bad_request("role must be either user or lead", field="role")
            if name == "owner_id" and find_admin(ws, value) is None:
                raise not_found("Admin not found", code="admin_not_found")
            if name == "email" and is_placeholder(value) and not holds(ws, "placeholder_emails", "Invalid email", name):
                continue  # the workspace ignores the address: the contact is kept without it
        fields[name] = int(value) if name in INT_FIELDS and value is not None else value
    if "custom_attributes" in body:
        values = _links_on_create(ws, body["custom_attributes"]) if creating else body["custom_attributes"]
        fields["custom_attributes"] = check_custom_attributes(ws, "contact", values)
    return fields


@routes.post("/contacts")
def create_contact(ctx: Ctx) -> dict[str, Any]:
    return render_contact(ctx.ws, store_new_contact(ctx.ws, ctx.json()), ctx.new_shapes)


def store_new_contact(ws: Workspace, body: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``POST /contacts``: validates (raising before anything is stored), then stores and indexes the contact.
    ``extra``: already validated fields stored with it (``POST /contacts/bulk``'s ``language_override``)."""
    if not any(body.get(k) not in (None, "") for k in ("email", "external_id", "role")):
        raise bad_request("Either email, external_id or role must be provided", code="parameter_not_found")
    fields = _validated_fields(ws, body, creating=True)
    if "custom_attributes" in fields:  # a null or empty relationship value links nothing: stored as PUT stores it
        references = relationship_references(ws, "contact")
        fields["custom_attributes"] = {
            k: v for k, v in fields["custom_attributes"].items() if v is not None or k not in references
        }
    role = fields.get("role") or "user"
    _check_unique(ws, role, fields.get("email"), fields.get("external_id"))
    stamp = now()
    contact: dict[str, Any] = {"id": ws.hex_ids.next(), "role": role, "created_at": stamp, "updated_at": stamp}
    contact.update(
        {name: value for name, value in fields.items() if value is not None and name not in ("role", "email_verified")}
    )
    contact.update(extra or {})
    ws.contacts[contact["id"]] = contact
    if ws.search_delay_seconds > 0:
        ws.searchable_after[contact["id"]] = time.monotonic() + ws.search_delay_seconds
    _index(ws, contact)
    ws.touch()
    return contact


@routes.get("/contacts/{contact_id}")
def get_contact(ctx: Ctx) -> dict[str, Any]:
    return render_contact(ctx.ws, require_contact(ctx.ws, ctx.path["contact_id"]), ctx.new_shapes)


@routes.put("/contacts/{contact_id}")
def update_contact(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    contact = require_contact(ws, ctx.path["contact_id"])
    fields = _validated_fields(ws, body)
    role = fields.get("role") or contact["role"]
    email = fields["email"] if "email" in fields else contact.get("email")
    external_id = fields["external_id"] if "external_id" in fields else contact.get("external_id")
    _check_unique(ws, role, email, external_id, self_id=contact["id"])
    _unindex(ws, contact)
    for name, value in fields.items():
        if name == "email_verified":
            continue
        if name == "custom_attributes":
            merged = dict(contact.get("custom_attributes") or {})
            merged.update(value)
            contact["custom_attributes"] = {k: v for k, v in merged.items() if v is not None}
        elif value is None:
            contact.pop(name, None)
        else:
            contact[name] = value
    contact["role"] = role
    contact["updated_at"] = now()
    _index(ws, contact)
    ws.touch()
    return render_contact(ws, contact, ctx.new_shapes)


@routes.delete("/contacts/{contact_id}")
def delete_contact(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    contact = require_contact(ws, ctx.path["contact_id"])
    _unindex(ws, contact)
    for company_id in contact.get("company_ids") or []:
        company = ws.companies.get(company_id)
        if company and contact["id"] in company.get("contact_ids", []):
            company["contact_ids"].remove(contact["id"])
    for note_id in contact.get("note_ids") or []:
        ws.notes.pop(note_id, None)
    del ws.contacts[contact["id"]]
    ws.touch()
    return {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id"), "deleted": True}


@routes.post("/contacts/{contact_id}/archive")
def archive_contact(ctx: Ctx) -> dict[str, Any]:
    contact = require_contact(ctx.ws, ctx.path["contact_id"])
    contact["archived"] = True
    ctx.ws.touch()
    return {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id"), "archived": True}


@routes.post("/contacts/{contact_id}/unarchive")
def unarchive_contact(ctx: Ctx) -> dict[str, Any]:
    contact = require_contact(ctx.ws, ctx.path["contact_id"])
    contact.pop("archived", None)
    ctx.ws.touch()
    return {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id"), "archived": False}


@routes.get("/contacts/find_by_external_id/{external_id}")
def find_by_external_id(ctx: Ctx) -> dict[str, Any]:
    contact_id = ctx.ws.contact_by_external_id.get(ctx.path["external_id"])
    contact = ctx.ws.contacts.get(contact_id) if contact_id else None
    if contact is None or contact.get("archived"):
        raise not_found("User Not Found")
    return render_contact(ctx.ws, contact, ctx.new_shapes)


def _contact_list(ctx: Ctx, req: PageRequest, searching: bool = False) -> dict[str, Any]:
    """Archived contacts never show; with a search delay, a search misses contacts not yet searchable."""
    ws = ctx.ws
    lagging = searching and ws.search_delay_seconds > 0
    clock = time.monotonic()
    candidates = (
        c
        for c in ws.contacts.values()
        if not c.get("archived") and not (lagging and ws.searchable_after.get(c["id"], 0.0) > clock)
    )
    chosen, total, pages = search_page(ws, "contacts", candidates, SEARCH_MODEL, req, cache=not lagging)
    return {
        "type": "list",
        "data": [render_contact(ws, ws.contacts[i], ctx.new_shapes) for i in chosen],
        "total_count": total,
        "pages": pages,
    }


@routes.get("/contacts")
def list_contacts(ctx: Ctx) -> dict[str, Any]:
    return _contact_list(ctx, list_request(ctx, 50))


@routes.post("/contacts/search")
def search_contacts(ctx: Ctx) -> dict[str, Any]:
    return _contact_list(ctx, parse_search(ctx, SEARCH_MODEL, 50), searching=True)


# --- companies of a contact -----------------------------------------------------------------------------------


@routes.post("/contacts/{contact_id}/companies")
def attach_company(ctx: Ctx) -> dict[str, Any]:
    from intercom_sandbox.routes.companies import render_company

    ws, body = ctx.ws, ctx.json()
    contact = require_contact(ws, ctx.path["contact_id"])
    company_id = body.get("id")
    if company_id in (None, ""):
        raise bad_request("company not specified", code="parameter_not_found")
    company = ws.companies.get(str(company_id))
    if company is None:
        raise not_found("Company Not Found", code="company_not_found")
    link_company(ws, contact, company)
    return render_company(ws, company)


def link_company(ws: Workspace, contact: dict[str, Any], company: dict[str, Any]) -> None:
    """``POST /contacts/{id}/companies``: attaches (once; at most 1000 companies a contact)."""
    linked = contact.setdefault("company_ids", [])
    if company["id"] not in linked:
        if len(linked) >= 1000:
            raise bad_request(
                "Contact has reached the maximum of 1000 company associations", code="contact_company_limit_exceeded"
            )
        linked.append(company["id"])
        company.setdefault("contact_ids", []).append(contact["id"])
        company["updated_at"] = contact["updated_at"] = now()
        ws.touch()


@routes.delete("/contacts/{contact_id}/companies/{company_id}")
def detach_company(ctx: Ctx) -> dict[str, Any]:
    from intercom_sandbox.routes.companies import render_company

    ws = ctx.ws
    contact = require_contact(ws, ctx.path["contact_id"])
    company = ws.companies.get(ctx.path["company_id"])
    if company is None or company["id"] not in (contact.get("company_ids") or []):
        raise not_found("Company Not Found", code="company_not_found")
    contact["company_ids"].remove(company["id"])
    if contact["id"] in company.get("contact_ids", []):
        company["contact_ids"].remove(contact["id"])
    ws.touch()
    return render_company(ws, company)


@routes.get("/contacts/{contact_id}/companies")
def list_contact_companies(ctx: Ctx) -> dict[str, Any]:
    from intercom_sandbox.routes.companies import render_company

    ws = ctx.ws
    contact = require_contact(ws, ctx.path["contact_id"])
    companies = [ws.companies[c] for c in contact.get("company_ids") or [] if c in ws.companies]
    next_url = f"{ctx.base_url}/contacts/{contact['id']}/companies"
    return pagination.offset_list(ctx.query, companies, lambda c: render_company(ws, c), 50, next_url=next_url)


# --- notes ----------------------------------------------------------------------------------------------------


def render_note(ws: Workspace, note: dict[str, Any]) -> dict[str, Any]:
    admin = ws.admins.get(note["admin_id"]) or ws.first_admin
    return {
        "type": "note",
        "id": note["id"],
        "created_at": note["created_at"],
        "contact": {"type": "contact", "id": note["contact_id"]},
        "author": admin_author(admin),
        "body": note["body"],
    }


def as_html(text: str) -> str:
    """Plain text bodies are stored as a paragraph, as Intercom renders them."""
    stripped = text.strip()
    return stripped if stripped.startswith("<") else f"<p>{stripped}</p>"


@routes.post("/contacts/{contact_id}/notes")
def create_note(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    contact = require_contact(ws, ctx.path["contact_id"])
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("body is required", code="parameter_not_found", field="body")
    admin_id = body.get("admin_id")
    if admin_id not in (None, ""):
        admin = find_admin(ws, admin_id)
        if admin is None:
            raise not_found()
    else:
        admin = ws.first_admin
    note_id = ws.next_id("note", start=1)
    note = {
        "id": note_id,
        "contact_id": contact["id"],
        "admin_id": admin["id"],
        "body": as_html(text),
        "created_at": now(),
    }
    ws.notes[note_id] = note
    contact.setdefault("note_ids", []).append(note_id)
    ws.touch()
    return render_note(ws, note)


@routes.get("/contacts/{contact_id}/notes")
def list_notes(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    contact = require_contact(ws, ctx.path["contact_id"])
    notes = [ws.notes[n] for n in reversed(contact.get("note_ids") or []) if n in ws.notes]
    return pagination.offset_list(ctx.query, notes, lambda n: render_note(ws, n), 50)


@routes.get("/notes/{note_id}")
def get_note(ctx: Ctx) -> dict[str, Any]:
    note = ctx.ws.notes.get(ctx.path["note_id"])
    if note is None:
        raise not_found()
    return render_note(ctx.ws, note)


# --- tags -----------------------------------------------------------------------------------------------------


@routes.post("/contacts/{contact_id}/tags")
def tag_contact(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    contact = require_contact(ws, ctx.path["contact_id"])
    tag = require_tag(ws, body.get("id"))
    return apply_tag(ws, contact, tag["id"], ws.first_admin["id"])


@routes.delete("/contacts/{contact_id}/tags/{tag_id}")
def untag_contact(ctx: Ctx) -> dict[str, Any]:
    contact = require_contact(ctx.ws, ctx.path["contact_id"])
    require_tag(ctx.ws, ctx.path["tag_id"])
    return remove_tag(ctx.ws, contact, ctx.path["tag_id"])


@routes.get("/contacts/{contact_id}/tags")
def list_contact_tags(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    contact = require_contact(ws, ctx.path["contact_id"])
    applied = contact.get("tags") or {}
    return {"type": "list", "data": [render_applied(ws, t, a) for t, a in applied.items() if t in ws.tags]}
