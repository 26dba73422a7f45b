"""Each TOPdesk trap from the reference (topdesk-api.md §4, §8) as a test against the sandbox."""

from __future__ import annotations

from collections import Counter

import pytest

from tap_topdesk.request_check import LOOKUP_PAGE
from topdesk2intercom_testing.tap import Run, Sent, config, recording, shared_sandbox, sync

SCALE, SEED = 300, 9


@pytest.fixture(scope="module")
def dataset() -> dict:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(SCALE, SEED)


@pytest.fixture(scope="module")
def traced() -> tuple[Run, list[Sent]]:
    """A full sync with small pages (to force paging everywhere) and every request recorded."""
    url = shared_sandbox(scale=SCALE, seed=SEED)
    with recording() as seen:
        run = sync(config(url, page_size=5))
    return run, seen


def _requests(seen: list[Sent], path: str) -> list[tuple[dict, str]]:
    return [(s.params, s.accept) for s in seen if s.path == path]


def test_paging_parameters_per_endpoint(traced: tuple) -> None:
    _run, seen = traced
    # (the module probe's own sample of recent calls sorts descending: not part of the extraction)
    incidents = [(q, a) for q, a in _requests(seen, "/tas/api/incidents") if q.get("sort") != ["modificationDate:desc"]]
    assert incidents and all("pageStart" in q and "start" not in q for q, _ in incidents)
    # (the request check asks the range at page size 1, and looks up a parent record at LOOKUP_PAGE)
    assert all(q["pageSize"] == ["5"] for q, _ in incidents if q["pageSize"] not in (["1"], [str(LOOKUP_PAGE)]))
    assert all(q["all"] == ["true"] and q["sort"] == ["modificationDate:asc,id:asc"] for q, _ in incidents)
    # paged by seeking: every page at offset 0, each from where the last one ended
    assert all(q["pageStart"] == ["0"] for q, _ in incidents)
    assert len({q["query"][0] for q, _ in incidents if q["pageSize"] == ["5"]}) > 3
    trail = [(s.path, s.params) for s in seen if s.path.endswith("/progresstrail") and "/incidents/" in s.path]
    assert trail and all("start" in q and int(q["page_size"][0]) <= 100 for _, q in trail)
    persons = _requests(seen, "/tas/api/persons")
    assert persons and all(
        "pageStart" in q and a == "application/x.topdesk-collection-person-v2+json" for q, a in persons
    )
    assert all(q["fields"] == ["*"] for q, _ in persons if q.get("fields") != ["id"])
    operators = _requests(seen, "/tas/api/operators")
    assert operators and all("start" in q and "page_size" in q and "query" in q for q, _ in operators)
    assets = _requests(seen, "/tas/api/assetmgmt/assets")
    assert assets and all("pageStart" in q and "start" not in q for q, _ in assets)
    assert all(a == "application/x.topdesk-am-assets-v2+json" for _, a in assets)
    kb = _requests(seen, "/services/knowledge-base-v1/knowledgeItems")
    assert kb and all("start" in q and "page_size" in q for q, _ in kb)
    reservations = _requests(seen, "/tas/api/reservations")
    assert reservations and all("$top" in q and "start" not in q and "pageStart" not in q for q, _ in reservations)
    changes = _requests(seen, "/tas/api/operatorChanges")
    assert changes and all("pageStart" in q for q, _ in changes)
    assert all(q.get("fields") in (["all"], ["id"]) for q, _ in changes if "query" in q)


def test_archived_calls_and_persons_are_extracted(traced: tuple, dataset) -> None:
    run, _ = traced
    planted = dataset.manifest["planted"]
    call_ids = {r["id"] for r in run.records("incidents")}
    assert set(planted["archived_calls"]["ids"]) <= call_ids
    statuses = Counter(r["status"] for r in run.records("incidents"))
    assert statuses["partial"] + statuses["partialArchived"] == sum(
        1 for r in dataset.records["incidents"] if r["status"].startswith("partial")
    )
    person_ids = {r["id"] for r in run.records("persons")}
    assert set(planted["archived_persons"]["ids"]) <= person_ids
    assert any(r["archived"] for r in run.records("persons"))


