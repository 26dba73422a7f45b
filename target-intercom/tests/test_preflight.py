"""The preflight against a real in-process Intercom sandbox: provisioning, idempotence, the problems that stop a run
(type mismatches, archived objects, missing UI-only objects, an unknown fallback admin) and the admin directory."""

from __future__ import annotations

import contextlib
import json
import typing as t
from pathlib import Path

import pytest

from intercom_sandbox.openapi import SpecValidator
from map_topdesk_intercom.mapfile import load_map
from target_intercom.client import IntercomClient, IntercomError
from target_intercom.preflight import CONVERSATIONS_NOTIFY, PreflightBlocked, PreflightError, run_preflight
from topdesk2intercom_testing.target import RunningSandbox, intercom_sandbox, map_custom_objects

TOKEN = "preflight-token-0815-secret"
ADMINS = [
    {"id": "991267459", "name": "Token Owner", "email": "owner@example.com"},
    {"id": "991267460", "name": "Fallback Agent", "email": "Fallback@Example.com"},
    {"id": "991267461", "name": "Jan Jansen", "email": "Jan.Jansen@Example.com"},
]
TEAMS = [{"id": "5001", "name": "Service Desk", "admin_ids": ["991267461"]}]
CALL = "TOPdesk Call"


class Workspace:
    """A running sandbox (the testkit's): its URL and its state (for assertions and for arranging objects)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.url, self.state = sandbox.url, sandbox.workspace

    def client(self, token: str | list[str] = TOKEN) -> IntercomClient:
        return IntercomClient(self.url, token, max_retries=0)


@pytest.fixture
def intercom(tmp_path: Path) -> t.Iterator[t.Callable[..., Workspace]]:
    """Sandboxes with three admins and one team; every request the test sends is checked against the 2.16 spec."""
    validator = SpecValidator.shared()
    known = len(validator.check())
    admins, teams = tmp_path / "admins.json", tmp_path / "teams.json"
    admins.write_text(json.dumps(ADMINS))
    teams.write_text(json.dumps(TEAMS))
    with contextlib.ExitStack() as stack:

        def start(**settings: t.Any) -> Workspace:
            return Workspace(
                stack.enter_context(
                    intercom_sandbox(
                        token=TOKEN, admins_file=admins, teams_file=teams, validate_openapi=True, **settings
                    )
                )
            )

        yield start
    violations = validator.check()[known:]
    assert violations == [], "\n".join(str(v) for v in violations)


@pytest.fixture
def client(intercom: t.Callable[..., Workspace]) -> t.Iterator[tuple[IntercomClient, Workspace]]:
    workspace = intercom()
    c = workspace.client()
    yield c, workspace
    c.close()


def default_definitions() -> dict[str, list[dict]]:
    """The definition records the mapper emits for the default map."""
    spec = load_map(catalog=False)
    return {
        "ticket_types": [tt.record() for tt in spec.ticket_types],
        "attribute_definitions": [a.record() for a in spec.attributes],
        "custom_object_types": [o.record() for o in spec.custom_object_types],
    }


def without_object_types() -> dict[str, list[dict]]:
    """The default map's attributes and ticket types only (custom object types have tests of their own)."""
    return {k: v for k, v in default_definitions().items() if k != "custom_object_types"}


def object_type_names() -> tuple[str, ...]:
    return tuple(o["name"] for o in default_definitions()["custom_object_types"])


SETTINGS = {"fallback_admin_email": "fallback@example.com"}


def names(entries: list) -> set[tuple[str, str, str | None]]:
    return {(e.kind, e.name, e.scope) for e in entries}


