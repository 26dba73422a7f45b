"""Companies: upsert by ``company_id`` (``POST /companies``), Intercom id for everything else, offset lists that
hide companies without contacts (as Intercom does), and the single-scroll ``/companies/scroll`` (reference §9.4.4)."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from intercom_sandbox import pagination
from intercom_sandbox.capabilities import holds
from intercom_sandbox.errors import ApiError, bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.attributes import check_custom_attributes
from intercom_sandbox.store import WORKSPACE_ID, Scroll, Workspace, now

routes = RouteTable()

UPSERT_KEYS = {
    "name", "company_id", "plan", "size", "website", "industry", "custom_attributes", "remote_created_at",
    "update_last_request_at", "monthly_spend",
}  # fmt: skip
UPDATE_KEYS = UPSERT_KEYS - {"company_id", "remote_created_at"}
SCROLL_PAGE = 100
SCROLL_TTL_SECONDS = 60.0
LIST_CAP = 10_000
MAX_SPEND = 2**31 - 1


def require_company(ws: Workspace, company_id: str) -> dict[str, Any]:
    company = ws.companies.get(company_id)
    if company is None:
        raise not_found("Company Not Found", code="company_not_found")
    return company


def render_company(ws: Workspace, company: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "company",
        "company_id": company["company_id"],
        "id": company["id"],
        "app_id": WORKSPACE_ID,
        "name": company.get("name") or "",
        "remote_created_at": company.get("remote_created_at", company["created_at"]),
        "created_at": company["created_at"],
        "updated_at": company["updated_at"],
    }
    if company.get("last_request_at") is not None:
        body["last_request_at"] = company["last_request_at"]
    for key in ("size", "website", "industry"):
        if company.get(key) is not None:
            body[key] = company[key]
    body["monthly_spend"] = company.get("monthly_spend", 0)
    body["session_count"] = 0
    body["user_count"] = len(company.get("contact_ids") or [])
    body["tags"] = {
        "type": "tag.list",
        "tags": [
            {"type": "tag", "id": t, "name": ws.tags[t]["name"]} for t in company.get("tags") or {} if t in ws.tags
        ],
    }
    body["segments"] = {"type": "segment.list", "segments": []}
    plan = company.get("plan")
    body["plan"] = {"type": "plan", "id": plan["id"], "name": plan["name"]} if plan else {}
    body["custom_attributes"] = dict(company.get("custom_attributes") or {})
    return body


def _apply(ws: Workspace, company: dict[str, Any], body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise bad_request(f"bad '{key}' parameter", code="bad_request")
    for key in ("name", "website", "industry"):
        if key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise bad_request(f"{key} must be a string", field=key)
            company[key] = body[key]
    if "size" in body:
        company["size"] = int(body["size"]) if body["size"] is not None else None
    if "monthly_spend" in body and body["monthly_spend"] is not None:
        spend = int(body["monthly_spend"])  # floats are truncated
        if spend > MAX_SPEND:
            raise bad_request("monthly_spend is too large", field="monthly_spend")
        company["monthly_spend"] = spend
    if "remote_created_at" in body and body["remote_created_at"] is not None:
        company["remote_created_at"] = int(body["remote_created_at"])
    if body.get("plan") not in (None, ""):
        name = str(body["plan"])
        existing = company.get("plan")
        company["plan"] = (
            existing if existing and existing["name"] == name else {"id": ws.next_id("plan", 1), "name": name}
        )
    if "custom_attributes" in body:
        merged = dict(company.get("custom_attributes") or {})
        merged.update(check_custom_attributes(ws, "company", body["custom_attributes"]))
        company["custom_attributes"] = {k: v for k, v in merged.items() if v is not None}
    if body.get("update_last_request_at"):
        company["last_request_at"] = now()


@routes.post("/companies")
def upsert_company(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    return render_company(ws, store_company(ws, ctx.json()))


def store_company(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /companies``: creates or updates by ``company_id``; a refused body changes nothing."""
    company_id = body.get("company_id")
    existing_id = ws.company_by_company_id.get(str(company_id)) if company_id not in (None, "") else None
    archived = ws.archived_companies.get(str(company_id)) if existing_id is None else None
    # an upsert of an archived company's company_id restores it (EVIDENCE.md: assumed)
    if archived is not None and not holds(ws, "archived_company_upsert", "Company has been archived", "company_id"):
        return archived  # ignored: answered as it is, still archived, nothing changed
    current = ws.companies[existing_id] if existing_id is not None else archived
    if current is not None:
        updated = copy.deepcopy(current)  # a refused change leaves the company (and its archive) as it was
        _apply(ws, updated, {k: v for k, v in body.items() if k != "company_id"}, UPSERT_KEYS)
        updated["updated_at"] = now()
        current.clear()
        current.update(updated)
        company = current
        if archived is not None:
            del ws.archived_companies[archived["company_id"]]
            ws.companies[archived["id"]] = archived
            ws.company_by_company_id[archived["company_id"]] = archived["id"]
    else:
        stamp = now()
        company = {"id": ws.hex_ids.next(), "company_id": str(company_id or uuid.uuid4()), "created_at": stamp}
        company["updated_at"] = stamp
        _apply(ws, company, body, UPSERT_KEYS)
        ws.companies[company["id"]] = company
        ws.company_by_company_id[company["company_id"]] = company["id"]
    ws.touch()
    return company


