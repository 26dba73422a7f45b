"""CSV export streams (``tap_topdesk/streams/exports.py``) on generated and hand-written exports."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_topdesk import schemas as schemas_pkg
from tap_topdesk.streams.exports import (
    EXPORT_STREAMS,
    ActivityTemplatesStream,
    CsvExportStream,
    EventsActionsStream,
    ExportFileError,
    KnownErrorsStream,
    ProblemsStream,
)

SCALE, SEED = 500, 7
BOM = "\ufeff"


class ExportsTap(Tap):
    """Minimal tap hosting only the export streams (the real TapTopdesk needs API credentials)."""

    name = "tap-topdesk-exports-test"
    config_jsonschema = th.PropertiesList(
        th.Property("exports_dir", th.StringType(nullable=True)),
        th.Property("exports_timezone", th.StringType, default="UTC"),
    ).to_dict()

    def discover_streams(self) -> list[CsvExportStream]:
        return [cls(tap=self) for cls in EXPORT_STREAMS if cls.available(self.config)]


def make_stream(cls: type[CsvExportStream], **config: Any) -> CsvExportStream:
    return cls(tap=ExportsTap(config=config, validate_config=False))


def records(cls: type[CsvExportStream], **config: Any) -> list[dict[str, Any]]:
    return list(make_stream(cls, **config).get_records(None))


def load_schema(name: str) -> dict:
    return json.loads(importlib.resources.files(schemas_pkg).joinpath(f"{name}.json").read_text("utf-8"))


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


@pytest.fixture(scope="module")
def dataset() -> Any:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(scale=SCALE, seed=SEED)


@pytest.fixture(scope="module")
def exports_dir(dataset: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exports")
    for name, text in dataset.exports.items():
        write_csv(out / name, text)  # exactly as generated: BOM, CRLF
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


# --------------------------------------------------------------------------- generated exports


@pytest.mark.parametrize("cls", EXPORT_STREAMS, ids=lambda c: c.name)
def test_counts_match_csv_rows(cls: type[CsvExportStream], exports_dir: Path, dataset: Any) -> None:
    rows = csv_rows(exports_dir / cls.export_file)
    recs = records(cls, exports_dir=str(exports_dir))
    assert len(recs) == len(rows) == dataset.manifest["exports"][cls.export_file]
    assert len(recs) > 0
    keys = [tuple(r[k] for k in cls.primary_keys) for r in recs]
    assert len(set(keys)) == len(keys), "primary key not unique"


@pytest.mark.parametrize("cls", EXPORT_STREAMS, ids=lambda c: c.name)
def test_records_validate_and_are_declared(cls: type[CsvExportStream], exports_dir: Path) -> None:
    schema = load_schema(cls.name)
    v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    recs = records(cls, exports_dir=str(exports_dir))
    for r in recs:
        assert not list(v.iter_errors(r)), list(v.iter_errors(r))
        assert set(r) == set(schema["properties"]), "record fields and schema properties differ"
    assert make_stream(cls).schema == schema
    assert make_stream(cls).replication_key is None  # FULL_TABLE


@pytest.mark.parametrize("cls", EXPORT_STREAMS, ids=lambda c: c.name)
def test_types(cls: type[CsvExportStream], exports_dir: Path) -> None:
    rows = csv_rows(exports_dir / cls.export_file)
    recs = records(cls, exports_dir=str(exports_dir))
    for row, rec in zip(rows, recs, strict=True):
        for col in cls.columns:
            raw, value = row[col.header], rec[col.field]
            if col.kind == "list":
                assert isinstance(value, list) or (value is None and raw == "")
                if value:
                    assert all(isinstance(x, str) and x == x.strip() and x for x in value)
                continue
            if raw == "":
                assert value is None, (col, raw, value)
            elif col.kind == "str":
                assert value == raw
            elif col.kind == "bool":
                assert value is (raw == "Yes")
            elif col.kind == "number":
                assert isinstance(value, (int, float)) and value == float(raw)
            elif col.kind == "date":
                parsed = dt.datetime.fromisoformat(value)
                assert parsed.utcoffset() == dt.timedelta(0)
                assert parsed.strftime("%d-%m-%Y %H:%M") == raw  # UTC in, UTC out by default
                assert value.endswith("+00:00")


def test_multiline_memo(exports_dir: Path) -> None:
    recs = records(ActivityTemplatesStream, exports_dir=str(exports_dir))
    assert any("\n" in (r["memo"] or "") for r in recs)


def test_linked_numbers_resolve(exports_dir: Path, dataset: Any) -> None:
    incident_numbers = {i["number"] for i in dataset.records["incidents"]}
    problems = records(ProblemsStream, exports_dir=str(exports_dir))
    known_errors = records(KnownErrorsStream, exports_dir=str(exports_dir))
    linked = [n for p in problems for n in p["linked_calls"] or []]
    assert linked, "no linked calls in the generated problems"
    assert set(linked) <= incident_numbers
    by_number = {p["number"]: p for p in problems}
    for ke in known_errors:
        assert ke["problem"] in by_number
        assert by_number[ke["problem"]]["known_error"] == ke["number"]
    raised = {p["known_error"] for p in problems if p["known_error"]}
    assert raised == {ke["number"] for ke in known_errors}


def test_sync_through_the_sdk(exports_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SCHEMA/RECORD messages via a real tap run (catalog, key properties, FULL_TABLE)."""
    tap = ExportsTap(config={"exports_dir": str(exports_dir)})
    assert sorted(tap.streams) == sorted(c.name for c in EXPORT_STREAMS)
    capsys.readouterr()
    tap.sync_all()
    out = capsys.readouterr().out
    messages = [json.loads(line) for line in out.splitlines() if line.startswith('{"type"')]
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    counts: dict[str, int] = {}
    for m in messages:
        if m["type"] == "RECORD":
            counts[m["stream"]] = counts.get(m["stream"], 0) + 1
    for cls in EXPORT_STREAMS:
        assert schemas[cls.name]["key_properties"] == list(cls.primary_keys)
        assert not schemas[cls.name].get("bookmark_properties")
        assert counts[cls.name] == len(csv_rows(exports_dir / cls.export_file))


