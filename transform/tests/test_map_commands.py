"""`topdesk-map`: validate (every problem as file:line, exit 1), confirm (a line edit keeping comments, refused on
an invalid map) and propose, as one click group."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from map_topdesk_intercom.commands import cli, set_confirmed
from map_topdesk_intercom.mapfile import DEFAULT_MAP, catalog_from_file, load_map, tap_catalog
from topdesk2intercom_testing import ROOT
from topdesk2intercom_testing.transform import MINIMAL_MAP, write_map

UNCONFIRMED = MINIMAL_MAP.replace("confirmed: true", "confirmed: false   # the reviewer flips this")
THREE_ERRORS = (
    UNCONFIRMED.replace("email: {from: email, lowercase: true}", "email: {from: emial, lowercase: true}")
    .replace("signed_up_at: {from: creationDate, unix: true}", "signed_up_at: {from: creationDate}")
    .replace("ticket_type: {value: TOPdesk Call}", "ticket_type: {value: TOPdesk Cal}")
)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_validate_ok_counts_streams_and_outputs():
    result = run("validate", str(DEFAULT_MAP))
    spec = load_map(DEFAULT_MAP)
    outputs = sum(len(s) for s in spec.streams.values())
    assert result.exit_code == 0 and result.output == f"OK: {len(spec.streams)} streams, {outputs} outputs\n"


def test_validate_reports_every_problem_with_file_and_line(tmp_path):
    path = write_map(tmp_path, THREE_ERRORS)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:16: unknown field 'emial'",
        f"{path}:17: contacts.signed_up_at: the rule gives string but contacts.signed_up_at takes integer "
        "(dates need `unix: true`)",
        f"{path}:23: tickets: ticket_type must be a `value:` naming one of the map's ticket_types (['TOPdesk Call'])",
    ]


def test_validate_uses_a_catalog_file(tmp_path):
    persons = tap_catalog()["persons"]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "tap_stream_id": "persons",
                        "schema": {
                            "type": "object",
                            "properties": {k: v for k, v in persons["properties"].items() if k != "email"},
                        },
                    }
                ]
            }
        )
    )
    result = run("validate", str(write_map(tmp_path, MINIMAL_MAP)), "--catalog", str(catalog))
    assert result.exit_code == 1 and result.output.strip().endswith(":16: unknown field 'email'")


def test_validate_notes_an_unconfirmed_map(tmp_path):
    path = write_map(tmp_path, UNCONFIRMED)
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert result.output == f"OK: 2 streams, 2 outputs (not confirmed yet: `topdesk-map confirm {path}`)\n"


def test_confirm_sets_the_flag_keeping_comments_and_layout(tmp_path):
    path = write_map(tmp_path, "# my map\n" + UNCONFIRMED)
    before = path.read_text()
    result = run("confirm", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == f"{path}: confirmed (2 streams, 2 outputs)\n"
    after = path.read_text()
    assert after == before.replace(
        "confirmed: false   # the reviewer flips this", "confirmed: true   # the reviewer flips this"
    )
    assert load_map(path).confirmed
    assert run("confirm", str(path)).output.startswith(f"{path}: already confirmed")


def test_confirm_refuses_an_invalid_map_and_leaves_it(tmp_path):
    path = write_map(tmp_path, THREE_ERRORS)
    before = path.read_text()
    result = run("confirm", str(path))
    assert result.exit_code == 1 and len(result.output.splitlines()) == 3
    assert path.read_text() == before


def test_set_confirmed_adds_the_line_when_missing():
    assert set_confirmed("# c\nversion: 1\nstreams: {}\n") == "# c\nversion: 1\nconfirmed: true\nstreams: {}\n"
    assert (
        set_confirmed("version: 1\nconfirmed: no\n  confirmed: false\n")
        == "version: 1\nconfirmed: true\n  confirmed: false\n"
    )


def test_unconfirmed_map_message_names_the_confirm_command(tmp_path):
    from map_topdesk_intercom.mapfile import MapInvalid

    path = write_map(tmp_path, UNCONFIRMED)
    try:
        load_map(path)
    except MapInvalid as exc:
        assert exc.problems == [
            f"{path}:2: the map is not confirmed: review it, then run `topdesk-map confirm "
            "<map file>` (or set `confirmed: true` at the top of the file)"
        ]
    else:
        raise AssertionError("an unconfirmed map loaded")


def test_the_installed_script_runs():
    script = ROOT / ".venv" / "bin" / "topdesk-map"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "map_topdesk_intercom.commands"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and {"propose", "validate", "confirm"} <= set(result.stdout.split())


def test_propose_is_a_subcommand_and_its_proposal_confirms(tmp_path):
    catalog = tmp_path / "catalog.json"
    schemas = tap_catalog()
    catalog.write_text(
        json.dumps(
            {
                "streams": [
                    {"tap_stream_id": name, "schema": schema} for name, schema in schemas.items() if "*" not in name
                ]
            }
        )
    )
    out = tmp_path / "proposed.yaml"
    result = run("propose", "--catalog", str(catalog), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"review it, then run `topdesk-map confirm {out}`" in result.output
    validated = run("validate", str(out), "--catalog", str(catalog))
    assert validated.exit_code == 0 and validated.stdout.startswith("OK: ")
    assert validated.stderr.startswith("note: ") and "'assets_*' matches no stream in this catalog" in validated.stderr
    assert run("confirm", str(out), "--catalog", str(catalog)).exit_code == 0
    assert load_map(out, catalog_from_file(catalog)).confirmed
