"""Tickets and their parts. Intercom has no external id for either, so creates go through a ledger intent and a
crash is settled by finding what was created (by original timestamp and content) before anything is sent again."""

from __future__ import annotations

from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, UPDATED, Outcome, PartWriter, WriteContext, Writer
from target_intercom.writers.custom_objects import links_for_create, remember_links
from target_intercom.writers.previous import assignee, not_ours, update
from target_intercom.writers.support import (
    QUIET,
    after_customer_reply,
    body_changed,
    body_digest,
    contact_for,
    created_when,
    find_part,
    record_alias,
    reply_body,
    sent_after,
    undated,
)


class TicketWriter(Writer):
    """``POST /tickets`` with the original ``created_at``, then the state the call had in TOPdesk."""

    kind = "tickets"
    required_refs = {"contact": "contacts"}
    optional_refs = {"company": "companies", "admin": "admins", "team": "teams"}
    caller_by_email = True
    needs_intent = True
    requests_per_create = 2  # the create, then its state at the end of the run (and its assignee)
    read_template = "/tickets/{id}"
    # a state or open flag is always set; "0" unassigns the admin, and nothing documented unassigns a team
    not_clearable = frozenset({"ticket_state_id", "open", "team_assignee_id", "company_id"})

    def _create_body(self, ctx: WriteContext, record: dict, parents: dict, attributes: dict, assignment: dict) -> dict:
        refs = record.get("refs") or {}
        body: dict = {
            "ticket_type_id": ctx.directory.ticket_type_id(record["ticket_type"]),
            "contacts": [{"id": contact_for(ctx, record, parents)}],
            "ticket_attributes": attributes,
        }
        if record.get("created_at") is not None:
            body["created_at"] = record["created_at"]
        company_id = ctx.intercom_id(parents, "companies", refs.get("company"))
        if company_id:
            body["company_id"] = company_id
        if any(assignment.values()):
            body["assignment"] = {k: v for k, v in assignment.items() if v}
        if record.get("skip_notifications"):
            body.update(QUIET)
        return body

    @staticmethod
    def _assignment(ctx: WriteContext, record: dict, parents: dict) -> dict:
        refs = record.get("refs") or {}
        return {
            "admin_assignee_id": ctx.intercom_id(parents, "admins", refs.get("admin")),
            "team_assignee_id": ctx.intercom_id(parents, "teams", refs.get("team")),
        }

    def _reassign(
        self, ctx: WriteContext, key: str, ticket_id: str, assignment: dict, applied: dict, *, keep: bool
    ) -> None:
        """A changed assignee on update: ``PUT /tickets/{id}`` takes one ``assignee_id`` (an admin or a team), so the
        admin and the team go in one request each, and only when they changed."""
        for name in ("admin_assignee_id", "team_assignee_id"):
            if assignment[name] and assignment[name] != applied.get(name):
                body = {"assignee_id": assignment[name], **QUIET}
                fields = {name: assignment[name]}
                update(ctx, self, key, ticket_id, "PUT", f"/tickets/{ticket_id}", body, keep=keep, fields=fields)

    @staticmethod
    def _attributes(ctx: WriteContext, record: dict) -> tuple[dict, list[dict]]:
        """The attributes as Intercom takes them (a list value as its option's id) and the issues of those left
        out (a value that is no option of its list)."""
        values, unknown = ctx.directory.ticket_attributes(record["ticket_type"], record.get("ticket_attributes") or {})
        return values, [
            {
                "category": "flagged",
                "severity": "warning",
                "field": f"ticket_attributes.{name}",
                "reason": f"{record['ticket_attributes'][name]!r} is not an option of the list attribute "
                f"{name!r} in Intercom: left out",
            }
            for name in unknown
        ]

    def _state_body(self, ctx: WriteContext, record: dict) -> dict:
        body: dict = {}
        state = record.get("ticket_state")
        if state and state != "submitted":
            body["ticket_state_id"] = ctx.directory.ticket_state_id(record["ticket_type"], state)
        if record.get("open") is False:
            body["open"] = False
        return body

    writes_final_state = True

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        state = self._state_body(ctx, record)
        attributes, issues = self._attributes(ctx, record)
        assignment = self._assignment(ctx, record, parents)
        if existing and existing.intercom_id:  # the state goes with the attributes; a reply after it writes it again
            body = {"ticket_attributes": attributes, **state, **QUIET}
            key, ticket_id, keep = record["source_key"], existing.intercom_id, not_ours(ctx, existing)
            update(ctx, self, key, ticket_id, "PUT", f"/tickets/{ticket_id}", body, keep=keep)
            self._reassign(ctx, key, ticket_id, assignment, existing.extra, keep=keep)
            issues += record_alias(ctx, self.kind, record, existing.intercom_id)  # the call number: links by number
            return Outcome(
                existing.intercom_id,
                UPDATED,
                issues=issues,
                extra={**assignment, "final_state": state, "state_written": state, "state_pending": False},
            )
        body = self._create_body(ctx, record, parents, attributes, assignment)
        issues += undated(ctx, record, body)
        ctx.ledger.record_intent(
            self.kind,
            record["source_key"],
            "",
            ctx.run_id,
            extra={
                "ticket_type_id": body["ticket_type_id"],
                "created_at": body.get("created_at"),
                "sent_after": sent_after(),
                "ticket_attributes": body["ticket_attributes"],  # without links: settle compares them as read back
            },
        )
        links = links_for_create(ctx, self.kind, [record["source_key"], record.get("alias_key") or ""])
        body["ticket_attributes"] = {**body["ticket_attributes"], **links}
        ticket = ctx.client.request("POST", "/tickets", json=body)
        ticket_id = str(ticket["id"])
        remember_links(ctx, self.kind, ticket_id, None, links)
        if body.get("created_at") is not None and ticket.get("created_at") != record["created_at"]:
            issues.append(
                {
                    "category": "timestamp_lost",
                    "severity": "warning",
                    "field": "created_at",
                    "reason": "Intercom did not keep the original created_at",
                }
            )
        issues += record_alias(ctx, self.kind, record, ticket_id)  # the call number: known errors link by number
        # a new ticket is submitted and open: its TOPdesk state is written after its parts, at the end of the run
        return Outcome(
            ticket_id,
            CREATED,
            issues=issues,
            extra={**assignment, "final_state": state, "state_written": {}, "state_pending": bool(state)},
        )

    def write_final_state(self, ctx: WriteContext, entity: Entity) -> list[dict]:
        """The TOPdesk state, once, after the ticket's parts (idempotent: safe to repeat after a crash)."""
        state = entity.extra.get("final_state") or {}
        if state and entity.intercom_id:
            path, keep = f"/tickets/{entity.intercom_id}", not_ours(ctx, entity)
            update(ctx, self, entity.source_key, entity.intercom_id, "PUT", path, {**state, **QUIET}, keep=keep)
        return []

    def request_shape(self, found: dict) -> dict:
        company = found.get("company_id") or (found.get("company") or {}).get("id")
        return {
            **found,
            "ticket_state_id": str((found.get("ticket_state") or {}).get("id") or "") or None,
            "admin_assignee_id": assignee(found.get("admin_assignee_id")),
            "team_assignee_id": assignee(found.get("team_assignee_id")),
            "company_id": str(company) if company else None,
        }

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        """The attributes, state and open flag in one request; the admin and the team in one each, as written."""
        path = f"/tickets/{intercom_id}"
        body = {k: v for k, v in values.items() if k not in ("admin_assignee_id", "team_assignee_id")}
        if body:
            ctx.client.request("PUT", path, json={**body, **QUIET})
        for name in ("admin_assignee_id", "team_assignee_id"):
            if name in values and values[name] != found.get(name):
                ctx.client.request("PUT", path, json={"assignee_id": values[name] or "0", **QUIET})
        if "ticket_state_id" in values and values["ticket_state_id"] != found.get("ticket_state_id"):
            return [
                "its state history: Intercom keeps a state-change part for each change of state (the run's, and "
                "the one back) and no part can be deleted, and its previous state is the run's"
            ]
        return []

    def settle(self, ctx: WriteContext, intent: Entity) -> str | None:
        wanted = intent.extra
        when = created_when(wanted)
        if when is None:
            return None
        query = {
            "operator": "AND",
            "value": [when, {"field": "ticket_type_id", "operator": "=", "value": wanted["ticket_type_id"]}],
        }
        for ticket in ctx.client.search("/tickets/search", query):
            attributes = ticket.get("ticket_attributes") or {}
            if all(attributes.get(k) == v for k, v in wanted["ticket_attributes"].items() if v is not None):
                return str(ticket["id"])
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        ctx.client.request("DELETE", f"/tickets/{entity.intercom_id}")


