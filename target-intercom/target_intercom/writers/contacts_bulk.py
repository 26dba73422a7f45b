"""New contacts in bulk (``bulk_preview``): up to 100 per ``POST /contacts/bulk`` with their written companies
inline, found afterwards by one search per 150; whatever the job did not create goes the usual way.

Why it is safe: the batch's intents are committed (one transaction) before anything is sent, so a record the bulk
path leaves (rejected, not found yet, the job lost) is written by ``ContactWriter.write`` knowing it was sent: a
409 on its external id is ours. A contact found with our external id is ours when its task reported no rejected
item or it was created after the task began; otherwise it was there before (adopted) or an earlier run's (its
intent says so), and the usual path brings it up to date.
"""

from __future__ import annotations

import logging
import threading
import typing as t
import weakref

from target_intercom.bulk import MAX_ITEMS, JobTimeout, Task, jobs_for, search_external_ids
from target_intercom.capabilities import HOLDS
from target_intercom.client import IntercomError
from target_intercom.ledger import Entity, Held, content_hash
from target_intercom.writers.base import CREATED, SETTLED, Outcome, WriteContext
from target_intercom.writers.batch import BatchResult, Item
from target_intercom.writers.custom_objects import links_for_create, remember_links

LOGGER = logging.getLogger("target_intercom.bulk")
BATCH = 3 * MAX_ITEMS  # records per batch task: three bulk requests, two search pages, polls shared
CAPABILITY = "bulk_contacts"
LINKS_CAPABILITY = "bulk_created_with_links"
LINKS, COMPANIES = "contact_companies", "companies"


#: per run (its client), lower-cased e-mail -> (contact id, external id) of the contacts its
#: bulk jobs created: a later person with the same e-mail (a group's next) is merged without a request
_CREATED: weakref.WeakKeyDictionary[t.Any, dict[str, tuple[str, str]]] = weakref.WeakKeyDictionary()
_CREATED_LOCK = threading.Lock()


def created_with_email(ctx: WriteContext, email: t.Any) -> tuple[str, str] | None:
    """(contact id, external id) of the contact a bulk job of this run created with ``email``."""
    if not email or not _CREATED:  # no bulk job in any run of this process: no lock on the usual path
        return None
    with _CREATED_LOCK:
        return _CREATED.get(ctx.client, {}).get(str(email).lower())


def _created_with(ctx: WriteContext, email: t.Any, contact_id: str, external_id: str) -> None:
    if email:
        with _CREATED_LOCK:
            _CREATED.setdefault(ctx.client, {})[str(email).lower()] = (contact_id, external_id)


def enabled(ctx: WriteContext) -> bool:
    """``bulk_preview`` is on, the workspace's live check says bulk contacts hold (or no check: all assumed, as
    for every capability), and Intercom has not refused a bulk request in this run."""
    if not ctx.settings.get("bulk_preview"):
        return False
    if ctx.capabilities is not None and ctx.capabilities.verdict(CAPABILITY) != HOLDS:
        return False
    return jobs_for(ctx.client, "contacts").refused is None


def batchable(ctx: WriteContext, held: Held, entity: Entity | None) -> bool:
    """A create (new, or an intent a crash left) with an external id to find it by."""
    return (entity is None or entity.status in ("intent", "deleted")) and bool(held.record.get("external_id"))


def links_inline(ctx: WriteContext) -> bool:
    """Relationships waiting for a contact go in its bulk item where the check showed a bulk create keeps them;
    else they are written after it, one request per link (as ``links_for_create`` leaves them)."""
    return ctx.capabilities is None or ctx.capabilities.verdict(LINKS_CAPABILITY) == HOLDS


def inline_pair(kind: str, record: dict) -> tuple[tuple[str, str], tuple[str, str]] | None:
    refs = record.get("refs") or {}
    if kind != LINKS or not refs.get("contact") or not refs.get("company"):
        return None
    return ("contacts", str(refs["contact"])), (COMPANIES, str(refs["company"]))


def _inline_companies(ctx: WriteContext, keys: list[str]) -> dict[str, list[tuple[dict, Entity]]]:
    """Per contact key, its staged company links whose company is written with its ``company_id`` known."""
    links = ctx.ledger.held_for(LINKS, "contacts", keys)
    companies = ctx.ledger.lookup_many(COMPANIES, [str((r.get("refs") or {}).get("company")) for r in links])
    out: dict[str, list[tuple[dict, Entity]]] = {}
    for link in links:
        refs = link.get("refs") or {}
        company = companies.get(str(refs.get("company")))
        if company is not None and company.status == "written" and company.extra.get("company_id"):
            out.setdefault(str(refs.get("contact")), []).append((link, company))
    return out


