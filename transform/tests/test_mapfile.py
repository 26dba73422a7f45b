"""Loading and validating map files: line numbers, every problem at once, confirmation, Intercom constraints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from map_topdesk_intercom.mapfile import (
    DEFAULT_MAP,
    OUTPUT_KINDS,
    MapInvalid,
    attribute_name_problem,
    load_map,
    tap_catalog,
)
from map_topdesk_intercom.mapper import MapError, TopdeskIntercomMapper
from topdesk2intercom_testing.transform import MINIMAL_MAP, write_map

THREE_ERRORS = (
    MINIMAL_MAP.replace("email: {from: email, lowercase: true}", "email: {from: emial, lowercase: true}")
    .replace("signed_up_at: {from: creationDate, unix: true}", "signed_up_at: {from: department.name, unix: true}")
    .replace('refs.contact: {template: "person:{caller.id}"}', 'refs.admin: {template: "operator:{operator.id}"}')
)


def problems_of(path, **kwargs) -> list[str]:
    with pytest.raises(MapInvalid) as info:
        load_map(path, **kwargs)
    return info.value.problems


def test_default_map_is_valid_against_the_tap_catalog():
    spec = load_map(DEFAULT_MAP)
    assert spec.confirmed
    assert spec.strategies == {
        "calls": "tickets",
        "changes": "custom_object",
        "known_errors": "custom_object",
        "assets": "custom_object",
        "reservations": "custom_object",
    }
    # every row of the mission's object map has its TOPdesk streams in the default map
    assert set(spec.streams) == {
        "persons",
        "branches",
        "operators",
        "operator_groups",
        "operator_group_members",
        "incidents",
        "incident_progress_trail",
        "incident_emails",
        "incident_attachments",
        "changes",
        "change_activities",
        "change_progress_trail",
        "known_errors",
        "problems",
        "assets_*",
        "asset_links",
        "asset_templates",
        "operational_series",
        "operational_activities",
        "knowledge_folders",
        "knowledge_items",
        "reservations",
        "events_actions",
        "activity_templates",
    }
    assert set(spec.output_streams) == set(OUTPUT_KINDS)
    assert {o.name for o in spec.custom_object_types} == {
        "Asset",
        "Change",
        "ChangeActivity",
        "ChangeLogEntry",
        "KnownError",
        "ProcessDefinition",
        "Reservation",
    }


def test_minimal_map_is_valid(tmp_path):
    load_map(write_map(tmp_path, MINIMAL_MAP))


def test_three_errors_three_precise_messages(tmp_path):
    path = write_map(tmp_path, THREE_ERRORS)
    assert problems_of(path) == [
        f"{path}:16: unknown field 'emial'",
        f"{path}:17: contacts.signed_up_at: unix needs a date-time field; 'department.name' is string without a "
        "date format",
        f"{path}:22: tickets: Intercom needs one of refs.contact, contact_email; the output has no rule for it",
    ]


def test_three_errors_exit_non_zero_before_reading_any_record(tmp_path):
    path = write_map(tmp_path, THREE_ERRORS)
    record = {"type": "RECORD", "stream": "persons", "record": {"id": "p1", "email": "a@b.example"}}
    data = tmp_path / "input.singer"
    data.write_text(json.dumps(record) + "\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"map_file": str(path)}))
    result = subprocess.run(
        [sys.executable, "-m", "map_topdesk_intercom.mapper", "--config", str(config), "--input", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""  # no record was read or written
    for line in (16, 17, 22):
        assert f"{path}:{line}: " in result.stderr
    assert "3 problem(s)" in result.stderr


def test_mapper_class_raises_with_all_problems(tmp_path):
    path = write_map(tmp_path, THREE_ERRORS)
    with pytest.raises(MapError) as info:
        TopdeskIntercomMapper(config={"map_file": str(path)})
    assert len(info.value.problems) == 3


def test_unconfirmed_map_says_how_to_confirm(tmp_path):
    path = write_map(tmp_path, MINIMAL_MAP.replace("confirmed: true", "confirmed: false"))
    assert problems_of(path) == [
        f"{path}:2: the map is not confirmed: review it, then run `topdesk-map confirm <map file>` (or set "
        "`confirmed: true` at the top of the file)"
    ]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("topdesk_department", True),
        ("Call number", True),
        ("Kosten-€", True),
        ("Prijs $", True),
        ("topdesk.department", False),
        ("a/b", False),
        ("", False),
        (" padded", False),
        ("naïve", True),
    ],
)
def test_attribute_names_intercom_accepts(name, ok):
    assert (attribute_name_problem(name) is None) is ok


def test_intercom_constraints_and_structure(tmp_path):
    body = (
        MINIMAL_MAP.replace(
            "  - {name: topdesk_department, model: contact, data_type: string}",
            "  - {name: topdesk.department, model: contact, data_type: text}\n"
            "  - {name: Status, model: ticket_type, ticket_type: Other, data_type: list}",
        )
        .replace("  calls: tickets", "  calls: letters\n  widgets: yes")
        .replace("        external_id: {from: id, required: true}\n", "        nickname: {from: id}\n")
        .replace("ticket_type: {value: TOPdesk Call}", "ticket_type: {value: Other Call, bogus: 1}")
    )
    path = write_map(tmp_path, body)
    text = "\n".join(problems_of(path))
    for expected in [
        ":4: strategy calls: 'letters' is not one of ['tickets', 'conversations']",
        ":5: unknown strategy 'widgets'",
        "attribute name 'topdesk.department' is rejected by Intercom",
        "data_type 'text' is not valid for model contact",
        "attribute 'Status': data_type list needs at least 2 options",
        "attribute 'Status': ticket_type must name one of the map's ticket_types",
        "contacts: unknown output field 'nickname'",
        "custom_attributes.topdesk_department is not defined under `attributes` with model contact",
        "unknown rule keys ['bogus']",
        "tickets: ticket_type must be a `value:` naming one of the map's ticket_types",
    ]:
        assert expected in text, expected
    # contacts still have email, so no "needs one of email, external_id, role" problem
    assert "contacts: Intercom needs" not in text


def test_contact_without_identity_fields(tmp_path):
    body = MINIMAL_MAP.replace("        external_id: {from: id, required: true}\n", "").replace(
        "        email: {from: email, lowercase: true}\n", ""
    )
    path = write_map(tmp_path, body)
    assert problems_of(path) == [
        f"{path}:14: contacts: Intercom needs one of email, external_id, role; the output has no rule for it"
    ]


def test_unknown_stream_and_type_mismatches(tmp_path):
    body = MINIMAL_MAP.replace("  incidents:", "  incidentz:").replace(
        "email: {from: email, lowercase: true}", "email: {from: archived, lowercase: true, html: text}"
    )
    text = "\n".join(problems_of(write_map(tmp_path, body)))
    assert ":19: unknown TOPdesk stream 'incidentz'" in text
    assert ":16: contacts.email: lowercase on a non-text field (archived)" in text
    assert ":16: contacts.email: html on a non-text field (archived)" in text


def test_yaml_syntax_error_and_duplicate_keys(tmp_path):
    broken = write_map(tmp_path, "version: 1\nconfirmed: [true\n", "broken.yaml")
    assert problems_of(broken)[0].startswith(f"{broken}:")
    dup = write_map(tmp_path, MINIMAL_MAP.replace("confirmed: true", "confirmed: true\nversion: 1"), "dup.yaml")
    assert f"{dup}:3: duplicate key 'version' (first at line 1)" in problems_of(dup)


def test_catalog_file_is_used(tmp_path):
    catalog = tmp_path / "catalog.json"
    schemas = tap_catalog()
    assert schemas is not None
    persons = json.loads(json.dumps(schemas["persons"]))
    del persons["properties"]["department"]  # this tenant's persons have no department
    catalog.write_text(json.dumps({"streams": [{"tap_stream_id": "persons", "stream": "persons", "schema": persons}]}))
    from map_topdesk_intercom.mapfile import catalog_from_file

    body = MINIMAL_MAP + (
        '  widgets:\n    - output: teams\n      source_key: "w:{id}"\n      fields: {name: {from: id}}\n'
    )
    text = "\n".join(problems_of(write_map(tmp_path, body), catalog=catalog_from_file(catalog)))
    assert ":18: unknown field 'department'" in text
    # a stream tap-topdesk has but this tap configuration does not offer (incidents here) is fine; an unknown is not
    assert "'incidents'" not in text
    assert ":27: unknown TOPdesk stream 'widgets' (it is not in the tap catalog)" in text


def test_a_map_names_its_own_catalog(tmp_path):
    """`catalog: FILE` (beside the map) replaces the packaged schemas wherever the map is loaded without one."""
    schemas = tap_catalog()
    persons = json.loads(json.dumps(schemas["persons"]))
    del persons["properties"]["department"]
    (tmp_path / "tenant.catalog.json").write_text(
        json.dumps({"streams": [{"tap_stream_id": "persons", "stream": "persons", "schema": persons}]})
    )
    body = MINIMAL_MAP.replace("confirmed: true", "confirmed: true\ncatalog: tenant.catalog.json")
    text = "\n".join(problems_of(write_map(tmp_path, body)))
    assert ":19: unknown field 'department'" in text
    missing = MINIMAL_MAP.replace("confirmed: true", "confirmed: true\ncatalog: gone.json")
    assert ":3: cannot read the catalog 'gone.json'" in "\n".join(problems_of(write_map(tmp_path, missing)))


def test_people_and_company_attributes_cannot_share_a_name(tmp_path):
    body = MINIMAL_MAP.replace(
        "  - {name: topdesk_department, model: contact, data_type: string}",
        "  - {name: topdesk_department, model: contact, data_type: string}\n"
        "  - {name: topdesk_department, model: company, data_type: string}",
    )
    text = "\n".join(problems_of(write_map(tmp_path, body)))
    assert "attribute 'topdesk_department': a contact attribute has that name" in text


def test_result_types_must_fit_the_destination(tmp_path):
    body = MINIMAL_MAP.replace("signed_up_at: {from: creationDate, unix: true}", "signed_up_at: {from: creationDate}")
    body = body.replace(
        "custom_attributes.topdesk_department: {from: department.name}",
        "custom_attributes.topdesk_department: {from: archived}",
    )
    path = write_map(tmp_path, body)
    assert problems_of(path) == [
        f"{path}:17: contacts.signed_up_at: the rule gives string but contacts.signed_up_at takes integer "
        "(dates need `unix: true`)",
        f"{path}:18: contacts.custom_attributes.topdesk_department: the rule gives boolean but attribute "
        "'topdesk_department' (string) takes string",
    ]
