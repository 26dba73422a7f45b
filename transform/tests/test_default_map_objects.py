"""The default map's default strategies (custom objects) on real sandbox-shaped records: operators, groups, call
e-mails and attachments, changes, known errors/problems, assets and CIs, reservations, operations management,
knowledge base, and the rebuild inventory."""

from __future__ import annotations

from datetime import datetime

import pytest

from map_topdesk_intercom.engine import Engine
from topdesk2intercom_testing.transform import engine_for, mapped, tap_messages, tap_records


@pytest.fixture(scope="module")
def engine() -> Engine:
    return engine_for()


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def by_key(records: list[dict]) -> dict[str, dict]:
    return {r["source_key"]: r for r in records}


def test_operators_become_admins_to_match_by_email(engine):
    operators = {o["id"]: o for o in tap_records("operators")}
    out = mapped(engine, "operators")
    admins = by_key(out["admins"])
    assert len(admins) == len(operators)
    for operator_id, operator in operators.items():
        admin = admins[f"operator:{operator_id}"]
        assert admin.get("email") == ((operator.get("email") or "").lower() or None)
        assert admin["name"] == operator["dynamicName"] and admin["archived"] is False
        flags = [
            k
            for k, v in operator.items()
            if v is True
            and k in ("firstLineCallOperator", "secondLineCallOperator", "changeCoordinator", "knowledgeBaseManager")
        ]
        assert set(flags) <= set(admin.get("permissions") or [])
    assert sum(1 for a in admins.values() if "email" not in a) == 2  # emailless: the target's reconciliation queue
    inventory = by_key(out["inventory_items"])
    item = inventory[f"operator-permissions:{next(iter(operators))}"]
    assert item["kind"] == "permission_level" and item["detail"].startswith("TOPdesk permissions of ")


def test_operator_groups_become_teams_with_members(engine):
    groups = tap_records("operator_groups")
    teams = by_key(mapped(engine, "operator_groups")["teams"])
    assert {t["name"] for t in teams.values()} == {g["groupName"] for g in groups}
    members = mapped(engine, "operator_group_members")["team_memberships"]
    member = tap_records("operator_group_members")[0]
    assert {"admin": f"operator:{member['operator_id']}", "team": f"operator-group:{member['operator_group_id']}"} in [
        m["refs"] for m in members
    ]


def test_calls_carry_team_alias_and_asset_link(engine):
    incidents = tap_records("incidents")
    out = mapped(engine, "incidents")
    tickets = by_key(out["tickets"])
    with_asset = [i for i in incidents if (i.get("asset") or {}).get("id")]
    assert with_asset
    incident = with_asset[0]
    ticket = tickets[f"call:{incident['id']}"]
    assert ticket["alias_key"] == f"call-number:{incident['number']}"
    assert ticket["refs"]["team"] == f"operator-group:{incident['operatorGroup']['id']}"
    assert ticket["ticket_attributes"]["Asset"] == incident["object"]["name"]
    links = by_key(out["custom_object_links"])
    assert len(links) == len(with_asset)
    assert links[f"call-asset:{incident['id']}:{incident['asset']['id']}"] == {
        "source_key": f"call-asset:{incident['id']}:{incident['asset']['id']}",
        "relationship": "TOPdesk asset",
        "from_kind": "ticket",
        "to_type": "Asset",
        "refs": {"from": f"call:{incident['id']}", "to": f"asset:{incident['asset']['id']}"},
    }


def test_call_emails_become_notes_with_the_message(engine):
    emails = tap_records("incident_emails")
    parts = by_key(mapped(engine, "incident_emails")["ticket_parts"])
    email = emails[0]
    part = parts[f"call-email:{email['id']}"]
    assert part["refs"] == {"ticket": f"call:{email['incident_id']}", "author": f"operator:{email['user']['id']}"}
    assert part["message_type"] == "note" and part["created_at"] == unix(email["sendDate"])
    assert part["body"].startswith(f"<p><b>E-mail</b> from {email['sender']} to {email['recipient']}: ")
    assert "<script" not in "".join(p["body"] for p in parts.values())


