"""The map proposal on a real sandbox catalog and tap sample: freely definable asset types, filled optional fields,
Intercom attribute conflicts; the written proposal is unconfirmed and otherwise valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import topdesk2intercom_testing.transform as kit
from map_topdesk_intercom.mapfile import CONFIRM_HINT, MapInvalid, catalog_from_file, load_map
from map_topdesk_intercom.propose import filled_optional_fields, is_filled, is_freely_definable, main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(catalog.json from discovery, sample.jsonl of the tap's messages) against the testkit's sandbox."""
    import topdesk2intercom_testing.tap as tap_kit
    from tap_topdesk.tap import TapTopdesk

    folder = tmp_path_factory.mktemp("propose")
    url = tap_kit.shared_sandbox(scale=300, seed=7)
    catalog = TapTopdesk(config=tap_kit.config(url), parse_env_config=False).catalog_dict
    (folder / "catalog.json").write_text(json.dumps(catalog))
    (folder / "sample.jsonl").write_text("".join(json.dumps(m) + "\n" for m in kit.tap_messages()))
    return folder / "catalog.json", folder / "sample.jsonl"


def propose(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "proposal.yaml"
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text()


def problems_apart_from_confirmation(path: Path, catalog: Path) -> list[str]:
    with pytest.raises(MapInvalid) as info:
        load_map(path, catalog_from_file(catalog))
    return [p for p in info.value.problems if CONFIRM_HINT not in p]


def test_proposal_has_asset_types_and_filled_optional_fields(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    catalog, sample = inputs
    text = propose(tmp_path, "--catalog", str(catalog), "--sample", str(sample))
    doc = yaml.safe_load(text)
    assert doc["confirmed"] is False
    assert problems_apart_from_confirmation(tmp_path / "proposal.yaml", catalog) == []

    # (a) every optional field the sample shows filled, with an attribute, a rule and a comment
    filled = filled_optional_fields(sample.read_text().splitlines())
    assert filled["persons"] >= {"optionalFields1.text1", "optionalFields1.date1", "optionalFields1.boolean1"}
    assert "optionalFields1.searchlist1" in filled["incidents"]
    attributes = {(a["model"], a["name"]): a for a in doc["attributes"]}
    fields = {s: doc["streams"][s][0]["fields"] for s in ("persons", "branches", "incidents")}
    holders = {
        "persons": ("contact", "custom_attributes", "topdesk"),
        "branches": ("company", "custom_attributes", "topdesk_branch"),
        "incidents": ("ticket_type", "ticket_attributes", "topdesk"),
    }
    for stream, paths in filled.items():
        model, holder, prefix = holders[stream]
        for path in paths:
            group, _, sub = path.partition(".")
            name = f"{prefix}_{group.replace('optionalFields', 'optional')}_{sub}"
            assert (model, name) in attributes, (stream, path)
            rule = fields[stream][f"{holder}.{name}"]
            assert rule["from"] in (path, f"{path}.name")
            assert f"TOPdesk {stream}.{path} is declared by the catalog and filled in the sample" in text
    assert attributes[("contact", "topdesk_optional1_date1")]["data_type"] == "date"
    assert fields["persons"]["custom_attributes.topdesk_optional1_date1"] == {
        "from": "optionalFields1.date1",
        "unix": True,
    }
    assert attributes[("ticket_type", "topdesk_optional1_number1")]["data_type"] == "decimal"
    assert (
        fields["incidents"]["ticket_attributes.topdesk_optional1_searchlist1"]["from"]
        == "optionalFields1.searchlist1.name"
    )
    # an optional field nobody filled is not proposed
    assert ("contact", "topdesk_optional1_memo1") not in attributes

    # (b) the two freely definable asset types: a custom object type each, and their own (real) stream entries
    streams = [e["stream"] for e in json.loads(catalog.read_text())["streams"]]
    asset_streams = {s for s in streams if s.startswith("assets_")}
    assert {"assets_key_card", "assets_vehicle"} <= asset_streams
    # (stock and bulk-item templates are user-defined templates too: their own custom object types as well)
    stock_and_bulk = {"assets_stock_room", "assets_toner_cartridge", "assets_network_cable"}
    assert stock_and_bulk <= asset_streams
    freely = {s for s in asset_streams if is_freely_definable(s)}
    assert freely == {"assets_key_card", "assets_vehicle"} | stock_and_bulk
    types = {o["name"]: o for o in doc["custom_object_types"]}
    for stream, name in (("assets_key_card", "Key card"), ("assets_vehicle", "Vehicle")):
        assert f"freely definable asset type {name!r} (stream {stream})" in text
        [instances, links] = doc["streams"][stream]
        assert instances["output"] == "custom_object_instances"
        assert instances["fields"]["object_type"] == {"value": name}
        assert links["output"] == "custom_object_links" and links["fields"]["to_type"] == {"value": name}
        assert {"name": f"TOPdesk {name}", "from": "contact", "cardinality": "many"} in types[name]["relationships"]
    vehicle = {a["name"]: a["data_type"] for a in types["Vehicle"]["attributes"]}
    key_card = {a["name"]: a["data_type"] for a in types["Key card"]["attributes"]}
    assert vehicle["License plate"] == "string" and vehicle["mileage"] == "decimal"  # "Mileage (km)": not a name
    assert "Intercom's UI (Settings > Data > Custom Objects)" in text
    fields = doc["streams"]["assets_vehicle"][0]["fields"]
    assert any(rule == {"from": "license-plate"} for rule in fields.values())
    assert any(
        rule == {"from": "valid-until", "unix": True}
        for rule in doc["streams"]["assets_key_card"][0]["fields"].values()
    )
    assert "date" in key_card.values()
    assert "assets_computer" not in doc["streams"] and "assets_server_ci" not in doc["streams"]
    # the proposal's own entries win over the assets_* pattern
    spec = load_map(tmp_path / "proposal.yaml", catalog_from_file(catalog), require_confirmed=False)
    assert spec.map_key("assets_vehicle") == "assets_vehicle" and spec.map_key("assets_computer") == "assets_*"


def test_conflicting_intercom_attribute_gets_a_comment_and_a_distinct_name(
    tmp_path: Path, inputs: tuple[Path, Path]
) -> None:
    catalog, sample = inputs
    existing = tmp_path / "attributes.json"
    existing.write_text(
        json.dumps(
            {
                "type": "list",
                "data": [
                    {
                        "type": "data_attribute",
                        "name": "topdesk_optional1_text1",
                        "full_name": "custom_attributes.topdesk_optional1_text1",
                        "model": "contact",
                        "data_type": "integer",
                        "custom": True,
                    },
                    {
                        "type": "data_attribute",
                        "name": "topdesk_optional1_boolean1",
                        "model": "contact",
                        "data_type": "boolean",
                        "custom": True,
                    },
                    {"type": "data_attribute", "name": "topdesk_archived", "model": "contact", "data_type": "string"},
                    {
                        "type": "data_attribute",
                        "name": "email",
                        "full_name": "email",
                        "model": "contact",
                        "data_type": "string",
                    },
                ],
            }
        )
    )
    text = propose(tmp_path, "--catalog", str(catalog), "--sample", str(sample), "--intercom-attributes", str(existing))
    assert (
        "# CONFLICT: Intercom already has the contact attribute 'topdesk_optional1_text1' with data type "
        "'integer', not 'string';"
    ) in text
    assert "a distinct name is proposed: 'topdesk_optional1_text1_string'" in text
    assert (
        "# CONFLICT: the map's contact attribute 'topdesk_archived' is 'boolean' but Intercom already has it as "
        "'string'"
    ) in text
    assert "'topdesk_optional1_boolean1' already exists in Intercom (contact, boolean): it is reused" in text
    doc = yaml.safe_load(text)
    names = {(a["model"], a["name"]) for a in doc["attributes"]}
    assert ("contact", "topdesk_optional1_text1_string") in names
    assert ("contact", "topdesk_optional1_text1") not in names
    # people and company data share one namespace in Intercom: a branch's optional field gets its own name
    assert ("company", "topdesk_branch_optional1_text1") in names
    assert ("company", "topdesk_optional1_text1") not in names
    assert doc["streams"]["persons"][0]["fields"]["custom_attributes.topdesk_optional1_text1_string"] == {
        "from": "optionalFields1.text1"
    }
    assert problems_apart_from_confirmation(tmp_path / "proposal.yaml", catalog) == []


def test_without_sample_only_asset_types_are_proposed(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    catalog, _sample = inputs
    text = propose(tmp_path, "--catalog", str(catalog))
    assert "No --sample given" in text
    assert "topdesk_optional" not in text
    assert 'object_type: {value: "Key card"}' in text and 'object_type: {value: "Vehicle"}' in text
    assert problems_apart_from_confirmation(tmp_path / "proposal.yaml", catalog) == []


def test_filled_means_not_null_empty_false_or_zero() -> None:
    assert not any(is_filled(v) for v in (None, "", "  ", False, 0, 0.0, {}, {"id": None, "name": ""}, []))
    assert all(is_filled(v) for v in ("x", True, 1.5, {"id": "A1", "name": "Gold"}, [1]))
    lines = [
        json.dumps(m)
        for m in (
            {"type": "SCHEMA", "stream": "persons", "schema": {}},
            {
                "type": "RECORD",
                "stream": "persons",
                "record": {"optionalFields1": {"text1": "", "number2": 3}, "optionalFields2": {"boolean1": True}},
            },
            {"type": "RECORD", "stream": "operators", "record": {"optionalFields1": {"text1": "x"}}},
        )
    ]
    assert filled_optional_fields(lines) == {"persons": {"optionalFields1.number2", "optionalFields2.boolean1"}}


def test_unreadable_catalog_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(main, ["--catalog", str(bad), "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1 and "cannot read the inputs" in result.output
