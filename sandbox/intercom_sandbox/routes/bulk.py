"""Preview bulk jobs: ``POST /contacts/bulk`` (strict create), ``POST /companies/bulk`` (upsert by ``company_id``)
and their ``GET …/bulk/{id}`` job status, as ``intercom-api-preview.yaml`` describes them. Only ``Intercom-Version:
Preview`` reaches them; other versions get the 404 of an unknown route (EVIDENCE.md ``preview-only-404``).

Each request adds one task (its items) to a new job, or to the open job ``job.id`` names. The sandbox applies a
task's items when the task is created, one by one through the single-create code path (``POST /contacts``,
``POST /companies``): an item that path refuses is rejected (nothing of it stored), the others are stored exactly as
the single endpoint stores them. The job then reports the task ``pending`` (job ``running``) until
``bulk_job_delay_seconds`` (default 0) have passed, then ``completed`` or ``completed_with_errors`` (EVIDENCE.md
``bulk-job-timing``). The job answers no per-item results: the description returns none.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from intercom_sandbox.capabilities import REFUSED, denied, holds
from intercom_sandbox.errors import ApiError, bad_request, json_response, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.companies import store_company
from intercom_sandbox.routes.contacts import link_company, store_new_contact
from intercom_sandbox.routes.tags import apply_tag
from intercom_sandbox.store import Workspace, now

log = logging.getLogger("intercom_sandbox")

routes = RouteTable()

#: items per request (both descriptions: "Maximum of 100 … per request", ``maxItems: 100``)
MAX_ITEMS = 100
#: the contact fields ``POST /contacts/bulk`` takes beyond ``POST /contacts``: handled here, not by the single path
CONTACT_EXTRAS = ("companies", "tags", "language_override")


def _job_not_found(job_id: str) -> ApiError:
    return not_found(f"job {job_id} not found", code="job_not_found")


def _items(body: dict[str, Any], kind: str, noun: str) -> list[dict[str, Any]]:
    """The request's items, or the 422s the description's examples show (in the order the schema checks them)."""
    if body.get(kind) is None:
        raise ApiError(422, "field_not_found", f"{kind} field must be supplied")
    items = body[kind]
    if not isinstance(items, list):
        raise ApiError(422, "type_mismatch", f"{kind} must be an array")
    if len(items) > MAX_ITEMS:
        raise ApiError(422, "parameter_invalid", f"maximum number of {kind} per request is {MAX_ITEMS}")
    if not all(isinstance(item, dict) for item in items):
        raise ApiError(422, "type_mismatch", f"each {noun} must be an object")
    return items


def _open_job(ws: Workspace, body: dict[str, Any], kind: str) -> dict[str, Any]:
    """The job ``job.id`` names (404 unknown or another kind's, 403 closed), else a new one."""
    ref = body.get("job")
    job_id = ref.get("id") if isinstance(ref, dict) else None
    if job_id not in (None, ""):
        job = ws.bulk_jobs.get(str(job_id))
        if job is None or job["kind"] != kind:
            raise _job_not_found(str(job_id))
        if job["closed"]:
            raise ApiError(403, "forbidden", f"job {job['id']} is closed for new task updates")
        return job
    stamp = now()
    job = {"id": f"job_v2_{ws.next_id('bulk_job')}", "kind": kind, "created_at": stamp, "tasks": [], "closed": False}
    ws.bulk_jobs[job["id"]] = job
    return job


def _run_task(ws: Workspace, job: dict[str, Any], items: list[dict[str, Any]], apply: Any) -> dict[str, Any]:
    """Applies the items one by one (a refused item is rejected and counted) and records the task."""
    rejected = 0
    for index, item in enumerate(items):
        try:
            apply(ws, item)
        except ApiError as exc:
            rejected += 1
            log.info("bulk %s job %s: item %d rejected: %s", job["kind"], job["id"], index, exc)
    stamp, delay = time.time(), ws.bulk_job_delay_seconds
    task = {
        "id": f"task_v2_{ws.next_id('bulk_task')}",
        "item_count": len(items),
        "created_at": int(stamp),
        "completed_at": math.ceil(stamp + delay) if delay > 0 else int(stamp),
        "ready_at": time.monotonic() + delay,
        "rejected": rejected,
    }
    job["tasks"].append(task)
    return task


def _render_job(ctx: Ctx, job: dict[str, Any], fresh: str | None = None) -> dict[str, Any]:
    """The job as the description's schema shows it; ``fresh``: the task this request added, still ``pending``."""
    clock = time.monotonic()
    tasks: list[dict[str, Any]] = []
    for task in job["tasks"]:
        done = task["id"] != fresh and clock >= task["ready_at"]
        state = ("completed_with_errors" if task["rejected"] else "completed") if done else "pending"
        tasks.append(
            {
                "id": task["id"],
                "item_count": task["item_count"],
                "state": state,
                "created_at": task["created_at"],
                "started_at": task["created_at"] if done else None,
                "completed_at": task["completed_at"] if done else None,
            }
        )
    finished = all(t["state"] != "pending" for t in tasks)
    if not finished:
        state = "running"
    elif any(t["state"] == "completed_with_errors" for t in tasks):
        state = "completed_with_errors"
    else:
        state = "completed"
    completed_at = max((t["completed_at"] for t in tasks), default=job["created_at"]) if finished else None
    updated_at = max([job["created_at"], *(t["created_at"] for t in tasks), completed_at or 0])
    return {
        "id": job["id"],
        "type": f"{job['kind']}.bulk.job",
        "state": state,
        "created_at": job["created_at"],
        "updated_at": updated_at,
        "completed_at": completed_at,
        "tasks": tasks,
        "url": f"{ctx.base_url}/{job['kind']}/bulk/{job['id']}",
    }


def _show_job(ctx: Ctx, kind: str) -> dict[str, Any]:
    job = ctx.ws.bulk_jobs.get(ctx.path["id"])
    if job is None or job["kind"] != kind:
        raise _job_not_found(ctx.path["id"])
    rendered = _render_job(ctx, job)
    if rendered["state"] != "running":
        job["closed"] = True  # a job reported finished takes no more tasks (EVIDENCE.md ``bulk-job-timing``)
    return rendered


# --- contacts -------------------------------------------------------------------------------------------------


def _company_bodies(ws: Workspace, companies: Any) -> list[dict[str, Any]]:
    """The ``companies`` of a contact item, checked before anything is stored: ``company_id`` (required) and
    ``name`` strings; a company the workspace refuses to restore from its archive rejects the item."""
    if companies is None:
        return []
    if not isinstance(companies, list):
        raise bad_request("companies must be an array", field="companies")
    bodies = []
    for company in companies:
        if not isinstance(company, dict) or not isinstance(company.get("company_id"), str) or not company["company_id"]:
            raise bad_request("company_id must be supplied for each company", field="companies")
        if company.get("name") is not None and not isinstance(company["name"], str):
            raise bad_request("name must be a string", field="companies")
        if company["company_id"] in ws.archived_companies and denied(ws, "archived_company_upsert") == REFUSED:
            holds(ws, "archived_company_upsert", "Company has been archived", "company_id")  # raises
        bodies.append({k: v for k, v in company.items() if k in ("company_id", "name")})
    return bodies


def _tag_ids(ws: Workspace, tags: Any) -> list[str]:
    """``tags.add`` ids of existing tags; unknown ids are skipped (the description: best-effort)."""
    if tags is None:
        return []
    add = tags.get("add") if isinstance(tags, dict) else None
    if not isinstance(tags, dict) or not isinstance(add or [], list):
        raise bad_request("tags must be an object with an add array", field="tags")
    found = []
    for entry in add or []:
        if not isinstance(entry, dict) or entry.get("id") in (None, ""):
            raise bad_request("each tag must have an id", field="tags")
        if str(entry["id"]) in ws.tags:
            found.append(str(entry["id"]))
    return found


def _create_contact(ws: Workspace, item: dict[str, Any]) -> None:
    """One item: a strict create through ``POST /contacts`` (an existing e-mail or external_id, archived or not,
    rejects it), then its companies (created or updated by ``company_id``, attached) and its known tags."""
    language = item.get("language_override")
    if language is not None and not isinstance(language, str):
        raise bad_request("language_override must be a string", field="language_override")
    companies = _company_bodies(ws, item.get("companies"))
    tag_ids = _tag_ids(ws, item.get("tags"))
    single = {k: v for k, v in item.items() if k not in CONTACT_EXTRAS}
    contact = store_new_contact(ws, single, {"language_override": language} if language is not None else None)
    for body in companies:
        company = store_company(ws, body)
        if company["id"] in ws.companies:  # not an archived company the workspace ignores
            link_company(ws, contact, company)
    for tag_id in tag_ids:
        apply_tag(ws, contact, tag_id, ws.first_admin["id"])


@routes.preview_post("/contacts/bulk")
def bulk_create_contacts(ctx: Ctx) -> Any:
    return _submit(ctx, ctx.json(), "contacts", "contact", _create_contact)


@routes.preview_get("/contacts/bulk/{id}")
def show_contacts_job(ctx: Ctx) -> dict[str, Any]:
    return _show_job(ctx, "contacts")


# --- companies ------------------------------------------------------------------------------------------------


def _upsert_company(ws: Workspace, item: dict[str, Any]) -> None:
    """One item: ``POST /companies`` as it is (an unknown key rejects the item, as the single endpoint refuses it)."""
    store_company(ws, item)


@routes.preview_post("/companies/bulk")
def bulk_upsert_companies(ctx: Ctx) -> Any:
    ws, body = ctx.ws, ctx.json()
    extra = [f"POST /companies/bulk {k}" for k in body if k not in ("companies", "job")]
    if isinstance(body.get("job"), dict):
        extra += [f"POST /companies/bulk job.{k}" for k in body["job"] if k != "id"]
    if extra:  # ignored and counted, as documented.py does for the other operations
        ws.note_undocumented(extra)
    return _submit(ctx, body, "companies", "company", _upsert_company)


@routes.preview_get("/companies/bulk/{id}")
def show_companies_job(ctx: Ctx) -> dict[str, Any]:
    return _show_job(ctx, "companies")


def _submit(ctx: Ctx, body: dict[str, Any], kind: str, noun: str, apply: Any) -> Any:
    """A bulk request: its items (422s first) applied as one task of a new or the named open job; 202 with the
    job, the new task still ``pending``."""
    items = _items(body, kind, noun)
    job = _open_job(ctx.ws, body, kind)
    task = _run_task(ctx.ws, job, items, apply)
    return json_response(_render_job(ctx, job, fresh=task["id"]), 202)