def test_call_attachments_become_part_files_or_a_note_with_a_warning(engine):
    attachments = {a["id"]: a for a in tap_records("incident_attachments")}
    out = mapped(engine, "incident_attachments")
    parts = by_key(out["ticket_parts"])
    assert len(parts) == len(attachments)
    downloaded = [a for a in attachments.values() if a.get("content_base64")]
    left = [a for a in attachments.values() if not a.get("content_base64")]
    assert downloaded and len(left) == 2
    for attachment in downloaded:
        part = parts[f"call-attachment:{attachment['id']}"]
        [file] = part["attachment_files"]
        assert file["name"] == attachment["fileName"] and file["data"] == attachment["content_base64"]
        assert "/" in file["content_type"]
        assert part["message_type"] == ("note" if attachment["invisibleForCaller"] else "comment")
    for attachment in left:
        part = parts[f"call-attachment:{attachment['id']}"]
        assert "attachment_files" not in part and part["message_type"] == "note"
        assert attachment["fileName"] in part["body"] and attachment["downloadUrl"] in part["body"]
        assert "exceeds max_attachment_mb" in part["body"]
    flags = out["flagged"]
    assert {f["record_id"] for f in flags} == {a["id"] for a in left}
    assert all(f["severity"] == "warning" and "stays in TOPdesk" in f["reason"] for f in flags)


def test_changes_become_change_objects_with_activities_and_log(engine):
    changes = {c["id"]: c for c in tap_records("changes")}
    out = mapped(engine, "changes")
    instances = by_key(out["custom_object_instances"])
    change = next(c for c in changes.values() if c["changeType"] == "extensive")
    instance = instances[f"change:{change['id']}"]
    assert instance["object_type"] == "Change" and instance["external_id"] == change["id"]
    attributes = instance["custom_attributes"]
    assert attributes["Number"] == change["number"] and attributes["Phase"] == change["processingStatus"]
    assert attributes["Change type"] == "extensive"
    assert attributes["Target date"] == unix(change["phases"]["progress"]["plannedEndDate"])
    simple = next(c for c in changes.values() if c["changeType"] == "simple")
    assert instances[f"change:{simple['id']}"]["custom_attributes"]["Target date"] == unix(
        simple["simple"]["plannedImplementationDate"]
    )
    requester_links = [link["refs"] for link in out["custom_object_links"]]
    assert {"from": f"person:{change['requester']['id']}", "to": f"change:{change['id']}"} in requester_links

    activities = mapped(engine, "change_activities")
    activity = tap_records("change_activities")[0]
    [instance] = [i for i in activities["custom_object_instances"] if i["external_id"] == activity["id"]]
    assert instance["object_type"] == "ChangeActivity"
    assert instance["custom_attributes"]["Processing status"] == activity["processingStatus"]
    assert {"from": f"change-activity:{activity['id']}", "to": f"change:{activity['change']['id']}"} in [
        link["refs"] for link in activities["custom_object_links"]
    ]
    authorizations = [
        i
        for i in activities["custom_object_instances"]
        if i["custom_attributes"].get("Activity type") == "authorization"
    ]
    assert authorizations  # the authorization state of extensive changes

    log = mapped(engine, "change_progress_trail")
    entry = tap_records("change_progress_trail")[0]
    [instance] = [i for i in log["custom_object_instances"] if i["external_id"] == entry["id"]]
    assert instance["object_type"] == "ChangeLogEntry"
    assert instance["custom_attributes"]["Text"] == "Waiting for the supplier to send a replacement part."
    assert instance["custom_attributes"]["Entry date"] == unix(entry["entryDate"])


