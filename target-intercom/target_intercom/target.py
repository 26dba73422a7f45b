"""``target-intercom``: a singer-sdk target that loads Intercom in dependency order, idempotently, at the pace
Intercom's rate limit allows, keeping a ledger of every write (re-runs, resume, rollback) and a reconciliation
report. It takes Intercom-shaped streams from ``map-topdesk-intercom``, or TOPdesk streams straight from
``tap-topdesk``, which it maps with the same mapper code."""

from __future__ import annotations

import typing as t
from collections import defaultdict
from functools import cached_property
from pathlib import Path

import singer_sdk.typing as th
from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError, RecordsWithoutSchemaException
from singer_sdk.sinks import Sink
from sqlalchemy.engine import make_url

from map_topdesk_intercom.mapper import TopdeskIntercomMapper
from target_intercom import report
from target_intercom.capabilities import (
    CapabilityBlocked,
    CheckResult,
    check_workspace,
    map_digest,
    needed_by_ledger,
    preflight_for,
)
from target_intercom.client import IntercomClient, access_tokens
from target_intercom.ledger import DEFAULT_LEDGER, Ledger
from target_intercom.loader import Loader
from target_intercom.pacer import WORKSPACE_LIMIT_PER_MINUTE
from target_intercom.preflight import run_preflight
from target_intercom.sinks import DefinitionSink, FlaggedSink, StagingSink, UnsupportedSink
from target_intercom.writers import WRITERS
from target_intercom.writers.base import WriteContext

DEFINITIONS = ("ticket_types", "attribute_definitions", "custom_object_types")
FLAGGED = "flagged"
DEFAULT_CONCURRENCY = 128
STAGE_EVERY = 1000  # records pending over all kinds: staged together then (the writer gets work early, memory flat)


