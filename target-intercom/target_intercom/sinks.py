"""Sinks only stage: every record goes durably into the ledger, and the loader's background writer writes what is
ready while the input goes on. So when the SDK emits STATE after a drain, everything it covers is written or held on
disk, never only in memory."""

from __future__ import annotations

import typing as t

from singer_sdk.sinks import BatchSink, RecordSink

if t.TYPE_CHECKING:
    from target_intercom.target import TargetIntercom


class _TargetSink:
    def __init__(self, target: TargetIntercom, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)  # type: ignore[call-arg]
        self.target = target


class StagingSink(_TargetSink, BatchSink):
    """An Intercom entity kind (contacts, tickets, ...): its batch is staged with every other kind's, between two
    TOPdesk records (:meth:`TargetIntercom.stage_all`); the loader writes in dependency order."""

    #: never full by itself: the target drains every staging sink together once they hold STAGE_EVERY records
    max_size = 1_000_000_000

    def __init__(self, target: TargetIntercom, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        target.staging_sinks.append(self)

    def process_batch(self, context: dict) -> None:
        self.target.stage(self.stream_name, context["records"])


class DefinitionSink(_TargetSink, RecordSink):
    """Ticket types and attribute definitions: needed by the preflight before any record is written, so they are
    kept as they arrive instead of waiting for a batch."""

    def process_record(self, record: dict, context: dict) -> None:
        self.target.define(self.stream_name, record)


class FlaggedSink(_TargetSink, RecordSink):
    """Records the map could not turn into Intercom entities: they go into the reconciliation report."""

    def process_record(self, record: dict, context: dict) -> None:
        self.target.flagged(record)


class UnsupportedSink(_TargetSink, BatchSink):
    """An Intercom entity kind the map produces but this target version cannot write yet: every record is listed
    in the report (category ``not_loaded``), never dropped silently."""

    def process_batch(self, context: dict) -> None:
        self.target.not_loaded(self.stream_name, context["records"])
