"""Conversations and their parts (calls with the strategy ``calls: conversations``; changes with ``changes:
attributes``). Intercom has no external id for either: creates go through a ledger intent, and a crash is settled
by finding what was created (original ``created_at`` + contact; the part's timestamp and type) before anything is
sent again.

Request sequence of a new conversation: ``POST /conversations`` (from the contact, original ``created_at``; no
HTML, no attributes) -> ``PUT /conversations/{id}`` (title, conversation attributes, company) -> ``POST
/conversations/{id}/parts`` assignment (admin, then team); its parts follow; at the end of the run, after its
last part, ``POST /conversations/{id}/parts`` close when the call is closed (once: a customer's reply reopens a
conversation, so closing it earlier would close, reopen and close again). Assignment and close parts cannot be
backdated (they are dated at migration time: reported)."""

from __future__ import annotations

from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, UPDATED, Outcome, PartWriter, WriteContext, Writer
from target_intercom.writers.previous import assignee, not_ours, update
from target_intercom.writers.support import (
    admin_or_fallback,
    after_customer_reply,
    body_changed,
    body_digest,
    contact_for,
    created_when,
    find_part,
    forget_alias,
    record_alias,
    reply_body,
    sent_after,
    text_of,
    timestamp_lost,
    undated,
)


def _attributes(record: dict) -> dict:
    return {k: v for k, v in (record.get("custom_attributes") or {}).items() if v is not None}


