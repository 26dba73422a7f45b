"""What every entity writer shares: the context it writes in and the outcome it reports."""

from __future__ import annotations

import functools
import threading
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from target_intercom.client import IntercomClient, IntercomError
from target_intercom.ledger import Entity, Ledger

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
MATCHED, MERGED = "matched", "merged"  # nothing written: an existing Intercom entity stands for the record
#: what a load does with a staged record, decided by :func:`decide` (the loader; plan and verify ask the same)
CREATE, UPDATE, NOT_UPDATABLE = "create", "update", "not_updatable"
#: how a kind's records stand in Intercom: written by the load, matched to the workspace's own (the API cannot
#: create teammates or teams), or only listed (the rebuild inventory)
WRITTEN, LISTED = "written", "listed"
#: the content hash of a create found in Intercom after a crash: its content is not known to match
SETTLED = ""


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
    _matched_ids: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)
    #: (host kind, host id, attribute) -> (the host's external id, the attribute's value) as this run last wrote
    #: it, or None when a write's outcome is unknown: the link writer's known relationship lists (it reads a host
    #: only when this run has not written or created it)
    host_values: dict[tuple[str, str, str], tuple[str | None, t.Any] | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: (host kind, key) of the links this run staged that a host's create can carry (``Writer.carried_by``): only
    #: these hosts look for links waiting for them (one ledger read each)
    link_hosts: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    #: what the writers did beyond their records' requests (``reads_before_change``), for the run's summary
    tallies: Counter = field(default_factory=Counter, repr=False, compare=False)
    _tally_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def tally(self, name: str, n: int = 1) -> None:
        with self._tally_lock:
            self.tallies[name] += n

    def lacks(self, capability: str) -> bool:
        """The workspace refused or ignored ``capability`` in its live check: the writer takes the fallback."""
        return self.capabilities is not None and self.capabilities.lacks(capability)

    def translation_locales(self) -> list[str]:
        """The help center's locales (the default first) when the workspace holds knowledge translations; empty:
        one article or collection per language (no live check, one locale, or the capability lacking)."""
        return self.capabilities.translation_locales() if self.capabilities is not None else []

    def intercom_id(self, parents: dict[tuple[str, str], str], kind: str, key: str | None) -> str | None:
        """A parent's Intercom id: from the resolved parents, else the ledger (optional refs do not block). Matched
        teammates and teams (a part's author, a ticket's assignee: most records name one) are read once per run:
        nothing in a run re-creates them under another id."""
        if not key:
            return None
        if (kind, key) in parents:
            return parents[(kind, key)]
        known = self._matched_ids.get((kind, key))
        if known is not None:
            return known
        entity = self.ledger.lookup(kind, key)
        found = entity.intercom_id if entity and entity.status == "written" else None
        if found and kind in _matched_kinds():
            self._matched_ids[(kind, key)] = found
        return found


@functools.cache
def _matched_kinds() -> frozenset[str]:
    """The kinds whose writers match existing Intercom entities and never write them (``represented`` MATCHED)."""
    from target_intercom.writers import WRITERS  # the registry imports this module

    return frozenset(writer.kind for writer in WRITERS if writer.represented == MATCHED)


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
    #: WRITTEN, MATCHED (teammates, teams) or LISTED (the inventory): only WRITTEN kinds send requests
    represented: t.ClassVar[str] = WRITTEN
    #: Intercom requests one create and one update send, as ``write`` (and ``write_final_state``) send them: the
    #: plan's and the audit's time estimates
    requests_per_create: t.ClassVar[int] = 1
    requests_per_update: t.ClassVar[int] = 1
    #: parents linked when they are written but not waited for (``WriteContext.intercom_id``): ref name -> kind.
    #: While input still comes, a record waits for these too (they may be in a stream still to come, e.g.
    #: operators after calls); at the end of the input it is written with what exists. So whether a ticket gets
    #: its assignee does not depend on how far the writer had got when the operators arrived.
    optional_refs: t.ClassVar[dict[str, str]] = {}
    #: help center: the ref whose version in the record's own language is linked when it exists (``parent:locale``)
    localised_ref: t.ClassVar[str | None] = None
    #: a call (ticket, conversation) whose caller's person never came is written at the end of the input with a
    #: contact for the call's own caller e-mail
    caller_by_email: t.ClassVar[bool] = False

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

    def optional_parents(self, record: dict) -> list[tuple[str, str]]:
        """The (parent kind, key) a record links if written, without requiring them (see ``optional_refs``)."""
        refs = record.get("refs") or {}
        out = [(parent, str(refs[name])) for name, parent in self.optional_refs.items() if refs.get(name)]
        ref = refs.get(self.localised_ref) if self.localised_ref else None
        if ref and record.get("locale"):  # the parent folder's version in the record's own language, if it has one
            out.append(("collections", f"{ref}:{record['locale']}"))
        return out

    def carried_by(self, record: dict) -> tuple[tuple[str, str], tuple[str, str]] | None:
        """(host, instance) when ``record`` is a link the host's create can carry: a host staged with that instance
        waits for it (the planner's ``carried``). None for every other kind."""
        return None

    def requests_for(self, decision: str) -> int:
        """Intercom requests a record decided so (:func:`decide`) costs."""
        if self.represented != WRITTEN:
            return 0
        # an update changes a record this run did not create: one read first keeps what it overwrites (previous.py)
        update = self.requests_per_update + (1 if self.restorable() else 0)
        return {CREATE: self.requests_per_create, UPDATE: update}.get(decision, 0)

    @classmethod
    def restorable(cls) -> bool:
        """Whether a rollback can put back what an update of this kind overwrote (the writer has ``restore``)."""
        return cls.restore is not Writer.restore

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

    # restoring what a run changed in a record it did not create (writers.previous, rollback)

    #: the path that reads one record back (``{id}``: its Intercom id); None: this kind changes no existing record
    read_template: t.ClassVar[str | None] = None
    #: fields of the update request that take no null: a value that was unset before a change cannot be put back
    not_clearable: t.ClassVar[frozenset[str]] = frozenset()

    def read_path(self, intercom_id: str, extra: dict | None = None) -> str:
        if self.read_template is None:
            raise NotImplementedError(f"{self.kind} are not read back one by one")
        return self.read_template.format(id=intercom_id)

    def request_shape(self, found: dict) -> dict:
        """A record as Intercom returns it, in the shape of this kind's update request (what ``restore`` sends)."""
        return found

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        """Send ``values`` (request-shaped: what the record held before a run changed it) back to the record that
        now holds ``found`` (request-shaped); returns what stays different, each with its reason."""
        raise NotImplementedError(f"Intercom offers no way to put back a change to {self.kind}")

    #: containers whose state (open, closed, ticket state) is written once at the end of a run, after their parts
    writes_final_state: t.ClassVar[bool] = False
    #: writing the final state twice changes nothing (a ticket's PUT; not a conversation's close part)
    final_state_idempotent: t.ClassVar[bool] = True

    def write_final_state(self, ctx: WriteContext, entity: Entity) -> list[dict]:
        """Write ``entity.extra["final_state"]`` (at the end of the run: a customer's reply may reopen what a state
        written earlier closed); returns report issues. The loader then records it as written."""
        raise NotImplementedError


class PartWriter(Writer):
    """Parts of a ticket or conversation: written one after another per container, never edited once written; the
    author is a contact for a caller's comment, else an admin, linked when written (not waited for)."""

    updatable = False
    requests_per_update = 0

    def optional_parents(self, record: dict) -> list[tuple[str, str]]:
        author = (record.get("refs") or {}).get("author")
        if not author:
            return []
        user_comment = record.get("author_type") == "user" and record.get("message_type") == "comment"
        return [("contacts" if user_comment else "admins", str(author))]


def decide(writer: Writer, entity: Entity | None, digest: str) -> str:
    """CREATE, UPDATE, UNCHANGED or NOT_UPDATABLE for a record whose content hash is ``digest`` and whose ledger
    entity is ``entity``: the one decision the loader acts on and ``plan`` and ``verify`` report."""
    if entity is None or entity.status != "written":  # new, rolled back, or an interrupted create
        return CREATE
    if entity.content_hash == digest or (not writer.updatable and entity.content_hash == SETTLED):
        return UNCHANGED
    return UPDATE if writer.updatable else NOT_UPDATABLE


def error_text(exc: IntercomError) -> str:
    status = f"{exc.status} " if exc.status else ""
    code = f"{exc.code}: " if exc.code else ""
    return f"{status}{code}{exc.message}"
