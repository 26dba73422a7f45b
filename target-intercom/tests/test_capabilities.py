"""The live check of the workspace (``capabilities.py``) against a sandbox that holds every assumed capability, or
lacks one (``deny``: refused with an error, or ignored in silence): each verdict as the workspace behaves, the
workspace left as it was found (except what Intercom cannot delete, listed), the result kept in the ledger."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import requests

from target_intercom.capabilities import (
    BY_NAME,
    CAPABILITIES,
    HOLDS,
    IGNORED,
    NOT_CHECKED,
    NOT_NEEDED,
    REFUSED,
    CheckResult,
    Verdict,
    check_workspace,
    linked_attribute,
    map_digest,
    relationship_ids,
    with_fallbacks,
)
from target_intercom.client import IntercomClient
from target_intercom.ledger import Ledger
from target_intercom.preflight import run_preflight
from topdesk2intercom_testing.target import intercom_sandbox, map_custom_objects

LOCALES = ("en", "nl")  # a help center with a second locale: translations are needed


def definitions() -> dict[str, list[dict]]:
    from map_topdesk_intercom.mapfile import load_map

    spec = load_map(catalog=True)
    return {
        "ticket_types": [d.record() for d in spec.active(spec.ticket_types)],
        "attribute_definitions": [d.record() for d in spec.active(spec.attributes)],
        "custom_object_types": [d.record() for d in spec.active(spec.custom_object_types)],
    }


def check(
    deny: dict[str, str] | None = None, *, dry_run: bool = False, locales: tuple[str, ...] = LOCALES
) -> tuple[CheckResult, dict, dict, dict]:
    """Provision the default map, then check: (result, export before, export after, sandbox stats)."""
    defs = definitions()
    with intercom_sandbox(custom_objects=map_custom_objects(), deny=deny or {}, help_center_locales=locales) as sb:
        client = IntercomClient(sb.url, sb.token)
        preflight = run_preflight(client, defs, {"skip_missing_ui_objects": True})
        before = requests.get(f"{sb.url}/__sandbox/export", timeout=30).json()
        result = check_workspace(client, defs, preflight, dry_run=dry_run, bulk_preview=True)
        after = requests.get(f"{sb.url}/__sandbox/export", timeout=30).json()
        stats = sb.stats()
    return result, before, after, stats


def verdicts(result: CheckResult) -> dict[str, str]:
    return {v.name: v.verdict for v in result.verdicts}


def test_a_workspace_with_every_capability_holds_and_is_left_as_found() -> None:
    result, before, after, _ = check()
    assert verdicts(result) == {c.name: HOLDS for c in CAPABILITIES}, result.as_markdown()
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["archived_companies"], changed  # Intercom keeps an archived company: the one leftover
    archived = [c["company_id"] for c in after["archived_companies"]]
    assert len(archived) == 1 and archived[0].startswith("topdesk2intercom-check-")
    assert any(archived[0] in item for item in result.leftovers), result.leftovers
    assert 10 < result.requests < 60, result.requests  # "a few dozen requests"


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
@pytest.mark.parametrize(
    "capability",
    [c.name for c in CAPABILITIES if not c.name.startswith("bulk_")],  # test_bulk_preview.py
)
def test_a_capability_the_workspace_lacks_is_reported_as_it_behaves(capability: str, mode: str) -> None:
    result, before, after, stats = check({capability: mode})
    got = verdicts(result)
    assert got[capability] == mode, result.as_markdown()
    expected = {c.name: HOLDS for c in CAPABILITIES if c.name != capability}
    if capability == "created_with_links":  # a bulk create carries links only where a create does
        expected["bulk_created_with_links"] = NOT_NEEDED
    assert {name: v for name, v in got.items() if name != capability} == expected, result.as_markdown()
    assert stats["denied"].get(capability), "the probe never met the denial"
    detail = next(v.detail for v in result.verdicts if v.name == capability)
    assert detail, "a failed capability says what Intercom said or showed"
    row = next(r for r in result.rows() if r[0] == capability)
    assert row[3] == (BY_NAME[capability].fallback or "refuses to start (no fallback)")
    assert sorted(k for k in before if before[k] != after[k]) == ["archived_companies"]


def test_what_the_map_does_not_need_is_not_written() -> None:
    result, *_ = check(locales=("en",))
    assert verdicts(result)["article_translations"] == NOT_NEEDED


def test_a_dry_run_writes_nothing_and_says_what_it_would_write() -> None:
    result, before, after, _ = check(dry_run=True)
    assert before == after
    assert result.requests == 0 and all(v.verdict == NOT_CHECKED for v in result.verdicts)
    assert all(v.detail.startswith("would write ") for v in result.verdicts)


def test_bulk_contacts_are_judged_only_with_bulk_preview() -> None:
    defs = definitions()
    assert map_digest(defs) != map_digest(defs, bulk_preview=True)  # a check without bulk is not reused with it
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        client = IntercomClient(sb.url, sb.token)
        preflight = run_preflight(client, defs, {"skip_missing_ui_objects": True})
        result = check_workspace(client, defs, preflight)
    assert verdicts(result)["bulk_contacts"] == verdicts(result)["bulk_created_with_links"] == NOT_NEEDED
    assert result.map_digest == map_digest(defs)


def test_the_latest_result_is_kept_per_workspace_and_map(tmp_path: Path) -> None:
    ledger = Ledger(Ledger.url_for_path(tmp_path / "ledger.db"))
    digest = map_digest(definitions())
    assert ledger.latest_check("app", digest) is None

    def result(verdict: str) -> dict[str, t.Any]:
        return CheckResult(
            {"app_id": "app"}, digest, "2026-01-01T00:00:00Z", [Verdict("created_at", verdict)]
        ).as_dict()

    ledger.save_check("app", digest, "2026-01-01T00:00:00Z", result(HOLDS))
    ledger.save_check("app", digest, "2026-01-02T00:00:00Z", result(IGNORED))
    ledger.save_check("other", digest, "2026-01-03T00:00:00Z", result(HOLDS))
    latest = ledger.latest_check("app", digest)
    assert latest is not None and CheckResult.from_dict(latest).verdict("created_at") == IGNORED
    assert ledger.latest_check("app", "another map") is None
    ledger.close()


# ---------------------------------------------------------------------------------------------------- the load


@pytest.fixture(scope="module")
def calls() -> t.Any:
    from topdesk2intercom_testing.target_acceptance import topdesk_source

    return topdesk_source(15, 3)


def load(calls: t.Any, deny: dict[str, str], tmp_path: Path, runs: int = 1) -> tuple[list[dict], dict, dict]:
    """The target ``runs`` times on the same input into a sandbox lacking ``deny``, whose admin created the custom
    object types as provision lists them for that workspace: (reports, export, stats)."""
    from topdesk2intercom_testing.target_acceptance import run_target, target_config

    lacking = CheckResult({}, "", "", [Verdict(name, mode) for name, mode in deny.items()])
    objects = with_fallbacks({"custom_object_types": list(map_custom_objects())}, lacking)["custom_object_types"]
    with intercom_sandbox(custom_objects=tuple(objects), deny=deny) as sb:
        reports = [run_target(calls.messages, target_config(sb, tmp_path)).report for _ in range(runs)]
        export = requests.get(f"{sb.url}/__sandbox/export", timeout=30).json()
        stats = sb.stats()
    return reports, export, stats


def test_the_load_checks_once_and_writes_persons_without_e_mail_where_placeholders_are_refused(
    calls: t.Any, tmp_path: Path
) -> None:
    placeholders = [
        m["record"]
        for m in calls.messages
        if m["type"] == "RECORD" and m["stream"] == "persons" and not m["record"].get("email")
    ]
    assert placeholders, "the dataset has persons without an e-mail"
    reports, export, stats = load(calls, {"placeholder_emails": REFUSED}, tmp_path, runs=2)
    first, second = reports
    assert first["totals"]["failed"] == 0 and first["manual_review"] == []
    assert CheckResult.from_dict(first["capabilities"]).verdict("placeholder_emails") == REFUSED
    fallbacks = [i for i in first["issues"] if i["category"] == "fallback" and i["field"] == "email"]
    assert len(fallbacks) == len(placeholders)
    assert not any("@placeholder.invalid" in (c.get("email") or "") for c in export["contacts"])
    external = {c.get("external_id") for c in export["contacts"]}
    assert all(str(p["id"]) in str(external) for p in placeholders)  # written, keyed by their TOPdesk id
    assert stats["denied"] == {"placeholder_emails": 1}, "the check probed once; the load and the re-run never sent one"
    assert second["capabilities"]["checked_at"] == first["capabilities"]["checked_at"]  # the kept result, reused
    assert second["totals"]["created"] == 0


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_a_missing_capability_without_fallback_stops_the_load_before_any_record(
    calls: t.Any, tmp_path: Path, mode: str
) -> None:
    """Companies a rollback archived cannot come back in a workspace that refuses upserting them (or answers and
    leaves them archived): the load after the rollback stops before its first record, saying so (the first load did
    not need it)."""
    from topdesk2intercom_testing.target_acceptance import run_target, target_config

    with intercom_sandbox(custom_objects=map_custom_objects(), deny={"archived_company_upsert": mode}) as sb:
        config = target_config(sb, tmp_path)
        assert run_target(calls.messages, config).report["totals"]["failed"] == 0
        ledger = Ledger(config["ledger_url"])
        company = next(ledger.entities("companies"))  # as a rollback leaves it
        ledger.mark_deleted("companies", company.source_key, "rollback")
        ledger.close()
        requests_before = sb.stats()["requests_served"]
        with pytest.raises(Exception, match=r"archived_company_upsert") as raised:
            run_target(calls.messages, config)
        said = "Company has been archived" if mode == REFUSED else "the company stays archived"
        assert said in str(raised.value) and "rolled-back branches" in str(raised.value)
        assert sb.stats()["requests_served"] - requests_before < 80  # the preflight's reads, nothing written


def test_relationships_the_listing_does_not_show_are_taken_from_the_check(calls: t.Any, tmp_path: Path) -> None:
    """Without the fallback the preflight would try to create the unlisted relationships again and block."""
    reports, _, _ = load(calls, {"relationship_listing": REFUSED}, tmp_path)
    assert reports[0]["totals"]["failed"] == 0 and reports[0]["preflight"]["problems"] == []
    assert any("relationship_listing" in w for w in reports[0]["preflight"]["warnings"])


ASSET_STREAMS = tuple(
    f"assets_{t}"
    for t in (
        "application_ci",
        "business_service_ci",
        "computer",
        "key_card",
        "licence",
        "mobile_phone",
        "network_device",
        "printer",
        "server_ci",
        "software",
        "vehicle",
    )
)


@pytest.fixture(scope="module")
def calls_with_assets() -> t.Any:
    from topdesk2intercom_testing.target_acceptance import STREAMS, topdesk_source

    return topdesk_source(40, 3, streams=(*STREAMS, *ASSET_STREAMS, "asset_links"))


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_tickets_link_their_assets_as_text_where_the_workspace_keeps_no_relationship_on_tickets(
    calls_with_assets: t.Any, tmp_path: Path, mode: str
) -> None:
    reports, export, stats = load(calls_with_assets, {"ticket_relationships": mode}, tmp_path, runs=2)
    first, second = reports
    assert first["totals"]["failed"] == 0 and first["manual_review"] == [], first["manual_review"][:3]
    links = [i for i in first["issues"] if i["category"] == "fallback" and i["kind"] == "custom_object_links"]
    assert links, "the dataset links calls to assets"
    attribute = linked_attribute("TOPdesk asset")
    assets = {str(i["external_id"]): i for i in export["custom_object_instances"]["Asset"]}
    texts = [tk["attributes"].get(attribute) for tk in export["tickets"] if tk["attributes"].get(attribute)]
    assert len(texts) == len(links)  # one asset per call
    assert all("TOPdesk asset" not in tk["attributes"] for tk in export["tickets"])  # no relationship value
    labels = {
        " ".join(str(a["custom_attributes"][k]) for k in ("Number", "Name") if a["custom_attributes"].get(k)) or ext
        for ext, a in assets.items()
    }
    assert set(texts) <= labels, (texts[:3], sorted(labels)[:3])
    assert stats["denied"]["ticket_relationships"] == 1, "only the check met the denial"
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0  # a re-run writes nothing twice


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_assets_name_their_parent_as_text_where_instances_cannot_link_each_other(
    calls_with_assets: t.Any, tmp_path: Path, mode: str
) -> None:
    parents = [
        m["record"] for m in calls_with_assets.messages if m["type"] == "RECORD" and m["stream"] == "asset_links"
    ]
    assert parents, "the dataset has parent-child asset links"
    reports, export, stats = load(calls_with_assets, {"instance_links": mode}, tmp_path, runs=2)
    first, second = reports
    assert first["totals"]["failed"] == 0 and first["manual_review"] == [], first["manual_review"][:3]
    links = [i for i in first["issues"] if i["category"] == "fallback" and i["field"] == "Parent asset (linked)"]
    assert links
    assets = export["custom_object_instances"]["Asset"]
    texts = [a["custom_attributes"].get("Parent asset (linked)") for a in assets]
    assert sum(1 for x in texts if x) == len(links)
    assert not any(a["custom_attributes"].get("Parent asset") for a in assets)
    assert stats["denied"]["instance_links"] == 1, "only the check met the denial"
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_where_created_at_is_not_kept_records_are_dated_now_with_their_topdesk_date_in_the_text(
    calls: t.Any, tmp_path: Path, mode: str
) -> None:
    from target_intercom.writers.support import DATED_PREFIX

    reports, export, stats = load(calls, {"created_at": mode}, tmp_path, runs=2)
    first, second = reports
    assert first["totals"]["failed"] == 0 and first["manual_review"] == [], first["manual_review"][:3]
    dated = [i for i in first["issues"] if i["category"] == "fallback" and i["field"] == "created_at"]
    parts = [p for tk in export["tickets"] for p in tk["parts"] if p["part_type"] in ("comment", "note")]
    assert parts and all(DATED_PREFIX in (p.get("body") or "") for p in parts)
    assert len(dated) == len(export["tickets"]) + len(parts)
    assert all(tk["created_at"] > 1_700_000_000 for tk in export["tickets"])  # dated at migration time
    assert stats["denied"]["created_at"] >= 1
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0


def test_an_undated_ticket_whose_answer_was_lost_is_found_not_sent_twice(
    calls: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without created_at a lost create is found by the time it was sent (and its attributes)."""
    from target_intercom.client import IntercomError
    from topdesk2intercom_testing.target_acceptance import run_target, target_config

    send = IntercomClient.request
    lost: list[str] = []

    def request(self: IntercomClient, method: str, path: str, **kwargs: t.Any) -> dict:
        answer = send(self, method, path, **kwargs)
        attributes = (kwargs.get("json") or {}).get("ticket_attributes") or {}
        if method == "POST" and path == "/tickets" and "Call number" in attributes and not lost:
            lost.append(str(answer["id"]))
            raise IntercomError(f"{method} {path}: answer lost; it may have been applied", ambiguous=True)
        return answer

    monkeypatch.setattr(IntercomClient, "request", request)
    with intercom_sandbox(custom_objects=map_custom_objects(), deny={"created_at": REFUSED}) as sb:
        run = run_target(calls.messages, target_config(sb, tmp_path))
        numbers = [tk["attributes"]["Call number"] for tk in sb.workspace.tickets.values()]
    assert lost and run.report["totals"]["failed"] == 0
    assert (
        len(numbers)
        == len(set(numbers))
        == len({m["record"]["id"] for m in calls.messages if m["type"] == "RECORD" and m["stream"] == "incidents"})
    )


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_undated_conversations_carry_their_topdesk_date_in_the_text(calls: t.Any, tmp_path: Path, mode: str) -> None:
    """The conversations strategy where created_at is not kept: the opening message and every part are dated in
    their text; a re-run writes nothing again."""
    from map_topdesk_intercom.mapfile import DEFAULT_MAP
    from target_intercom.writers.support import DATED_PREFIX
    from topdesk2intercom_testing.target_acceptance import run_target, target_config

    map_file = tmp_path / "conversations.yaml"
    map_file.write_text(DEFAULT_MAP.read_text().replace("\n  calls: tickets", "\n  calls: conversations", 1))
    with intercom_sandbox(custom_objects=map_custom_objects(str(map_file)), deny={"created_at": mode}) as sb:
        config = target_config(sb, tmp_path, map_file=str(map_file))
        first = run_target(calls.messages, config).report
        second = run_target(calls.messages, config).report
        conversations = list(sb.workspace.conversations.values())
    assert first["totals"]["failed"] == 0 and first["manual_review"] == [], first["manual_review"][:3]
    assert conversations and all(DATED_PREFIX in c["source"]["body"] for c in conversations)
    messages = [p for c in conversations for p in c["parts"] if p["part_type"] in ("comment", "note")]
    assert messages and all(DATED_PREFIX in (p.get("body") or "") for p in messages)
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0


