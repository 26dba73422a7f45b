"""Contacts, companies and the links between them: the parents every ticket and conversation refers to."""

from __future__ import annotations

import typing as t

from target_intercom.capabilities import PLACEHOLDER_DOMAIN
from target_intercom.client import IntercomError
from target_intercom.ledger import Entity, Held
from target_intercom.writers import contacts_bulk
from target_intercom.writers.base import CREATED, MERGED, UPDATED, Outcome, Skip, WriteContext, Writer
from target_intercom.writers.batch import BatchResult, Item, Key
from target_intercom.writers.custom_objects import links_for_create, remember_links
from target_intercom.writers.previous import not_ours, update
from target_intercom.writers.support import existing_id

CONTACT_FIELDS = (
    "role",
    "external_id",
    "email",
    "phone",
    "name",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
    "custom_attributes",
)
COMPANY_FIELDS = (
    "company_id",
    "name",
    "plan",
    "size",
    "website",
    "industry",
    "remote_created_at",
    "monthly_spend",
    "custom_attributes",
)


def body_of(record: dict, fields: tuple[str, ...]) -> dict:
    return {name: record[name] for name in fields if record.get(name) is not None}


class ContactWriter(Writer):
    """Users keyed by ``external_id`` (the TOPdesk person id). A 409 means Intercom already has the contact:
    ours from an earlier, interrupted create (same external id; the ledger's intent tells), one that was there
    before the migration (same external id: adopted and updated), or another person's with the same e-mail (case
    duplicates in TOPdesk: adopt it, keep its identity, report the merge)."""

    kind = "contacts"
    read_template = "/contacts/{id}"
    not_clearable = frozenset({"role", "external_id", "email"})

    def group_key(self, record: dict) -> str | None:
        """Persons sharing an e-mail (case variants) are written in arrival order, so the same one always owns the
        contact and the others are merged into it, whatever the concurrency."""
        email = (record.get("email") or "").strip().lower()
        return f"email:{email}" if email else None

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        body, fallback = self._body(ctx, record)
        outcome = self._write(ctx, record, body, existing)
        outcome.issues[:0] = fallback
        return outcome

    # bulk_preview: new contacts through Preview bulk jobs (contacts_bulk), the Batched protocol
    def batch_size(self, ctx: WriteContext) -> int:
        return contacts_bulk.BATCH if contacts_bulk.enabled(ctx) else 0

    def batchable(self, ctx: WriteContext, held: Held, entity: Entity | None) -> bool:
        return contacts_bulk.batchable(ctx, held, entity)

    def inline_pair(self, kind: str, record: dict) -> tuple[Key, Key] | None:
        return contacts_bulk.inline_pair(kind, record)

    def write_batch(self, ctx: WriteContext, items: list[Item]) -> BatchResult:
        return contacts_bulk.write_batch(ctx, items, lambda record: self._body(ctx, record))

    def _body(self, ctx: WriteContext, record: dict) -> tuple[dict, list[dict]]:
        """The request body of a contact and the report issues of what it leaves out."""
        body = body_of(record, CONTACT_FIELDS)
        fallback: list[dict] = []
        if ctx.lacks("placeholder_emails") and str(body.get("email") or "").lower().endswith(PLACEHOLDER_DOMAIN):
            del body["email"]  # the person has no e-mail in TOPdesk; this workspace refuses or drops made-up ones
            fallback.append(
                {
                    "category": "fallback",
                    "severity": "info",
                    "field": "email",
                    "reason": "written without its placeholder e-mail (the workspace refuses or ignores "
                    "@placeholder.invalid addresses: check intercom, placeholder_emails)",
                }
            )
        return body, fallback

    def _write(self, ctx: WriteContext, record: dict, body: dict, existing: Entity | None) -> Outcome:
        if existing and existing.intercom_id:
            if existing.extra.get("merged_into"):
                raise Skip(
                    f"same e-mail as {existing.extra['merged_into']}: merged into its contact", existing.intercom_id
                )
            path, keep = f"/contacts/{existing.intercom_id}", not_ours(ctx, existing)
            update(ctx, self, record["source_key"], existing.intercom_id, "PUT", path, body, keep=keep)
            return Outcome(existing.intercom_id, UPDATED)
        owner = contacts_bulk.created_with_email(ctx, body.get("email"))
        if owner is not None and owner[1] != str(record.get("external_id") or ""):
            # a bulk job of this run created it: what a POST's 409 and the GET after it would tell
            return self._merged(record, owner[0], f"person:{owner[1]}")
        sent_before = existing is not None and existing.status == "intent"  # a create whose answer never came
        ctx.ledger.record_intent(self.kind, record["source_key"], "", ctx.run_id)
        links = links_for_create(ctx, self.kind, [record["source_key"]])
        # with the relationships waiting for the contact (an adoption after a 409 below writes none: the lists of a
        # contact that was there before are read and extended by the links themselves)
        attributes = {**body.get("custom_attributes", {}), **links}
        try:
            created = ctx.client.request(
                "POST", "/contacts", json={**body, "custom_attributes": attributes} if links else body
            )
            remember_links(ctx, self.kind, str(created["id"]), None, links)
            return Outcome(str(created["id"]), CREATED)
        except IntercomError as exc:
            contact_id = existing_id(exc)
            if not contact_id:
                raise
        current = ctx.client.request("GET", f"/contacts/{contact_id}")
        if str(current.get("external_id") or "") == str(record.get("external_id") or ""):
            # ours if an earlier create of this record was sent (its answer lost, or the run died before the
            # ledger entry): created by the migration; otherwise it was there before: adopted, never rolled back
            path = f"/contacts/{contact_id}"
            update(
                ctx, self, record["source_key"], contact_id, "PUT", path, body, keep=not sent_before, current=current
            )
            return Outcome(contact_id, CREATED if sent_before else UPDATED)
        owner = current.get("external_id") or current.get("email")
        return self._merged(record, contact_id, f"person:{owner}" if current.get("external_id") else str(owner))

    @staticmethod
    def _merged(record: dict, contact_id: str, merged: str) -> Outcome:
        return Outcome(
            contact_id,
            MERGED,
            extra={"merged_into": merged},
            issues=[
                {
                    "category": "merged",
                    "severity": "warning",
                    "field": "email",
                    "reason": "the e-mail already belongs to another person's contact: that contact is used, not a "
                    "second one",
                    "detail": {"email": record.get("email"), "contact_of": merged},
                }
            ],
        )

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        if not entity.extra.get("merged_into"):
            ctx.client.request("DELETE", f"/contacts/{entity.intercom_id}")

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        ctx.client.request("PUT", f"/contacts/{intercom_id}", json=values)
        return []


