"""The live check's probes of Intercom's Preview bulk contacts (``bulk_preview``): a throwaway contact through a
bulk job, found by search, read back, deleted. Apart from :mod:`capabilities` (which calls them) to keep it small."""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from target_intercom.bulk import BulkJobs, JobTimeout, search_external_ids
from target_intercom.capabilities import (
    HOLDS,
    IGNORED,
    NOT_CHECKED,
    NOT_NEEDED,
    REFUSED,
    Check,
    Verdict,
    _said,
    relationship_ids,
)
from target_intercom.client import IntercomError

WAIT_S = 120.0  # the check's bulk job: finished by then, or not checked


def _created(check: Check, name: str, item: dict) -> dict | Verdict:
    """``item`` (one throwaway contact) through a bulk job, found by its external id: the contact, or the verdict
    when Intercom refuses the request, the job does not finish, or the search does not find it. Deleted at the
    check's clean-up, whatever happens."""
    external_id = str(item["external_id"])
    jobs = BulkJobs(check.client, "contacts")
    try:
        task = jobs.submit([item])
    except IntercomError as exc:
        if exc.ambiguous:
            check.leftovers.append(f"the check's bulk contact {external_id}: its answer was lost; delete it by hand")
        if exc.status is None or exc.status >= 500:
            raise
        return Verdict(name, REFUSED, _said(exc))
    check._undo.append(("the check's bulk contact", lambda: _delete_found(check, external_id)))
    try:
        state = jobs.wait([task], deadline_s=WAIT_S)[task.task_id]
    except JobTimeout:
        return Verdict(name, NOT_CHECKED, f"the job was not finished after {WAIT_S:.0f} s")
    found = list(search_external_ids(check.client, [external_id]))
    if len(found) != 1:
        verdict = REFUSED if state == "completed_with_errors" else IGNORED
        return Verdict(name, verdict, f"the job ended {state}; a search by external_id finds {len(found)} contacts")
    return {**found[0], "job_state": state}


def bulk_contacts(check: Check) -> Verdict:
    """A contact through a bulk job, with the check's live company inline when the archived company probe left
    one: found by search, its company read back."""
    name = "bulk_contacts"
    if not check.bulk_preview:
        return Verdict(name, NOT_NEEDED, "bulk_preview is off")
    item: dict[str, t.Any] = {"role": "user", "external_id": f"{check.stamp}-bulk", "name": check.label}
    company = check.live_company
    if company is not None:
        item["companies"] = [{"company_id": check.stamp}]
    found = _created(check, name, item)
    if isinstance(found, Verdict):
        return found
    state = found["job_state"]
    if company is None:
        return Verdict(name, HOLDS, f"job {state}, contact found by search (companies inline not tried: no company)")
    listed = check.client.request("GET", f"/contacts/{quote(str(found['id']), safe='')}/companies")
    ids = [str(c.get("id")) for c in listed.get("data") or listed.get("companies") or []]
    if str(company["id"]) not in ids:
        return Verdict(name, IGNORED, f"the contact was created without its inline company (reads {ids})")
    return Verdict(name, HOLDS, f"job {state}, contact found by search with its inline company")


def bulk_created_with_links(check: Check) -> Verdict:
    """A contact through a bulk job linking an instance of the map's first contact relationship, read back."""
    name = "bulk_created_with_links"
    if not check.bulk_preview:
        return Verdict(name, NOT_NEEDED, "bulk_preview is off")
    for needed in ("bulk_contacts", "created_with_links"):
        verdict = check.judged.get(needed)
        if verdict is not None and verdict.verdict != HOLDS:
            return Verdict(name, NOT_NEEDED, f"{needed} {verdict.verdict}: contacts carry no links in bulk here")
    rel = check._relationship(name, lambda host: host == "contact")
    if isinstance(rel, Verdict):
        return rel
    target = check._ensure_instance(rel["target"])
    value = [str(target["id"])] if rel["cardinality"] == "many" else str(target["id"])
    item = {
        "role": "user",
        "external_id": f"{check.stamp}-bulk-linked",
        "name": check.label,
        "custom_attributes": {rel["name"]: value},
    }
    found = _created(check, name, item)
    if isinstance(found, Verdict):
        return found
    read = check.client.request("GET", f"/contacts/{quote(str(found['id']), safe='')}").get("custom_attributes") or {}
    kept = read.get(rel["name"])
    if str(target["id"]) in relationship_ids(kept):
        return Verdict(name, HOLDS, f"a contact created in bulk with `{rel['name']}` keeps it")
    return Verdict(name, IGNORED, f"a contact created in bulk with `{rel['name']}` reads {kept!r}")


def _delete_found(check: Check, external_id: str) -> None:
    try:
        found = list(search_external_ids(check.client, [external_id]))
    except IntercomError as exc:
        check.leftovers.append(f"the check's bulk contact {external_id}: not found to delete ({_said(exc)})")
        return
    for contact in found:
        check._delete(f"/contacts/{quote(str(contact['id']), safe='')}", "the check's bulk contact", None)
