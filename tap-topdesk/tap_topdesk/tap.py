"""TapTopdesk: config, stream discovery (incl. one stream per asset template) and the ``--probe`` option."""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime

import click
from singer_sdk import Tap
from singer_sdk import typing as th

from tap_topdesk.concurrency import DEFAULT_MAX_CONCURRENCY, RequestPool
from tap_topdesk.memory import fix_mmap_threshold
from tap_topdesk.streams import assets, changes, exports, incidents, knowledge, operations, reservations, supporting

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_topdesk.request_check import RequestCheck


#: The order streams are synced in (singer-sdk's own is by name): what others point to before what points to it.
#: Custom object instances (assets, changes, operations, reservations, the exports' problems and known errors)
#: come before the persons and calls that link them, persons before the calls that name them, folders before their
#: items. A target then creates a contact, a ticket or an instance with the links already waiting for it (in its
#: create, not in a request per link), and no call waits for its caller. A class stands for its subclasses (one
#: asset stream per template, each export).
SYNC_ORDER: tuple[type[Stream], ...] = (
    assets.AssetTemplatesStream,
    assets.AssetsStream,
    assets.AssetLinksStream,
    changes.ChangesStream,
    changes.ChangeProgressTrailStream,
    changes.ChangeActivitiesStream,
    operations.OperationalSeriesStream,
    operations.OperationalActivitiesStream,
    reservations.ReservationsStream,
    exports.CsvExportStream,
    knowledge.KnowledgeFoldersStream,
    knowledge.KnowledgeItemsStream,
    supporting.PersonsStream,
    supporting.OperatorsStream,
    supporting.OperatorGroupsStream,
    supporting.OperatorGroupMembersStream,
    supporting.SuppliersStream,
    supporting.BranchesStream,
    supporting.LocationsStream,
    supporting.DepartmentsStream,
    supporting.BudgetHoldersStream,
    incidents.IncidentsStream,
    incidents.IncidentProgressTrailStream,
    incidents.IncidentEmailsStream,
    incidents.IncidentAttachmentsStream,
)


#: every stream class of fixed name (the asset streams, one per template, and the exports are discovered)
STATIC_STREAMS = tuple(cls for cls in SYNC_ORDER if cls not in (assets.AssetsStream, exports.CsvExportStream))


def sync_rank(stream: Stream) -> tuple[int, str]:
    """A stream's place in :data:`SYNC_ORDER` (unknown ones last), then its name."""
    rank = next((i for i, cls in enumerate(SYNC_ORDER) if isinstance(stream, cls)), len(SYNC_ORDER))
    return rank, stream.name


def export_stream_classes() -> list[type[exports.CsvExportStream]]:
    """The CSV-export streams (problems, known errors, events/actions, activity templates)."""
    return [
        exports.ProblemsStream,
        exports.KnownErrorsStream,
        exports.EventsActionsStream,
        exports.ActivityTemplatesStream,
    ]