@pytest.mark.parametrize("attributes_key", ["data", "ticket_type_attributes"])
def test_first_run_provisions_the_default_map_and_a_second_run_creates_nothing(intercom, attributes_key) -> None:
    """Both shapes the 2.16 spec documents for a ticket type's attributes (``data`` in its examples,
    ``ticket_type_attributes`` in its schema) are read: the second run creates nothing in either."""
    ws = intercom(
        custom_objects=map_custom_objects(),  # created by a person in the UI beforehand
        ticket_type_attributes_key=attributes_key,
    )
    c = ws.client()
    definitions = default_definitions()
    attrs = definitions["attribute_definitions"]
    first = run_preflight(c, definitions, SETTINGS)
    assert first.problems == []
    first.raise_if_blocking()
    assert first.workspace["name"] == "Intercom Sandbox"
    kinds = {
        "contact": "data_attribute",
        "company": "data_attribute",
        "conversation": "conversation_attribute",
        "ticket_type": "ticket_type_attribute",
    }
    expected = {(kinds[a["model"]], a["name"], a.get("ticket_type") or a["model"]) for a in attrs}
    expected |= {("ticket_type", tt["name"], None) for tt in definitions["ticket_types"]}
    assert ("ticket_type_attribute", "Call number", CALL) in expected
    assert names(first.created) == expected
    # Intercom has them: custom data attributes by model, the ticket type with its attributes and default states
    custom = {
        (a["model"], a["name"])
        for a in ws.state.data_attributes.values()
        if a.get("custom") and a["data_type"] != "relationship"
    }
    assert custom == {(a["model"], a["name"]) for a in attrs if a["model"] in ("contact", "company")}
    assert {tt["name"] for tt in ws.state.ticket_types.values()} == {tt["name"] for tt in definitions["ticket_types"]}
    ticket_type = next(tt for tt in ws.state.ticket_types.values() if tt["name"] == CALL)
    assert ticket_type["category"] == "Customer"
    on_type = {
        ws.state.ticket_type_attributes[a]["name"]: ws.state.ticket_type_attributes[a]
        for a in ticket_type["attribute_ids"]
    }
    assert on_type["Closed at"]["data_type"] == "datetime" and on_type["Closed"]["data_type"] == "boolean"
    # ids the writers need
    assert first.ticket_type_ids == {tt["name"]: tt["id"] for tt in ws.state.ticket_types.values()}
    conversation = {a["name"] for a in ws.state.conversation_attributes.values() if a["data_type"] != "relationship"}
    assert conversation == {a["name"] for a in attrs if a["model"] == "conversation"}
    assert first.directory.ticket_attribute_id(CALL, "Call number") == on_type["Call number"]["id"]
    assert first.ticket_attribute_ids[(CALL, "_default_title_")] == on_type["_default_title_"]["id"]
    assert first.directory.ticket_state_id(CALL, "resolved") in ticket_type["state_ids"]
    assert first.directory.ticket_state_id(CALL, "Waiting on customer") in ticket_type["state_ids"]

    second = run_preflight(c, default_definitions(), SETTINGS)
    assert second.created == [] and second.updated == [] and second.problems == []
    assert names(second.existing) >= expected
    assert second.ticket_type_ids == first.ticket_type_ids
    assert second.ticket_attribute_ids == first.ticket_attribute_ids
    assert len(ws.state.ticket_types) == len(definitions["ticket_types"])
    report = second.as_dict()
    assert report["created"] == [] and len(report["existing"]) == len(second.existing)
    json.dumps(report)
    assert "## Already present" in second.as_markdown()
    assert {e.name for e in second.existing if e.kind == "custom_object_type"} == set(object_type_names())
    # the relationships the map needs exist where the API can read them; on object types it cannot (a warning)
    relationships = {(e.scope, e.name) for e in second.existing if e.kind == "relationship"}
    assert relationships == {
        ("contact", "TOPdesk assets"),
        ("contact", "TOPdesk changes"),
        ("contact", "TOPdesk reservations"),
        ("ticket", "TOPdesk asset"),
        ("conversation", "TOPdesk asset"),
        ("ticket", "TOPdesk known errors"),
        ("conversation", "TOPdesk known errors"),
    }
    assert any("`Asset` has the relationships `Parent asset` (references one `Asset`)" in w for w in second.warnings)
    assert second.directory.has_relationship("contact", "TOPdesk assets")
    assert second.directory.has_relationship("Asset", "Parent asset")
    assert second.as_dict()["missing_relationships"] == []
    c.close()


