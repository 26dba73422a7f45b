"""Issue 15, findings 1, 6, 7, 11 (knowledge base), 13: whole-second FIQL dates, every knowledge-base language,
no same-second change lost after a bookmark, documented knowledge-base ``fields`` only, and a missing e-mail
permission reported once without hiding the incidents module."""

from __future__ import annotations

import logging
import re
import typing as t
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import fiql_datetime
from tap_topdesk.streams.knowledge import FOLDER_FIELDS, ITEM_FIELDS
from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.tap import admin, config, shared_sandbox, start_sandbox, sync

#: The streams whose requests this module holds against the descriptions.
MINE = [
    "incidents",
    "incident_progress_trail",
    "incident_attachments",
    "incident_emails",
    "persons",
    "operators",
    "operator_groups",
    "knowledge_items",
    "knowledge_folders",
]
_FRACTION = re.compile(r"T\d{2}:\d{2}:\d{2}\.\d")


def dataset(scale: int, seed: int) -> dict[str, list[dict]]:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(scale, seed).records


def topdesk_date(normalised: str) -> str:
    """A tap bookmark (``2024-01-25T11:14:25.000+00:00``) in TOPdesk's own spelling (``...000+0000``)."""
    return normalised[:23] + "+0000"


# --- finding 1: whole seconds --------------------------------------------------------------------------------------


def test_fiql_dates_are_whole_seconds() -> None:
    assert fiql_datetime(datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)) == "2024-01-02T03:04:05Z"


def test_a_sync_sends_only_documented_requests_with_whole_second_dates() -> None:
    """Against the strict sandbox (refuses what the descriptions do not document), then the request log: no
    violation, no FIQL date with a fraction, and the knowledge base asked only for documented ``fields``."""
    url = shared_sandbox(scale=200, seed=3, strict=True)
    requests.delete(f"{url}/__sandbox/requests", timeout=30)
    run = sync(config(url), streams=MINE)
    assert run.counts["incidents"] == 200
    log = requests.get(f"{url}/__sandbox/requests", timeout=30).json()["requests"]
    assert log and not [entry for entry in log if entry["violations"]]
    queries = [v for e in log for k, v in parse_qsl(e["query"]) if k == "query"]
    assert queries and not [q for q in queries if _FRACTION.search(q)]
    kb_fields = {v for e in log if "knowledge-base" in e["path"] for k, v in parse_qsl(e["query"]) if k == "fields"}
    assert kb_fields == {ITEM_FIELDS, FOLDER_FIELDS}


# --- finding 11: documented knowledge-base fields ------------------------------------------------------------------


def test_knowledge_fields_are_documented_names_only() -> None:
    from topdesk_sandbox.documented import KB_ITEM_FIELDS

    names = ITEM_FIELDS.split(",")
    assert "archived" not in names and "translation" not in names
    assert set(names) <= set(KB_ITEM_FIELDS)
    assert not {"archived", "translation"} & set(FOLDER_FIELDS.split(","))


# --- finding 6: every language ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variants", [frozenset(), frozenset({"kb-default-nl"})], ids=["default-en", "default-nl"])
def test_every_knowledge_language_arrives(variants: frozenset[str]) -> None:
    """French content exists only on items without English or Dutch content: it arrives all the same, and every
    (item, language) of the dataset arrives once, with its ``archived`` flag and ``availableTranslations``."""
    url = shared_sandbox(scale=200, seed=3, variants=variants)
    run = sync(config(url), streams=["knowledge_items", "knowledge_folders"])
    data = dataset(200, 3)
    for stream in ("knowledge_items", "knowledge_folders"):
        expected = {(r["id"], r["translation"]["language"]): r for r in data[stream]}
        got = {(r["id"], r["language"]): r for r in run.records(stream)}
        assert len(run.records(stream)) == len(expected), stream
        assert got.keys() == expected.keys(), stream
        for key, record in got.items():
            assert record["archived"] == expected[key]["archived"], key
            assert record["availableTranslations"] == expected[key]["availableTranslations"], key
            assert record["translation"]["content"]["title"] == expected[key]["translation"]["content"]["title"]
    assert any(lang == "fr" for _, lang in {(r["id"], r["language"]) for r in run.records("knowledge_items")})