def test_known_errors_and_problems_become_known_error_objects_linked_to_calls(engine):
    known_errors = tap_records("known_errors")
    problems = tap_records("problems")
    out = mapped(engine, "known_errors")
    instances = by_key(out["custom_object_instances"])
    known_error = known_errors[0]
    instance = instances[f"known-error:{known_error['number']}"]
    assert instance["object_type"] == "KnownError" and instance["external_id"] == known_error["number"]
    assert instance["custom_attributes"]["Cause"] == known_error["cause"]
    assert instance["custom_attributes"]["Workaround"] == known_error["workaround"]
    assert instance["custom_attributes"]["Kind"] == "Known error"
    assert {"from": f"known-error:{known_error['number']}", "to": f"problem:{known_error['problem']}"} in [
        link["refs"] for link in out["custom_object_links"]
    ]

    out = mapped(engine, "problems")
    assert {i["custom_attributes"]["Kind"] for i in out["custom_object_instances"]} == {"Problem"}
    links = by_key(out["custom_object_links"])
    problem = next(p for p in problems if p["linked_calls"] and p["known_error"])
    for number in problem["linked_calls"]:  # calls are referenced by number: tickets carry that alias key
        assert links[f"problem-call:{problem['number']}:{number}"]["refs"] == {
            "from": f"call-number:{number}",
            "to": f"problem:{problem['number']}",
        }
        assert (
            links[f"known-error-call:{problem['known_error']}:{number}"]["refs"]["to"]
            == f"known-error:{problem['known_error']}"
        )
    assert {link["from_kind"] for link in links.values()} == {"ticket"}
    call_numbers = {i["number"] for i in tap_records("incidents")}
    assert any(number in call_numbers for p in problems for number in p["linked_calls"] or [])


def test_assets_and_configuration_items_become_asset_objects(engine):
    streams = {m["stream"] for m in tap_messages() if m["type"] == "RECORD" and m["stream"].startswith("assets_")}
    assert {"assets_computer", "assets_server_ci", "assets_vehicle", "assets_key_card"} <= streams
    out = mapped(engine, "assets_*")
    instances = by_key(out["custom_object_instances"])
    assert len(instances) == sum(len(tap_records(s)) for s in streams)
    computer = tap_records("assets_computer")[0]
    instance = instances[f"asset:{computer['id']}"]
    assert instance["custom_attributes"]["Template"] == "Computer"
    assert instance["custom_attributes"]["Assigned to"] == computer["@assignments"]["persons"][0]["person"]["name"]
    assert f"serialnumber: {computer['serialnumber']}" in instance["custom_attributes"]["Details"]
    assert instance["external_created_at"] == unix(computer["creationDate"])
    server = tap_records("assets_server_ci")[0]  # a configuration item: an asset of a CI template
    ci = instances[f"asset:{server['id']}"]["custom_attributes"]
    assert (
        ci["Template"] == "Server (CI)" and ci["Location"] == server["@assignments"]["locations"][0]["location"]["name"]
    )
    assert f"hostname: {server['hostname']}" in ci["Details"]
    vehicle = tap_records("assets_vehicle")[0]  # freely definable: generic Asset unless the map names its stream
    assert "license-plate: " in instances[f"asset:{vehicle['id']}"]["custom_attributes"]["Details"]
    links = [link["refs"] for link in out["custom_object_links"]]
    person = computer["@assignments"]["persons"][0]["person"]["id"]
    assert {"from": f"person:{person}", "to": f"asset:{computer['id']}"} in links


def test_asset_links_point_from_child_to_parent(engine):
    links = tap_records("asset_links")
    out = by_key(mapped(engine, "asset_links")["custom_object_links"])
    for link in links:
        parent, child = (
            (link["sourceId"], link["targetId"])
            if link["linkType"] == "child"
            else (link["targetId"], link["sourceId"])
        )
        record = out[f"asset-link:{link['linkId']}"]
        assert record["refs"] == {"from": f"asset:{child}", "to": f"asset:{parent}"}
        assert (record["relationship"], record["from_type"], record["to_type"]) == ("Parent asset", "Asset", "Asset")
    bad = dict(links[0], linkType="sibling")
    [(stream, flag)] = engine.apply("asset_links", bad)
    assert stream == "flagged" and flag["field"] == "refs.from" and flag["severity"] == "error"


