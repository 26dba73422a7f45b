"""A workspace that lacks a capability the migration assumes (``deny``, ``serve --deny``): by default each holds;
denied, a request using it is refused (400 ``parameter_invalid`` naming the field) or ignored (200, the value
dropped: absent from the answer and every later read). ``/__sandbox/stats`` counts the denials."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from intercom_sandbox_testkit import ADMIN_ID, Sandbox, SandboxFactory

from intercom_sandbox import capabilities, cli
from intercom_sandbox.app import WorkspaceSettings, create_app
from intercom_sandbox.capabilities import CAPABILITIES, parse_deny

MODES = (None, "refused", "ignored")
STAMP = 1_600_000_000
DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "Asset",
        "relationships": [
            {"name": "Parent asset", "from": ["Asset"], "cardinality": "one"},
            {"name": "TOPdesk assets", "from": ["contact"], "cardinality": "many"},
            {"name": "TOPdesk asset", "from": ["ticket", "conversation"], "cardinality": "one"},
        ],
    },
)


def _start(make_sandbox: SandboxFactory, capability: str, mode: str | None, **settings: Any) -> Sandbox:
    return make_sandbox(custom_objects=DEFINITIONS, deny={capability: mode} if mode else {}, **settings)


def _refused(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error.list" and body["request_id"]
    error = body["errors"][0]
    assert (error["code"], error["field"]) == ("parameter_invalid", field)
    return error


def _denied(sb: Sandbox) -> dict[str, int]:
    return sb.admin("GET", "/stats")["denied"]


def _ticket_setup(sb: Sandbox) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    ticket_type = sb.ok("POST", "/ticket_types", {"name": "Incident", "category": "Customer"})
    contact = sb.contact(email="caller@example.com")
    asset = sb.ok("POST", "/custom_object_instances/Asset", {"external_id": "A1"})
    return ticket_type, contact, asset


@pytest.mark.parametrize("mode", MODES)
def test_ticket_relationships(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "ticket_relationships", mode)
    ticket_type, contact, asset = _ticket_setup(sb)
    body = {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}],
            "ticket_attributes": {"_default_title_": "Broken", "TOPdesk asset": [asset["id"]]}}  # fmt: skip
    if mode == "refused":
        error = _refused(sb.post("/tickets", body), "TOPdesk asset")
        assert "TOPdesk asset" in error["message"]
        assert sb.ok("POST", "/tickets/search", {"query": {"field": "open", "operator": "=", "value": True}})[
            "total_count"] == 0  # fmt: skip
        body["ticket_attributes"] = {"_default_title_": "Broken"}
        ticket = sb.ok("POST", "/tickets", body)
        _refused(sb.put(f"/tickets/{ticket['id']}", {"ticket_attributes": {"TOPdesk asset": [asset["id"]]}}),
                 "TOPdesk asset")  # fmt: skip
        assert _denied(sb) == {"ticket_relationships": 2}
        return
    ticket = sb.ok("POST", "/tickets", body)
    updated = sb.ok("PUT", f"/tickets/{ticket['id']}", {"ticket_attributes": {"TOPdesk asset": [asset["id"]]}})
    for read in (ticket, updated, sb.ok("GET", f"/tickets/{ticket['id']}")):
        values = read["ticket_attributes"]
        assert values["_default_title_"] == "Broken"
        if mode is None:
            assert [i["id"] for i in values["TOPdesk asset"]["instances"]] == [asset["id"]]
        else:
            assert "TOPdesk asset" not in values
    assert _denied(sb) == ({} if mode is None else {"ticket_relationships": 2})


def _count(sb: Sandbox, kind: str) -> int:
    return int(sb.admin("GET", "/stats")["objects"][kind])


@pytest.mark.parametrize("mode", MODES)
def test_created_with_links_on_a_contact(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "created_with_links", mode)
    sb.ok("POST", "/data_attributes", {"name": "topdesk_id", "model": "contact", "data_type": "string"})
    asset = sb.ok("POST", "/custom_object_instances/Asset", {"external_id": "A1"})
    links = {"topdesk_id": "P1", "TOPdesk assets": [asset["id"]]}
    # the same values set by PUT on a contact created without them: what a create must read back like
    other = sb.contact(email="other@example.com", custom_attributes={"topdesk_id": "P1"})
    put = sb.ok("PUT", f"/contacts/{other['id']}", {"custom_attributes": links})
    assert [i["id"] for i in put["custom_attributes"]["TOPdesk assets"]["instances"]] == [asset["id"]]
    body = {"email": "owner@example.com", "custom_attributes": links}
    if mode == "refused":
        before = _count(sb, "contacts")
        error = _refused(sb.post("/contacts", body), "custom_attributes.TOPdesk assets")
        assert error["message"] == (
            "Relationship attribute 'TOPdesk assets' cannot be set when creating a contact; update the contact instead"
        )
        assert _count(sb, "contacts") == before
        assert sb.ok("POST", "/contacts/search", {"query": {"field": "email", "operator": "=", "value":
                     "owner@example.com"}})["total_count"] == 0  # fmt: skip
        assert _denied(sb) == {"created_with_links": 1}
        return
    created = sb.ok("POST", "/contacts", body)
    for read in (created, sb.ok("GET", f"/contacts/{created['id']}")):
        if mode is None:  # stored and read back as after PUT
            assert read["custom_attributes"] == put["custom_attributes"]
        else:
            assert read["custom_attributes"] == {"topdesk_id": "P1"}
    assert sb.workspace.contacts[created["id"]]["custom_attributes"] == (
        sb.workspace.contacts[other["id"]]["custom_attributes"] if mode is None else {"topdesk_id": "P1"}
    )
    # an empty value links nothing: stored as PUT stores it (absent), never denied
    empty = sb.ok("POST", "/contacts", {"email": "empty@example.com", "custom_attributes": {"TOPdesk assets": []}})
    cleared = sb.ok("PUT", f"/contacts/{other['id']}", {"custom_attributes": {"TOPdesk assets": []}})
    for read in (empty, sb.ok("GET", f"/contacts/{empty['id']}"), cleared):
        assert "TOPdesk assets" not in read["custom_attributes"]
    assert _denied(sb) == ({} if mode is None else {"created_with_links": 1})


@pytest.mark.parametrize("mode", ("refused", "ignored"))
def test_created_with_links_leaves_updates_alone(make_sandbox: SandboxFactory, mode: str) -> None:
    sb = _start(make_sandbox, "created_with_links", mode)
    ticket_type, contact, asset = _ticket_setup(sb)
    linked = sb.ok("PUT", f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk assets": [asset["id"]]}})
    ticket = sb.ok("POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]})
    updated = sb.ok("PUT", f"/tickets/{ticket['id']}", {"ticket_attributes": {"TOPdesk asset": [asset["id"]]}})
    for read in (linked, sb.ok("GET", f"/contacts/{contact['id']}")):
        assert [i["id"] for i in read["custom_attributes"]["TOPdesk assets"]["instances"]] == [asset["id"]]
    for read in (updated, sb.ok("GET", f"/tickets/{ticket['id']}")):
        assert [i["id"] for i in read["ticket_attributes"]["TOPdesk asset"]["instances"]] == [asset["id"]]
    assert _denied(sb) == {}


@pytest.mark.parametrize("mode", MODES)
def test_created_with_links_on_a_ticket(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "created_with_links", mode)
    ticket_type, contact, asset = _ticket_setup(sb)
    other = sb.ok("POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}],
                                       "ticket_attributes": {"_default_title_": "Broken"}})  # fmt: skip
    put = sb.ok("PUT", f"/tickets/{other['id']}", {"ticket_attributes": {"TOPdesk asset": [asset["id"]]}})
    assert [i["id"] for i in put["ticket_attributes"]["TOPdesk asset"]["instances"]] == [asset["id"]]
    # a caller by an unknown e-mail: the create would add that contact too
    body = {"ticket_type_id": ticket_type["id"], "contacts": [{"email": "new-caller@example.com"}],
            "ticket_attributes": {"_default_title_": "Broken", "TOPdesk asset": [asset["id"]]}}  # fmt: skip
    if mode == "refused":
        before = (_count(sb, "tickets"), _count(sb, "contacts"))
        error = _refused(sb.post("/tickets", body), "ticket_attributes.TOPdesk asset")
        assert error["message"] == (
            "Relationship attribute 'TOPdesk asset' cannot be set when creating a ticket; update the ticket instead"
        )
        assert (_count(sb, "tickets"), _count(sb, "contacts")) == before
        assert _denied(sb) == {"created_with_links": 1}
        return
    created = sb.ok("POST", "/tickets", body)
    for read in (created, sb.ok("GET", f"/tickets/{created['id']}")):
        if mode is None:  # stored and read back as after PUT
            assert read["ticket_attributes"] == put["ticket_attributes"]
        else:
            assert read["ticket_attributes"] == {"_default_title_": "Broken", "_default_description_": None}
    assert sb.workspace.tickets[created["id"]]["attributes"] == (
        sb.workspace.tickets[other["id"]]["attributes"] if mode is None else {"_default_title_": "Broken"}
    )
    assert _denied(sb) == ({} if mode is None else {"created_with_links": 1})


@pytest.mark.parametrize("mode", MODES)
def test_instance_links(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "instance_links", mode)
    parent = sb.ok("POST", "/custom_object_instances/Asset", {"external_id": "A1"})
    body = {"external_id": "A2", "custom_attributes": {"Name": "Server", "Parent asset": [parent["id"]]}}
    if mode == "refused":
        error = _refused(sb.post("/custom_object_instances/Asset", body), "Parent asset")
        assert "Parent asset" in error["message"]
        assert sb.get("/custom_object_instances/Asset/A2").status_code == 404
        assert _denied(sb) == {"instance_links": 1}
        return
    child = sb.ok("POST", "/custom_object_instances/Asset", body)
    for read in (child, sb.ok("GET", "/custom_object_instances/Asset/A2")):
        assert read["custom_attributes"]["Name"] == "Server"
        if mode is None:
            assert [i["id"] for i in read["custom_attributes"]["Parent asset"]["instances"]] == [parent["id"]]
        else:
            assert "Parent asset" not in read["custom_attributes"]


@pytest.mark.parametrize("mode", MODES)
def test_relationship_listing(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "relationship_listing", mode)
    contact_attrs = {a["name"]: a for a in sb.ok("GET", "/data_attributes", params={"model": "contact"})["data"]}
    conversation_attrs = {a["name"]: a for a in sb.ok("GET", "/conversations/attributes")["data"]}
    for listed, name in ((contact_attrs, "TOPdesk assets"), (conversation_attrs, "TOPdesk asset")):
        if mode == "refused":
            assert name not in listed
        elif mode == "ignored":
            assert listed[name]["data_type"] == "string" and "reference" not in listed[name]
        else:
            assert (listed[name]["data_type"], listed[name]["reference"]["object_type_id"]) == ("relationship", "Asset")
    assert _denied(sb) == ({} if mode is None else {"relationship_listing": 2})
    # the relationships themselves still work, and one can still be created
    asset = sb.ok("POST", "/custom_object_instances/Asset", {"external_id": "A1"})
    contact = sb.contact(email="owner@example.com")
    linked = sb.ok("PUT", f"/contacts/{contact['id']}", {"custom_attributes": {"TOPdesk assets": [asset["id"]]}})
    assert [i["id"] for i in linked["custom_attributes"]["TOPdesk assets"]["instances"]] == [asset["id"]]
    created = sb.ok(
        "POST",
        "/conversations/attributes",
        {"name": "Site", "data_type": "relationship", "reference": {"type": "one", "object_type_id": "Asset"}},
    )
    assert created["data_type"] == "relationship"


@pytest.mark.parametrize("mode", MODES)
def test_created_at(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "created_at", mode)
    ticket_type, contact, _asset = _ticket_setup(sb)
    ticket = sb.ok("POST", "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]})
    conversation = sb.ok("POST", "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "hi"})
    conv_id = conversation["conversation_id"]
    user = {"type": "user", "message_type": "comment", "intercom_user_id": contact["id"], "body": "more"}
    admin = {"type": "admin", "admin_id": ADMIN_ID, "body": "ok"}
    requests = [
        ("/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]}),
        ("/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "hello"}),
        *[(f"/tickets/{ticket['id']}/reply", r) for r in (user, {**admin, "message_type": "comment"},
                                                          {**admin, "message_type": "note"})],
        *[(f"/conversations/{conv_id}/reply", r) for r in (user, {**admin, "message_type": "comment"},
                                                           {**admin, "message_type": "note"})],
    ]  # fmt: skip
    before = sb.admin("GET", "/stats")["objects"]
    started = int(time.time())
    for path, body in requests:
        response = sb.post(path, {**body, "created_at": STAMP})
        if mode == "refused":
            _refused(response, "created_at")
            continue
        assert response.status_code == 200, response.text
        answer = response.json()
        if path == "/conversations":
            answer = sb.ok("GET", f"/conversations/{answer['conversation_id']}")
        elif path.startswith("/conversations/"):
            answer = answer["conversation_parts"]["conversation_parts"][-1]
        if mode is None:
            assert answer["created_at"] == STAMP
        else:  # ignored: stamped with the time of the request
            assert answer["created_at"] >= started
    if mode == "refused":  # nothing was created or appended
        assert sb.admin("GET", "/stats")["objects"] == before
    else:
        parts = sb.ok("GET", f"/tickets/{ticket['id']}")["ticket_parts"]["ticket_parts"][1:]
        assert len(parts) == 3 and all((p["created_at"] == STAMP) == (mode is None) for p in parts)
    assert _denied(sb) == ({} if mode is None else {"created_at": len(requests)})


@pytest.mark.parametrize("mode", MODES)
def test_placeholder_emails(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "placeholder_emails", mode)
    assert sb.contact(email="real@example.com")["email"] == "real@example.com"  # .com is no reserved domain
    placeholder = "p-123@placeholder.invalid"
    if mode == "refused":
        error = _refused(sb.post("/contacts", {"email": placeholder}), "email")
        assert error["message"] == "Invalid email"
        assert sb.contact(email="person@kiemstra.example")["email"] == "person@kiemstra.example"  # test data's TLD
        contact = sb.contact(external_id="caller-1")
        _refused(sb.put(f"/contacts/{contact['id']}", {"email": placeholder}), "email")
        assert sb.ok("GET", f"/contacts/{contact['id']}")["email"] == ""
        assert _denied(sb) == {"placeholder_emails": 2}
        return
    created = sb.contact(email=placeholder, external_id="caller-1")
    other = sb.contact(external_id="caller-2")
    updated = sb.ok("PUT", f"/contacts/{other['id']}", {"email": "p-456@placeholder.invalid"})
    expected = (placeholder, "p-456@placeholder.invalid") if mode is None else ("", "")
    for answer, email in ((created, expected[0]), (updated, expected[1])):
        assert answer["email"] == email
        assert sb.ok("GET", f"/contacts/{answer['id']}")["email"] == email


@pytest.mark.parametrize("mode", MODES)
def test_article_translations(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "article_translations", mode, help_center_locales=("en", "nl"))
    assert sb.ok("GET", "/help_center/help_centers")["data"][0]["locales"] == ["en", "nl"]
    dutch = {"title": "Printer resetten", "body": "Zet hem uit", "author_id": int(ADMIN_ID), "state": "published"}
    body = {"title": "Reset the printer", "body": "Turn it off", "author_id": int(ADMIN_ID), "state": "published",
            "translated_content": {"type": "article_translated_content", "nl": dutch}}  # fmt: skip
    if mode == "refused":
        error = _refused(sb.post("/articles", body), "translated_content.nl")
        assert "'nl'" in error["message"] and sb.ok("GET", "/articles")["total_count"] == 0
        article = sb.ok("POST", "/articles", {k: v for k, v in body.items() if k != "translated_content"})
        _refused(sb.put(f"/articles/{article['id']}", {"translated_content": {"nl": dutch}}), "translated_content.nl")
        assert _denied(sb) == {"article_translations": 2}
        return
    article = sb.ok("POST", "/articles", body)
    updated = sb.ok("PUT", f"/articles/{article['id']}", {"translated_content": {"nl": {"title": "Resetten"}}})
    for read in (article, updated, sb.ok("GET", f"/articles/{article['id']}")):
        content = read["translated_content"]
        assert read["default_locale"] == "en" and content["en"]["title"] == "Reset the printer"
        if mode is None:
            assert content["nl"]["body"] == "<p>Zet hem uit</p>" and content["nl"]["state"] == "published"
        else:
            assert "nl" not in content
    if mode is None:
        assert sb.ok("GET", f"/articles/{article['id']}")["translated_content"]["nl"]["title"] == "Resetten"
    # a locale the help center lacks is refused whatever the capability
    lacking = sb.post("/articles", {**body, "translated_content": {"de": dutch}})
    assert "'de'" in _refused(lacking, "translated_content.de")["message"]


@pytest.mark.parametrize("mode", MODES)
def test_collection_translations(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "article_translations", mode, help_center_locales=("en", "nl"))
    body = {
        "name": "Printers",
        "description": "All printers",
        "translated_content": {"type": "group_translated_content", "nl": {"name": "Printers (nl)"}},
    }
    if mode == "refused":
        _refused(sb.post("/help_center/collections", body), "translated_content.nl")
        assert sb.ok("GET", "/help_center/collections")["total_count"] == 0
        return
    collection = sb.ok("POST", "/help_center/collections", body)
    updated = sb.ok(
        "PUT",
        f"/help_center/collections/{collection['id']}",
        {"translated_content": {"nl": {"description": "Alle printers"}}},
    )
    read = sb.ok("GET", f"/help_center/collections/{collection['id']}")
    for answer in (collection, updated, read):
        assert answer["default_locale"] == "en" and answer["translated_content"]["en"]["name"] == "Printers"
        assert ("nl" in answer["translated_content"]) is (mode is None)
    if mode is None:
        assert read["translated_content"]["nl"] == {
            "type": "group_content",
            "name": "Printers (nl)",
            "description": "Alle printers",
        }
    listed = sb.ok("GET", "/help_center/collections")["data"][0]
    assert listed["translated_content"] == read["translated_content"]
    assert _denied(sb) == ({} if mode is None else {"article_translations": 2})


def test_a_single_locale_help_center_shows_no_translations(sandbox: Sandbox) -> None:
    assert sandbox.ok("GET", "/help_center/help_centers")["data"][0]["locales"] == ["en"]
    article = sandbox.ok("POST", "/articles", {"title": "Reset", "author_id": int(ADMIN_ID)})
    assert "translated_content" not in article and "default_locale" not in article
    nl = {"translated_content": {"nl": {"title": "Resetten"}}}
    _refused(sandbox.put(f"/articles/{article['id']}", nl), "translated_content.nl")


@pytest.mark.parametrize("mode", MODES)
def test_archived_company_upsert(make_sandbox: SandboxFactory, mode: str | None) -> None:
    sb = _start(make_sandbox, "archived_company_upsert", mode)
    company = sb.ok("POST", "/companies", {"company_id": "BR-1", "name": "Branch"})
    sb.ok("DELETE", f"/companies/{company['id']}")
    again = sb.post("/companies", {"company_id": "BR-1", "name": "Branch renamed"})
    if mode == "refused":
        assert _refused(again, "company_id")["message"] == "Company has been archived"
    else:
        assert again.status_code == 200 and again.json()["id"] == company["id"]
    if mode is None:
        assert sb.ok("GET", f"/companies/{company['id']}")["name"] == "Branch renamed"
        return
    if mode == "ignored":
        assert again.json()["name"] == "Branch"  # the archived company as it was, nothing applied
    assert sb.get(f"/companies/{company['id']}").status_code == 404
    assert sb.get("/companies", params={"company_id": "BR-1"}).status_code == 404
    assert _denied(sb) == {"archived_company_upsert": 1}


def test_deny_settings_are_validated() -> None:
    assert parse_deny(["created_at, placeholder_emails:ignored", "instance_links:refused"]) == {
        "created_at": "refused",
        "placeholder_emails": "ignored",
        "instance_links": "refused",
    }
    with pytest.raises(ValueError, match="ticket_relationships"):
        create_app(WorkspaceSettings(deny={"nope": "refused"}))
    with pytest.raises(ValueError, match="refused, ignored"):
        create_app(WorkspaceSettings(deny={"created_at": "maybe"}))
    with pytest.raises(ValueError, match="xx"):
        create_app(WorkspaceSettings(help_center_locales=("en", "xx")))


def test_cli_deny_option(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(cli, "run_server", lambda app, host, port: served.append(app))
    args = ["serve", "--deny", "created_at,placeholder_emails:ignored", "--deny", "article_translations:refused",
            "--deny", "created_with_links:ignored", "--help-center-locales", "en,nl,de"]  # fmt: skip
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    workspace = served[0].state.workspace
    assert workspace.deny == {
        "created_at": "refused",
        "placeholder_emails": "ignored",
        "article_translations": "refused",
        "created_with_links": "ignored",
    }
    assert workspace.help_center_locales == ("en", "nl", "de")
    assert CliRunner().invoke(cli.main, ["serve"]).exit_code == 0 and served[1].state.workspace.deny == {}
    assert CliRunner().invoke(cli.main, ["serve", "--deny", "created_with_links"]).exit_code == 0
    assert served[2].state.workspace.deny == {"created_with_links": "refused"}
    for bad in ("nope", "created_at:maybe"):
        failed = CliRunner().invoke(cli.main, ["serve", "--deny", bad])
        assert failed.exit_code == 2 and "Invalid value for '--deny'" in failed.output
    assert all(name in CliRunner().invoke(cli.main, ["serve", "--deny", "nope"]).output for name in CAPABILITIES)
    assert CliRunner().invoke(cli.main, ["serve", "--help-center-locales", "en,xx"]).exit_code == 2


def test_every_capability_is_in_the_evidence_register() -> None:
    register = Path(capabilities.__file__).with_name("EVIDENCE.md").read_text()
    section = register.split("## Capabilities a workspace may lack (`--deny`)", 1)[1]
    assert all(f"| `{name}` |" in section for name in CAPABILITIES)