# --------------------------------------------------------------------------- availability


def test_available(tmp_path: Path) -> None:
    for cls in EXPORT_STREAMS:
        assert not cls.available({})
        assert not cls.available({"exports_dir": None})
        assert not cls.available({"exports_dir": ""})
        assert not cls.available({"exports_dir": str(tmp_path)})  # file missing
        assert not cls.available({"exports_dir": str(tmp_path / "nope")})
    write_csv(tmp_path / "problems.csv", BOM + "Number;Brief description\r\nP 2401 001;x\r\n")
    assert ProblemsStream.available({"exports_dir": str(tmp_path)})
    assert not KnownErrorsStream.available({"exports_dir": str(tmp_path)})
    assert sorted(ExportsTap(config={"exports_dir": str(tmp_path)}).streams) == ["problems"]
    assert ExportsTap(config={}).streams == {}


def test_missing_file_at_sync_time_emits_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert records(ProblemsStream, exports_dir=str(tmp_path)) == []
    assert "problems.csv not found" in caplog.text


# --------------------------------------------------------------------------- hand-written, malformed

HEADER = (
    "Number;Brief description;Problem type;Status;Category;Subcategory;Impact;Urgency;Priority;Operator group;"
    "Operator;Cause;Workaround;Linked calls;Known error;Created;Created by;Modified;Closed;Closed date;Archived"
)


