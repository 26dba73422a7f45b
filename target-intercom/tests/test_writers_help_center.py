"""Collections, articles, contact notes, team memberships and the rebuild inventory against the Intercom
sandbox."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from target_intercom import rollback as rb
from target_intercom.capabilities import HOLDS, IGNORED, CheckResult, Verdict
from target_intercom.writers.help_center import CollectionWriter, intercom_locale
from target_intercom.writers.notes import ContactNoteWriter
from target_intercom.writers.support import CannotDelete
from topdesk2intercom_testing.target import intercom_sandbox
from topdesk2intercom_testing.target_writers import ADMIN, FALLBACK, Harness, admin, contact


@pytest.fixture
def harness(tmp_path: Path):
    teams = [{"id": "7", "name": "Service desk", "admin_ids": [int(ADMIN)]}]
    (tmp_path / "teams.json").write_text(json.dumps(teams))
    with intercom_sandbox(teams_file=str(tmp_path / "teams.json")) as sb:
        h = Harness(sb, tmp_path, teams=teams)
        yield h
        h.close()


def folder(n: int, parent: int | None = None, name: str | None = None) -> dict:
    return {
        "source_key": f"folder:{n}",
        "name": name or f"Folder {n}",
        "description": "d",
        "refs": {"parent": f"folder:{parent}" if parent else None},
    }


def item(n: int, folder_n: int | None, author: str | None = "operator:o1", **extra) -> dict:
    return {
        "source_key": f"item:{n}",
        "title": f"Article {n}",
        "body": f"<p>Body {n}</p>",
        "state": "published",
        "refs": {"collection": f"folder:{folder_n}" if folder_n else None, "author": author},
        **extra,
    }


def test_nested_collections_and_articles(harness: Harness) -> None:
    folders = [folder(3, 2), folder(2, 1), folder(1)]  # children before parents, three levels
    items = [item(1, 3), item(2, None, author=None), item(3, 1, author="operator:o2")]
    counts = harness.run(
        ("articles", items),
        ("collections", folders),
        ("admins", [admin("o1", "admin@sandbox.example"), admin("o2", "nobody@example.test")]),
    )
    assert counts["collections"]["created"] == 3 and counts["articles"]["created"] == 3
    ws = harness.ws
    cid = {n: harness.id_of("collections", f"folder:{n}") for n in (1, 2, 3)}
    assert ws.collections[cid[1]]["parent_id"] is None
    assert ws.collections[cid[2]]["parent_id"] == cid[1] and ws.collections[cid[3]]["parent_id"] == cid[2]
    art = {n: ws.articles[harness.id_of("articles", f"item:{n}")] for n in (1, 2, 3)}
    assert art[1]["parent_id"] == cid[3] and art[1]["author_id"] == ADMIN and art[1]["state"] == "published"
    assert art[2].get("parent_id") is None and art[2]["author_id"] == FALLBACK  # no author: the fallback admin
    assert art[3]["author_id"] == FALLBACK  # an operator without a teammate: the fallback admin
    lost = harness.issues("timestamp_lost")
    assert sorted(i["source_key"] for i in lost) == ["item:1", "item:2", "item:3"]

    counts = harness.run(("collections", folders), ("articles", items))
    assert counts["collections"] == {"received": 3, "unchanged": 3}
    assert counts["articles"] == {"received": 3, "unchanged": 3}
    counts = harness.run(("collections", [folder(2, 1, "Renamed")]), ("articles", [item(1, 2, state="draft")]))
    assert counts["collections"]["updated"] == 1 and counts["articles"]["updated"] == 1
    assert len(ws.collections) == 3 and len(ws.articles) == 3
    assert ws.collections[cid[2]]["name"] == "Renamed"
    assert art[1]["parent_id"] == cid[2] and art[1]["state"] == "draft"


def test_collection_create_interrupted_is_settled(harness: Harness) -> None:
    ctx = harness.context()
    harness.ledger.record_intent(
        "collections", "folder:1", "", ctx.run_id, extra={"name": "Folder 1", "parent_id": None}
    )
    made = harness.post("/help_center/collections", {"name": "Folder 1"})
    assert CollectionWriter().settle(ctx, harness.ledger.lookup("collections", "folder:1")) == str(made["id"])
    harness.run(("collections", [folder(1)]))
    assert len(harness.ws.collections) == 1


def test_contact_notes_once_and_undeletable(harness: Harness) -> None:
    note = {
        "source_key": "reservation:1",
        "body": "<p>Room A, 2 persons</p>",
        "refs": {"contact": "person:p1", "author": "operator:o1"},
    }
    harness.run(
        ("contact_notes", [note]), ("admins", [admin("o1", "admin@sandbox.example")]), ("contacts", [contact("p1")])
    )
    notes = list(harness.ws.notes.values())
    assert len(notes) == 1 and notes[0]["admin_id"] == ADMIN and notes[0]["body"] == "<p>Room A, 2 persons</p>"
    assert [i["source_key"] for i in harness.issues("timestamp_lost")] == ["reservation:1"]
    harness.run(("contact_notes", [note]))
    harness.run(("contact_notes", [{**note, "body": "<p>Room B</p>"}]))
    assert len(harness.ws.notes) == 1 and harness.issues("not_updatable")
    entity = harness.ledger.lookup("contact_notes", "reservation:1")
    assert ContactNoteWriter().settle(harness.context(), entity) is None  # written: nothing pending
    with pytest.raises(CannotDelete, match="no API to delete a note"):
        ContactNoteWriter().delete(harness.context(), entity)


def test_team_memberships_are_checked_not_written(harness: Harness) -> None:
    memberships = [
        {"source_key": f"member:g:{o}", "refs": {"admin": f"operator:{o}", "team": "operator-group:g"}}
        for o in ("o1", "o2", "o3")
    ]
    counts = harness.run(
        ("team_memberships", memberships),
        ("teams", [{"source_key": "operator-group:g", "name": "Service desk"}]),
        (
            "admins",
            [
                admin("o1", "admin@sandbox.example"),
                admin("o2", "fallback@sandbox.example"),
                admin("o3", "unknown@example.test"),
            ],
        ),
    )
    assert counts["team_memberships"] == {"received": 3, "matched": 1, "skipped": 2}
    reasons = {i["source_key"]: i["reason"] for i in harness.issues("skipped")}
    assert "not a member of team Service desk" in reasons["member:g:o2"]
    assert "matches no teammate" in reasons["member:g:o3"]
    assert harness.ws.teams["7"]["admin_ids"] == [ADMIN]  # unchanged


def test_inventory_items_are_listed_for_the_handoff(harness: Harness) -> None:
    items = [
        {
            "source_key": "event-action:Calls:Mail",
            "kind": "event_action",
            "name": "Mail",
            "module": "Calls",
            "detail": "on 'created': send mail",
        },
        {"source_key": "asset-template:1", "kind": "asset_template", "name": "Computer", "module": "Assets"},
    ]
    counts = harness.run(("inventory_items", items))
    assert counts["inventory_items"] == {"received": 2, "listed": 2}
    listed = {i["source_key"]: i for i in harness.issues("rebuild_inventory")}
    assert listed["event-action:Calls:Mail"]["detail"]["detail"] == "on 'created': send mail"
    assert harness.ledger.lookup("inventory_items", "asset-template:1").extra["name"] == "Computer"
    assert harness.client.stats["requests_sent"] == 0  # nothing goes to Intercom


def test_language_versions_refer_to_their_own_collection(harness: Harness) -> None:
    def version(n: int, lang: str, parent: int | None = None) -> dict:
        return {
            "source_key": f"knowledge-folder:{n}:{lang}",
            "alias_key": f"knowledge-folder:{n}",
            "locale": lang,
            "name": f"Folder {n} {lang}",
            "refs": {"parent": f"knowledge-folder:{parent}" if parent else None},
        }

    folders = [version(2, "nl", 1), version(2, "en", 1), version(1, "en"), version(1, "nl")]
    articles = [
        {
            "source_key": f"knowledge-item:9:{lang}",
            "locale": lang,
            "title": f"Item {lang}",
            "state": "draft",
            "refs": {"collection": "knowledge-folder:2"},
        }
        for lang in ("en", "nl")
    ]
    harness.run(("articles", articles), ("collections", folders))
    cid = {
        (n, lang): harness.id_of("collections", f"knowledge-folder:{n}:{lang}") for n in (1, 2) for lang in ("en", "nl")
    }
    ws = harness.ws
    assert ws.collections[cid[(2, "nl")]]["parent_id"] == cid[(1, "nl")]
    assert ws.collections[cid[(2, "en")]]["parent_id"] == cid[(1, "en")]
    for lang in ("en", "nl"):
        article = ws.articles[harness.id_of("articles", f"knowledge-item:9:{lang}")]
        assert article["parent_id"] == cid[(2, lang)]


@pytest.mark.parametrize("first", ["nl", "en"])
def test_an_item_in_a_language_its_folder_lacks_goes_to_the_same_version_whatever_the_order(
    harness: Harness, first: str
) -> None:
    """The folder's key without a language stands for one of its versions, the same one whatever was written first
    (crash and resume included): the smallest source key."""
    versions = {
        lang: {
            "source_key": f"knowledge-folder:5:{lang}",
            "alias_key": "knowledge-folder:5",
            "locale": lang,
            "name": f"Folder {lang}",
            "refs": {},
        }
        for lang in ("en", "nl")
    }
    ordered = [versions[first], versions["en" if first == "nl" else "nl"]]
    german = {
        "source_key": "knowledge-item:7:de",
        "locale": "de",
        "title": "Artikel",
        "state": "draft",
        "refs": {"collection": "knowledge-folder:5"},
    }
    harness.run(*(("collections", [v]) for v in ordered), ("articles", [german]), concurrency=1)
    assert harness.id_of("collections", "knowledge-folder:5") == harness.id_of("collections", "knowledge-folder:5:en")
    article = harness.ws.articles[harness.id_of("articles", "knowledge-item:7:de")]
    assert article["parent_id"] == harness.id_of("collections", "knowledge-folder:5:en")
    assert harness.issues("duplicate_key") == []  # language versions share the key by design


def test_intercom_locale_matches_a_topdesk_language_to_the_help_center() -> None:
    locales = ("en", "nl", "pt-BR", "zh-CN", "zh-TW")
    assert [intercom_locale(lang, locales) for lang in ("nl", "NL", "en-GB", "en_US", "pt", "zh", "fr", None)] == [
        "nl",
        "nl",
        "en",
        "en",
        "pt-BR",
        None,
        None,
        None,
    ]  # zh: two locales could be meant


def test_versions_in_the_help_centers_other_locales_are_translations_of_the_default_one(tmp_path: Path) -> None:
    """Where the workspace holds translations: an item's Dutch and German versions go into its English article
    (whatever arrives first), its French one (no such locale) and an item without an English version are articles
    of their own; a folder's likewise. Written once; a later run keeps each version's form, whatever its check says."""

    def version(n: int, lang: str, languages: tuple[str, ...], **extra: t.Any) -> dict:
        return {
            "source_key": f"knowledge-item:{n}:{lang}",
            "alias_key": f"knowledge-item:{n}",
            "locale": lang,
            "languages": list(languages),
            "title": f"Item {n} {lang}",
            "body": f"<p>{lang}</p>",
            "state": "published",
            "refs": {"collection": "knowledge-folder:1", "author": None},
            **extra,
        }

    folders = [
        {
            "source_key": f"knowledge-folder:1:{lang}",
            "alias_key": "knowledge-folder:1",
            "locale": lang,
            "languages": ["en", "nl"],
            "name": f"Folder {lang}",
            "refs": {},
        }
        for lang in ("nl", "en")
    ]
    nine = ("en", "nl", "de", "fr")
    with intercom_sandbox(help_center_locales=("en", "nl", "de")) as sb:
        h = Harness(sb, tmp_path)
        h.capabilities = CheckResult(
            {}, "", "", [Verdict("article_translations", HOLDS)], help_center_locales=["en", "nl", "de"]
        )
        batches = [
            ("collections", folders),
            ("articles", [version(9, "nl", nine), version(10, "nl", ("nl",))]),
            ("articles", [version(9, lang, nine) for lang in ("de", "fr", "en")]),
        ]
        h.run(*batches)
        ws = h.ws
        assert len(ws.collections) == 1 and len(ws.articles) == 3, (ws.collections, ws.articles)
        collection = ws.collections[h.id_of("collections", "knowledge-folder:1:en")]
        assert collection["translations"]["nl"]["name"] == "Folder nl"
        article = ws.articles[h.id_of("articles", "knowledge-item:9:en")]
        assert {loc: c["title"] for loc, c in article["translations"].items()} == {"nl": "Item 9 nl", "de": "Item 9 de"}
        assert article["parent_id"] == collection["id"] and article["title"] == "Item 9 en"
        assert h.id_of("articles", "knowledge-item:9:nl") == article["id"]
        for own in ("knowledge-item:9:fr", "knowledge-item:10:nl"):
            assert ws.articles[h.id_of("articles", own)].get("translations") is None, own
        again = h.run(*batches)
        assert again["articles"] == {"received": 5, "unchanged": 5}, again

        h.capabilities = CheckResult({}, "", "", [Verdict("article_translations", IGNORED)])
        changed = version(9, "nl", nine, title="Item 9 nl, changed")
        counts = h.run(("articles", [changed, version(11, "en", ("en", "nl")), version(11, "nl", ("en", "nl"))]))
        assert counts["articles"] == {"received": 3, "updated": 1, "created": 2}, counts
        assert ws.articles[article["id"]]["translations"]["nl"]["title"] == "Item 9 nl, changed"
        assert len(ws.articles) == 5  # the new item: one article per language (the workspace lacks translations)
        h.close()


def test_a_rollback_puts_back_what_a_run_changed_in_earlier_articles_and_collections(harness: Harness) -> None:
    harness.run(("admins", [admin("o1", "admin@sandbox.example")]), ("collections", [folder(1)]))
    harness.run(("articles", [item(1, 1)]))
    article = harness.ws.articles[harness.id_of("articles", "item:1")]
    collection = harness.ws.collections[harness.id_of("collections", "folder:1")]
    before = (article["title"], article["body"], collection["name"])
    harness.run(
        ("collections", [folder(1, name="Folder renamed")]),
        ("articles", [item(1, 1, title="Article renamed", body="<p>New body</p>")]),
    )
    assert (article["title"], collection["name"]) == ("Article renamed", "Folder renamed")
    summary = rb.rollback(harness.ledger, harness.client, run_id=harness.run_id, settings={}, progress=False)
    assert summary["entities"]["articles"]["restored"] == summary["entities"]["collections"]["restored"] == 1
    assert (article["title"], article["body"], collection["name"]) == before