class TargetIntercom(Target):
    name = "target-intercom"
    max_parallelism = 1  # one sink drains at a time; the loader has its own bounded pool of requests in flight

    config_jsonschema = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType,
            secret=True,
            description="Intercom access token (Developer Hub > your app > Authentication); this or access_tokens",
        ),
        th.Property(
            "access_tokens",
            th.ArrayType(th.StringType),
            secret=True,
            description="access tokens of several private apps of the same workspace: the load uses each app's "
            "rate limit (10,000/min each), within the workspace's (workspace_rate_limit)",
        ),
        th.Property(
            "workspace_rate_limit",
            th.IntegerType,
            default=WORKSPACE_LIMIT_PER_MINUTE,
            description="requests per minute all private apps of the workspace may send together (Intercom's "
            "documented 25,000); each token gets an equal share",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://api.intercom.io",
            description="Intercom API base URL (regional: https://api.eu.intercom.io, https://api.au.intercom.io)",
        ),
        th.Property("intercom_version", th.StringType, default="2.16", description="Intercom-Version header"),
        th.Property(
            "map_file",
            th.StringType,
            description="the confirmed map (YAML) applied to TOPdesk streams; default: the packaged map",
        ),
        th.Property("catalog", th.StringType, description="tap-topdesk catalog to check the map against"),
        th.Property(
            "ledger_url",
            th.StringType,
            description=f"SQLAlchemy URL of the ledger; default: SQLite file {DEFAULT_LEDGER}",
        ),
        th.Property(
            "fallback_admin_email",
            th.StringType,
            description="the teammate who stands in for operators with no Intercom teammate",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=3,
            description="tries per request on 5xx / broken connections before the record goes to review",
        ),
        th.Property(
            "concurrency",
            th.IntegerType,
            default=DEFAULT_CONCURRENCY,
            description="requests in flight at most. Below it the target keeps about twice what the rate "
            "budget needs at the latency it observes (2 x limit per second x latency)",
        ),
        th.Property(
            "max_attachment_mb",
            th.NumberType,
            default=10,
            description="attachments up to this size are uploaded; larger ones are listed",
        ),
        th.Property(
            "report_dir",
            th.StringType,
            default="reports",
            description="where each run's reconciliation report (Markdown + JSON) is written",
        ),
        th.Property(
            "live_check",
            th.BooleanType,
            default=True,
            description="before loading, check the workspace for what the map relies on beyond Intercom's "
            "documentation (topdesk2intercom check intercom: a few dozen requests, throwaway "
            "records deleted) unless a check younger than check_max_age_hours exists",
        ),
        th.Property(
            "check_max_age_hours",
            th.IntegerType,
            default=24,
            description="a live check of the same workspace and map at most this old is used as it is",
        ),
        th.Property(
            "bulk_preview",
            th.BooleanType,
            default=False,
            description="create new contacts 100 per request with Intercom's Preview bulk API (POST /contacts/bulk, "
            "companies inline) where the workspace's live check shows it works; off: one request per contact and "
            "per company link",
        ),
        th.Property(
            "skip_missing_ui_objects",
            th.BooleanType,
            default=False,
            description="load even when UI-only objects (custom object types, teams) are missing; "
            "records needing them are flagged",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Configuration only: the ledger, the run and the client open when the first message needs them
        (:attr:`ledger`, :attr:`run_id`, :attr:`client`), so a target can be built to judge records (``plan``)
        without starting a run."""
        super().__init__(*args, **kwargs)
        if not access_tokens(self.config):
            raise ConfigValidationError(
                "Config validation failed",
                errors=["set access_token (or access_tokens): Developer Hub > your app > Authentication"],
            )
        self.concurrency = int(self.config.get("concurrency") or DEFAULT_CONCURRENCY)
        self.definitions: dict[str, list[dict]] = defaultdict(list)
        self.preflight: t.Any = None
        # the live check's result (not `capabilities`: singer-sdk's class-level list of the target's capabilities)
        self.workspace_capabilities: CheckResult | None = None
        self.loader: Loader | None = None
        self.completeness: dict | None = None
        self._topdesk_mapper: TopdeskIntercomMapper | None = None
        self._topdesk_streams: set[str] = set()  # TOPdesk streams whose SCHEMA arrived
        self.staging_sinks: list[StagingSink] = []  # every kind's sink (they register themselves)
        self._drained: list[tuple[str, list[dict]]] = []  # batches drained, to be staged together

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(Ledger.url_from_config(self.config))

    @cached_property
    def run_id(self) -> str:
        """This load's run in the ledger, started when first asked for (the first record, flag or definition)."""
        run_id = self.ledger.start_run({"target": self.name})
        url = make_url(Ledger.url_from_config(self.config)).render_as_string(hide_password=True)
        self.logger.info("Run %s; ledger %s", run_id, url)
        return run_id

    @cached_property
    def client(self) -> IntercomClient:
        return IntercomClient.from_config(self.config, concurrency=self.concurrency, logger=self.logger)

    # ------------------------------------------------------------------ TOPdesk streams: mapped here

    @property
    def topdesk_mapper(self) -> TopdeskIntercomMapper:
        """The mapper plugin itself, so ``tap | target`` and ``tap | mapper | target`` map with the same code."""
        if self._topdesk_mapper is None:
            config = {k: self.config[k] for k in ("map_file", "catalog") if self.config.get(k)}
            self._topdesk_mapper = TopdeskIntercomMapper(config=config)
        return self._topdesk_mapper

    @staticmethod
    def is_intercom_stream(stream: str) -> bool:
        return stream in WRITERS or stream in DEFINITIONS or stream == FLAGGED

    def _process_schema_message(self, message_dict: dict) -> None:
        if self.is_intercom_stream(message_dict["stream"]):
            super()._process_schema_message(message_dict)
        else:
            self._topdesk_streams.add(message_dict["stream"])
            self._dispatch(self.topdesk_mapper.map_schema_message(message_dict))

    def _process_record_message(self, message_dict: dict) -> None:
        if self.is_intercom_stream(message_dict["stream"]):
            super()._process_record_message(message_dict)
        elif message_dict["stream"] not in self._topdesk_streams:
            msg = f"A record for stream '{message_dict['stream']}' arrived before its SCHEMA message"
            raise RecordsWithoutSchemaException(msg)
        else:
            self._dispatch(self.topdesk_mapper.map_record_message(message_dict))
        if sum(sink.current_size for sink in self.staging_sinks) >= STAGE_EVERY:
            self.stage_all()

    def stage_all(self) -> None:
        """Every kind's pending records staged in one ledger transaction, between two input records: what one
        TOPdesk record became (an instance and its links, a ticket and its asset link) is staged at once, so the
        writer creates a host knowing the links that wait for it (in its create, not in a request of their own)."""
        for sink in self.staging_sinks:
            self.drain_one(sink)
        self._stage_drained()

    def _drain_all(self, sink_list: t.Iterable[Sink], parallelism: int) -> None:
        """The SDK's drain (the end of the input, records grown old): staged together before it emits STATE."""
        super()._drain_all(sink_list, parallelism)
        self._stage_drained()

    def _dispatch(self, messages: t.Iterable[t.Any]) -> None:
        """The mapper's output (SCHEMA and RECORD messages of Intercom streams), as if it had come on stdin."""
        for message in messages:
            if message.type == "SCHEMA":
                super()._process_schema_message(message.to_dict())
            else:
                super()._process_record_message(message.to_dict())

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if stream_name in WRITERS:
            return StagingSink
        if stream_name in DEFINITIONS:
            return DefinitionSink
        if stream_name == FLAGGED:
            return FlaggedSink
        self.logger.warning(
            "Stream '%s': this target version cannot write it yet; its records are listed in the "
            "reconciliation report as not loaded",
            stream_name,
        )
        return UnsupportedSink

    # ------------------------------------------------------------------ called by the sinks

    def define(self, stream: str, record: dict) -> None:
        self.definitions[stream].append(record)

    def flagged(self, record: dict) -> None:
        self.ledger.add_issues(
            self.run_id,
            [
                {
                    "kind": record.get("output") or "unknown",
                    "source_key": record["source_key"],
                    "category": "flagged",
                    "severity": record.get("severity") or "error",
                    "reason": record.get("reason") or "",
                    "field": record.get("field"),
                    "detail": {"source_stream": record.get("source_stream"), "record_id": record.get("record_id")},
                }
            ],
        )

    def not_loaded(self, stream: str, records: list[dict]) -> None:
        self.ledger.add_issues(
            self.run_id,
            [
                {
                    "kind": stream,
                    "source_key": r.get("source_key") or "",
                    "category": "not_loaded",
                    "severity": "error",
                    "reason": f"target-intercom cannot write {stream} yet",
                }
                for r in records
            ],
        )

    def stage(self, kind: str, records: list[dict]) -> None:
        """A sink's drained batch: staged with the other kinds' when the drain is over (:meth:`stage_all`)."""
        self._drained.append((kind, records))

    def _stage_drained(self) -> None:
        """The drained batches go durably into the ledger, in one transaction, and this returns: the loader's
        background writer writes what is ready while the input goes on (so the SDK's STATE after a drain covers
        records written or durably held)."""
        if not self._drained:
            return
        batches, self._drained = self._drained, []
        loader = self.ready_loader()
        loader.raise_if_failed()
        loader.stage_together(batches)

    def ready_loader(self) -> Loader:
        """Preflight once, before the first record is written; then settle creates a crash left open, and start the
        background writer (which first writes what earlier runs held whose parents now exist)."""
        if self.loader is None:
            definitions, settings = dict(self.definitions), dict(self.config)
            self.preflight = run_preflight(self.client, definitions, settings)
            self.workspace_capabilities = self.workspace_check(definitions)
            self.preflight = preflight_for(
                self.client, definitions, settings, self.preflight, self.workspace_capabilities
            )
            self.preflight.raise_if_blocking(skip_ui=bool(self.config.get("skip_missing_ui_objects")))
            if self.workspace_capabilities is not None:
                blocking = self.workspace_capabilities.blocking(needed=needed_by_ledger(self.ledger))
                if blocking:
                    raise CapabilityBlocked(blocking)
            ctx = WriteContext(
                self.client,
                self.ledger,
                self.run_id,
                self.preflight.directory,
                dict(self.config),
                self.workspace_capabilities,
            )
            self.loader = Loader(
                ctx,
                concurrency=self.concurrency,
                max_retries=int(self.config.get("max_retries", 3)),
                logger=self.logger,
            )
            self.loader.settle_intents()
            self.loader.start()
        return self.loader

    def workspace_check(self, definitions: dict[str, list[dict]]) -> CheckResult | None:
        """The latest live check of this workspace for this map when it is fresh enough, else a new one (kept in the
        ledger); None when ``live_check`` is off (the load then relies on every capability, as before)."""
        if not self.config.get("live_check", True):
            return None
        app = str(self.preflight.workspace.get("app_id"))
        bulk = bool(self.config.get("bulk_preview"))
        digest = map_digest(definitions, bulk_preview=bulk)
        kept = self.ledger.latest_check(app, digest)
        if kept is not None:
            latest = CheckResult.from_dict(kept)
            if latest.complete and latest.age_hours() <= float(self.config.get("check_max_age_hours", 24)):
                self.logger.info("Workspace check of %s used (%.1f h old)", latest.checked_at, latest.age_hours())
                return latest
        self.logger.info("Checking the workspace with throwaway records (no fresh `topdesk2intercom check intercom`)")
        result = check_workspace(self.client, definitions, self.preflight, logger=self.logger, bulk_preview=bulk)
        self.ledger.save_check(app, digest, result.checked_at, result.as_dict())
        return result

    # ------------------------------------------------------------------ end of input

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        status = "failed"
        try:
            loader = self.ready_loader()
            loader.finish()  # everything writable written; the writer thread's error, if any, raised here
            loader.complete()  # calls whose caller never came; then every final state, after the last parts
            orphans = loader.flag_orphans()
            self.completeness = loader.check_completeness()
            status = "completed"
            summary = report.build(self, orphans=orphans)
            paths = report.write(Path(self.config.get("report_dir") or "reports"), summary)
            self.logger.info("Reconciliation report: %s", ", ".join(str(p) for p in paths))
            # with the requests sent: what verify --all measures its own cost against, without reading the report
            requests = {"requests_sent": summary["requests"].get("requests_sent", 0)}
            self.ledger.finish_run(self.run_id, status, {**summary["totals"], **requests})
        finally:
            if status != "completed":
                self.ledger.finish_run(self.run_id, status, {})
            if self.loader:
                self.loader.close()
            self.client.close()


if __name__ == "__main__":
    TargetIntercom.cli()
