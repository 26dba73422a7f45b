"""Map format features beyond field rules: strategies, definitions with `when`, custom object types, stream patterns,
for_each, warn and custom object links — validated with file:line, and applied by the engine."""

from __future__ import annotations

import pytest

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import MapInvalid, load_map, tap_catalog
from topdesk2intercom_testing.transform import write_map

OBJECTS_MAP = """
version: 1
confirmed: true
strategies:
  assets: custom_object
custom_object_types:
  - name: Asset
    when: {strategy: assets, equals: custom_object}
    attributes:
      - {name: Name, data_type: string}
      - {name: Bought, data_type: date}
    relationships:
      - {name: Parent asset, from: Asset, cardinality: one}
      - {name: TOPdesk assets, from: contact}
attributes:
  - {name: topdesk_asset, model: company, data_type: boolean, when: {strategy: assets, equals: companies}}
streams:
  assets_*:
    - output: custom_object_instances
      source_key: "asset:{id}"
      when: {strategy: assets, equals: custom_object}
      fields:
        object_type: {value: Asset}
        external_id: {from: id, required: true}
        custom_attributes.Name: {from: name}
    - output: custom_object_links
      source_key: "asset-person:{id}:{item.person.id}"
      for_each: "@assignments.persons"
      when: {path: item.person.id}
      warn: "asset {name} is assigned to {item.person.name}"
      fields:
        relationship: {value: TOPdesk assets}
        from_kind: {value: contact}
        refs.from: {template: "person:{item.person.id}", required: true}
        to_type: {value: Asset}
        refs.to: {template: "asset:{id}", required: true}
    - output: companies
      source_key: "asset:{id}"
      when: {strategy: assets, equals: companies}
      fields:
        company_id: {from: id}
        custom_attributes.topdesk_asset: {value: true}
"""

ASSET = {
    "id": "a1",
    "name": "PC-1",
    "@assignments": {
        "persons": [{"person": {"id": "p1", "name": "Ann"}}, {"person": None}, {"person": {"id": "p2", "name": "Bob"}}]
    },
}


def problems(tmp_path, body: str) -> list[str]:
    with pytest.raises(MapInvalid) as info:
        load_map(write_map(tmp_path, body))
    return [p.split(":", 1)[1] for p in info.value.problems]  # "line: message"


def test_objects_map_is_valid_and_strategies_default(tmp_path):
    spec = load_map(write_map(tmp_path, OBJECTS_MAP))
    assert spec.strategies == {
        "calls": "tickets",
        "changes": "custom_object",
        "known_errors": "custom_object",
        "assets": "custom_object",
        "reservations": "custom_object",
    }
    [asset] = spec.custom_object_types
    assert asset.record() == {
        "source_key": "custom_object_type:Asset",
        "name": "Asset",
        "attributes": [{"name": "Name", "data_type": "string"}, {"name": "Bought", "data_type": "date"}],
        "relationships": [
            {"name": "Parent asset", "from": ["Asset"], "cardinality": "one"},
            {"name": "TOPdesk assets", "from": ["contact"], "cardinality": "many"},
        ],
    }
    # definitions follow the strategies: the company attribute is only provisioned for assets: companies
    assert spec.active(spec.attributes) == [] and spec.active(spec.custom_object_types) == [asset]


def test_stream_patterns_match_dynamic_streams_and_exact_names_win(tmp_path):
    body = (
        OBJECTS_MAP
        + """
  assets_vehicle:
    - output: custom_object_instances
      source_key: "vehicle:{id}"
      fields:
        object_type: {value: Asset}
        external_id: {from: id, required: true}
"""
    )
    packaged = tap_catalog()
    catalog = {**packaged, "assets_vehicle": packaged["assets_*"], "assets_computer": packaged["assets_*"]}
    spec = load_map(write_map(tmp_path, body), catalog)
    assert spec.map_key("assets_computer") == "assets_*" and spec.map_key("assets_vehicle") == "assets_vehicle"
    assert spec.map_key("persons") is None
    engine = Engine(spec)
    assert [s for s, _r in engine.apply("assets_vehicle", ASSET)] == ["custom_object_instances"]
    assert engine.maps("assets_printer") and not engine.maps("branches")


def test_pattern_matching_no_stream_is_reported(tmp_path):
    body = OBJECTS_MAP.replace("  assets_*:", "  widgets_*:")
    assert "17: unknown TOPdesk stream 'widgets_*' (it matches no stream of the tap catalog)" in problems(
        tmp_path, body
    )


def test_a_pattern_may_only_use_the_columns_every_matched_stream_has(tmp_path):
    packaged = tap_catalog()
    thin = {"type": "object", "properties": {"id": {"type": "string"}}}
    with pytest.raises(MapInvalid) as info:
        load_map(write_map(tmp_path, OBJECTS_MAP), {"assets_computer": packaged["assets_*"], "assets_x": thin})
    assert any(p.endswith(":24: unknown field 'name'") for p in info.value.problems)