class CompanyWriter(Writer):
    """``POST /companies`` is an upsert by ``company_id``, so a retry can never create a second company."""

    kind = "companies"
    read_template = "/companies/{id}"
    not_clearable = frozenset(COMPANY_FIELDS) - {"custom_attributes"}
    requests_per_create = 2  # is it in Intercom already (a CRM's: matched, not created), then the upsert

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        body = body_of(record, COMPANY_FIELDS)
        current: dict | None = None
        written = existing is not None and existing.status == "written" and bool(existing.intercom_id)
        if existing is not None and written:
            company_id, keep = str(existing.intercom_id), not_ours(ctx, existing)
        else:  # a company Intercom has already (a CRM's, or one a rollback archived) is matched, not created
            current = self.find(ctx, body.get("company_id"))
            company_id, keep = (str(current["id"]) if current else ""), current is not None
        company = update(
            ctx, self, record["source_key"], company_id, "POST", "/companies", body, keep=keep, current=current,
            idempotent=True,
        )  # fmt: skip
        # its company_id: a contact created in bulk names its companies by it (contacts_bulk)
        extra = {"company_id": str(record["company_id"])} if record.get("company_id") else {}
        return Outcome(str(company["id"]), UPDATED if written or current else CREATED, extra=extra)

    @staticmethod
    def find(ctx: WriteContext, company_id: t.Any) -> dict | None:
        """The company Intercom holds with this ``company_id`` (``GET /companies?company_id=``), or None. Asked for
        each company not in the ledger: Intercom's lists leave out companies without contacts (2.16, ``POST
        /companies/list``), so no listing can tell that a workspace holds none."""
        if not company_id:
            return None
        try:
            found = ctx.client.request("GET", "/companies", params={"company_id": str(company_id)})
        except IntercomError as exc:
            if exc.status == 404:
                return None
            raise
        finally:
            ctx.tally("reads_before_change")
        return found if found.get("id") else None

    def request_shape(self, found: dict) -> dict:
        plan = found.get("plan")  # answered as {"type": "plan", "id", "name"}, sent by name
        return {**found, "plan": plan.get("name") if isinstance(plan, dict) else plan}

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        company_id = found.get("company_id") or extra.get("company_id")
        ctx.client.request("POST", "/companies", json={**values, "company_id": company_id}, idempotent=True)
        return []

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        ctx.client.request("DELETE", f"/companies/{entity.intercom_id}")


class ContactCompanyWriter(Writer):
    """Attaching a contact to a company twice is harmless, so the attach is retried freely."""

    kind = "contact_companies"
    required_refs = {"contact": "contacts", "company": "companies"}

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        refs = record["refs"]
        contact_id = parents[("contacts", refs["contact"])]
        company_id = parents[("companies", refs["company"])]
        ctx.client.request("POST", f"/contacts/{contact_id}/companies", json={"id": company_id}, idempotent=True)
        return Outcome(
            f"{contact_id}:{company_id}",
            UPDATED if existing else CREATED,
            extra={"contact_id": contact_id, "company_id": company_id},
        )

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        contact_id, company_id = entity.extra["contact_id"], entity.extra["company_id"]
        try:
            ctx.client.request("DELETE", f"/contacts/{contact_id}/companies/{company_id}")
        except IntercomError as exc:
            if exc.status != 404:  # the contact or company went first
                raise
