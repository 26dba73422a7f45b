"""The asset endpoints as strict as TOPdesk (issue 15): ``fields`` names, ``$filter`` fields/operators/date formats,
``resourceCategory`` (stock and bulk items listed only when asked for), and the two asset variants
(``asset-grids-unid``, ``assets-old-filters``)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from topdesk_sandbox_testkit import Api, running

from topdesk_sandbox.generator import build_dataset
from topdesk_sandbox.store import Store

V2 = {"Accept": "application/x.topdesk-am-assets-v2+json"}
ASSETS = "/tas/api/assetmgmt/assets"


@pytest.fixture(scope="module")
def records() -> dict[str, list[dict]]:
    return build_dataset(200, 5).records


def _serve(records: dict[str, list[dict]], *variants: str) -> Iterator[Api]:
    with running(Store.from_records(records), variants=frozenset(variants)) as client:
        yield client


@pytest.fixture(scope="module")
def api(records: dict[str, list[dict]]) -> Iterator[Api]:
    yield from _serve(records)


@pytest.fixture(scope="module")
def unid_api(records: dict[str, list[dict]]) -> Iterator[Api]:
    yield from _serve(records, "asset-grids-unid")


@pytest.fixture(scope="module")
def old_api(records: dict[str, list[dict]]) -> Iterator[Api]:
    yield from _serve(records, "assets-old-filters")


def _category(records: dict[str, list[dict]], category: str) -> tuple[set[str], set[str]]:
    """(template ids, item ids) of one resource category in the dataset."""
    tpls = {t["id"] for t in records["asset_templates"] if t.get("_resourceCategory", "asset") == category}
    return tpls, {a["id"] for a in records["assets"] if a["type_id"] in tpls}


def _listing(api: Api, query: str) -> list[dict]:
    rows: list[dict] = []
    start = 0
    while True:
        r = api.get(f"{ASSETS}?pageSize=1000&pageStart={start}&{query}", headers=V2)
        assert r.status_code in (200, 206), r.text
        rows += r.json()["dataSet"]
        if r.status_code == 200:
            return rows
        start += 1000


def _refused(api: Api, query: str, applies_to: str) -> str:
    r = api.get(f"{ASSETS}?{query}", headers=V2)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert set(error) == {"errorCode", "appliesTo", "detail"} and error["appliesTo"] == [applies_to]
    return error["detail"]


def f(text: str) -> str:
    return "$filter=" + quote(text)


# --- resource categories ---------------------------------------------------------------------------------------


def test_stock_and_bulk_items_only_when_asked(api: Api, records: dict[str, list[dict]]) -> None:
    for category in ("asset", "stock", "bulkItem"):
        tpls, ids = _category(records, category)
        assert tpls and ids
        listed = api.get(f"/tas/api/assetmgmt/templates?resourceCategory={category}").json()["dataSet"]
        assert {t["id"] for t in listed} == tpls
        assert {r["id"] for r in _listing(api, f"resourceCategory={category}")} == ids
    # left out, both list the asset category only (the description's default)
    asset_tpls, asset_ids = _category(records, "asset")
    assert {t["id"] for t in api.get("/tas/api/assetmgmt/templates").json()["dataSet"]} == asset_tpls
    assert {r["id"] for r in _listing(api, "")} == asset_ids
    stock_tpl = min(_category(records, "stock")[0])
    assert _listing(api, f"templateId={stock_tpl}") == []
    item = next(a for a in records["assets"] if a["type_id"] == stock_tpl)
    assert api.get(f"{ASSETS}/{item['id']}").json()["metadata"]["resourceCategory"] == "stock"
    assert _refused(api, "resourceCategory=stocks", "resourceCategory")


# --- fields ----------------------------------------------------------------------------------------------------


def test_fields_outside_the_selectable_list_are_refused(api: Api) -> None:
    for name in ("@etag", "type_id", "nonsense"):
        assert name in _refused(api, f"fields=name,{name}", "fields")


def test_documented_evidenced_and_user_defined_fields_are_served(api: Api, records: dict[str, list[dict]]) -> None:
    fields = "name,modificationDate,creationDate,@type,@@summary,@assignments,archived,@status,id,text,serialnumber"
    rows = _listing(api, f"fields={quote(fields)}")
    computer = next(r for r in rows if "serialnumber" in r)
    assert {"id", "name", "archived", "@status", "@type", "text"} <= set(computer)
    assert "@etag" not in computer and "type_id" not in computer


# --- $filter ---------------------------------------------------------------------------------------------------


def test_filter_fields_operators_and_dates(api: Api, records: dict[str, list[dict]]) -> None:
    dates = sorted(a["modificationDate"] for a in records["assets"] if a["type_id"] in _category(records, "asset")[0])
    pivot = dates[len(dates) // 2]
    at_or_after = _listing(api, f(f"modificationDate ge '{pivot}'"))
    assert len(at_or_after) == sum(d >= pivot for d in dates)
    # an inclusive bound written as gt one millisecond earlier (what the tap sends) holds the same records
    second, milli = pivot[:19], int(pivot[20:23])
    earlier = f"{second}.{milli - 1:03d}" if milli else None
    if earlier:
        assert len(_listing(api, f(f"modificationDate gt '{earlier}'"))) == len(at_or_after)
    assert _listing(api, f("modificationDate gt '2000' and modificationDate lt '2100-01-01T00:00'"))
    assert _listing(api, f("modificationDate lt '2000' or modificationDate isEmpty")) == []
    assert "unknownField" in _refused(api, f("unknownField eq 'x'"), "$filter")
    assert _refused(api, f("templateId gt 'A'"), "$filter")
    assert _refused(api, f("modificationDate gt '2024-01-01T00:00:00Z'"), "$filter")  # not a documented format
    assert _refused(api, f("modificationDate gt '2024-01-01 00:00'"), "$filter")
    assert _refused(api, "$orderby=" + quote("nonsense asc"), "$orderby")


def test_old_filter_api_takes_and_with_gt_lt_only(old_api: Api) -> None:
    assert _listing(old_api, f("modificationDate gt '2000' and modificationDate lt '2100'"))
    assert _listing(old_api, f("modificationDate isEmpty")) == []
    for text in (
        "modificationDate ge '2000'",
        "modificationDate le '2100'",
        "modificationDate eq '2024'",
        "modificationDate gt '2100' or modificationDate lt '2000'",
        "(modificationDate gt '2000')",
    ):
        assert _refused(old_api, f(text), "$filter")


def test_asset_status_filter(api: Api, records: dict[str, list[dict]]) -> None:
    _tpls, ids = _category(records, "asset")
    impacted = {a["id"] for a in records["assets"] if a["id"] in ids and a["@status"] == "IMPACTED"}
    assert impacted and {r["id"] for r in _listing(api, "assetStatus=IMPACTED")} == impacted
    assert {r["id"] for r in _listing(api, "assetStatus=OPERATIONAL")} == ids - impacted
    assert _refused(api, "assetStatus=BROKEN", "assetStatus")


# --- unid grids --------------------------------------------------------------------------------------------------


def test_unid_grids_answer_unid_when_fields_are_sent(unid_api: Api, records: dict[str, list[dict]]) -> None:
    _tpls, ids = _category(records, "asset")
    with_fields = _listing(unid_api, "fields=name,modificationDate")
    assert all("id" not in r for r in with_fields) and {r["unid"] for r in with_fields} == ids
    assert all({"archived", "type_id"} <= set(r) for r in with_fields)
    assert {r["id"] for r in _listing(unid_api, "")} == ids  # the default fields keep "id"