def links_by_external_id(export: dict) -> dict[str, dict[str, list[str]]]:
    """Each contact's and ticket's relationship values, as instance external ids (two workspaces number their
    instances differently)."""
    external = {
        str(i["id"]): str(i["external_id"])
        for instances in export["custom_object_instances"].values()
        for i in instances
    }
    out: dict[str, dict[str, list[str]]] = {}
    for kind, attributes in (("contacts", "custom_attributes"), ("tickets", "attributes")):
        for entity in export[kind]:
            key = entity.get("external_id") or entity.get("email") if kind == "contacts" else None
            name = f"{kind}:{key or entity.get('attributes', {}).get('Call number')}"
            values = {
                attribute: sorted(external[i] for i in relationship_ids(value))
                for attribute, value in (entity.get(attributes) or {}).items()
                if attribute.startswith("TOPdesk asset") and relationship_ids(value)
            }
            if values:
                out[name] = values
    return out


@pytest.mark.parametrize("mode", [REFUSED, IGNORED])
def test_links_are_written_after_the_create_where_a_create_cannot_carry_them(
    calls_with_assets: t.Any, tmp_path: Path, mode: str
) -> None:
    """Contacts and tickets are created with the links waiting for them where the workspace keeps them; where it
    refuses or drops them in a create, each link is written after it: the same relationships either way."""
    reports, export, stats = load(calls_with_assets, {"created_with_links": mode}, tmp_path / "lacks", runs=2)
    first, second = reports
    assert first["totals"]["failed"] == 0 and first["manual_review"] == [], first["manual_review"][:3]
    _, holds_export, _ = load(calls_with_assets, {}, tmp_path / "again")
    linked = links_by_external_id(holds_export)
    assert any(k.startswith("contacts:") for k in linked) and any(k.startswith("tickets:") for k in linked), linked
    assert links_by_external_id(export) == linked
    assert stats["denied"]["created_with_links"] == 2, "only the check's contact and ticket met the denial"
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0