def test_relationships_missing_in_the_ui_are_listed_and_conversation_ones_created(intercom) -> None:
    ws = intercom(custom_object_types=object_type_names())  # the types exist, created by name only
    c = ws.client()
    report = run_preflight(c, default_definitions(), SETTINGS)
    problems = {(p.scope, p.name): p for p in report.problems}
    assert set(problems) == {
        ("contact", "TOPdesk assets"),
        ("contact", "TOPdesk changes"),
        ("contact", "TOPdesk reservations"),
    }
    assert all(p.ui_only and p.kind == "relationship" for p in problems.values())
    assert problems[("contact", "TOPdesk assets")].message == (
        "In Settings > Data > Custom Objects > Asset, add the relationship `TOPdesk assets` to Contact (many) "
        "(relationships are created with the object type in the UI only)."
    )
    # conversations and tickets (a ticket is a conversation): 2.16 creates relationship conversation attributes
    created = {(e.scope, e.name) for e in report.created if e.kind == "relationship"}
    assert created == {("ticket", "TOPdesk asset"), ("ticket", "TOPdesk known errors")}
    made = {a["name"]: a for a in ws.state.conversation_attributes.values() if a["data_type"] == "relationship"}
    assert made["TOPdesk asset"]["reference"] == {"type": "one", "object_type_id": "Asset"}
    assert made["TOPdesk known errors"]["reference"] == {"type": "many", "object_type_id": "KnownError"}
    directory = report.directory
    assert not directory.has_relationship("contact", "TOPdesk assets")
    assert directory.has_relationship("ticket", "TOPdesk asset")
    assert directory.has_relationship("conversation", "TOPdesk asset")
    assert {"host": "contact", "name": "TOPdesk changes"} in report.as_dict()["missing_relationships"]
    with pytest.raises(PreflightBlocked, match="add the relationship `TOPdesk reservations` to Contact"):
        report.raise_if_blocking()
    report.raise_if_blocking(skip_ui=True)
    second = run_preflight(c, default_definitions(), SETTINGS)
    assert not [e for e in second.created if e.kind == "relationship"]
    assert {("ticket", "TOPdesk asset"), ("conversation", "TOPdesk asset")} <= {
        (e.scope, e.name) for e in second.existing if e.kind == "relationship"
    }
    c.close()


def test_a_relationship_with_another_target_or_cardinality_is_a_problem(intercom) -> None:
    objects = [dict(o) for o in map_custom_objects()]
    change = next(o for o in objects if o["name"] == "Change")
    change["relationships"] = [
        dict(r, cardinality="one") if r["name"] == "TOPdesk changes" else r for r in change["relationships"]
    ]
    reservation = next(o for o in objects if o["name"] == "Reservation")
    reservation["relationships"] = []
    asset = next(o for o in objects if o["name"] == "Asset")  # `TOPdesk reservations` points to Asset instead
    asset["relationships"] = [
        *asset["relationships"],
        {"name": "TOPdesk reservations", "from": ["contact"], "cardinality": "many"},
    ]
    ws = intercom(custom_objects=tuple(objects))
    c = ws.client()
    report = run_preflight(c, default_definitions(), SETTINGS)
    problems = {(p.scope, p.name): p for p in report.problems}
    assert set(problems) == {("contact", "TOPdesk changes"), ("contact", "TOPdesk reservations")}
    one = problems[("contact", "TOPdesk changes")]
    assert one.ui_only and "references one `Change`, the map needs many" in one.message
    other = problems[("contact", "TOPdesk reservations")]
    assert not other.ui_only
    assert "is a relationship to `Asset` in Intercom, the map needs a relationship to `Reservation`" in other.message
    assert not report.directory.has_relationship("contact", "TOPdesk reservations")
    with pytest.raises(PreflightBlocked):
        report.raise_if_blocking(skip_ui=True)  # a name taken by another relationship is never skippable
    c.close()


def test_default_map_in_a_workspace_without_its_custom_object_types(client) -> None:
    c, _ = client
    report = run_preflight(c, default_definitions(), SETTINGS)
    missing = {p.name for p in report.problems if p.kind == "custom_object_type"}
    assert missing == set(object_type_names()) and all(p.ui_only for p in report.problems)
    report.raise_if_blocking(skip_ui=True)
    with pytest.raises(PreflightBlocked) as blocked:
        report.raise_if_blocking()
    assert str(blocked.value).count("Create the custom object type") == len(missing)