class ConversationWriter(Writer):
    kind = "conversations"
    required_refs = {"contact": "contacts"}
    optional_refs = {"company": "companies", "admin": "admins", "team": "teams"}
    caller_by_email = True
    needs_intent = True
    requests_per_create = 3  # the create, its attributes and assignment, its state at the end of the run
    read_template = "/conversations/{id}"
    not_clearable = frozenset({"title", "company_id", "open"})

    # ------------------------------------------------------------------ write

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        if existing and existing.intercom_id and existing.status == "written":
            duplicate = record_alias(ctx, self.kind, record, existing.intercom_id)
            outcome = self._update(
                ctx, existing.intercom_id, record, parents, existing.extra, keep=not_ours(ctx, existing)
            )
            outcome.issues += duplicate
            return outcome
        contact_id = contact_for(ctx, record, parents)
        body: dict = {
            "from": {"type": "user", "id": contact_id},
            "body": record.get("body") or record.get("title") or record["source_key"],
        }
        if record.get("created_at") is not None:
            body["created_at"] = record["created_at"]
        dated = undated(ctx, record, body, in_text="body")
        wanted = {
            "contact_id": contact_id,
            "created_at": body.get("created_at"),
            "sent_after": sent_after(),
            "body": body["body"],
            "custom_attributes": _attributes(record),
        }
        ctx.ledger.record_intent(self.kind, record["source_key"], "", ctx.run_id, extra=wanted)
        try:
            message = ctx.client.request("POST", "/conversations", json=body)
            conversation_id = str(message["conversation_id"])
        except IntercomError as exc:
            if not exc.ambiguous:
                raise
            found = self._find(ctx, wanted)  # it may have been created: never send it twice
            if not found:
                raise
            conversation_id, message = found, {}
        # From here on the conversation exists: recorded at once (with no content hash), so a failure in the
        # steps below is finished by the next attempt's update instead of a second create.
        ctx.ledger.record_written(
            self.kind, record["source_key"], conversation_id, "", ctx.run_id, created=True, extra=wanted
        )
        issues = dated + record_alias(ctx, self.kind, record, conversation_id)
        if body.get("created_at") is not None and message.get("created_at") not in (None, record["created_at"]):
            issues.append(timestamp_lost("created_at", "Intercom did not keep the original created_at"))
        outcome = self._update(ctx, conversation_id, record, parents, {}, created=True)
        outcome.issues[:0] = issues
        return outcome

    def _update(
        self,
        ctx: WriteContext,
        conversation_id: str,
        record: dict,
        parents: dict,
        applied: dict,
        *,
        created: bool = False,
        keep: bool = False,
    ) -> Outcome:
        """Attributes, company, assignment and state; ``applied`` is what an earlier write set (entity extra), so
        an unchanged assignment or state is not sent again. ``keep``: a conversation this run did not create (what
        the run overwrites is kept for its rollback)."""
        refs = record.get("refs") or {}
        key, path = record["source_key"], f"/conversations/{conversation_id}"
        body: dict = {}
        if record.get("title") is not None:
            body["title"] = record["title"]
        attributes = _attributes(record)
        if attributes:
            body["custom_attributes"] = attributes
        company_id = ctx.intercom_id(parents, "companies", refs.get("company"))
        if company_id:
            body["company_id"] = company_id
        if body:
            update(ctx, self, key, conversation_id, "PUT", path, body, keep=keep)
        issues: list[dict] = []
        actor = admin_or_fallback(ctx, parents, refs.get("admin"))
        state = {
            "admin_assignee_id": ctx.intercom_id(parents, "admins", refs.get("admin")),
            "team_assignee_id": ctx.intercom_id(parents, "teams", refs.get("team")),
            "open": record.get("open") is not False and record.get("state") != "closed",
        }
        for field_, kind in (("admin_assignee_id", "admin"), ("team_assignee_id", "team")):
            assignee = state[field_]
            if assignee and assignee != applied.get(field_) and actor:
                body = {"message_type": "assignment", "type": kind, "admin_id": actor, "assignee_id": assignee}
                update(
                    ctx, self, key, conversation_id, "POST", f"{path}/parts", body, keep=keep, fields={field_: assignee}
                )
        # open or closed: written once at the end of the run, after the conversation's parts (a customer's reply
        # reopens it), and only when it differs from what the writes left
        final = {"open": state["open"]}
        written = {"open": True} if created else applied.get("state_written", {"open": applied.get("open", True)})
        extra = {
            **state,
            "alias_key": record.get("alias_key"),
            "final_state": final,
            "state_written": written,
            "state_pending": final != written,
            "actor": actor,
            "closed_at": (record.get("custom_attributes") or {}).get("Closed at"),
        }
        return Outcome(conversation_id, CREATED if created else UPDATED, extra=extra, issues=issues)

    writes_final_state = True
    final_state_idempotent = False  # a close part each time

    def write_final_state(self, ctx: WriteContext, entity: Entity) -> list[dict]:
        """One close (or open) part, dated at migration time (Intercom cannot backdate it: reported)."""
        final = entity.extra.get("final_state") or {"open": True}
        issues = []
        if final != entity.extra.get("state_written") and entity.intercom_id:
            actor = entity.extra.get("actor") or ctx.directory.fallback_admin_id
            if not actor:
                raise ValueError("closing or reopening a conversation needs an admin: set fallback_admin_email")
            message_type = "open" if final["open"] else "close"
            body = {"message_type": message_type, "type": "admin", "admin_id": actor}
            path = f"/conversations/{entity.intercom_id}/parts"
            update(
                ctx, self, entity.source_key, entity.intercom_id, "POST", path, body, keep=not_ours(ctx, entity),
                fields={"open": final["open"]},
            )  # fmt: skip
            issues.append(
                timestamp_lost(
                    "state",
                    f"the {message_type} part is dated at migration time (Intercom cannot backdate state changes)",
                    closed_at=entity.extra.get("closed_at"),
                )
            )
        return issues

    # ------------------------------------------------------------------ rollback of an update

    def request_shape(self, found: dict) -> dict:
        return {
            **found,
            "company_id": (found.get("company") or {}).get("id"),
            "admin_assignee_id": assignee(found.get("admin_assignee_id")),
            "team_assignee_id": assignee(found.get("team_assignee_id")),
        }

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        """Title, attributes and company in one request; the assignee and open or closed through parts, as written
        (they stay in the conversation's history: listed)."""
        path = f"/conversations/{intercom_id}"
        body = {k: v for k, v in values.items() if k in ("title", "custom_attributes", "company_id")}
        if body:
            ctx.client.request("PUT", path, json=body)
        parts: list[dict] = []
        for name, kind in (("admin_assignee_id", "admin"), ("team_assignee_id", "team")):
            if name in values and values[name] != found.get(name):
                parts.append({"message_type": "assignment", "type": kind, "assignee_id": values[name] or "0"})
        if "open" in values and values["open"] != found.get("open"):
            parts.append({"message_type": "open" if values["open"] else "close", "type": "admin"})
        actor = extra.get("actor")
        if parts and not actor:
            return ["its assignee and state: the run recorded no admin to put them back as (do it by hand)"]
        for part in parts:
            ctx.client.request("POST", f"{path}/parts", json={**part, "admin_id": actor})
        if parts:
            return [
                "its history: the run's assignment, open and close parts and those putting them back stay "
                "(Intercom cannot delete a part)"
            ]
        return []

    # ------------------------------------------------------------------ crash recovery

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None  # no create pending (a written conversation is finished by the update path)
        return self._find(ctx, intent.extra)

    @staticmethod
    def _find(ctx: WriteContext, wanted: dict) -> str | None:
        when = created_when(wanted)
        if when is None or not wanted.get("contact_id"):
            return None
        query = {
            "operator": "AND",
            "value": [when, {"field": "contact_ids", "operator": "=", "value": wanted["contact_id"]}],
        }
        candidates = list(ctx.client.search("/conversations/search", query))
        attributes = wanted.get("custom_attributes") or {}
        for conversation in candidates:  # the attributes are set right after the create
            have = conversation.get("custom_attributes") or {}
            if attributes and all(have.get(k) == v for k, v in attributes.items()):
                return str(conversation["id"])
        for conversation in candidates:  # a crash before the attributes: the opening message tells
            if text_of((conversation.get("source") or {}).get("body")) == text_of(wanted.get("body")):
                return str(conversation["id"])
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        try:
            ctx.client.request("DELETE", f"/conversations/{entity.intercom_id}")
        except IntercomError as exc:
            if exc.status != 404:
                raise
        forget_alias(ctx, self.kind, entity.extra.get("alias_key"))


