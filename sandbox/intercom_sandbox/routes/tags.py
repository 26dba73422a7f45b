"""Tags: ``POST /tags`` is create-or-return by case-insensitive name (or rename with ``id``), and also bulk-tags
users/companies; tags are applied to contacts, conversations and tickets by their own sub-resources."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from intercom_sandbox.errors import bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.store import Workspace, now

routes = RouteTable()


def render_tag(tag: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tag", "id": tag["id"], "name": tag["name"]}


def render_applied(ws: Workspace, tag_id: str, applied: list[Any]) -> dict[str, Any]:
    tag = ws.tags[tag_id]
    return {
        "type": "tag",
        "id": tag_id,
        "name": tag["name"],
        "applied_at": applied[0],
        "applied_by": {"type": "admin", "id": str(applied[1])},
    }


def get_or_create(ws: Workspace, name: str) -> dict[str, Any]:
    key = name.strip().lower()
    tag_id = ws.tag_by_name.get(key)
    if tag_id is not None:
        return ws.tags[tag_id]
    tag_id = ws.next_id("tag", start=100)
    tag = {"id": tag_id, "name": name.strip(), "created_at": now()}
    ws.tags[tag_id] = tag
    ws.tag_by_name[key] = tag_id
    return tag


def require_tag(ws: Workspace, tag_id: Any) -> dict[str, Any]:
    tag = ws.tags.get(str(tag_id)) if tag_id is not None else None
    if tag is None:
        raise not_found()
    return tag


def apply_tag(ws: Workspace, record: dict[str, Any], tag_id: str, admin_id: str) -> dict[str, Any]:
    applied = record.setdefault("tags", {})
    if tag_id not in applied:
        applied[tag_id] = [now(), admin_id]
        record["updated_at"] = now()
        ws.touch()
    return render_applied(ws, tag_id, applied[tag_id])


def remove_tag(ws: Workspace, record: dict[str, Any], tag_id: str) -> dict[str, Any]:
    applied = record.get("tags") or {}
    if tag_id not in applied:
        raise not_found()
    entry = applied.pop(tag_id)
    if not applied:
        record.pop("tags", None)
    ws.touch()
    return render_applied(ws, tag_id, entry)


def _set_tag(ws: Workspace, record: dict[str, Any], tag_id: str, admin_id: str, untag: bool) -> dict[str, Any]:
    """One ``users``/``companies`` entry of ``POST /tags``: tag or untag the record, quietly."""
    if untag:
        (record.get("tags") or {}).pop(tag_id, None)
    else:
        apply_tag(ws, record, tag_id, admin_id)
    return {"id": record["id"], "tagged": not untag}


@routes.get("/tags")
def list_tags(ctx: Ctx) -> dict[str, Any]:
    return {"type": "list", "data": [render_tag(t) for t in ctx.ws.tags.values()]}


@routes.post("/tags")
def create_tag(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("invalid tag parameters")
    if body.get("id") not in (None, ""):
        tag = require_tag(ws, body["id"])
        clash = ws.tag_by_name.get(name.strip().lower())
        if clash is not None and clash != tag["id"]:
            raise bad_request("invalid tag parameters")
        ws.tag_by_name.pop(tag["name"].lower(), None)
        tag["name"] = name.strip()
        ws.tag_by_name[tag["name"].lower()] = tag["id"]
        ws.touch()
        return render_tag(tag)
    users, companies = body.get("users"), body.get("companies")
    if users is None and companies is None:
        return render_tag(get_or_create(ws, name))
    tag = get_or_create(ws, name)
    result: dict[str, Any] = render_tag(tag)
    admin_id = ws.first_admin["id"]
    if users is not None:
        result["users"] = []
        for item in users if isinstance(users, list) else []:
            contact = ws.contacts.get(str((item or {}).get("id")))
            if contact is None:
                raise bad_request("invalid tag parameters")
            result["users"].append(_set_tag(ws, contact, tag["id"], admin_id, untag=bool(item.get("untag"))))
    if companies is not None:
        result["companies"] = []
        for item in companies if isinstance(companies, list) else []:
            item = item or {}
            company = None
            if item.get("id") is not None:
                company = ws.companies.get(str(item["id"]))
            elif item.get("company_id") is not None:
                company = ws.companies.get(ws.company_by_company_id.get(str(item["company_id"]), ""))
            if company is None:
                raise bad_request("invalid tag parameters")
            result["companies"].append(_set_tag(ws, company, tag["id"], admin_id, untag=bool(item.get("untag"))))
    return result


@routes.get("/tags/{tag_id}")
def get_tag(ctx: Ctx) -> dict[str, Any]:
    return render_tag(require_tag(ctx.ws, ctx.path["tag_id"]))


@routes.delete("/tags/{tag_id}")
def delete_tag(ctx: Ctx) -> Response:
    ws = ctx.ws
    tag = require_tag(ws, ctx.path["tag_id"])
    for collection in (ws.contacts, ws.companies, ws.conversations, ws.tickets):
        for record in collection.values():
            applied = record.get("tags")
            if applied and tag["id"] in applied:
                del applied[tag["id"]]
                if not applied:
                    record.pop("tags", None)
    del ws.tags[tag["id"]]
    ws.tag_by_name.pop(tag["name"].lower(), None)
    ws.touch()
    return Response(status_code=200)