def test_an_existing_attribute_with_another_data_type_stops_the_run(client) -> None:
    c, _ = client
    c.request("POST", "/data_attributes", json={"name": "topdesk_archived", "model": "contact", "data_type": "string"})
    tt = c.request("POST", "/ticket_types", json={"name": CALL, "category": "Customer"})
    c.request(
        "POST",
        f"/ticket_types/{tt['id']}/attributes",
        json={"name": "Closed", "description": "closed?", "data_type": "string"},
    )
    priority = c.request(
        "POST",
        f"/ticket_types/{tt['id']}/attributes",
        json={"name": "Priority", "description": "p", "data_type": "string"},
    )
    c.request("PUT", f"/ticket_types/{tt['id']}/attributes/{priority['id']}", json={"archived": True})
    report = run_preflight(c, without_object_types(), SETTINGS)
    problems = {(p.kind, p.name): p.message for p in report.problems}
    assert set(problems) == {
        ("data_attribute", "topdesk_archived"),
        ("ticket_type_attribute", "Closed"),
        ("ticket_type_attribute", "Priority"),
    }
    assert "data type `string`, the map needs `boolean`" in problems[("data_attribute", "topdesk_archived")]
    assert "`Closed` of the ticket type `TOPdesk Call`" in problems[("ticket_type_attribute", "Closed")]
    assert "is archived" in problems[("ticket_type_attribute", "Priority")]
    assert not any(p.ui_only for p in report.problems)
    # everything else was still provisioned, and the existing ticket type reused
    assert ("data_attribute", "topdesk_department", "contact") in names(report.created)
    assert ("ticket_type", CALL, None) in names(report.existing)
    with pytest.raises(PreflightBlocked) as blocked:
        report.raise_if_blocking(skip_ui=True)  # type problems are never skippable
    text = str(blocked.value)
    assert "3 problem(s)" in text and "topdesk_archived" in text and "Priority" in text


def test_archived_ticket_type_and_case_only_name_differences_are_problems(client) -> None:
    c, _ = client
    tt = c.request("POST", "/ticket_types", json={"name": CALL, "category": "Customer"})
    c.request("PUT", f"/ticket_types/{tt['id']}", json={"archived": True})
    c.request("POST", "/data_attributes", json={"name": "TOPdesk_City", "model": "company", "data_type": "string"})
    report = run_preflight(c, without_object_types(), SETTINGS)
    problems = {(p.kind, p.name): p.message for p in report.problems}
    assert "unarchive it in Settings > Helpdesk > Tickets" in problems[("ticket_type", CALL)]
    assert "`TOPdesk_City`" in problems[("data_attribute", "topdesk_city")]
    assert CALL not in report.ticket_type_ids


def test_missing_custom_object_type_is_listed_with_what_to_create(intercom) -> None:
    ws = intercom(custom_object_types=("Asset",))
    c = ws.client()
    definitions = {
        "custom_object_types": [
            {
                "source_key": "custom_object_type:Asset",
                "name": "Asset",
                "attributes": [{"name": "serial", "data_type": "string"}],
                "relationships": [],
            },
            {
                "source_key": "custom_object_type:KnownError",
                "name": "KnownError",
                "attributes": [
                    {"name": "cause", "data_type": "string"},
                    {"name": "status", "data_type": "list", "options": ["open", "solved"]},
                ],
                "relationships": [{"name": "known_error", "from": ["ticket"], "cardinality": "many"}],
            },
        ],
        # the generic form: an attribute definition of model custom_object names its object type
        "attribute_definitions": [
            {
                "source_key": "attribute:custom_object:Reservation:starts",
                "name": "starts",
                "model": "custom_object",
                "object_type": "Reservation",
                "data_type": "date",
            }
        ],
    }
    report = run_preflight(c, definitions, SETTINGS)
    problems = {p.name: p for p in report.problems}
    assert set(problems) == {"KnownError", "Reservation"}
    assert all(p.ui_only and p.kind == "custom_object_type" for p in problems.values())
    assert problems["KnownError"].message == (
        "Create the custom object type `KnownError` in Settings > Data > Custom Objects with attributes `cause` "
        "(Text), `status` (List: open, solved); relationships `known_error` on Ticket (references many "
        "`KnownError`) (custom object types cannot be created through the API)."
    )
    assert "`starts` (Date)" in problems["Reservation"].message
    assert ("custom_object_type", "Asset", None) in names(report.existing)
    assert any("`Asset` has attributes `serial` (Text)" in w for w in report.warnings)
    assert report.directory.has_custom_object_type("Asset")
    assert not report.directory.has_custom_object_type("KnownError")
    with pytest.raises(PreflightBlocked, match="KnownError"):
        report.raise_if_blocking()
    report.raise_if_blocking(skip_ui=True)  # UI-only problems can be skipped by setting
    assert report.as_dict()["missing_custom_object_types"] == ["KnownError", "Reservation"]
    c.close()


