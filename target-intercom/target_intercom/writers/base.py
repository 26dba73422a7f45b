"""What every entity writer shares: the context it writes in and the outcome it reports."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from target_intercom.client import IntercomClient, IntercomError
from target_intercom.ledger import Entity, Ledger

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
MATCHED, MERGED = "matched", "merged"  # nothing written: an existing Intercom entity stands for the record


@dataclass
class Outcome:
    """One record's result; ``issues`` are report entries (e.g. a date that could not be kept)."""

    intercom_id: str
    action: str
    extra: dict = field(default_factory=dict)
    issues: list[dict] = field(default_factory=list)


class Skip(Exception):  # not an error: the record is deliberately not written
    """The record has nothing to write in Intercom (e.g. a merged duplicate); it is reported, not retried."""

    def __init__(self, reason: str, intercom_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.intercom_id = intercom_id


@dataclass
class WriteContext:
    """Shared by all writers of one run. Thread-safe parts only: the client and the ledger."""

    client: IntercomClient
    ledger: Ledger
    run_id: str
    directory: t.Any  # preflight's admin/team directory and provisioned ids
    settings: dict
    capabilities: t.Any = None  # the workspace's live check (capabilities.CheckResult); None: all assumed to hold

    def lacks(self, capability: str) -> bool:
        """The workspace refused or ignored ``capability`` in its live check: the writer takes the fallback."""
        return self.capabilities is not None and self.capabilities.lacks(capability)

    def translation_locales(self) -> list[str]:
        """The help center's locales (the default first) when the workspace holds knowledge translations; empty:
        one article or collection per language (no live check, one locale, or the capability lacking)."""
        return self.capabilities.translation_locales() if self.capabilities is not None else []

    def intercom_id(self, parents: dict[tuple[str, str], str], kind: str, key: str | None) -> str | None:
        """A parent's Intercom id: from the resolved parents, else the ledger (optional refs do not block)."""
        if not key:
            return None
        if (kind, key) in parents:
            return parents[(kind, key)]
        entity = self.ledger.lookup(kind, key)
        return entity.intercom_id if entity and entity.status == "written" else None


class Writer:
    """Writes one Intercom entity kind. ``required_refs`` name the parents a record must wait for."""

    kind: t.ClassVar[str]
    #: record field under ``refs`` -> the entity kind it points to; these block the record until written
    required_refs: t.ClassVar[dict[str, str]] = {}
    #: creates without a natural key in Intercom: an intent is recorded first and settled by a search on resume
    needs_intent: t.ClassVar[bool] = False
    #: records that must be written one after another (parts of one ticket): the group key's ref field
    sequence_by: t.ClassVar[str | None] = None
    #: False for what Intercom cannot edit once written (parts, notes): a changed record is reported, not resent
    updatable: t.ClassVar[bool] = True

    @classmethod
    def grouped(cls) -> bool:
        """Whether some records of this kind must be written one after another (see ``group_key``)."""
        return cls.sequence_by is not None or cls.group_key is not Writer.group_key

    def group_key(self, record: dict) -> str | None:
        """Records with the same key are written one after another, in order (None: independent)."""
        return (record.get("refs") or {}).get(self.sequence_by) if self.sequence_by else None

    def waits_in(self, ctx: WriteContext, record: dict) -> list[tuple[str, str]]:
        """Parents the record waits for in this workspace, beyond ``waits_for`` (what the live check decides: an
        article written as a translation waits for the article it translates)."""
        return []

    def waits_for(self, record: dict) -> list[tuple[str, str]]:
        refs = record.get("refs") or {}
        return [(kind, refs[name]) for name, kind in self.required_refs.items() if refs.get(name)]

    def write(
        self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict[tuple[str, str], str]
    ) -> Outcome:
        raise NotImplementedError

    def settle(self, ctx: WriteContext, intent: Entity) -> str | None:
        """After a crash between a create and its ledger entry: the Intercom id if the create happened."""
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Rollback of one created entity."""
        raise NotImplementedError

    #: containers whose state (open, closed, ticket state) is written once at the end of a run, after their parts
    writes_final_state: t.ClassVar[bool] = False
    #: writing the final state twice changes nothing (a ticket's PUT; not a conversation's close part)
    final_state_idempotent: t.ClassVar[bool] = True

    def write_final_state(self, ctx: WriteContext, entity: Entity) -> list[dict]:
        """Write ``entity.extra["final_state"]`` (at the end of the run: a customer's reply may reopen what a state
        written earlier closed); returns report issues. The loader then records it as written."""
        raise NotImplementedError


def error_text(exc: IntercomError) -> str:
    status = f"{exc.status} " if exc.status else ""
    code = f"{exc.code}: " if exc.code else ""
    return f"{status}{code}{exc.message}"
