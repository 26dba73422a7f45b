"""Custom object types defined with attributes and relationships (``--custom-objects``): relationship attributes on
contacts, conversations, tickets and other object types, as Intercom lists, validates and renders them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from intercom_sandbox_testkit import Sandbox, SandboxFactory

from intercom_sandbox.store import parse_custom_objects

DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "Asset",
        "attributes": [{"name": "Name", "data_type": "string"}, {"name": "Archived", "data_type": "boolean"}],
        "relationships": [
            {"name": "Parent asset", "from": ["Asset"], "cardinality": "one"},
            {"name": "TOPdesk assets", "from": ["contact"], "cardinality": "many"},
            {"name": "TOPdesk asset", "from": ["ticket", "conversation"], "cardinality": "one"},
        ],
    },
    {"name": "Location", "relationships": [{"name": "Site", "from": "Asset", "cardinality": "one"}]},
)


@pytest.fixture
def defined(make_sandbox: SandboxFactory) -> Sandbox:
    return make_sandbox(custom_objects=DEFINITIONS, custom_object_types=("KnownError",))


def _asset(sb: Sandbox, key: str, **attributes: Any) -> dict[str, Any]:
    return sb.ok("POST", "/custom_object_instances/Asset", {"external_id": key, "custom_attributes": attributes})


def test_relationship_attributes_are_listed_where_intercom_lists_them(defined: Sandbox) -> None:
    contact_attrs = defined.ok("GET", "/data_attributes", params={"model": "contact"})["data"]
    rel = next(a for a in contact_attrs if a["name"] == "TOPdesk assets")
    assert rel["data_type"] == "relationship"
    assert rel["reference"] == {"type": "many", "object_type_id": "Asset"}
    assert rel["custom"] is True and rel["full_name"] == "custom_attributes.TOPdesk assets"
    conversation_attrs = defined.ok("GET", "/conversations/attributes")["data"]
    conv_rel = [a for a in conversation_attrs if a["name"] == "TOPdesk asset"]
    assert len(conv_rel) == 1  # one attribute for `from: [ticket, conversation]`
    assert conv_rel[0]["data_type"] == "relationship"
    assert conv_rel[0]["reference"] == {"type": "one", "object_type_id": "Asset"}
    # the name-only type exists too, without relationships
    assert defined.ok("POST", "/custom_object_instances/KnownError", {"external_id": "K1"})["type"] == "KnownError"


def test_contact_relationship_values_are_validated_and_rendered(defined: Sandbox) -> None:
    a1, a2 = _asset(defined, "A1", Name="Laptop"), _asset(defined, "A2", Name="Phone")
    location = defined.ok("POST", "/custom_object_instances/Location", {"external_id": "L1"})
    contact = defined.contact(email="jo@example.com")
    links = {"TOPdesk assets": [a1["id"], a2["id"]]}
    updated = defined.ok("PUT", f"/contacts/{contact['id']}", {"custom_attributes": links})
    value = updated["custom_attributes"]["TOPdesk assets"]
    assert value["type"] == "Asset.list"
    assert [i["id"] for i in value["instances"]] == [a1["id"], a2["id"]]
    assert value["instances"][0]["custom_attributes"] == {"Name": "Laptop"}
    assert value["instances"][0]["type"] == "Asset" and value["instances"][0]["external_id"] == "A1"
    read = defined.ok("GET", f"/contacts/{contact['id']}")["custom_attributes"]["TOPdesk assets"]
    assert [i["id"] for i in read["instances"]] == [a1["id"], a2["id"]]
    listed = defined.ok("GET", "/custom_object_instances/Asset", params={"references_contact_id": contact["id"]})
    assert sorted(i["id"] for i in listed["data"]) == sorted([a1["id"], a2["id"]])
    # an instance of another type, an unknown id, a non-list of ids: 400
    for bad in ([location["id"]], ["999999"], [{"id": a1["id"]}]):
        response = defined.put(f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk assets": bad}})
        assert response.status_code == 400, bad
    # an unknown relationship name answers 400 as before
    unknown = defined.put(f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk orders": [a1["id"]]}})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "parameter_not_found"
    # an empty list clears it
    cleared = defined.ok("PUT", f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk assets": []}})
    assert "TOPdesk assets" not in cleared["custom_attributes"]


def test_conversation_and_ticket_relationships_keep_their_cardinality(defined: Sandbox) -> None:
    a1, a2 = _asset(defined, "A1", Archived=True), _asset(defined, "A2")
    contact = defined.contact(email="jo@example.com")
    conv = defined.ok("POST", "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "help"})
    conv_id = conv["conversation_id"]
    updated = defined.ok("PUT", f"/conversations/{conv_id}", {"custom_attributes": {"TOPdesk asset": [a1["id"]]}})
    assert updated["custom_attributes"]["TOPdesk asset"]["type"] == "Asset.list"
    assert [i["id"] for i in updated["custom_attributes"]["TOPdesk asset"]["instances"]] == [a1["id"]]
    two = defined.put(f"/conversations/{conv_id}", {"custom_attributes": {"TOPdesk asset": [a1["id"], a2["id"]]}})
    assert two.status_code == 400 and "references one Asset" in two.json()["errors"][0]["message"]
    listed = defined.ok("GET", "/custom_object_instances/Asset", params={"references_conversation_id": conv_id})
    assert [i["id"] for i in listed["data"]] == [a1["id"]]

    ticket_type = defined.ok("POST", "/ticket_types", {"name": "Incident", "category": "Customer"})
    ticket = defined.ok(
        "POST",
        "/tickets",
        {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}],
         "ticket_attributes": {"_default_title_": "Broken"}},
    )  # fmt: skip
    put = defined.ok("PUT", f"/tickets/{ticket['id']}", {"ticket_attributes": {"TOPdesk asset": [a2["id"]]}})
    value = put["ticket_attributes"]["TOPdesk asset"]
    assert value["type"] == "Asset.list" and [i["id"] for i in value["instances"]] == [a2["id"]]
    read = defined.ok("GET", f"/tickets/{ticket['id']}")["ticket_attributes"]["TOPdesk asset"]
    assert [i["id"] for i in read["instances"]] == [a2["id"]]
    too_many = defined.put(f"/tickets/{ticket['id']}", {"ticket_attributes": {"TOPdesk asset": [a1["id"], a2["id"]]}})
    assert too_many.status_code == 400
    assert defined.put(f"/tickets/{ticket['id']}", {"ticket_attributes": {"Nope": [a1["id"]]}}).status_code == 400


def test_instance_attributes_and_relationships_between_object_types(defined: Sandbox) -> None:
    parent = _asset(defined, "A1", Name="Rack")
    location = defined.ok("POST", "/custom_object_instances/Location", {"external_id": "L1"})
    child = defined.ok(
        "POST",
        "/custom_object_instances/Asset",
        {"external_id": "A2", "custom_attributes": {"Name": "Server", "Parent asset": [parent["id"]],
                                                     "Site": [location["id"]]}},
    )  # fmt: skip
    assert child["custom_attributes"]["Parent asset"]["type"] == "Asset.list"
    assert [i["id"] for i in child["custom_attributes"]["Parent asset"]["instances"]] == [parent["id"]]
    assert [i["id"] for i in child["custom_attributes"]["Site"]["instances"]] == [location["id"]]
    got = defined.ok("GET", f"/custom_object_instances/Asset/{child['id']}")
    assert got["custom_attributes"]["Name"] == "Server"
    # an attribute the type was not defined with: 400
    colour = {"external_id": "A3", "custom_attributes": {"Colour": "red"}}
    unknown = defined.post("/custom_object_instances/Asset", colour)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == "parameter_not_found"
    # a relationship to the wrong type / beyond its cardinality: 400
    wrong = defined.post(
        "/custom_object_instances/Asset", {"external_id": "A3", "custom_attributes": {"Parent asset": [location["id"]]}}
    )
    assert wrong.status_code == 400
    two = defined.post(
        "/custom_object_instances/Asset",
        {"external_id": "A3", "custom_attributes": {"Parent asset": [parent["id"], child["id"]]}},
    )
    assert two.status_code == 400
    # Location was defined without `attributes`: any attribute is accepted (like a name-only type)
    assert defined.ok(
        "POST", "/custom_object_instances/Location", {"external_id": "L2", "custom_attributes": {"City": "Delft"}}
    )
    # a deleted target drops out of the rendered list
    defined.ok("DELETE", f"/custom_object_instances/Asset/{parent['id']}")
    got = defined.ok("GET", f"/custom_object_instances/Asset/{child['id']}")
    assert got["custom_attributes"]["Parent asset"]["instances"] == []


def test_name_only_types_keep_the_old_behaviour(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(custom_object_types=("Asset",))
    instance = _asset(sb, "A1", anything="goes")
    contact = sb.contact(email="jo@example.com")
    response = sb.put(f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk assets": [instance["id"]]}})
    assert response.status_code == 400  # no relationship attribute without its definition
    assert not [a for a in sb.ok("GET", "/data_attributes")["data"] if a.get("data_type") == "relationship"]


def test_definitions_file_and_invalid_definitions(tmp_path: Any, make_sandbox: SandboxFactory) -> None:
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(list(DEFINITIONS)))
    sb = make_sandbox(custom_objects_file=path)
    assert sorted(sb.workspace.custom_objects) == ["Asset", "Location"]
    for bad in (
        [{"attributes": []}],
        [{"name": "X", "relationships": [{"name": "r", "from": ["company?"], "cardinality": "one"}]}],
        [{"name": "X", "relationships": [{"name": "r", "from": ["contact"], "cardinality": "few"}]}],
        [{"name": "X", "attributes": [{"name": "a", "data_type": "money"}]}],
    ):
        with pytest.raises(ValueError):
            parse_custom_objects((), bad)


def test_an_admin_can_define_a_type_while_the_workspace_runs(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(custom_objects=DEFINITIONS)
    asset = _asset(sb, "A1", Name="Laptop")
    assert sb.post("/custom_object_instances/Vehicle", {"external_id": "V1"}).status_code == 404
    answer = sb.admin(
        "POST",
        "/custom_object_types",
        [
            {
                "name": "Vehicle",
                "attributes": [{"name": "Plate", "data_type": "string"}],
                "relationships": [{"name": "TOPdesk vehicle", "from": ["ticket"], "cardinality": "one"}],
            }
        ],
    )
    assert answer == {"defined": ["Vehicle"]}
    vehicle = sb.ok(
        "POST", "/custom_object_instances/Vehicle", {"external_id": "V1", "custom_attributes": {"Plate": "X"}}
    )
    assert vehicle["custom_attributes"]["Plate"] == "X"
    names = [a["name"] for a in sb.ok("GET", "/conversations/attributes")["data"]]
    assert "TOPdesk vehicle" in names
    # earlier instances stay; a bad definition changes nothing
    assert sb.ok("GET", f"/custom_object_instances/Asset/{asset['id']}")["id"] == asset["id"]
    bad = sb.admin(
        "POST",
        "/custom_object_types",
        [{"name": "Broken", "attributes": [{"name": "x", "data_type": "blob"}]}],
        expect=400,
    )
    assert "blob" in bad["error"]
    assert sb.post("/custom_object_instances/Broken", {"external_id": "B"}).status_code == 404