def test_for_each_gives_one_output_per_element_and_warn_a_flag_each(tmp_path):
    engine = Engine(load_map(write_map(tmp_path, OBJECTS_MAP)))
    out = engine.apply("assets_computer", ASSET)
    links = [r for s, r in out if s == "custom_object_links"]
    assert [link["refs"] for link in links] == [
        {"from": "person:p1", "to": "asset:a1"},
        {"from": "person:p2", "to": "asset:a1"},
    ]
    assert links[0] == {
        "source_key": "asset-person:a1:p1",
        "relationship": "TOPdesk assets",
        "from_kind": "contact",
        "to_type": "Asset",
        "refs": {"from": "person:p1", "to": "asset:a1"},
    }
    flags = [r for s, r in out if s == "flagged"]
    assert [(f["severity"], f["reason"], f["source_stream"]) for f in flags] == [
        ("warning", "asset PC-1 is assigned to Ann", "assets_computer"),
        ("warning", "asset PC-1 is assigned to Bob", "assets_computer"),
    ]
    assert engine.apply("assets_computer", {"id": "a2", "@assignments": {"persons": None}}) == [
        ("custom_object_instances", {"source_key": "asset:a2", "object_type": "Asset", "external_id": "a2"})
    ]


def test_custom_object_and_link_mistakes_are_reported_with_lines(tmp_path):
    body = (
        OBJECTS_MAP.replace("      - {name: Bought, data_type: date}", "      - {name: Bought, data_type: datetime}")
        .replace("from: Asset, cardinality: one", "from: Widget, cardinality: some")
        .replace("        custom_attributes.Name: {from: name}", "        custom_attributes.Colour: {from: name}")
        .replace('      for_each: "@assignments.persons"', "      for_each: name")
        .replace('source_key: "asset-person:{id}:{item.person.id}"', 'source_key: "asset-person:{id}"')
        .replace("        relationship: {value: TOPdesk assets}", "        relationship: {value: Owners}")
        .replace(
            "  - {name: topdesk_asset, model: company, data_type: boolean, when: {strategy: assets, "
            "equals: companies}}",
            "  - {name: topdesk_asset, model: company, data_type: boolean, when: {path: id}}",
        )
    )
    found = problems(tmp_path, body)
    for expected in [
        "10: Asset.Bought: data_type 'datetime' is not a custom object format (one of ['boolean', 'date', "
        "'decimal', 'integer', 'list', 'string'])",
        "12: Asset.Parent asset: from must name contact, conversation, ticket or declared custom object types "
        "(found 'Widget')",
        "12: Asset.Parent asset: cardinality is one or many",
        "15: a definition's when can only test strategies ({strategy: S, equals: V})",
        "24: custom_object_instances: custom_attributes.Colour is not defined under the attributes of custom "
        "object type 'Asset'",
        "26: custom_object_links: with for_each, the source_key needs an {item…} placeholder, or every element "
        "gets the same key",
        "27: for_each: 'name' is not an array",
        "31: custom_object_links: relationship must be a `value:` naming a relationship of Asset "
        "(['Parent asset', 'TOPdesk assets'])",
    ]:
        assert expected in found, (expected, found)


def test_a_link_must_start_where_the_relationship_lives(tmp_path):
    body = OBJECTS_MAP.replace("        from_kind: {value: contact}", "        from_kind: {value: ticket}")
    assert "32: custom_object_links: Asset.TOPdesk assets lives on ['contact'], not on 'ticket'" in problems(
        tmp_path, body
    )


def test_object_type_must_name_a_declared_type(tmp_path):
    body = OBJECTS_MAP.replace("        object_type: {value: Asset}", "        object_type: {from: name}")
    assert (
        "22: custom_object_instances: object_type must be a `value:` naming one of the map's "
        "custom_object_types (['Asset'])"
    ) in problems(tmp_path, body)


def test_new_rule_kinds_are_checked(tmp_path):
    body = OBJECTS_MAP.replace(
        "        custom_attributes.Name: {from: name}",
        """\
        custom_attributes.Name: {join: [{from: name}], separator: 1}
        custom_attributes.Bought: {flags: [name]}
        external_created_at: {from: name, escape: html}""",
    )
    found = problems(tmp_path, body)
    for expected in [
        "24: custom_object_instances.custom_attributes.Name: separator is a text and goes with join",
        "25: custom_object_instances.custom_attributes.Bought: flags: 'name' is not a boolean field",
        "25: custom_object_instances.custom_attributes.Bought: the rule gives array but attribute 'Bought' (date) "
        "takes integer",
        "26: custom_object_instances.external_created_at: escape: html goes with a template",
    ]:
        assert expected in found, (expected, found)
