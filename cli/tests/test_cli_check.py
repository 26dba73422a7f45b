"""``topdesk2intercom check intercom``: the live check of the workspace as a user runs it (table, reports, the
result kept in the load's ledger); a dry run writes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from map_topdesk_intercom.mapfile import load_map
from target_intercom.capabilities import CheckResult, Verdict, with_fallbacks
from target_intercom.ledger import Ledger
from topdesk2intercom_testing.cli import Migration


def test_check_intercom_reports_each_capability_and_keeps_the_result(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15, intercom={"deny": {"placeholder_emails": "ignored"}}) as m:
        provisioned = m.cli("provision")
        assert "placeholder_emails" in provisioned.output  # provision checks too, once the ticket types exist
        before = m.intercom("GET", "/__sandbox/export").json()
        dry = m.cli("check", "intercom", "--dry-run")
        assert "nothing written" in dry.output and "would write" in dry.output
        assert m.intercom("GET", "/__sandbox/export").json() == before

        result = m.cli("check", "intercom")
        assert "topdesk2intercom-check" in result.output  # said before it writes
        line = next(x for x in result.output.splitlines() if x.strip().startswith("placeholder_emails "))
        assert "ignored" in line, result.output
        assert "-> the load: such persons are written without an e-mail" in result.output
        report = json.loads(m.reports("check-*/check.json")[-1].read_text())
        verdicts = {v["name"]: v["verdict"] for v in report["verdicts"]}
        assert verdicts["placeholder_emails"] == "ignored" and verdicts["created_at"] == "holds"
        assert report["requests"] > 0 and m.reports("check-*/check.html") and m.reports("check-*/check.md")
        assert "access_token" not in json.dumps(report) and "sandbox-intercom-token" not in result.output

        ledger = Ledger(f"sqlite:///{m.ledger_path}")
        kept = ledger.latest_check(report["workspace"]["app_id"], report["map_digest"])
        ledger.close()
        assert kept is not None and kept["verdicts"] == report["verdicts"]


@pytest.mark.parametrize("flip", [False, True])
def test_verify_after_a_load_with_fallbacks_finds_no_unexplained_difference(tmp_path: Path, flip: bool) -> None:
    """A workspace that drops (or refuses: ``flip``) placeholder e-mails, relationships on tickets and in creates,
    links between instances and dates, and lists relationships without their reference: the load writes persons
    without the placeholder, links after the creates (as text where they must be) and dates in the text; verify
    explains each difference; a delta writes nothing."""
    deny = {
        "placeholder_emails": "ignored",
        "ticket_relationships": "ignored",
        "created_with_links": "refused",
        "instance_links": "refused",
        "created_at": "ignored",
        "relationship_listing": "ignored",
    }
    if flip:  # each capability the other way
        deny = {name: "refused" if mode == "ignored" else "ignored" for name, mode in deny.items()}
    lacking = CheckResult({}, "", "", [Verdict(name, mode) for name, mode in deny.items()])
    objects = with_fallbacks({"custom_object_types": list(load_map(catalog=False).ui_custom_objects())}, lacking)[
        "custom_object_types"
    ]  # as the admin creates them after provision lists them
    with Migration.started(tmp_path, scale=15, intercom={"deny": deny, "custom_objects": tuple(objects)}) as m:
        m.migrate()
        report = json.loads(max(m.report_dir.glob("*/reconciliation.json")).read_text())
        fallbacks = {i["field"] for i in report["issues"] if i["category"] == "fallback"}
        assert {"email", "TOPdesk asset (linked)", "created_at"} <= fallbacks, fallbacks
        out = m.cli("verify", "--seed", "5").output
        assert "verify: 0 unexplained difference(s)" in out, out
        m.migrate()
        again = json.loads(
            max(m.report_dir.glob("*/reconciliation.json"), key=lambda p: p.stat().st_mtime_ns).read_text()
        )
        assert again["totals"]["created"] == 0 and again["totals"]["updated"] == 0


def test_provision_prepares_what_the_fallbacks_need(tmp_path: Path) -> None:
    """Where the check finds no relationships on tickets nor between instances, provision creates the text ticket
    attribute the load will use, and names the text attribute an admin adds to each custom object type."""
    deny = {"ticket_relationships": "refused", "instance_links": "ignored"}
    with Migration.started(tmp_path, scale=15, intercom={"deny": deny}) as m:
        m.cli("provision")
        report = json.loads(m.reports("provision-*/provision.json")[-1].read_text())
        created = {(e["kind"], e["name"]) for e in report["created"]}
        assert ("ticket_type_attribute", "TOPdesk asset (linked)") in created, sorted(created)
        assert any("Parent asset (linked)" in w for w in report["warnings"]), report["warnings"]


def test_check_exits_1_when_the_load_would_refuse_to_start(tmp_path: Path) -> None:
    """Companies a rollback archived (in the ledger) cannot come back in a workspace refusing to upsert them: the
    check says the load would refuse, and why (exit 1); without them it exits 0."""
    with Migration.started(tmp_path, scale=15, intercom={"deny": {"archived_company_upsert": "refused"}}) as m:
        m.cli("provision")
        first = m.cli("check", "intercom").output  # exit 0: nothing needs it yet
        assert re.search(r"archived_company_upsert\s+refused", first), first
        ledger = Ledger(f"sqlite:///{m.ledger_path}")
        run = ledger.start_run({"test": True})
        ledger.record_written("companies", "branch:1", "c-1", "", run, created=True)
        ledger.mark_deleted("companies", "branch:1", run)  # as a rollback leaves it
        ledger.close()
        out = m.cli("check", "intercom", expect=1).output
        assert "the load would refuse to start" in out and "rolled-back branches" in out, out


@pytest.mark.parametrize("mode", [None, "refused", "ignored"])
def test_knowledge_in_several_languages_is_one_article_with_translations_where_the_workspace_holds_them(
    tmp_path: Path, mode: str | None
) -> None:
    """A help center in English and Dutch: an item's Dutch version is the translation of its English article (and a
    folder's of its English collection); an item without an English version, and every German one, is an article of
    its own. Where the workspace lacks translations, every version is its own article (the fallback). Verify finds
    nothing unexplained, a delta writes nothing, a rollback removes the articles and with them their translations."""
    deny = {"article_translations": mode} if mode else {}
    checked: dict[str, set[str]] = {}  # kind -> the Dutch versions that are (or would be) translations
    with Migration.started(tmp_path, scale=15, intercom={"deny": deny, "help_center_locales": ("en", "nl")}) as m:
        m.migrate()
        export = m.intercom("GET", "/__sandbox/export").json()
        ledger = Ledger(f"sqlite:///{m.ledger_path}")
        kinds = {
            kind: {e.source_key: e for e in ledger.entities(kind) if e.status == "written"}
            for kind in ("articles", "collections")
        }
        ledger.close()
        for kind, field in (("articles", "title"), ("collections", "name")):
            versions = {key: e for key, e in kinds[kind].items() if key.count(":") == 2}  # not the folder aliases
            english = {key.rsplit(":", 1)[0]: e for key, e in versions.items() if key.endswith(":en")}
            dutch = {key: e for key, e in versions.items() if key.endswith(":nl")}
            translated = {key: e for key, e in dutch.items() if key.rsplit(":", 1)[0] in english}
            checked[kind] = set(translated)
            own = set(versions) - set(translated) - {e.source_key for e in english.values()}
            assert translated and own, kind  # the dataset has both: translations and versions of their own
            in_intercom = {str(x["id"]): x for x in export[kind]}
            for key, entity in translated.items():
                host = english[key.rsplit(":", 1)[0]]
                if mode is None:
                    assert (
                        entity.extra.get("translation_of") == host.source_key and entity.intercom_id == host.intercom_id
                    ), (key, entity.extra)
                    nl = in_intercom[host.intercom_id]["translations"]["nl"][field]
                    assert nl and nl != in_intercom[host.intercom_id][field]
                else:
                    assert "translation_of" not in entity.extra and entity.intercom_id != host.intercom_id
            assert len(in_intercom) == len({e.intercom_id for e in kinds[kind].values()})  # no version twice
            assert not any(x.get("translations") for x in in_intercom.values()) or mode is None
        samples = [f"{kind}:{next(iter(sorted(keys)))}" for kind, keys in checked.items()]
        include = [arg for sample in samples for arg in ("--include", sample)]
        assert "verify: 0 unexplained difference(s)" in m.cli("verify", "--seed", "5", *include).output
        m.migrate()
        again = json.loads(
            max(m.report_dir.glob("*/reconciliation.json"), key=lambda p: p.stat().st_mtime_ns).read_text()
        )
        assert again["totals"]["created"] == 0 and again["totals"]["updated"] == 0
        if mode is None:  # a translation changed in Intercom is a difference, named
            key = samples[0].split(":", 1)[1]
            m.intercom(
                "PUT",
                f"/articles/{kinds['articles'][key].intercom_id}",
                json={"translated_content": {"nl": {"title": "Changed in Intercom"}}},
            )
            out = m.cli("verify", "--seed", "5", *include, expect=1).output
            assert "Changed in Intercom" in out and key in out, out
            m.cli("rollback", "--all")
            export = m.intercom("GET", "/__sandbox/export").json()
            assert export["articles"] == [] and export["collections"] == []
            ledger = Ledger(f"sqlite:///{m.ledger_path}")
            assert not [e for e in ledger.entities("articles") if e.status == "written"]
            ledger.close()