def test_a_language_the_knowledge_base_refuses_is_skipped_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The language list's codes are assumed to be the knowledge base's: one it refuses (400) costs that language,
    with a warning, not the sync; the default listing still finds the languages items name."""
    url = shared_sandbox(scale=200, seed=3)
    tap = TapTopdesk(config=config(url), parse_env_config=False)
    stream: t.Any = tap.streams["knowledge_items"]
    real = stream.listing

    def listing(language: str | None, query: str, context: t.Any) -> t.Iterator[dict]:
        if language in ("fr", "xx-XX"):
            raise FatalAPIError("400 Bad Request for knowledge_items at /services/knowledge-base-v1/knowledgeItems")
        yield from real(language, query, context)

    monkeypatch.setattr(stream, "listing", listing)
    monkeypatch.setattr(stream, "language_list", lambda context: ["xx-XX", "fr"])
    got = {(r["id"], r["language"]) for r in stream.read(None)}
    expected = {(r["id"], r["translation"]["language"]) for r in dataset(200, 3)["knowledge_items"]}
    assert got == {key for key in expected if key[1] != "fr"}


# --- finding 7: the bookmark's second is read again ---------------------------------------------------------------


def test_a_change_in_the_bookmarks_second_is_not_lost() -> None:
    """A record changed in the very second of the last record read (after that read) carries the bookmark's own
    value: the next sync must read it, for a windowed stream, a FIQL list and the knowledge base alike."""
    url = start_sandbox(scale=200, seed=5)
    streams = ["incidents", "operators", "knowledge_items"]
    first = sync(config(url), streams=streams)
    bookmarks = first.state["bookmarks"]
    victims = {}
    for stream, resource in (("incidents", "incidents"), ("operators", "operators"), ("knowledge_items", None)):
        bookmark = bookmarks[stream]["replication_key_value"]
        older = next(r for r in first.records(stream) if r["modificationDate"] < bookmark)
        resource = resource or "knowledge_items"
        admin(url, "PATCH", f"{resource}/{older['id']}", json={"modificationDate": topdesk_date(bookmark)})
        victims[stream] = older["id"]
    second = sync(config(url), state=first.state, streams=streams)
    for stream, victim in victims.items():
        assert victim in {r["id"] for r in second.records(stream)}, stream
        # what is re-read is that second only
        bookmark = bookmarks[stream]["replication_key_value"]
        assert {r["modificationDate"] for r in second.records(stream)} == {bookmark}, stream


def test_a_bookmark_with_a_fraction_reads_its_whole_second_without_a_sort_error() -> None:
    """State written before whole seconds (``...:25.500``): the read starts at ``...:25``; the record of that
    second is emitted and leaves the bookmark alone (the SDK's sort check would otherwise stop the sync)."""
    url = shared_sandbox(scale=200, seed=3)
    first = sync(config(url), streams=["incidents"])
    bookmark = first.state["bookmarks"]["incidents"]["replication_key_value"]
    state = {"bookmarks": {"incidents": {"replication_key": "modificationDate",
                                         "replication_key_value": bookmark[:20] + "500+00:00"}}}  # fmt: skip
    again = sync(config(url), state=state, streams=["incidents"])
    assert again.records("incidents") and {r["modificationDate"] for r in again.records("incidents")} == {bookmark}


# --- finding 13: a 403 on /emails -------------------------------------------------------------------------------------


def test_a_missing_email_permission_is_reported_once_and_the_calls_arrive(caplog: pytest.LogCaptureFixture) -> None:
    url = shared_sandbox(scale=200, seed=3, variants=frozenset({"no-sent-email-permission"}))
    cfg = config(url)
    with caplog.at_level(logging.WARNING):
        run = sync(cfg, streams=["incidents", "incident_progress_trail", "incident_emails"])
    data = dataset(200, 3)
    assert run.counts["incidents"] == len(data["incidents"])
    assert run.counts["incident_progress_trail"] == len(data["incident_progresstrail"])
    assert not run.records("incident_emails")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    named = [m for m in warnings if "Sent email messages" in m]
    assert len(named) == 1, warnings
    assert not [m for m in warnings if "skipping stream" in m or ("'incidents'" in m and "permission" in m)]


def test_the_missing_email_permission_is_recorded_for_the_emails_only() -> None:
    url = shared_sandbox(scale=200, seed=3, variants=frozenset({"no-sent-email-permission"}))
    tap = TapTopdesk(config=config(url), parse_env_config=False)
    stream: t.Any = tap.streams["incident_emails"]
    assert list(stream.read({"incident_id": "x", "email_id": "y"})) == []
    assert stream.forbidden and set(tap.unavailable) == {"incident_emails"}
    assert "Sent email messages" in tap.unavailable["incident_emails"]