def test_malformed_values_null_only_that_field(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = (
        BOM
        + HEADER
        + "\r\n"
        # line 2: fine, with a two-line quoted cause (lines 2-3)
        + 'P 2401 001;Printer;Problem;Closed;Hardware;Printer;Person;Normal;P2;Servicedesk;Ann;"Bad\nfirmware";'
        "Reboot;I 2401 001, I 2401 002;KE 0001;02-01-2024 09:30;Ann;03-01-2024 10:00;Yes;03-01-2024 10:00;No\r\n"
        # line 4: malformed Created date (31 February) and a malformed Yes/No
         + "P 2401 002;VPN;Problem;Registered;Network;VPN;Person;Normal;P3;Servicedesk;Bob;;;I 2401 003;;"
        "31-02-2024 25:61;Bob;04-01-2024 08:00;Maybe;;No\r\n"
        # line 5: no number -> skipped
        + ";No number;Problem;Registered;;;;;;;;;;;;05-01-2024 08:00;Bob;05-01-2024 08:00;No;;No\r\n"
        # line 6: too few cells
        + "P 2401 003;Short row\r\n"
    )
    path = write_csv(tmp_path / "problems.csv", text)
    with caplog.at_level(logging.WARNING):
        recs = records(ProblemsStream, exports_dir=str(tmp_path))
    assert [r["number"] for r in recs] == ["P 2401 001", "P 2401 002", "P 2401 003"]
    good, bad, short = recs
    assert good["cause"] == "Bad\nfirmware"
    assert good["linked_calls"] == ["I 2401 001", "I 2401 002"]
    assert good["created"] == "2024-01-02T09:30:00+00:00"
    assert good["closed"] is True and good["archived"] is False
    assert bad["created"] is None  # only the bad field is null ...
    assert bad["closed"] is None
    assert bad["modified"] == "2024-01-04T08:00:00+00:00"  # ... the rest of the row is kept
    assert bad["linked_calls"] == ["I 2401 003"]
    assert bad["known_error"] is None and bad["cause"] is None
    assert short["brief_description"] == "Short row" and short["created"] is None and short["linked_calls"] is None
    # warnings name file, line and column
    assert f"{path} line 4 column 'Created'" in caplog.text
    assert "'31-02-2024 25:61'" in caplog.text
    assert f"{path} line 4 column 'Closed'" in caplog.text
    assert f"{path} line 5: no value for key number; row skipped" in caplog.text
    assert f"{path} line 6: 2 cells, header has 21" in caplog.text


def test_header_by_name_and_unknown_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # columns reordered, one missing, one extra, no BOM, LF line endings
    write_csv(tmp_path / "known_errors.csv", "Problem;Number;Extra;Archived\nP 2401 001;KE 0001;x;Yes\n")
    with caplog.at_level(logging.WARNING):
        (rec,) = records(KnownErrorsStream, exports_dir=str(tmp_path))
    assert rec["number"] == "KE 0001" and rec["problem"] == "P 2401 001" and rec["archived"] is True
    assert rec["solution"] is None
    assert "missing from the header" in caplog.text and "unexpected columns ['Extra'] ignored" in caplog.text
    write_csv(tmp_path / "events_actions.csv", "foo;bar\n1;2\n")
    with pytest.raises(ExportFileError, match=r"events_actions\.csv"):
        records(EventsActionsStream, exports_dir=str(tmp_path))


def test_exports_timezone(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "events_actions.csv",
        BOM + "Name;Module;Active;Created;Modified\r\nRule;Calls;Yes;25-01-2024 11:14;01-07-2024 11:14\r\n",
    )
    (utc,) = records(EventsActionsStream, exports_dir=str(tmp_path))
    assert utc["created"] == "2024-01-25T11:14:00+00:00"
    (ams,) = records(EventsActionsStream, exports_dir=str(tmp_path), exports_timezone="Europe/Amsterdam")
    assert ams["created"] == "2024-01-25T10:14:00+00:00"  # CET
    assert ams["modified"] == "2024-07-01T09:14:00+00:00"  # CEST
    with pytest.raises(ConfigValidationError, match="exports_timezone"):
        records(EventsActionsStream, exports_dir=str(tmp_path), exports_timezone="Mars/Olympus")


def test_activity_template_numbers(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "activity_templates.csv",
        "Name;Module;Planned duration (hours)\r\nA;Change;1,5\r\nB;Change;8\r\nC;Change;eight\r\n",
    )
    recs = records(ActivityTemplatesStream, exports_dir=str(tmp_path))
    assert [r["planned_duration_hours"] for r in recs] == [1.5, 8, None]


def test_windows_1252_file_is_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events_actions.csv"
    path.write_bytes("Name;Module;Active\r\nOK;Calls;Yes\r\nCaf\u00e9 r\u00e8gle;Calls;No\r\n".encode("cp1252"))
    with caplog.at_level(logging.WARNING):
        recs = records(EventsActionsStream, exports_dir=str(tmp_path))
    assert [r["name"] for r in recs] == ["OK", "Caf\u00e9 r\u00e8gle"]
    assert f"{path} line 3: not valid UTF-8" in caplog.text