def test_reduced_default_field_sets_are_expanded(traced: tuple) -> None:
    run, _ = traced
    branch = run.records("branches")[0]
    assert {"address", "phone", "clientReferenceNumber", "modificationDate"} <= set(branch)
    location = run.records("locations")[0]
    assert {"functionalUse", "reservationManagement", "modificationDate"} <= set(location)
    person = run.records("persons")[0]
    assert {"tasLoginName", "branch", "optionalFields1", "modificationDate"} <= set(person)
    activity = run.records("operational_activities")[0]
    assert {"briefDescription", "plannedStartDate", "series"} <= set(activity)
    change_activity = run.records("change_activities")[0]
    assert {"briefDescription", "change", "lastModificationDate"} <= set(change_activity)


def test_knowledge_items_per_language_with_content(traced: tuple, dataset) -> None:
    run, _ = traced
    items = run.records("knowledge_items")
    expected = {(r["id"], r["translation"]["language"]) for r in dataset.records["knowledge_items"]}
    assert {(r["id"], r["language"]) for r in items} == expected
    assert len({r["language"] for r in items}) >= 3
    assert all(r["translation"]["content"].get("content") for r in items)
    folders = run.records("knowledge_folders")
    assert len(folders) == len(dataset.records["knowledge_folders"])


def test_reservations_seek_on_planned_start_date(traced: tuple, dataset) -> None:
    run, seen = traced
    reservations = run.records("reservations")
    assert len(reservations) == len(dataset.records["reservations"])
    assert len({r["id"] for r in reservations}) == len(reservations)
    queries = [q.get("query", [""])[0] for q, _ in _requests(seen, "/tas/api/reservations")]
    assert len(queries) > 1
    assert any("plannedStartDate=ge=" in q for q in queries)


def test_asset_streams_from_card_types(traced: tuple, dataset) -> None:
    run, _ = traced
    names = {t["text"] for t in dataset.records["asset_templates"]}
    assert "Key card" in names
    assert run.records("assets_key_card")
    computer = run.records("assets_computer")[0]
    assert {"serialnumber", "purchase-date", "@assignments"} <= set(computer)


def test_asset_links_cycle_and_dedupe(traced: tuple, dataset) -> None:
    run, _ = traced
    links = run.records("asset_links")
    assert len(links) == len(dataset.records["asset_links"])
    assert len({r["linkId"] for r in links}) == len(links)
    cycle = set(dataset.manifest["planted"]["asset_link_cycle"]["ids"])
    assert cycle
    cyc_links = [r for r in links if r["sourceId"] in cycle and r["targetId"] in cycle]
    assert len(cyc_links) == 3


def test_attachments_metadata_and_size_flag(traced: tuple, dataset) -> None:
    run, _ = traced
    big = set(dataset.manifest["planted"]["attachments_over_10mb"]["ids"])
    rows = run.records("incident_attachments")
    assert len(rows) == len(dataset.records["incident_attachments"])
    flagged = {r["id"] for r in rows if (r["download_skipped_reason"] or "").startswith("size")}
    assert flagged == big
    assert all(r["content_base64"] is None for r in rows)  # download_attachments is off by default


def test_attachment_binaries_downloaded_within_cap(dataset) -> None:
    url = shared_sandbox(scale=SCALE, seed=SEED)
    run = sync(
        config(url, download_attachments=True, max_attachment_mb=1),
        streams=["incidents", "incident_attachments"],
    )
    rows = run.records("incident_attachments")
    small = [r for r in rows if r["size"] <= 1024 * 1024]
    large = [r for r in rows if r["size"] > 1024 * 1024]
    assert small and large
    import base64

    assert all(len(base64.b64decode(r["content_base64"])) == r["size"] for r in small)
    assert all(r["content_base64"] is None and r["download_skipped_reason"] for r in large)


def test_include_archived_false_leaves_archived_records_out(dataset) -> None:
    url = shared_sandbox(scale=SCALE, seed=SEED)
    run = sync(
        config(url, include_archived=False),
        streams=["incidents", "persons", "operators", "changes", "operational_activities"],
    )
    calls = run.records("incidents")
    assert calls
    assert not [r for r in calls if r["status"].endswith("Archived")]
    assert any(r["status"] == "partial" for r in calls) == any(
        r["status"] == "partial" for r in dataset.records["incidents"]
    )
    persons = run.records("persons")
    assert persons
    assert not [r for r in persons if r["archived"]]
    assert len(persons) == sum(1 for r in dataset.records["persons"] if not r.get("archived"))
    assert not [r for r in run.records("changes") if r["archived"]]
    assert not [r for r in run.records("operational_activities") if (r["archived"] or {}).get("value")]
