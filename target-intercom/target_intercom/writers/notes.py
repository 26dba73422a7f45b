"""Notes on contacts (reservations with ``reservations: notes``) and team memberships (checked, never written)."""

from __future__ import annotations

from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, MATCHED, Outcome, Skip, WriteContext, Writer
from target_intercom.writers.support import CannotDelete, admin_or_fallback, text_of, timestamp_lost


class ContactNoteWriter(Writer):
    """``POST /contacts/{id}/notes`` (admin author). Notes have no external id, no date input, no update and no
    delete in Intercom: created once through an intent (settled by the contact's notes with the same body), dated
    at migration time (reported), a changed source reported as not updatable."""

    updatable = False
    kind = "contact_notes"
    required_refs = {"contact": "contacts"}
    optional_refs = {"author": "admins"}
    requests_per_update = 0
    needs_intent = True

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        refs = record.get("refs") or {}
        contact_id = parents[("contacts", refs["contact"])]
        body: dict = {"body": record["body"]}
        admin_id = admin_or_fallback(ctx, parents, refs.get("author"))
        if admin_id:
            body["admin_id"] = admin_id
        ctx.ledger.record_intent(
            self.kind,
            record["source_key"],
            "",
            ctx.run_id,
            extra={"contact_id": contact_id, "body": text_of(record["body"])},
        )
        note = ctx.client.request("POST", f"/contacts/{contact_id}/notes", json=body)
        return Outcome(
            str(note["id"]),
            CREATED,
            extra={"contact_id": contact_id},
            issues=[timestamp_lost("created_at", "Intercom notes take no date: the note is dated at migration time")],
        )

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        try:
            for note in ctx.client.paginate(f"/contacts/{intent.extra['contact_id']}/notes"):
                if text_of(note.get("body")) == intent.extra.get("body"):
                    return str(note["id"])
        except IntercomError as exc:
            if exc.status != 404:
                raise
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        raise CannotDelete(
            f"Intercom has no API to delete a note: note {entity.intercom_id} on contact "
            f"{entity.extra.get('contact_id')} goes with the contact when the contact is deleted; "
            "otherwise delete it in Intercom's inbox by hand"
        )


class TeamMembershipWriter(Writer):
    """Operator group members. Teams and their members are managed in Intercom's UI only (no API adds an admin
    to a team): the membership is checked against the team's ``admin_ids`` and a missing one is listed for the
    admin to add by hand. Never fails the run."""

    kind = "team_memberships"
    required_refs = {"admin": "admins", "team": "teams"}
    represented = MATCHED
    requests_per_create = requests_per_update = 0  # checked against the teams the preflight listed

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        refs = record.get("refs") or {}
        admin_id = parents[("admins", refs["admin"])]
        team_id = parents[("teams", refs["team"])]
        admin_entity = ctx.ledger.lookup("admins", refs["admin"])
        if admin_entity and admin_entity.extra.get("matched") is False:
            raise Skip(
                f"operator {refs['admin']} matches no teammate (the fallback admin stands in): add the "
                f"teammate to team {team_id} in Intercom's UI once they exist"
            )
        team = (getattr(ctx.directory, "teams", {}) or {}).get(str(team_id)) or {}
        members = {str(a) for a in team.get("admin_ids") or []}
        if str(admin_id) in members:
            return Outcome(f"{team_id}:{admin_id}", MATCHED, extra={"team_id": team_id, "admin_id": admin_id})
        raise Skip(
            f"teammate {admin_id} is not a member of team {team.get('name') or team_id}: add them in "
            "Intercom's UI (Settings > Teammates > Teams; the API cannot change team members)"
        )

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Nothing was written: a check is not a create."""
