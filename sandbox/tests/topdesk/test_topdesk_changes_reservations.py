"""Changes, change activities and reservations as strict as TOPdesk (issue 15): what the API in play does not
document is refused with a 400 in its error family; the newer change API and change 1.4.0 (``change-1.4``)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from topdesk_sandbox_testkit import Api, running, small_records

CHANGES = "/tas/api/operatorChanges"
ACTIVITIES = "/tas/api/operatorChangeActivities"
RESERVATIONS = "/tas/api/reservations"


def q(text: str) -> str:
    return quote(text, safe="")


@pytest.fixture(scope="module")
def old_api() -> Iterator[Api]:
    """A tenant on change API 1.4.0."""
    with running(variants=frozenset({"change-1.4"})) as client:
        yield client


def _refused(api: Api, path: str) -> str:
    """The message of a 400 in the classic family (``[{"message"}]``)."""
    r = api.get(path)
    assert r.status_code == 400, (path, r.status_code, r.text)
    return r.json()[0]["message"]


def test_changes_newer_api_takes_query_fields_and_one_sort(api: Api) -> None:
    changes = small_records()["changes"]
    r = api.get(f"{CHANGES}?fields=all&sort=id:asc&pageSize=2&query=" + q("modificationDate=ge=2000-01-01T00:00:00Z"))
    assert r.status_code == 206
    detail = r.json()["results"]
    assert [c["id"] for c in detail] == sorted(c["id"] for c in changes)[:2]
    # the detail shape is dated by lastModificationDate only: modificationDate is the list item's name
    assert all("modificationDate" not in c and c["lastModificationDate"] for c in detail)
    item = api.get(CHANGES).json()["results"][0]
    assert item["modificationDate"] == changes[0]["lastModificationDate"]
    picked = api.get(f"{CHANGES}?fields=id,status.name").json()["results"][0]
    assert set(picked) == {"id", "status"}


def test_changes_refuse_what_is_not_documented(api: Api) -> None:
    assert "Sorting" in _refused(api, f"{CHANGES}?sort=creationDate:asc,id:asc")  # finding 9: one sort field
    _refused(api, f"{CHANGES}?sort=modificationDate:asc")
    assert "modificationDate" in _refused(api, f"{CHANGES}?fields=modificationDate")
    assert "lastModificationDate" in _refused(
        api, f"{CHANGES}?query=" + q("lastModificationDate=gt=2024-01-01T00:00:00Z")
    )
    assert "bogus" in _refused(api, f"{CHANGES}?bogus=1")


def test_changes_query_ignores_the_archived_parameter(api: Api) -> None:
    """Finding 8: once ``query`` is sent every other filter parameter is ignored; FIQL ``archived`` filters."""
    changes = small_records()["changes"]
    archived = {c["id"] for c in changes if c["archived"]}
    assert archived
    since = q("modificationDate=ge=2000-01-01T00:00:00Z")
    ignored = api.get(f"{CHANGES}?archived=false&query={since}").json()["results"]
    assert archived <= {c["id"] for c in ignored}
    kept = api.get(f"{CHANGES}?query={since}" + q(";archived==false")).json()["results"]
    assert not archived & {c["id"] for c in kept} and kept
    assert not archived & {c["id"] for c in api.get(f"{CHANGES}?archived=false").json()["results"]}


def test_change_api_14_variant(old_api: Api) -> None:
    changes = small_records()["changes"]
    assert "query" in _refused(old_api, f"{CHANGES}?query=" + q("number==C1"))
    assert "fields" in _refused(old_api, f"{CHANGES}?fields=all")
    _refused(old_api, f"{CHANGES}?sort=id:asc")
    assert old_api.get(f"{CHANGES}?sort=simple.closedDate:asc").status_code == 200
    first = old_api.get(f"{CHANGES}?pageSize=1")
    assert first.status_code == 200 and len(first.json()["results"]) == 1  # 1.4.0 documents only 200
    assert len(changes) > 1
    detail = old_api.get(f"{CHANGES}/{changes[0]['id']}").json()
    assert detail["lastModificationDate"] == changes[0]["lastModificationDate"]


def test_activities_refuse_query_and_answer_200_per_page(api: Api) -> None:
    """Finding 3: ``/operatorChangeActivities`` documents no ``query`` and only 200, also when more follow."""
    activities = small_records()["change_activities"]
    assert "query" in _refused(api, f"{ACTIVITIES}?query=" + q("lastModificationDate=ge=2000-01-01T00:00:00Z"))
    _refused(api, f"{ACTIVITIES}?sort=finalDate:asc,id:asc")
    _refused(api, f"{ACTIVITIES}?fields=modificationDate")
    seen: list[str] = []
    for start in range(len(activities) + 1):
        r = api.get(f"{ACTIVITIES}?fields=all&pageSize=1&pageStart={start}")
        assert r.status_code == 200
        seen += [a["id"] for a in r.json()["results"]]
    assert sorted(seen) == sorted(a["id"] for a in activities)


def test_reservations_refuse_undocumented_filter_fields(api: Api) -> None:
    """Finding 2: ``modificationDate`` is not among the reservation filter fields (reservations 2.0.0)."""
    r = api.get(f"{RESERVATIONS}?query=" + q("modificationDate=gt=2024-01-01T00:00:00Z"))
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["appliesTo"] == ["query"] and "modificationDate" in error["errorMessage"]
    assert api.get(f"{RESERVATIONS}?pageStart=0").status_code == 400
    for query in (
        "archived==false;plannedStartDate=ge=2024-01-01T00:00:00Z",
        "(archived==true,archived==false)",
        "operatorGroup.name==x,optionalFields1.text1==y,reservedFacilities.location.roomNumber==z",
    ):
        assert api.get(f"{RESERVATIONS}?$top=2&query=" + q(query)).status_code in (200, 206), query