def _created_by(task: Task, contact: dict, body: dict) -> bool:
    """In a task that rejected some item: the contact found is this item's create when it was created after the
    task began and holds the e-mail it sent (one there before, or another person's, does not both)."""
    sent = str(body.get("email") or "").lower()
    return int(contact.get("created_at") or 0) >= task.since and str(contact.get("email") or "").lower() == sent


def write_batch(ctx: WriteContext, items: list[Item], body: t.Callable[[dict], tuple[dict, list[dict]]]) -> BatchResult:
    """``items`` through bulk jobs (``body``: a record's request body and report issues, as ``write`` builds it)."""
    keys = [held.source_key for held, _, _ in items]
    sent_before = {held.source_key for held, _, entity in items if entity is not None and entity.status == "intent"}
    built = [body(held.record) for held, _, _ in items]
    inline = _inline_companies(ctx, keys)
    carried = {key: links_for_create(ctx, "contacts", [key]) for key in keys} if links_inline(ctx) else {}
    ctx.ledger.record_intents("contacts", keys, ctx.run_id)  # one transaction, before anything is sent
    jobs = jobs_for(ctx.client, "contacts")
    result = BatchResult([None] * len(items))
    tasks: list[Task] = []
    try:
        for start in range(0, len(items), MAX_ITEMS):
            chunk = []
            for i in range(start, min(start + MAX_ITEMS, len(items))):
                companies = [{"company_id": str(c.extra["company_id"])} for _, c in inline.get(keys[i], [])]
                item = {**built[i][0], **({"companies": companies} if companies else {})}
                if carried.get(keys[i]):
                    item["custom_attributes"] = {**item.get("custom_attributes", {}), **carried[keys[i]]}
                chunk.append(item)
            tasks.append(jobs.submit(chunk))
        states = jobs.wait(tasks)
        found: dict[str, list[dict]] = {}
        for contact in search_external_ids(ctx.client, [str(h.record["external_id"]) for h, _, _ in items]):
            found.setdefault(str(contact.get("external_id")), []).append(contact)
    except (IntercomError, JobTimeout) as exc:
        if isinstance(exc, IntercomError) and not tasks and not exc.ambiguous and exc.status in (400, 401, 403, 404):
            jobs.refused = f"{exc.status} {exc.message}"  # the workspace takes no bulk: the rest of the run per record
        LOGGER.warning("contacts: bulk write of %d failed (%s); written one by one", len(items), exc)
        return result
    attached: list[str] = []
    for i, (held, _, _) in enumerate(items):
        matches = found.get(str(held.record["external_id"])) or []
        if len(matches) != 1:
            continue  # rejected (an e-mail in use), not searchable yet, or ambiguous: the usual way decides
        contact, task = matches[0], tasks[i // MAX_ITEMS]
        contact_id = str(contact["id"])
        created = states.get(task.task_id) == "completed" or _created_by(task, contact, built[i][0])
        if not created:  # there before (adopted) or an earlier run's create (ours): the usual way updates it
            ctx.ledger.record_written(
                "contacts", held.source_key, contact_id, SETTLED, ctx.run_id, created=held.source_key in sent_before
            )
            continue
        links = inline.get(held.source_key, [])
        for link, company in links:  # before the contact: a link is never ready (nor sent) once it is recorded
            coid = str(company.intercom_id)
            ctx.ledger.record_written(
                LINKS,
                link["source_key"],
                f"{contact_id}:{coid}",
                content_hash(link),
                ctx.run_id,
                created=True,
                extra={"contact_id": contact_id, "company_id": coid},
            )
        attached += [link["source_key"] for link, _ in links]
        remember_links(ctx, "contacts", contact_id, None, carried.get(held.source_key) or {})
        _created_with(ctx, built[i][0].get("email"), contact_id, str(held.record["external_id"]))
        result.outcomes[i] = Outcome(contact_id, CREATED, issues=built[i][1])
    ctx.ledger.release(LINKS, attached)  # one transaction; the contacts are recorded after this returns
    result.alongside[LINKS] += len(attached)
    written = sum(1 for o in result.outcomes if o)
    LOGGER.info(
        "contacts: %d of %d created in bulk (%d requests), %d company links inline; %d left to the usual way",
        written, len(items), len(tasks), len(attached), len(items) - written,
    )  # fmt: skip
    return result