def test_admins_match_by_email_case_insensitively_with_the_fallback_admin(client) -> None:
    c, _ = client
    report = run_preflight(c, {"required_teams": ["Service Desk", "Change Board"]}, SETTINGS)
    directory = report.directory
    assert directory.fallback_admin_id == "991267460"
    assert directory.admin_for("  jan.jansen@EXAMPLE.com ") == ("991267461", True)
    assert directory.admin_for("Piet@example.com") == ("991267460", False)
    assert directory.admin_for(None) == ("991267460", False)
    assert directory.unmatched_operators == ["piet@example.com", "(no e-mail)"]
    assert directory.team_for(" service  desk ") == "5001"
    assert directory.team_for("Second line") is None
    assert directory.unmatched_groups == ["Second line"]
    # a team the map needs is UI-only: listed precisely, skippable
    (problem,) = report.problems
    assert problem.ui_only and problem.message == (
        "Create the team `Change Board` in Settings > Workspace > Teammates > Teams (teams cannot be created "
        "through the API)."
    )
    report.raise_if_blocking(skip_ui=True)
    text = report.as_markdown()
    assert "piet@example.com" in text and "Second line" in text
    assert report.as_dict()["unmatched_operators"] == ["piet@example.com", "(no e-mail)"]


def test_unknown_fallback_admin_is_a_problem_and_no_setting_means_the_token_admin(client) -> None:
    c, _ = client
    report = run_preflight(c, {}, {"fallback_admin_email": "nobody@example.com"})
    (problem,) = report.problems
    assert problem.kind == "admin" and not problem.ui_only
    assert "`nobody@example.com`" in problem.message and "`owner@example.com`" in problem.message
    assert report.directory.admin_for("nobody@example.com") == (None, False)
    with pytest.raises(PreflightBlocked):
        report.raise_if_blocking(skip_ui=True)
    unset = run_preflight(c, {}, {})
    assert unset.problems == [] and unset.directory.fallback_admin_id == "991267459"
    assert any("`fallback_admin_email` is not set" in w for w in unset.warnings)


def test_options_are_added_and_conversation_attributes_provisioned(client) -> None:
    c, ws = client
    c.request(
        "POST",
        "/data_attributes",
        json={
            "name": "topdesk_size",
            "model": "company",
            "data_type": "options",
            "options": [{"value": "small"}, {"value": "large"}],
        },
    )
    definitions = {
        "ticket_types": [{"source_key": "ticket_type:Change", "name": "Change", "category": "Back-office"}],
        "attribute_definitions": [
            {"name": "topdesk_size", "model": "company", "data_type": "options", "options": ["small", "medium"]},
            {
                "name": "Phase",
                "model": "ticket_type",
                "ticket_type": "Change",
                "data_type": "list",
                "options": ["new", "done"],
            },
            {"name": "topdesk_number", "model": "conversation", "data_type": "string"},
            {"name": "topdesk_kind", "model": "conversation", "data_type": "list", "options": ["incident", "rfc"]},
        ],
    }
    first = run_preflight(c, definitions, SETTINGS)
    assert first.problems == []
    assert ("data_attribute", "topdesk_size", "company") in names(first.updated)
    size = next(a for a in ws.state.data_attributes.values() if a["name"] == "topdesk_size")
    assert size["options"] == ["small", "large", "medium"]  # added, never removed
    assert {
        ("conversation_attribute", "topdesk_number", "conversation"),
        ("conversation_attribute", "topdesk_kind", "conversation"),
        ("ticket_type_attribute", "Phase", "Change"),
    } <= names(first.created)
    definitions["attribute_definitions"][1]["options"] = ["new", "review", "done"]
    second = run_preflight(c, definitions, SETTINGS)
    assert second.created == [] and second.problems == []
    assert names(second.updated) == {("ticket_type_attribute", "Phase", "Change")}
    phase = ws.state.ticket_type_attributes[second.directory.ticket_attribute_id("Change", "Phase")]
    assert [o["label"] for o in phase["input_options"]["list_options"]] == ["new", "done", "review"]
    third = run_preflight(c, definitions, SETTINGS)
    assert third.created == [] and third.updated == [] and third.problems == []
    # conversations cannot be written quietly (no skip_notifications on POST /conversations or contact replies)
    assert CONVERSATIONS_NOTIFY in third.warnings and "pause the workflows" in third.as_markdown()


