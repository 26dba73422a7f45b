"""Assets on each kind of tenant (issue 15, findings 4, 5, 11, 12): stock and bulk items, grids keyed ``unid``, an
asset API before 1.80 (``$filter`` with ``and`` and ``gt``/``lt`` only), ``fields=`` with selectable names only.
Every asset, stock and bulk item and every link arrives: counts equal the dataset's."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import timedelta

import pytest
import requests

from tap_topdesk.client import parse_instant
from tap_topdesk.pagination import Window
from tap_topdesk.streams.assets import asset_date, slug, window_filter
from topdesk2intercom_testing.tap import Run, config, recording, shared_sandbox, sync

SCALE, SEED = 240, 4
ASSETS = "/tas/api/assetmgmt/assets"


@pytest.fixture(scope="module")
def dataset() -> dict[str, list[dict]]:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(SCALE, SEED).records


def _asset_streams(dataset: dict[str, list[dict]]) -> list[str]:
    return [f"assets_{slug(t['text'])}" for t in dataset["asset_templates"]] + ["asset_templates", "asset_links"]


def _traced_sync(url: str, dataset: dict[str, list[dict]]) -> tuple[Run, list[dict[str, list[str]]]]:
    """A sync of the asset streams with small pages, recording the query of every asset grid request."""
    with recording() as sent:
        run = sync(config(url, page_size=7), streams=_asset_streams(dataset))
    # (not the module probe's count, which sends no $filter)
    return run, [s.params for s in sent if s.path == ASSETS and "$filter" in s.params]


def _assert_everything_arrived(run: Run, dataset: dict[str, list[dict]]) -> None:
    per_template = Counter(a["type_id"] for a in dataset["assets"])
    for template in dataset["asset_templates"]:
        stream = f"assets_{slug(template['text'])}"
        records = run.records(stream)
        assert len(records) == per_template[template["id"]], stream
        assert all(r["id"] and r["type_id"] == template["id"] for r in records)
    assert sum(n for s, n in run.counts.items() if s.startswith("assets_")) == len(dataset["assets"])
    assert len(run.records("asset_templates")) == len(dataset["asset_templates"])
    assert len(run.records("asset_links")) == len(dataset["asset_links"])


@pytest.fixture(scope="module")
def default_run(dataset: dict[str, list[dict]]) -> tuple[Run, list[dict[str, list[str]]]]:
    return _traced_sync(shared_sandbox(scale=SCALE, seed=SEED, strict=True), dataset)


def test_stock_and_bulk_items_arrive(default_run: tuple, dataset: dict[str, list[dict]]) -> None:
    """Finding 5: ``/templates`` and ``/assets`` list the ``asset`` category unless asked for another."""
    run, seen = default_run
    categories = {t.get("_resourceCategory", "asset") for t in dataset["asset_templates"]}
    assert categories == {"asset", "stock", "bulkItem"}
    _assert_everything_arrived(run, dataset)
    assert {q.get("resourceCategory", ["asset"])[0] for q in seen} == categories
    assert "asset" not in {q.get("resourceCategory", [""])[0] for q in seen}  # the default, left out
    stock = next(t for t in dataset["asset_templates"] if t.get("_resourceCategory") == "stock")
    assert run.records(f"assets_{slug(stock['text'])}")


def test_fields_are_documented_names_only(default_run: tuple, dataset: dict[str, list[dict]]) -> None:
    """Finding 11: ``fields=`` names only what the description lists (no ``archived``, ``@etag``, ``type_id``,
    ``@status``); ``archived`` and ``@status`` still arrive, from the documented ``archived`` and ``assetStatus``
    filters, and ``type_id`` is the template the stream lists."""
    run, seen = default_run
    user_defined = {f["key"] for card in dataset["asset_cardtypes"] for f in card["fields"]}
    asked = {name for q in seen for name in q["fields"][0].split(",")}
    documented = {"name", "modificationDate", "creationDate", "@type", "@@summary", "@assignments"}
    assert asked and asked <= documented | user_defined
    assert {q["archived"][0] for q in seen if "archived" in q} == {"true"}
    assert {q["assetStatus"][0] for q in seen if "assetStatus" in q} == {"IMPACTED"}
    emitted = {r["id"]: r for s in run.counts if s.startswith("assets_") for r in run.records(s)}
    assert {i: (r["archived"], r["@status"], r["type_id"]) for i, r in emitted.items()} == {
        a["id"]: (a["archived"], a["@status"], a["type_id"]) for a in dataset["assets"]
    }
    assert any(a["archived"] for a in dataset["assets"]) and any(a["@status"] == "IMPACTED" for a in dataset["assets"])


def test_filters_use_and_with_gt_lt_only(default_run: tuple) -> None:
    """Finding 12: no ``or``, no parentheses, no ``ge``/``le``/``eq`` on dates, on any asset API version."""
    _run, seen = default_run
    filters = [q["$filter"][0] for q in seen]
    assert filters
    for text in filters:
        words = text.split()
        assert "or" not in words and "(" not in text
        assert all(
            op in ("gt", "lt", "isEmpty") for field, op in itertools.pairwise(words) if field == "modificationDate"
        )


def test_old_asset_api_filters(dataset: dict[str, list[dict]]) -> None:
    """Finding 12 on a tenant with an asset API before 1.80: every record still arrives."""
    run, _seen = _traced_sync(
        shared_sandbox(scale=SCALE, seed=SEED, strict=True, variants=frozenset({"assets-old-filters"})), dataset
    )
    _assert_everything_arrived(run, dataset)


def test_unid_grids(dataset: dict[str, list[dict]]) -> None:
    """Finding 4: a grid that answers ``unid`` when ``fields=`` is sent; renamed before the windowed reader keys
    by id, so windows neither collapse nor split."""
    run, _seen = _traced_sync(
        shared_sandbox(scale=SCALE, seed=SEED, strict=True, variants=frozenset({"asset-grids-unid"})), dataset
    )
    _assert_everything_arrived(run, dataset)
    ids = {r["id"] for s in run.counts if s.startswith("assets_") for r in run.records(s)}
    assert ids == {a["id"] for a in dataset["assets"]}
    assert not any("unid" in r for s in run.counts if s.startswith("assets_") for r in run.records(s))


def test_inclusive_window_start_holds_a_record_dated_exactly_there(dataset: dict[str, list[dict]]) -> None:
    """``gt`` one millisecond before an inclusive start is ``ge`` the start: the record dated there is listed."""
    url = shared_sandbox(scale=SCALE, seed=SEED, strict=True, variants=frozenset({"assets-old-filters"}))
    plain = {t["id"] for t in dataset["asset_templates"] if "_resourceCategory" not in t}
    asset = next(a for a in dataset["assets"] if a["type_id"] in plain and a.get("modificationDate"))
    start = parse_instant(asset["modificationDate"])
    window = Window(start, start + timedelta(days=1), True)
    body = requests.get(
        url + ASSETS,
        params={"templateId": asset["type_id"], "$filter": window_filter(window), "pageSize": 1000},
        headers={"Accept": "application/x.topdesk-am-assets-v2+json"},
        auth=(config(url)["username"], config(url)["app_password"]),
        timeout=30,
    ).json()
    assert asset["id"] in {r["id"] for r in body["dataSet"]}
    exclusive = window_filter(Window(start, start + timedelta(days=1), False))
    assert exclusive.startswith(f"modificationDate gt '{asset_date(start)}' and ")


def test_an_api_without_resource_categories_still_lists_its_assets() -> None:
    """Before asset API 1.40.0 ``/templates`` had no ``resourceCategory``: a 400 for stock and bulk items leaves the
    asset templates (requested without the parameter, its default)."""
    from singer_sdk.exceptions import FatalAPIError

    from tap_topdesk.concurrency import RequestPool
    from tap_topdesk.streams.assets import templates_by_category

    class OldApi:
        logger = logging.getLogger("test")
        pool = RequestPool(2)

        def get(self, path: str, params: dict, context: object = None) -> dict:
            if params:
                raise FatalAPIError("400 Bad Request for asset_templates at /tas/api/assetmgmt/templates")
            return {"dataSet": [{"id": "A", "text": "Computer"}]}

        @staticmethod
        def body(response: dict) -> dict:
            return response

    assert list(templates_by_category(OldApi())) == [("asset", {"id": "A", "text": "Computer"})]  # type: ignore[arg-type]