class TapTopdesk(Tap):
    """Singer tap for the TOPdesk REST API."""

    name = "tap-topdesk"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "url",
            th.StringType(nullable=False),
            required=True,
            title="TOPdesk URL",
            description="Base URL of the instance: SaaS https://<tenant>.topdesk.net or the on-premise base URL.",
        ),
        th.Property(
            "username",
            th.StringType(nullable=False),
            required=True,
            title="Operator login name",
            description="Login name of the operator account the application password belongs to.",
        ),
        th.Property(
            "app_password",
            th.StringType(nullable=False),
            required=True,
            secret=True,
            title="Application password",
            description="Application password of that operator (My settings → Application passwords).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType(nullable=True),
            description="Earliest modification date to extract (default: everything since 2000-01-01).",
        ),
        th.Property(
            "window_days",
            th.IntegerType(nullable=False),
            default=90,
            description="Size of the modificationDate windows large streams are read in (halved on failure).",
        ),
        th.Property(
            "page_size",
            th.IntegerType(nullable=True),
            description="Page size for every list (capped per endpoint). Default: each endpoint's API maximum.",
        ),
        th.Property(
            "include_archived",
            th.BooleanType(nullable=False),
            default=True,
            description="Also extract archived records (calls, persons, operators, ...).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(nullable=False),
            default=300,
            description="Seconds before a request is abandoned (and retried).",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(nullable=False),
            default=DEFAULT_MAX_CONCURRENCY,
            title="Requests in parallel",
            description="Most requests sent to TOPdesk at once, never exceeded: the per-record reads (progress "
            "trails, attachments, e-mails, memberships, asset links) go out side by side, records still leave in "
            "TOPdesk's order. Above 8 the tap starts at 8 and adds one while TOPdesk answers as fast as it did "
            "unloaded, and lowers it when the answers slow down (TOPdesk documents no rate limit: it finds out). "
            "8 or less is a fixed bound; 1 sends one request at a time. A 429 or 503 halves it for 30 s. On a "
            "Virtual Appliance that also serves operators, 2-4 keeps it responsive (at 100 ms a request, 8 in "
            "parallel read about 80 requests/s).",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(nullable=False),
            default=5,
            description="Attempts per request on timeouts, 429 and 5xx (exponential backoff).",
        ),
        th.Property(
            "exports_dir",
            th.StringType(nullable=True),
            description="Directory with TOPdesk UI CSV exports (problems, known errors, events/actions, "
            "activity templates): the data no REST API exposes.",
        ),
        th.Property(
            "exports_timezone",
            th.StringType(nullable=True),
            default="UTC",
            description="IANA time zone the CSV exports' dates are written in (they carry no offset).",
        ),
        th.Property(
            "download_attachments",
            th.BooleanType(nullable=False),
            default=False,
            description="Download call attachment binaries (base64 in the record); metadata is always extracted.",
        ),
        th.Property(
            "max_attachment_mb",
            th.NumberType(nullable=False),
            default=10,
            description="Attachments larger than this are not downloaded but flagged (download_skipped_reason).",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.probe_report: dict | None = None
        self.request_check: RequestCheck | None = None
        self.unavailable: dict[str, str] = {}
        self._request_pool: RequestPool | None = None
        fix_mmap_threshold()  # before the first large block: see ``memory``
        super().__init__(*args, **kwargs)

    @property
    def request_pool(self) -> RequestPool:
        """The bound on requests in flight every stream shares (``max_concurrency``)."""
        if self._request_pool is None:
            self._request_pool = RequestPool(int(self.config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)))
        return self._request_pool

    # singer-sdk marks ``sync_all`` final; the tap wraps it whole (the SDK's loop runs unchanged inside).
    def sync_all(self) -> None:  # type: ignore[misc]
        """A sync: what asset streams of a category share is read afresh (``assets.CategoryListings``); answers asked
        ahead that no stream took are dropped at the end; how many requests went out at once is said."""
        self.asset_category_listings: dict[str, t.Any] = {}
        try:
            super().sync_all()
        finally:
            self.request_pool.drop_ahead()
            self.logger.info("%s", self.request_pool.summary())

    def discover_streams(self) -> list[Stream]:
        """Static streams, one stream per asset template, and the CSV exports when ``exports_dir`` has them."""
        streams: list[Stream] = [cls(tap=self) for cls in STATIC_STREAMS]
        if all(self.config.get(k) for k in ("url", "username", "app_password")):
            try:
                streams.extend(assets.discover_asset_streams(self))
            except Exception as exc:  # noqa: BLE001  best effort: discovery goes on without asset streams, whatever failed
                self.logger.warning("Asset templates could not be discovered (%s): no asset streams", exc)
        streams.extend(cls(tap=self) for cls in export_stream_classes() if cls.available(self.config))
        return streams

    @property
    def streams(self) -> dict[str, Stream]:
        """singer-sdk's streams (discovered, catalog applied) in :data:`SYNC_ORDER` instead of by name: ``sync_all``
        syncs them in this mapping's order."""
        streams = super().streams
        ordered: dict[str, Stream] | None = getattr(self, "_sync_ordered", None)
        if ordered is None or ordered.keys() != streams.keys():
            ordered = self._sync_ordered = dict(sorted(streams.items(), key=lambda item: sync_rank(item[1])))
        return ordered

    @classmethod
    def cb_probe(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """``--probe``: check every module and the first request of every selected stream (``--catalog``, ``--state``
        as the sync would get them), print both reports; exit 1 when the sync would stop before it starts."""
        if not value:
            return
        from singer_sdk.plugin_base import _ConfigInput

        from tap_topdesk.probe import format_report, run_probe
        from tap_topdesk.request_check import format_request_check, run_request_check

        config: _ConfigInput = ctx.params.get("config") or _ConfigInput()
        catalog, state = (json.load(f) if f else None for f in (ctx.params.get("catalog"), ctx.params.get("state")))
        tap = cls(
            config=config.config,
            catalog=catalog,
            state=state,
            parse_env_config=config.parse_env,
            validate_config=True,
            setup_mapper=False,
        )
        report = run_probe(tap, log=False)
        click.echo(format_report(report))
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        result = run_request_check(tap, log=False)
        click.echo(format_request_check(result))
        ctx.exit(1 if result.sync_would_fail else 0)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command plus ``--probe``."""
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--probe"],
                is_flag=True,
                expose_value=False,
                is_eager=False,
                callback=cls.cb_probe,
                help="Check which TOPdesk modules answer with data, empty, or are probably hidden, and whether TOPdesk "
                "takes each selected stream's first request; print both reports (exit 1: the sync would stop).",
            ),
        )
        return command

    # --- probe --------------------------------------------------------------------------------------------

    def ensure_probed(self) -> None:
        """Once per sync, before the first stream reads anything: the module probe (hidden modules are warnings)
        and the request check, which raises ``RequestCheckStopError`` when a selected stream's first request is
        refused without a fallback (the sync would otherwise fail on it after other streams were written)."""
        if self.probe_report is not None:
            return
        from tap_topdesk.probe import run_probe
        from tap_topdesk.request_check import RequestCheckStopError, run_request_check

        self.probe_report = {}
        try:
            self.probe_report = run_probe(self, log=True)
        except Exception as exc:  # noqa: BLE001  the probe only informs: whatever fails in it, the sync goes on
            self.logger.warning("Module probe failed: %s", exc)
        try:
            self.request_check = run_request_check(self, log=True)
        except Exception as exc:  # noqa: BLE001  the check only guards: whatever fails in it, the sync goes on
            self.logger.warning("Request check failed (%s: %s); the sync goes on without it", type(exc).__name__, exc)
            return
        if self.request_check.stopping:
            raise RequestCheckStopError(self.request_check.stop_message())
        self.ask_first_pages_ahead()

    def ask_first_pages_ahead(self) -> None:
        """The first requests of every stream this sync reads, asked now, side by side (``max_concurrency``): each
        stream takes its answers when it starts instead of waiting for them then (at 100 ms a request, seconds a
        sync). The same requests the request check sent at page size 1 (``first_requests``), at the stream's page
        size; each stream's "now" is fixed to this moment, so that what it sends names the same bounds."""
        if not self.request_pool.parallel:
            return
        from tap_topdesk.client import TopdeskStream
        from tap_topdesk.request_check import Checker, first_requests

        now = datetime.now(UTC)
        for stream in self.streams.values():
            if not isinstance(stream, TopdeskStream) or stream.parent_stream_type is not None:
                continue
            if not (stream.selected or stream.has_selected_descendents) or getattr(stream, "check_parents", None):
                continue
            stream.started_at = now
            for request in first_requests(stream, None, stream.page_size or 1):
                stream.ask_ahead(Checker.prepare(stream, request))

    def record_unavailable(self, module: str, message: str) -> None:
        self.unavailable[module] = message