def _visible(ws: Workspace) -> list[dict[str, Any]]:
    """List, search and scroll show only companies with at least one contact (reference §6.4)."""
    return [c for c in ws.companies.values() if c.get("contact_ids")]


@routes.get("/companies")
def retrieve_companies(ctx: Ctx) -> dict[str, Any]:
    ws, query = ctx.ws, ctx.query
    if query.get("company_id") is not None:
        company_id = ws.company_by_company_id.get(query["company_id"])
        if company_id is None:
            raise not_found("Company Not Found", code="company_not_found")
        return render_company(ws, ws.companies[company_id])
    if query.get("name") is not None:
        wanted = query["name"].lower()
        for company in ws.companies.values():
            if (company.get("name") or "").lower() == wanted:
                return render_company(ws, company)
        raise not_found("Company Not Found", code="company_not_found")
    companies = _visible(ws)
    if query.get("tag_id"):
        companies = [c for c in companies if query["tag_id"] in (c.get("tags") or {})]
    if query.get("segment_id"):
        companies = []
    return pagination.offset_list(query, companies, lambda c: render_company(ws, c), 15, maximum=60)


@routes.post("/companies/list")
def list_companies(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    companies = sorted(_visible(ws), key=lambda c: (c["created_at"], c["id"]))
    if ctx.query.get("order", "desc") == "desc":
        companies.reverse()
    return pagination.offset_list(ctx.query, companies[:LIST_CAP], lambda c: render_company(ws, c), 15, maximum=60)


@routes.get("/companies/scroll")
def scroll_companies(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    param = ctx.query.get("scroll_param")
    clock = time.monotonic()
    active = ws.scroll
    if active is not None and clock - active.last_used > SCROLL_TTL_SECONDS:
        ws.scroll = active = None
    if not param:
        if active is not None:
            raise bad_request("scroll already exists for this workspace", code="scroll_exists")
        ids = [c["id"] for c in _visible(ws)]
        if not ids:
            raise not_found("Resource Not Found")
        active = ws.scroll = Scroll(param=str(uuid.uuid4()), ids=ids, last_used=clock)
    elif active is None or active.param != param:
        raise not_found("Resource Not Found")
    active.last_used = clock
    chunk_ids = active.ids[active.position : active.position + SCROLL_PAGE]
    active.position += len(chunk_ids)
    if not chunk_ids:
        ws.scroll = None  # the empty page ends the scroll; its param now answers 404
    data = [render_company(ws, ws.companies[i]) for i in chunk_ids if i in ws.companies]
    return {"type": "list", "data": data, "pages": None, "total_count": None, "scroll_param": active.param}


@routes.get("/companies/{company_id}")
def get_company(ctx: Ctx) -> dict[str, Any]:
    return render_company(ctx.ws, require_company(ctx.ws, ctx.path["company_id"]))


@routes.put("/companies/{company_id}")
def update_company(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    company = require_company(ws, ctx.path["company_id"])
    _apply(ws, company, ctx.json(), UPDATE_KEYS)
    company["updated_at"] = now()
    ws.touch()
    return render_company(ws, company)


@routes.delete("/companies/{company_id}")
def delete_company(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    company = require_company(ws, ctx.path["company_id"])
    for contact_id in company.get("contact_ids") or []:
        contact = ws.contacts.get(contact_id)
        if contact and company["id"] in contact.get("company_ids", []):
            contact["company_ids"].remove(company["id"])
    company["contact_ids"] = []
    del ws.companies[company["id"]]
    ws.company_by_company_id.pop(company["company_id"], None)
    ws.archived_companies[company["company_id"]] = company  # archived, not deleted (the 2.16 description)
    ws.touch()
    return {"id": company["id"], "object": "company", "deleted": True}


@routes.get("/companies/{company_id}/contacts")
def company_contacts(ctx: Ctx) -> dict[str, Any]:
    from intercom_sandbox.routes.contacts import render_contact

    ws = ctx.ws
    company = require_company(ws, ctx.path["company_id"])
    contacts = [ws.contacts[c] for c in company.get("contact_ids") or [] if c in ws.contacts]
    return pagination.offset_list(ctx.query, contacts, lambda c: render_contact(ws, c, ctx.new_shapes), 50)


def company_reference(ws: Workspace, company_id: Any) -> dict[str, Any]:
    if company_id in (None, ""):
        raise ApiError(400, "parameter_not_found", "company not specified")
    return require_company(ws, str(company_id))
