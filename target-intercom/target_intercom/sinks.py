"""Sinks only stage: every record goes durably into the ledger, and the loader's background writer writes what is
ready while the input goes on. So when the SDK emits STATE after a drain, everything it covers is written or held on
disk, never only in memory."""

from __future__ import annotations

import typing as t

import fastjsonschema
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks import BatchSink, RecordSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

if t.TYPE_CHECKING:
    from singer_sdk.sinks import Sink

    from target_intercom.target import TargetIntercom


class CompiledValidator(BaseJSONSchemaValidator):
    """The stream's schema compiled to Python once (fastjsonschema, the SDK's own example for ``get_validator``):
    1-2 us per record instead of jsonschema's 30-45 us, on a target whose CPU per record bounds the load. Formats
    are not checked, as by the SDK's default validator."""

    def __init__(self, schema: dict[str, t.Any]) -> None:
        super().__init__(schema)
        try:
            self._validate = fastjsonschema.compile(schema, use_formats=False)
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc

    def validate(self, record: dict[str, t.Any]) -> None:
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise InvalidRecord(exc.message, record) from exc


class _TargetSink:
    def __init__(self, target: TargetIntercom, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)  # type: ignore[call-arg]
        self.target = target

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """The compiled validator where the SDK's would validate without formats (its default)."""
        sink = t.cast("Sink", self)
        if not sink.validate_schema or sink.validate_field_string_format:
            return t.cast("Sink", super()).get_validator()
        return CompiledValidator(sink.schema)


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
