"""Data attributes (contact/company) and conversation attributes.

Custom attributes must exist before records carry them: writing an unknown name is rejected, which is why the
migration provisions attributes first. Relationship attributes (to custom objects) are created in the UI with the
object type (``--custom-objects``): they are listed with ``data_type: relationship`` and ``reference: {type: one|many,
object_type_id}`` (the 2.16 conversation attribute shape; the contact ``data_attribute`` schema's enum lacks it, an
allowed deviation). In 2.16 ``GET /data_attributes?model=conversation`` is 422 (use
``/conversations/attributes``); earlier versions list conversation attributes there.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from intercom_sandbox.capabilities import REFUSED, denied
from intercom_sandbox.errors import ApiError, bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.custom_objects import check_relationship
from intercom_sandbox.store import Workspace, now

routes = RouteTable()

STANDARD: dict[str, list[tuple[str, str, str, str]]] = {
    "contact": [
        ("name", "Name", "The name of a user", "string"),
        ("email", "Email", "The email of a user", "string"),
        ("phone", "Phone", "The phone number of a user", "string"),
        ("external_id", "User ID", "A unique identifier for the user", "string"),
        ("role", "Role", "The role of the contact: user or lead", "string"),
        ("owner_id", "Owner", "The admin who owns the contact", "integer"),
        ("created_at", "Signed up", "The time the contact was created", "date"),
        ("signed_up_at", "Signed up at", "The time the user signed up", "date"),
        ("last_seen_at", "Last seen", "The last time the contact was seen", "date"),
        ("unsubscribed_from_emails", "Unsubscribed from emails", "Whether the contact unsubscribed", "boolean"),
    ],
    "company": [
        ("name", "Company name", "The name of a company", "string"),
        ("company_id", "Company ID", "A number identifying a company", "string"),
        ("last_request_at", "Company last seen", "The last day anyone from a company visited your site or app", "date"),
        ("remote_created_at", "Company created at", "The time the company was created by you", "date"),
        ("size", "Company size", "The number of people employed in this company", "integer"),
        ("website", "Company website", "The web address for the company's primary marketing site", "string"),
        ("industry", "Company industry", "The category or domain this company belongs to", "string"),
        ("monthly_spend", "Monthly Spend", "How much revenue the company generates for your business", "float"),
        ("plan", "Plan", "The plan the company is on", "string"),
    ],
}
CREATE_TYPES = {"string", "integer", "float", "boolean", "date", "datetime", "options"}
MODEL_LABEL = {"contact": "people", "company": "company"}
_INVALID_NAME = re.compile(r"[^\w \-$\u00a2-\u00a5\u20a0-\u20cf]")
CONVERSATION_TYPES = ("string", "integer", "list", "decimal", "boolean", "datetime", "relationship", "files")


def seed_default_data_attributes(ws: Workspace) -> None:
    for model, attrs in STANDARD.items():
        for name, label, description, data_type in attrs:
            key = -len(ws.data_attributes) - 1  # standard attributes carry no public id
            ws.data_attributes[key] = {
                "id": key,
                "model": model,
                "name": name,
                "full_name": name,
                "label": label,
                "description": description,
                "data_type": data_type,
                "api_writable": name not in ("company_id", "created_at"),
                "ui_writable": False,
                "messenger_writable": True,
                "custom": False,
                "archived": False,
            }


def render_data_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in attr.items() if k not in ("id", "options") or attr.get("custom")}
    body["type"] = "data_attribute"
    if attr.get("custom"):
        body["id"] = attr["id"]
        if attr.get("options"):
            body["options"] = list(attr["options"])
        else:
            body.pop("options", None)
    return body


def custom_attribute_names(ws: Workspace, model: str) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in ws.data_attributes.values() if a["model"] == model and a.get("custom")}


#: data types whose values Intercom types (data, conversation and ticket attributes): what a value must be
_NUMBER = (int, float)
VALUE_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "integer": ((int,), "an integer"),
    "float": (_NUMBER, "a number"),
    "decimal": (_NUMBER, "a number"),
    "boolean": ((bool,), "a boolean"),
    "date": ((int,), "a unix timestamp"),
    "datetime": ((int,), "a unix timestamp"),
}


def check_value(name: str, data_type: str, value: Any) -> None:
    """A value of the attribute's type (null clears): text in a number attribute is refused, as Intercom types its
    attributes (EVIDENCE.md: the error's code and message are assumed)."""
    expected = VALUE_TYPES.get(data_type)
    if value is None or expected is None:
        return
    types, label = expected
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise bad_request(f"{name} must be {label}, not {type(value).__name__} {value!r}", field=name)


def check_custom_attributes(ws: Workspace, model: str, values: Any) -> dict[str, Any]:
    """Custom attributes must be defined first (reference §6.2); returns the validated mapping."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise bad_request("custom_attributes must be an object", field="custom_attributes")
    known = custom_attribute_names(ws, model)
    out = dict(values)
    for name, value in values.items():
        if name not in known:
            raise bad_request(f"Custom attribute '{name}' does not exist", code="parameter_not_found")
        if known[name].get("archived"):
            raise bad_request(f"Custom attribute '{name}' is archived", code="parameter_invalid")
        if known[name]["data_type"] == "relationship":  # created in the UI with its custom object type
            out[name] = check_relationship(ws, name, known[name]["reference"], value)
        else:
            check_value(name, known[name]["data_type"], value)
    return out


def listed(ws: Workspace, attrs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attributes as a listing shows them. Where the workspace lacks ``relationship_listing``, relationship
    attributes are left out (refused) or shown as the 2.16 ``data_attribute`` schema documents: a string without
    ``reference`` (ignored); either way the relationships still take values."""
    mode = denied(ws, "relationship_listing")
    shown = []
    for attr in attrs:
        if mode is not None and attr["data_type"] == "relationship":
            ws.note_denied("relationship_listing")
            if mode == REFUSED:
                continue
            attr = {**{k: v for k, v in attr.items() if k != "reference"}, "data_type": "string"}
        shown.append(attr)
    return shown


@routes.get("/data_attributes")
def list_data_attributes(ctx: Ctx) -> dict[str, Any]:
    model = ctx.query.get("model")
    include_archived = ctx.flag("include_archived")
    if model == "conversation":
        if ctx.new_shapes:
            raise ApiError(
                422,
                "parameter_invalid",
                "model=conversation is no longer supported. Use GET /conversations/attributes instead",
            )
        data = [
            {
                "type": "data_attribute",
                "id": a["id"],
                "model": "conversation",
                "name": a["name"],
                "full_name": f"custom_attributes.{a['name']}",
                "label": a["name"],
                "description": a.get("description", ""),
                "data_type": a["data_type"],
                "api_writable": True,
                "ui_writable": True,
                "messenger_writable": False,
                "custom": True,
                "archived": a.get("archived", False),
                "created_at": a["created_at"],
                "updated_at": a["updated_at"],
            }
            for a in listed(
                ctx.ws,
                (a for a in ctx.ws.conversation_attributes.values() if include_archived or not a.get("archived")),
            )
        ]
        return {"type": "list", "data": data}
    if model not in (None, "", "contact", "company"):
        raise bad_request("The Data Attribute model field must be either contact or company")
    data = [
        render_data_attribute(a)
        for a in listed(
            ctx.ws,
            (
                a
                for a in ctx.ws.data_attributes.values()
                if (not model or a["model"] == model) and (include_archived or not a.get("archived"))
            ),
        )
    ]
    return {"type": "list", "data": data}


@routes.post("/data_attributes")
def create_data_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    name, model, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Name is a required parameter.", code="parameter_not_found")
    if model not in ("contact", "company"):
        raise bad_request("The Data Attribute model field must be either contact or company")
    if data_type not in CREATE_TYPES:
        raise bad_request("Data Type isn't an option")
    if _INVALID_NAME.search(name):
        raise bad_request(
            "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens"
        )
    for existing in ws.data_attributes.values():
        if existing["name"].lower() == name.lower() and (existing.get("custom") or existing["model"] == model):
            raise bad_request(
                f"You already have '{name}' in your {MODEL_LABEL[existing['model']]} data. "
                f"To save this as new {MODEL_LABEL[model]} data, use a different name."
            )
    options: list[str] = []
    if data_type == "options":
        raw = body.get("options")
        if not isinstance(raw, list) or len(raw) < 2:
            raise bad_request("Options isn't an array")
        options = [str((o or {}).get("value", "")) for o in raw]
    stamp = now()
    attr_id = ws.next_int("data_attribute", start=1)
    attr = {
        "id": attr_id,
        "model": model,
        "name": name,
        "full_name": f"custom_attributes.{name}",
        "label": name,
        "description": body.get("description") or "",
        "data_type": {"options": "string", "datetime": "date"}.get(data_type, data_type),
        "api_writable": True,
        "ui_writable": False,
        "messenger_writable": bool(body.get("messenger_writable", False)),
        "custom": True,
        "archived": False,
        "admin_id": ws.first_admin["id"],
        "created_at": stamp,
        "updated_at": stamp,
    }
    if options:
        attr["options"] = options
    ws.data_attributes[attr_id] = attr
    ws.touch()
    return render_data_attribute(attr)


@routes.put("/data_attributes/{data_attribute_id}")
def update_data_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    try:
        attr = ws.data_attributes.get(int(ctx.path["data_attribute_id"]))
    except ValueError:
        attr = None
    if attr is None or not attr.get("custom"):
        raise not_found("We couldn't find that data attribute to update", code="field_not_found")
    if "options" in body:
        raw = body["options"]
        if not isinstance(raw, list) or len(raw) < 2:
            raise bad_request("Options isn't an array")
        attr["options"] = [str((o or {}).get("value", "")) if isinstance(o, dict) else str(o) for o in raw]
    if "description" in body:
        attr["description"] = body["description"] or ""
    if "messenger_writable" in body:
        attr["messenger_writable"] = bool(body["messenger_writable"])
    if "archived" in body:
        attr["archived"] = bool(body["archived"])
    attr["updated_at"] = now()
    ws.touch()
    return render_data_attribute(attr)


# --- conversation attributes ----------------------------------------------------------------------------------


def render_conversation_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    body = {
        "type": "conversation_attribute",
        "id": attr["id"],
        "name": attr["name"],
        "description": attr.get("description", ""),
        "data_type": attr["data_type"],
        "required": attr.get("required", False),
        "visible_to_team_ids": attr.get("visible_to_team_ids", []),
        "archived": attr.get("archived", False),
        "created_at": attr["created_at"],
        "updated_at": attr["updated_at"],
        "admin_id": attr["admin_id"],
    }
    if attr["data_type"] == "string":
        body["multiline"] = attr.get("multiline", False)
    if attr["data_type"] == "list":
        body["options"] = [dict(o) for o in attr.get("options", [])]
    if attr["data_type"] == "relationship":
        body["reference"] = dict(attr.get("reference") or {"type": "many", "object_type_id": ""})
    return body


def require_conversation_attribute(ws: Workspace, raw_id: str) -> dict[str, Any]:
    try:
        attr = ws.conversation_attributes.get(int(raw_id))
    except ValueError:
        attr = None
    if attr is None:
        raise not_found()
    return attr


def conversation_attribute_by_name(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in ws.conversation_attributes.values()}


@routes.get("/conversations/attributes")
def list_conversation_attributes(ctx: Ctx) -> dict[str, Any]:
    include_archived = ctx.flag("include_archived")
    data = [
        render_conversation_attribute(a)
        for a in listed(
            ctx.ws, (a for a in ctx.ws.conversation_attributes.values() if include_archived or not a.get("archived"))
        )
    ]
    return {"type": "list", "data": data}


@routes.post("/conversations/attributes")
def create_conversation_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    name, data_type = body.get("name"), body.get("data_type")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, "parameter_invalid", "name is required")
    if data_type not in CONVERSATION_TYPES:
        raise ApiError(
            422,
            "parameter_invalid",
            f"data_type '{data_type}' is not valid. Allowed types: {', '.join(CONVERSATION_TYPES)}",
        )
    if any(a["name"].lower() == name.lower() and not a.get("archived") for a in ws.conversation_attributes.values()):
        raise ApiError(422, "parameter_invalid", f"An attribute named '{name}' already exists")
    stamp = now()
    attr_id = ws.next_int("conversation_attribute", start=1)
    attr: dict[str, Any] = {
        "id": attr_id,
        "name": name,
        "description": body.get("description") or "",
        "data_type": data_type,
        "required": False,
        "visible_to_team_ids": [],
        "archived": False,
        "created_at": stamp,
        "updated_at": stamp,
        "admin_id": ws.first_admin["id"],
    }
    if data_type == "string":
        attr["multiline"] = bool(body.get("multiline", False))
    if data_type == "list":
        options = body.get("options") or []
        attr["options"] = [
            {"id": str(uuid.uuid4()), "label": str((o or {}).get("label", "")), "archived": False} for o in options
        ]
    if data_type == "relationship":
        attr["reference"] = dict(body.get("reference") or {})
    ws.conversation_attributes[attr_id] = attr
    ws.touch()
    return render_conversation_attribute(attr)


@routes.get("/conversations/attributes/{id}")
def get_conversation_attribute(ctx: Ctx) -> dict[str, Any]:
    return render_conversation_attribute(require_conversation_attribute(ctx.ws, ctx.path["id"]))


@routes.put("/conversations/attributes/{id}")
def update_conversation_attribute(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    attr = require_conversation_attribute(ws, ctx.path["id"])
    for key in ("name", "description", "multiline", "required", "visible_to_team_ids", "reference", "archived"):
        if key in body:
            attr[key] = body[key]
    attr["updated_at"] = now()
    ws.touch()
    return render_conversation_attribute(attr)


@routes.delete("/conversations/attributes/{id}")
def delete_conversation_attribute(ctx: Ctx) -> dict[str, Any]:
    """Deleting archives (the attribute is returned with ``archived: true``)."""
    attr = require_conversation_attribute(ctx.ws, ctx.path["id"])
    attr["archived"] = True
    attr["updated_at"] = now()
    ctx.ws.touch()
    return render_conversation_attribute(attr)
