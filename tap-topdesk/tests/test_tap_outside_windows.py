"""Records outside every modificationDate window (undated, before the 2000 floor, in the future) are read by one
extra listing, named in a warning, and leave the bookmark alone: a migration must not lose them silently."""

from __future__ import annotations

import logging

import pytest

from topdesk2intercom_testing.tap import admin, config, start_sandbox, sync

FUTURE, ANCIENT = "2030-01-01T00:00:00.000+0000", "1995-06-01T12:00:00.000+0000"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private sandbox (the delta test changes a person) whose dataset has persons, a call and assets dated
    outside every window; returns their ids by role and ``url``."""
    from topdesk_sandbox.generator import build_dataset, write_dataset

    dataset = build_dataset(5, 3)
    records = dataset.records
    persons = records["persons"]
    persons[0]["modificationDate"] = None
    del persons[1]["modificationDate"]
    persons[2]["modificationDate"] = FUTURE
    persons[3]["modificationDate"] = ANCIENT
    with_trail = {entry["_incidentId"] for entry in records["incident_progresstrail"]}
    call = next(c for c in records["incidents"] if c["id"] in with_trail)
    call["modificationDate"] = None
    records["operators"][0]["modificationDate"] = None
    records["branches"][0]["modificationDate"] = ANCIENT
    records["assets"][0]["modificationDate"] = None
    records["assets"][1]["modificationDate"] = "2030-01-01T00:00:00.000"
    out = tmp_path_factory.mktemp("outside-windows")
    write_dataset(dataset, out)
    return {
        "url": start_sandbox(data_dir=out),
        "null": persons[0]["id"],
        "missing": persons[1]["id"],
        "future": persons[2]["id"],
        "ancient": persons[3]["id"],
        "later": persons[4]["id"],
        "call": call["id"],
        "operator_null": records["operators"][0]["id"],
        "branch_ancient": records["branches"][0]["id"],
        "asset_null": records["assets"][0]["id"],
        "asset_future": records["assets"][1]["id"],
    }


def _warnings(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def test_persons_outside_every_window_arrive_named_and_leave_the_bookmark_alone(
    planted: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(planted["url"])
    with caplog.at_level(logging.WARNING):
        first = sync(cfg, streams=["persons"])
    ids = [r["id"] for r in first.records("persons")]
    outside = [planted[k] for k in ("null", "missing", "future", "ancient")]
    assert all(ids.count(i) == 1 for i in outside)
    warned = _warnings(caplog)
    assert f"persons {planted['null']}: modificationDate is empty: read outside the windows" in warned
    assert f"persons {planted['missing']}: modificationDate is empty" in warned
    assert f"persons {planted['future']}: modificationDate {FUTURE} is in the future" in warned
    assert f"persons {planted['ancient']}: modificationDate {ANCIENT} is before 2000-01-01" in warned
    assert "Stream 'persons': 4 records outside every window" in warned
    bookmark = first.state["bookmarks"]["persons"]["replication_key_value"]
    dated = [r["modificationDate"] for r in first.records("persons") if r["id"] not in outside]
    assert bookmark == max(dated) < "2030"

    admin(planted["url"], "PATCH", f"persons/{planted['later']}", json={"jobTitle": "changed after the first sync"})
    second = sync(cfg, state=first.state, streams=["persons"])
    # besides the changed and the future person: the bookmark's own second, read again (whole-second timestamps)
    again = {r["id"] for r in second.records("persons") if r.get("modificationDate") == bookmark}
    assert again and {r["id"] for r in first.records("persons") if r.get("modificationDate") == bookmark} == again
    assert sorted(r["id"] for r in second.records("persons") if r["id"] not in again) == sorted(
        [planted["later"], planted["future"]]
    )


def test_an_undated_call_arrives_with_its_progress_trail(planted: dict[str, str]) -> None:
    run = sync(config(planted["url"]), streams=["incidents", "incident_progress_trail"])
    assert planted["call"] in {r["id"] for r in run.records("incidents")}
    assert any(r["incident_id"] == planted["call"] for r in run.records("incident_progress_trail"))


def test_with_a_start_date_older_records_stay_out_but_future_ones_arrive(planted: dict[str, str]) -> None:
    """``start_date`` is the user excluding what came before it (undated records included)."""
    run = sync(config(planted["url"], start_date="2001-01-01T00:00:00Z"), streams=["persons"])
    ids = {r["id"] for r in run.records("persons")}
    assert planted["future"] in ids
    assert not {planted["ancient"], planted["null"], planted["missing"]} & ids


def test_undated_and_future_assets_arrive(planted: dict[str, str]) -> None:
    run = sync(config(planted["url"]))
    ids = [m["record"]["id"] for m in run.messages if m["type"] == "RECORD" and m["stream"].startswith("assets_")]
    assert ids.count(planted["asset_null"]) == ids.count(planted["asset_future"]) == 1


def test_small_lists_read_undated_and_ancient_records_on_a_first_sync(planted: dict[str, str]) -> None:
    """Operators and branches are small lists filtered by one FIQL date condition: on a first sync it also admits
    what a date range cannot hold."""
    run = sync(config(planted["url"]), streams=["operators", "branches"])
    assert planted["operator_null"] in {r["id"] for r in run.records("operators")}
    assert planted["branch_ancient"] in {r["id"] for r in run.records("branches")}
