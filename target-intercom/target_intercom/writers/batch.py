"""What a writer that sends many records in one request offers the loader (``Loader._write_batch``)."""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field

from target_intercom.ledger import Entity, Held
from target_intercom.writers.base import Outcome, WriteContext

Key = tuple[str, str]  # (kind, source key)
Item = tuple[Held, dict[Key, str], Entity | None]  # a record, its resolved parents, its ledger entity


@dataclass
class BatchResult:
    """One outcome per item, in order (None: write that record the usual way, ``write``); ``alongside``: records
    of other kinds the batch wrote at no request of their own (a contact's companies, inline), per kind."""

    outcomes: list[Outcome | None]
    alongside: Counter[str] = field(default_factory=Counter)


@t.runtime_checkable
class Batched(t.Protocol):
    """A writer whose records may go in bulk: ``batch_size`` 0 means not in this run (setting off, the workspace
    lacks it): every record then goes through ``write`` as usual."""

    kind: t.ClassVar[str]

    def batch_size(self, ctx: WriteContext) -> int:
        """Records per batch task in this run; 0: none."""
        ...

    def batchable(self, ctx: WriteContext, held: Held, entity: Entity | None) -> bool:
        """Whether this record may go in a batch (e.g. a create that needs nothing a bulk request cannot carry)."""
        ...

    def inline_pair(self, kind: str, record: dict) -> tuple[Key, Key] | None:
        """(host, parent) when ``record`` (of ``kind``) is a link the host's bulk create carries inline once the
        parent is written: the host waits for that parent like for an optional one."""
        ...

    def write_batch(self, ctx: WriteContext, items: list[Item]) -> BatchResult:
        """The items written together (in the ledger: intents before anything is sent); see :class:`BatchResult`."""
        ...