class ConversationPartWriter(PartWriter):
    """Replies and notes with their original ``created_at``, one conversation's parts in chronological order.
    A contact's reply reopens a conversation in Intercom: a conversation that is closed in TOPdesk is closed again
    at the end of the run. A part cannot be changed once written: an edited TOPdesk entry is reported, not
    duplicated."""

    kind = "conversation_parts"
    required_refs = {"conversation": "conversations"}
    needs_intent = True
    sequence_by = "conversation"

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        conversation_key = record["refs"]["conversation"]
        conversation_id = parents[("conversations", conversation_key)]
        body, issues = reply_body(ctx, self.kind, record, parents)
        author_id = body.get("intercom_user_id") or body.get("admin_id")
        wanted = {
            "conversation_id": conversation_id,
            "created_at": body.get("created_at"),
            "message_type": body["message_type"],
            "author_id": author_id,
            "body": body_digest(body["body"]),
        }
        ctx.ledger.record_intent(self.kind, record["source_key"], "", ctx.run_id, extra=wanted)
        if body["type"] == "user":  # before it is sent: a reply whose answer is lost reopens the conversation too
            after_customer_reply(ctx, "conversations", conversation_key)
        try:
            conversation = ctx.client.request("POST", f"/conversations/{conversation_id}/reply", json=body)
            part_id, as_sent = self._part_in(ctx, conversation, wanted)
            if not part_id:  # written, but not recognisable in the answer: the newest part of its type is the reply
                part_id, as_sent = self._newest_part(conversation, body["message_type"]), False
        except IntercomError as exc:
            if not exc.ambiguous:
                raise
            part_id = self.settle(ctx, ctx.ledger.lookup(self.kind, record["source_key"]))
            if not part_id:
                raise
            as_sent = True
        return Outcome(
            part_id, CREATED, extra={"conversation_id": conversation_id}, issues=issues + body_changed(as_sent)
        )

    def _part_in(self, ctx: WriteContext, conversation: dict | None, wanted: dict) -> tuple[str | None, bool]:
        parts = ((conversation or {}).get("conversation_parts") or {}).get("conversation_parts") or []
        return find_part(ctx, self.kind, parts, wanted)

    @staticmethod
    def _newest_part(conversation: dict, part_type: str) -> str:
        parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
        parts = [p for p in parts if p.get("part_type") == part_type] or parts
        return str(max(parts, key=lambda p: int(p["id"]) if str(p.get("id", "")).isdigit() else 0)["id"])

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        try:
            conversation = ctx.client.request("GET", f"/conversations/{intent.extra['conversation_id']}")
        except IntercomError as exc:
            if exc.status == 404:
                return None
            raise
        return self._part_in(ctx, conversation, intent.extra)[0]

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Parts go with their conversation; Intercom has no API to delete one part."""
