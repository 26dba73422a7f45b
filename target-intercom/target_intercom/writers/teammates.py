"""Operators and operator groups: teammates and teams are created in Intercom's UI only, so these writers match
(by e-mail, by name) instead of writing, and record the match so that tickets and parts can refer to it."""

from __future__ import annotations

from target_intercom.ledger import Entity
from target_intercom.writers.base import MATCHED, Outcome, Skip, WriteContext, Writer


class AdminWriter(Writer):
    kind = "admins"
    represented = MATCHED
    requests_per_create = requests_per_update = 0  # matched against the preflight's listing

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        admin_id, matched = ctx.directory.admin_for(record.get("email"))
        if admin_id is None:
            raise Skip(
                f"operator {record.get('name')!r} ({record.get('email') or 'no e-mail'}) matches no Intercom "
                "teammate and no fallback admin is set"
            )
        issues = (
            []
            if matched
            else [
                {
                    "category": "unmatched_operator",
                    "severity": "warning",
                    "field": "email",
                    "reason": "operator matches no Intercom teammate by e-mail: the fallback admin stands in",
                    "detail": {"operator": record.get("name"), "email": record.get("email")},
                }
            ]
        )
        return Outcome(str(admin_id), MATCHED, extra={"matched": matched}, issues=issues)

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Nothing was written: a match is not a create."""


class TeamWriter(Writer):
    kind = "teams"
    represented = MATCHED
    requests_per_create = requests_per_update = 0  # matched against the preflight's listing

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        team_id = ctx.directory.team_for(record.get("name"))
        if team_id is None:
            raise Skip(
                f"operator group {record.get('name')!r} has no Intercom team of that name "
                "(teams are created in Intercom's UI)"
            )
        return Outcome(str(team_id), MATCHED)

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Nothing was written: a match is not a create."""