def test_reservations_become_reservation_objects(engine):
    reservations = tap_records("reservations")
    out = mapped(engine, "reservations")
    instances = by_key(out["custom_object_instances"])
    reservation = reservations[0]
    attributes = instances[f"reservation:{reservation['id']}"]["custom_attributes"]
    assert attributes["Number"] == reservation["number"]
    assert attributes["Planned start"] == unix(reservation["plannedStartDate"])
    assert attributes["Facility"] == reservation["reservedFacilities"][0]["location"]["name"]
    links = [(link["relationship"], link["refs"]) for link in out["custom_object_links"]]
    assert (
        "TOPdesk reservations",
        {"from": f"person:{reservation['requester']['id']}", "to": f"reservation:{reservation['id']}"},
    ) in links
    with_asset = next(r for r in reservations if any(f.get("asset") for f in r["reservedFacilities"]))
    facility = next(f for f in with_asset["reservedFacilities"] if f.get("asset"))
    assert (
        "Reserved assets",
        {"from": f"reservation:{with_asset['id']}", "to": f"asset:{facility['asset']['id']}"},
    ) in links


def test_operations_management_becomes_process_definitions_and_inventory(engine):
    series = tap_records("operational_series")[0]
    out = mapped(engine, "operational_series")
    assert by_key(out["custom_object_instances"])[f"operational-series:{series['id']}"]["custom_attributes"] == {
        "Number": series["number"],
        "Kind": "Series",
        "Title": series["briefDescription"],
    }
    assert by_key(out["inventory_items"])[f"operational-series:{series['id']}"]["kind"] == "operations_series"
    activity = tap_records("operational_activities")[0]
    out = mapped(engine, "operational_activities")
    instance = by_key(out["custom_object_instances"])[f"operational-activity:{activity['id']}"]
    assert instance["object_type"] == "ProcessDefinition"
    assert instance["custom_attributes"]["Schedule"] == activity["schema"]["name"]
    assert instance["custom_attributes"]["Archived"] is False
    assert {
        "from": f"operational-activity:{activity['id']}",
        "to": f"operational-series:{activity['series']['id']}",
    } in [link["refs"] for link in out["custom_object_links"]]


def test_knowledge_becomes_articles_in_collections(engine):
    folders = tap_records("knowledge_folders")
    collections = by_key(mapped(engine, "knowledge_folders")["collections"])
    folder = folders[0]
    collection = collections[f"knowledge-folder:{folder['id']}:{folder['language']}"]
    assert collection["name"] == folder["translation"]["content"]["title"]
    assert (collection["locale"], collection["alias_key"]) == (folder["language"], f"knowledge-folder:{folder['id']}")
    assert len(collections) == len(folders) and not any("refs" in c for c in collections.values())  # top level
    nested = dict(folder, id="child", parent={"id": folder["id"], "name": "x"})
    [(_stream, child)] = engine.apply("knowledge_folders", nested)
    assert child["refs"] == {"parent": f"knowledge-folder:{folder['id']}"}
    aliases = {c["alias_key"] for c in collections.values()}
    items = tap_records("knowledge_items")
    articles = by_key(mapped(engine, "knowledge_items")["articles"])
    assert len(articles) == len(items)
    for item in items:
        article = articles[f"knowledge-item:{item['id']}:{item['language']}"]
        assert article["title"] == item["translation"]["content"]["title"]
        visible = item["visibility"]["sspVisibility"] in ("VISIBLE", "VISIBLE_IN_PERIOD")
        assert article["state"] == ("published" if visible else "draft")
        assert article["refs"]["author"] == f"operator:{item['translation']['creator']['id']}"
        assert article["locale"] == item["language"] and article["refs"]["collection"] in aliases
        assert "<script" not in (article.get("body") or "")
    assert {a["state"] for a in articles.values()} == {"published", "draft"}


def test_events_actions_and_activity_templates_go_to_the_inventory(engine):
    events = by_key(mapped(engine, "events_actions")["inventory_items"])
    event = tap_records("events_actions")[0]
    item = events[f"event-action:{event['module']}:{event['name']}"]
    assert (item["kind"], item["name"], item["module"]) == ("event_action", event["name"], event["module"])
    assert event["event"] in item["detail"] and event["action"] in item["detail"]
    templates = mapped(engine, "activity_templates")["inventory_items"]
    assert {t["kind"] for t in templates} == {"activity_template"}
    assert len(templates) == len(tap_records("activity_templates"))
    asset_templates = mapped(engine, "asset_templates")["inventory_items"]
    assert {t["name"] for t in asset_templates} == {t["text"] for t in tap_records("asset_templates")}