def test_a_rejected_token_is_a_clean_error_without_the_token(intercom) -> None:
    ws = intercom()
    wrong = "wrong-token-do-not-print-4711"
    c = ws.client(wrong)
    with pytest.raises(PreflightError) as error:
        run_preflight(c, default_definitions(), SETTINGS)
    text = str(error.value)
    assert "rejected the access token" in text and "401" in text and "`access_token`" in text
    assert wrong not in text and TOKEN not in text
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert ws.state.data_attributes and not any(a.get("custom") for a in ws.state.data_attributes.values())
    c.close()


def test_tokens_of_one_workspace_are_used_together_and_another_workspaces_token_is_refused(intercom) -> None:
    """Several private apps' tokens add up their rate limits only within one workspace: a token of another
    workspace stops the run before anything is checked or written, naming which token, never printing it."""
    others, foreign = ["second-app-token-3141", "third-app-token-2718"], "other-workspace-token-1618"
    ws = intercom(extra_tokens=tuple(others), foreign_tokens=(foreign,))
    with ws.client([TOKEN, others[0], foreign]) as mixed, pytest.raises(PreflightError) as error:
        run_preflight(mixed, default_definitions(), SETTINGS)
    text = str(error.value)
    assert "Access token 3 of 3 opens the workspace 'Other Workspace'" in text and "same workspace" in text
    assert not any(token in text for token in (TOKEN, *others, foreign))
    assert not any(a.get("custom") for a in ws.state.data_attributes.values())  # nothing was written
    with ws.client([TOKEN, *others]) as together:
        report = run_preflight(together, default_definitions(), SETTINGS)
        assert report.workspace["app_id"] and together.apps == 3
        assert all(app["requests_sent"] >= 1 for app in together.stats["apps"])  # each token's GET /me at least
    assert any(a.get("custom") for a in ws.state.data_attributes.values())


class LosesAnswers(IntercomClient):
    """Every first POST is applied by Intercom but its answer is lost (the sandbox's faults strike before a request
    is applied, so this case needs the client's help)."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost: set[str] = set()

    def request(self, method: str, path: str, **kwargs: t.Any) -> dict:
        body = super().request(method, path, **kwargs)
        if method == "POST" and path not in self.lost:
            self.lost.add(path)
            raise IntercomError(f"{method} {path}: connection reset after the request was sent", ambiguous=True)
        return body


def test_lost_answers_and_injected_faults_create_nothing_twice(intercom) -> None:
    ws = intercom(fault_rate=0.1, fault_seed=3)
    c = ws.client()
    c.max_retries, c.backoff_factor = 6, 0.001
    definitions = without_object_types()
    first = run_preflight(c, definitions, SETTINGS)
    assert first.problems == []
    assert c.retries > 0, "the sandbox injected faults"
    c.close()
    lossy = LosesAnswers(ws.url, TOKEN, max_retries=6)
    lossy.backoff_factor = 0.001
    definitions["attribute_definitions"].append({"name": "topdesk_extra", "model": "contact", "data_type": "string"})
    definitions["attribute_definitions"].append(
        {"name": "Extra", "model": "ticket_type", "ticket_type": CALL, "data_type": "integer"}
    )
    definitions["ticket_types"].append({"name": "TOPdesk Problem", "category": "Tracker"})
    second = run_preflight(lossy, definitions, SETTINGS)
    assert second.problems == []
    assert names(second.created) == {
        ("data_attribute", "topdesk_extra", "contact"),
        ("ticket_type_attribute", "Extra", CALL),
        ("ticket_type", "TOPdesk Problem", None),
    }
    assert lossy.lost == {
        "/data_attributes",
        f"/ticket_types/{second.ticket_type_ids[CALL]}/attributes",
        "/ticket_types",
    }
    # exactly one of each in Intercom, whatever failed on the way
    custom = [(a["model"], a["name"]) for a in ws.state.data_attributes.values() if a.get("custom")]
    assert len(custom) == len(set(custom))
    assert sorted(tt["name"] for tt in ws.state.ticket_types.values()) == sorted(
        tt["name"] for tt in definitions["ticket_types"]
    )
    for tt in ws.state.ticket_types.values():
        on_type = [ws.state.ticket_type_attributes[a]["name"] for a in tt["attribute_ids"]]
        assert len(on_type) == len(set(on_type))
    lossy.close()
