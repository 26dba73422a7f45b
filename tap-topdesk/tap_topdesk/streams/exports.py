"""Streams read from TOPdesk UI CSV exports: problems, known errors, events/actions, activity templates.

No TOPdesk REST API exposes these (reference: topdesk-api.md §5). An operator exports them from the UI
(*Export* > *CSV*) into ``<exports_dir>/<export_file>``; the file layout is described in ``EXPORTS.md``
(UTF-8 with or without BOM -- a file that is not valid UTF-8 is read as Windows-1252 with a warning --,
``;``-separated, CRLF, ``dd-MM-yyyy HH:mm`` dates, ``Yes``/``No`` booleans (``Ja``/``Nee``, ``true``/``false``
and ``1``/``0`` are accepted too), comma-separated linked call numbers, empty = not set = ``null``).

Design decisions:

* **FULL_TABLE.** An export is a snapshot without a reliable change marker, so every sync re-emits the whole
  file; targets upsert on the primary key.
* **Columns by header name**, not by position: a missing expected column gives ``null`` for its field (one
  warning per file), an unexpected column is ignored (one warning per file). A header with none of the expected
  columns is not an export of this kind and raises :class:`ExportFileError`.
* **Dates** carry no time zone in the export. They are read in the IANA zone given by the ``exports_timezone``
  config setting (default ``"UTC"``, which is what the sandbox writes and what TOPdesk shows for an operator
  whose time zone is UTC) and emitted as RFC 3339 in UTC (``2024-01-25T11:14:00+00:00``). An ambiguous local time
  in a DST fall-back hour is read as the first occurrence, a non-existent one (spring-forward gap) with the
  offset from before the transition.
* **A bad value never stops the sync.** A value that cannot be parsed (date, Yes/No, number) is logged as a
  warning naming file, line and column, and only that field becomes ``null``; the rest of the row is emitted.
  A row without its primary key value cannot be emitted and is skipped with a warning. A row with more cells
  than the header keeps the first ones (warning); one with fewer gets ``null`` for the rest (warning).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import typing as t
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.schema.source import SchemaDirectory, StreamSchema

from tap_topdesk import schemas
from tap_topdesk.snapshot import SnapshotMixin

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from singer_sdk.helpers.types import Context

__all__ = [
    "DEFAULT_EXPORTS_TIMEZONE",
    "EXPORT_STREAMS",
    "ActivityTemplatesStream",
    "CsvExportStream",
    "EventsActionsStream",
    "ExportFileError",
    "KnownErrorsStream",
    "ProblemsStream",
]

DEFAULT_EXPORTS_TIMEZONE = "UTC"

#: Accepted date layouts, most specific first (the UI writes the first one).
DATE_FORMATS = ("%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y")
YES = frozenset({"yes", "ja", "true", "1"})
NO = frozenset({"no", "nee", "false", "0"})
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")

Kind = t.Literal["str", "date", "bool", "number", "list"]


class ExportFileError(Exception):
    """An export file that cannot be read at all (unreadable, or not an export of the expected kind)."""


class Column(t.NamedTuple):
    header: str  # column name in the export's header row
    field: str  # record field (snake_case)
    kind: Kind


def _col(header: str, kind: Kind = "str") -> Column:
    field = re.sub(r"[^0-9a-z]+", "_", header.lower()).strip("_")
    return Column(header, field, kind)


class CsvExportStream(SnapshotMixin, Stream):
    """Base class: one stream per UI export file under ``config["exports_dir"]``.

    Replication is FULL_TABLE: an export is a snapshot, every sync reads the whole file again.
    """

    #: file name inside ``exports_dir``
    export_file: t.ClassVar[str]
    #: expected columns, in the export's order
    columns: t.ClassVar[tuple[Column, ...]]

    schema = StreamSchema(SchemaDirectory(schemas))
    replication_key = None

    # ------------------------------------------------------------------ availability

    @classmethod
    def export_path(cls, config: Mapping[str, t.Any]) -> Path | None:
        """``<exports_dir>/<export_file>``, or None when ``exports_dir`` is not configured."""
        exports_dir = config.get("exports_dir")
        if not exports_dir:
            return None
        return Path(exports_dir).expanduser() / cls.export_file

    @classmethod
    def available(cls, config: Mapping[str, t.Any]) -> bool:
        """True when ``exports_dir`` is configured and holds this stream's export file."""
        path = cls.export_path(config)
        return path is not None and path.is_file()

    # ------------------------------------------------------------------ records

    def timezone(self) -> ZoneInfo:
        name = self.config.get("exports_timezone") or DEFAULT_EXPORTS_TIMEZONE
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"exports_timezone {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Amsterdam')"
            raise ConfigValidationError(msg, errors=[msg]) from exc

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        path = self.export_path(self.config)
        if path is None or not path.is_file():
            self.logger.warning(
                "Export file %s not found (exports_dir=%r); stream %s emits no records",
                self.export_file,
                self.config.get("exports_dir"),
                self.name,
            )
            return
        yield from self.read_export(path)

    def read_export(self, path: Path) -> Iterable[dict[str, t.Any]]:
        """Parse one export file into records (see the module docstring for the error policy)."""
        tz = self.timezone()
        keys = list(self.primary_keys or ())
        text = self._read_text(path)
        # memos can exceed csv's default 128 KiB field limit (process-wide setting, only ever raised)
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
        # newline="": csv sees CRLF / bare LF inside quoted values untranslated
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"')
        try:
            header = next(reader, None)
        except csv.Error as exc:
            msg = f"{path}: cannot read the header row: {exc}"
            raise ExportFileError(msg) from exc
        if header is None:
            self.logger.warning("%s: empty file, no header row; no records", path)
            return
        positions = self._map_header(path, [h.strip() for h in header])
        next_line = reader.line_num + 1
        while True:
            line = next_line
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                next_line = reader.line_num + 1
                self.logger.warning("%s line %d: unreadable CSV row (%s); row skipped", path, line, exc)
                continue
            next_line = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue  # blank line (e.g. trailing newline)
            if len(row) != len(header):
                self.logger.warning(
                    "%s line %d: %d cells, header has %d; %s",
                    path,
                    line,
                    len(row),
                    len(header),
                    "extra cells ignored" if len(row) > len(header) else "missing cells read as empty",
                )
            cells = [row[pos] if pos is not None and pos < len(row) else "" for _, pos in positions]
            record = {
                col.field: self._convert(path, line, col, cell, tz)
                for (col, _), cell in zip(positions, cells, strict=True)
            }
            missing = [k for k in keys if record.get(k) in (None, "")]
            if missing:
                self.logger.warning("%s line %d: no value for key %s; row skipped", path, line, ", ".join(missing))
                continue
            yield record

    def _read_text(self, path: Path) -> str:
        """The file's text: UTF-8 (BOM optional); a file that is not valid UTF-8 is read as Windows-1252 (what
        Excel writes when an export is re-saved) with a warning naming the first offending line."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            msg = f"{path}: cannot read export file: {exc}"
            raise ExportFileError(msg) from exc
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.logger.warning(
                "%s line %d: not valid UTF-8 (%s); reading the file as Windows-1252", path, line, exc.reason
            )
            return data.decode("cp1252", errors="replace")

    def _map_header(self, path: Path, header: list[str]) -> list[tuple[Column, int | None]]:
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            index.setdefault(name.casefold(), i)
        positions = [(col, index.get(col.header.casefold())) for col in self.columns]
        found = [col for col, pos in positions if pos is not None]
        if not found:
            msg = (
                f"{path}: header {header!r} has none of the expected columns "
                f"{[c.header for c in self.columns]!r}; is this a {self.name} export?"
            )
            raise ExportFileError(msg)
        missing = [col.header for col, pos in positions if pos is None]
        if missing:
            self.logger.warning("%s: columns %s missing from the header; those fields are null", path, missing)
        expected = {c.header.casefold() for c in self.columns}
        extra = [h for h in header if h.casefold() not in expected]
        if extra:
            self.logger.warning("%s: unexpected columns %s ignored", path, extra)
        return positions

    def _convert(self, path: Path, line: int, col: Column, raw: str, tz: ZoneInfo) -> t.Any:
        value = raw.strip()
        if value == "":
            return None  # empty = not set, for every kind (an empty "Linked calls" is null, not [])
        if col.kind == "list":
            return [v.strip() for v in value.split(",") if v.strip()] or None
        if col.kind == "str":
            return raw
        if col.kind == "bool":
            low = value.casefold()
            if low in YES:
                return True
            if low in NO:
                return False
            return self._bad(path, line, col, raw, "expected Yes or No")
        if col.kind == "number":
            if not _NUMBER.match(value):
                return self._bad(path, line, col, raw, "expected a number")
            number = float(value.replace(",", "."))
            return int(number) if number.is_integer() else number
        # date
        for fmt in DATE_FORMATS:
            try:
                local = dt.datetime.strptime(value, fmt)  # naive; the zone is applied below
            except ValueError:
                continue
            return local.replace(tzinfo=tz).astimezone(dt.UTC).isoformat()
        return self._bad(path, line, col, raw, "expected a date dd-MM-yyyy HH:mm")

    def _bad(self, path: Path, line: int, col: Column, raw: str, why: str) -> None:
        self.logger.warning(
            "%s line %d column %r: %s, got %r; field %s set to null", path, line, col.header, why, raw, col.field
        )


class ProblemsStream(CsvExportStream):
    """Problems (``problems.csv``), FULL_TABLE snapshot; ``linked_calls`` are incident numbers."""

    name = "problems"
    export_file = "problems.csv"
    primary_keys: t.ClassVar[list[str]] = ["number"]
    columns = (
        _col("Number"),
        _col("Brief description"),
        _col("Problem type"),
        _col("Status"),
        _col("Category"),
        _col("Subcategory"),
        _col("Impact"),
        _col("Urgency"),
        _col("Priority"),
        _col("Operator group"),
        _col("Operator"),
        _col("Cause"),
        _col("Workaround"),
        _col("Linked calls", "list"),
        _col("Known error"),
        _col("Created", "date"),
        _col("Created by"),
        _col("Modified", "date"),
        _col("Closed", "bool"),
        _col("Closed date", "date"),
        _col("Archived", "bool"),
    )


class KnownErrorsStream(CsvExportStream):
    """Known errors (``known_errors.csv``), FULL_TABLE snapshot; ``problem`` is a problem number."""

    name = "known_errors"
    export_file = "known_errors.csv"
    primary_keys: t.ClassVar[list[str]] = ["number"]
    columns = (
        _col("Number"),
        _col("Brief description"),
        _col("Problem"),
        _col("Status"),
        _col("Category"),
        _col("Subcategory"),
        _col("Cause"),
        _col("Workaround"),
        _col("Solution"),
        _col("Published in knowledge base", "bool"),
        _col("Created", "date"),
        _col("Created by"),
        _col("Modified", "date"),
        _col("Archived", "bool"),
    )


class EventsActionsStream(CsvExportStream):
    """Event/action rules (``events_actions.csv``), FULL_TABLE snapshot: automation to rebuild, keyed by
    module and name (the export has no id)."""

    name = "events_actions"
    export_file = "events_actions.csv"
    primary_keys: t.ClassVar[list[str]] = ["module", "name"]
    columns = (
        _col("Name"),
        _col("Module"),
        _col("Event"),
        _col("Conditions"),
        _col("Action type"),
        _col("Action"),
        _col("Active", "bool"),
        _col("Created", "date"),
        _col("Created by"),
        _col("Modified", "date"),
    )


class ActivityTemplatesStream(CsvExportStream):
    """Change / operational activity templates (``activity_templates.csv``), FULL_TABLE snapshot, keyed by
    module and name (the export has no id)."""

    name = "activity_templates"
    export_file = "activity_templates.csv"
    primary_keys: t.ClassVar[list[str]] = ["module", "name"]
    columns = (
        _col("Name"),
        _col("Module"),
        _col("Brief description"),
        _col("Activity type"),
        _col("Category"),
        _col("Subcategory"),
        _col("Operator group"),
        _col("Operator"),
        Column("Planned duration (hours)", "planned_duration_hours", "number"),
        _col("Memo"),
        _col("Created", "date"),
        _col("Created by"),
        _col("Modified", "date"),
        _col("Archived", "bool"),
    )


#: All export streams, for the tap: ``[cls for cls in EXPORT_STREAMS if cls.available(config)]``.
EXPORT_STREAMS: tuple[type[CsvExportStream], ...] = (
    ProblemsStream,
    KnownErrorsStream,
    EventsActionsStream,
    ActivityTemplatesStream,
)