class TicketPartWriter(PartWriter):
    """Replies and notes, with their original ``created_at``, one ticket's parts in chronological order.
    A part cannot be changed once written: an edited TOPdesk entry is reported, not duplicated."""

    kind = "ticket_parts"
    required_refs = {"ticket": "tickets"}
    needs_intent = True
    sequence_by = "ticket"

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        ticket_id = parents[("tickets", record["refs"]["ticket"])]
        body, issues = reply_body(ctx, self.kind, record, parents)
        ctx.ledger.record_intent(
            self.kind,
            record["source_key"],
            "",
            ctx.run_id,
            extra={
                "ticket_id": ticket_id,
                "created_at": body.get("created_at"),
                "message_type": body["message_type"],
                "author_id": body.get("intercom_user_id") or body.get("admin_id"),
                "body": body_digest(body["body"]),
            },
        )
        if body["type"] == "user":  # before it is sent: a reply whose answer is lost reopens the ticket too
            after_customer_reply(ctx, "tickets", record["refs"]["ticket"])
        part = ctx.client.request("POST", f"/tickets/{ticket_id}/reply", json=body)
        issues += body_changed(body_digest(part.get("body")) == body_digest(body["body"]))
        return Outcome(str(part["id"]), CREATED, extra={"ticket_id": ticket_id}, issues=issues)

    def settle(self, ctx: WriteContext, intent: Entity) -> str | None:
        wanted = intent.extra
        try:
            ticket = ctx.client.request("GET", f"/tickets/{wanted['ticket_id']}")
        except IntercomError as exc:
            if exc.status == 404:
                return None
            raise
        parts = (ticket.get("ticket_parts") or {}).get("ticket_parts") or []
        return find_part(ctx, self.kind, parts, wanted)[0]

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Parts go with their ticket; Intercom has no API to delete one part."""
