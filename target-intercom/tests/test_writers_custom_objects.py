"""Custom object instances and links against the Intercom sandbox: upsert, unchanged re-run, update, missing
types, relationship lists on contacts / conversations / instances, and cycles in parent links."""

from __future__ import annotations

import copy
import typing as t
from pathlib import Path

import pytest

from target_intercom import rollback as rb
from target_intercom.capabilities import CheckResult, Verdict, relationship_ids
from target_intercom.client import IntercomError
from topdesk2intercom_testing.target import intercom_sandbox
from topdesk2intercom_testing.target_writers import Harness, contact


@pytest.fixture
def harness(tmp_path: Path):
    with intercom_sandbox(custom_object_types=("Asset", "Reservation")) as sb:
        h = Harness(sb, tmp_path, object_types=("Asset", "Reservation"))
        # relationship attributes are created with the object type in Intercom's UI; the sandbox seeds object
        # types by name only, so the test stands in for the admin (a contact attribute, a conversation attribute)
        h.post("/data_attributes", {"name": "TOPdesk assets", "model": "contact", "data_type": "string"})
        h.post(
            "/conversations/attributes",
            {
                "name": "TOPdesk asset",
                "data_type": "relationship",
                "reference": {"type": "one", "object_type_id": "Asset"},
            },
        )
        yield h
        h.close()


def asset(n: int, name: str | None = None) -> dict:
    return {
        "source_key": f"asset:{n}",
        "object_type": "Asset",
        "external_id": f"a{n}",
        "external_created_at": 1_500_000_000 + n,
        "custom_attributes": {"Name": name or f"PC {n}", "Status": None},
    }


def parent_link(link: int, child: int, parent: int) -> dict:
    return {
        "source_key": f"asset-link:{link}",
        "relationship": "Parent asset",
        "from_kind": "custom_object",
        "from_type": "Asset",
        "to_type": "Asset",
        "refs": {"from": f"asset:{child}", "to": f"asset:{parent}"},
    }


def instances(h: Harness, object_type: str = "Asset") -> dict[str, dict]:
    return {i["external_id"]: i for i in h.ws.custom_objects[object_type].values()}


def test_instances_upsert_rerun_update_and_missing_type(harness: Harness) -> None:
    counts = harness.run(
        (
            "custom_object_instances",
            [
                asset(1),
                asset(2),
                {"source_key": "change:1", "object_type": "Change", "external_id": "c1", "custom_attributes": {}},
            ],
        )
    )
    assert counts["custom_object_instances"] == {"received": 3, "created": 2, "skipped": 1}
    got = instances(harness)
    assert got["a1"]["custom_attributes"] == {"Name": "PC 1"} and got["a1"]["external_created_at"] == 1_500_000_001
    skipped = harness.issues("skipped")
    assert "'Change' does not exist in Intercom" in skipped[0]["reason"]
    counts = harness.run(("custom_object_instances", [asset(1), asset(2)]))
    assert counts["custom_object_instances"] == {"received": 2, "unchanged": 2}
    counts = harness.run(("custom_object_instances", [asset(1, "Laptop 1")]))
    assert counts["custom_object_instances"]["updated"] == 1
    assert len(harness.ws.custom_objects["Asset"]) == 2
    assert instances(harness)["a1"]["custom_attributes"]["Name"] == "Laptop 1"


def test_links_to_contacts_conversations_and_instances(harness: Harness) -> None:
    harness.post("/conversations/attributes", {"name": "Call number", "data_type": "string"})
    links = [
        {
            "source_key": "asset-person:1:p1",
            "relationship": "TOPdesk assets",
            "from_kind": "contact",
            "to_type": "Asset",
            "refs": {"from": "person:p1", "to": "asset:1"},
        },
        {
            "source_key": "asset-person:2:p1",
            "relationship": "TOPdesk assets",
            "from_kind": "contact",
            "to_type": "Asset",
            "refs": {"from": "person:p1", "to": "asset:2"},
        },
        {
            "source_key": "call-asset:9:1",
            "relationship": "TOPdesk asset",
            "from_kind": "conversation",
            "to_type": "Asset",
            "refs": {"from": "call-number:I9", "to": "asset:1"},
        },
        {
            "source_key": "reservation-asset:r1:2",
            "relationship": "Reserved assets",
            "from_kind": "custom_object",
            "from_type": "Reservation",
            "to_type": "Asset",
            "refs": {"from": "reservation:r1", "to": "asset:2"},
        },
    ]
    conversation = {
        "source_key": "call:9",
        "alias_key": "call-number:I9",
        "refs": {"contact": "person:p1"},
        "created_at": 1_600_000_000,
        "body": "help",
        "custom_attributes": {"Call number": "I9"},
    }
    reservation = {
        "source_key": "reservation:r1",
        "object_type": "Reservation",
        "external_id": "r1",
        "custom_attributes": {"Title": "Room"},
    }
    # links first: they wait for both ends (the conversation by its alias, the call number)
    harness.run(
        ("custom_object_links", links),
        ("custom_object_instances", [asset(1), asset(2), reservation]),
        ("conversations", [conversation]),
        ("contacts", [contact("p1")]),
    )
    ids = {k: harness.id_of("custom_object_instances", f"asset:{k}") for k in (1, 2)}
    person = harness.ws.contacts[harness.id_of("contacts", "person:p1")]
    assert sorted(person["custom_attributes"]["TOPdesk assets"]) == sorted([ids[1], ids[2]])
    conv = harness.ws.conversations[harness.id_of("conversations", "call:9")]
    assert conv["custom_attributes"]["TOPdesk asset"] == [ids[1]]
    room = instances(harness, "Reservation")["r1"]
    assert room["custom_attributes"] == {"Title": "Room", "Reserved assets": [ids[2]]}
    assert harness.ledger.waiting() == []
    # the person's asset 2 moves to asset 1 ... and is re-linked: the old target goes, no duplicate
    moved = {**links[1], "refs": {"from": "person:p1", "to": "asset:1"}}
    harness.run(("custom_object_links", [moved]))
    assert person["custom_attributes"]["TOPdesk assets"] == [ids[1]]


def test_parent_links_write_the_acyclic_part_and_report_cycles(harness: Harness) -> None:
    assets = [asset(n) for n in range(1, 7)]
    # 1 <- 2 <- 3 <- 1 is a cycle; 4 <- 5 is a chain; 6 is its own parent
    links = [
        parent_link(10, 2, 1),
        parent_link(11, 3, 2),
        parent_link(12, 1, 3),
        parent_link(13, 5, 4),
        parent_link(14, 6, 6),
    ]
    counts = harness.run(("custom_object_links", links), ("custom_object_instances", assets))
    assert counts["custom_object_links"] == {"received": 5, "created": 3, "skipped": 2}
    got = instances(harness)
    ids = {n: got[f"a{n}"]["id"] for n in range(1, 7)}
    parents = {n: got[f"a{n}"]["custom_attributes"].get("Parent asset") for n in range(1, 7)}
    assert parents[5] == [ids[4]] and parents[6] is None and parents[4] is None
    # of the cycle 1 <- 2 <- 3 <- 1, two links are written; the one that would close it is reported
    # (links are written concurrently: which one comes last can vary)
    written = {n: p for n, p in parents.items() if n in (1, 2, 3) and p}
    assert len(written) == 2
    skipped = {i["source_key"]: i["reason"] for i in harness.issues("skipped")}
    assert set(skipped) - {"asset-link:14"} <= {"asset-link:10", "asset-link:11", "asset-link:12"}
    assert len(skipped) == 2 and "would close a cycle (asset:6 -> asset:6)" in skipped["asset-link:14"]
    cycle_reason = next(r for k, r in skipped.items() if k != "asset-link:14")
    assert all(f"asset:{n}" in cycle_reason for n in (1, 2, 3)) and "would close a cycle" in cycle_reason
    # a re-run reports the same cycle again and writes nothing new
    counts = harness.run(("custom_object_links", links))
    assert counts["custom_object_links"] == {"received": 5, "unchanged": 3, "skipped": 2}
    # breaking the cycle in TOPdesk (3's parent becomes 4) lets the whole chain through
    harness.run(("custom_object_links", [parent_link(10, 2, 1), parent_link(11, 3, 4), parent_link(12, 1, 3)]))
    got = instances(harness)
    assert got["a2"]["custom_attributes"]["Parent asset"] == [ids[1]]
    assert got["a3"]["custom_attributes"]["Parent asset"] == [ids[4]]
    assert got["a1"]["custom_attributes"]["Parent asset"] == [ids[3]]


def test_a_cycle_broken_in_topdesk_is_judged_by_the_new_parent_even_before_it_is_written(harness: Harness) -> None:
    """3 <- 1 and 2 <- 3 are written, 1 <- 2 closed the cycle and was skipped. TOPdesk gives 3 a new parent (4);
    the re-run writes 1 <- 2 first (one at a time, in this order), while 3's link still points at 2: it is not a
    cycle any more, and is written."""
    assets = [asset(n) for n in range(1, 5)]
    harness.run(
        ("custom_object_instances", assets), ("custom_object_links", [parent_link(11, 3, 2), parent_link(12, 1, 3)])
    )
    harness.run(("custom_object_links", [parent_link(10, 2, 1)]))
    assert "would close a cycle" in harness.issues("skipped")[0]["reason"]
    counts = harness.run(
        ("custom_object_links", [parent_link(10, 2, 1), parent_link(12, 1, 3), parent_link(11, 3, 4)]), concurrency=1
    )
    assert counts["custom_object_links"] == {"received": 3, "created": 1, "unchanged": 1, "updated": 1}
    got = instances(harness)
    parents = {n: got[f"a{n}"]["custom_attributes"].get("Parent asset") for n in range(1, 5)}
    assert parents == {1: [got["a3"]["id"]], 2: [got["a1"]["id"]], 3: [got["a4"]["id"]], 4: None}


def test_links_from_tickets_use_the_ticket_types_relationship_attribute(harness: Harness) -> None:
    # the relationship attribute of the ticket type is created in the UI with the object type; here by the API
    ticket_type = harness.post("/ticket_types", {"name": "TOPdesk Call", "category": "Customer"})
    harness.post(
        f"/ticket_types/{ticket_type['id']}/attributes",
        {"name": "TOPdesk asset", "description": "asset", "data_type": "string"},
    )
    ticket = harness.post("/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"email": "a@b.test"}]})
    ctx = harness.context()
    harness.ledger.record_written("tickets", "call:1", str(ticket["id"]), "", ctx.run_id, created=True)
    harness.ledger.record_written("tickets", "call-number:I1", str(ticket["id"]), "", ctx.run_id, created=False)
    link = {
        "source_key": "problem-call:P1:I1",
        "relationship": "TOPdesk asset",
        "from_kind": "ticket",
        "to_type": "Asset",
        "refs": {"from": "call-number:I1", "to": "asset:1"},
    }
    counts = harness.run(("custom_object_links", [link]), ("custom_object_instances", [asset(1)]))
    assert counts["custom_object_links"]["created"] == 1
    stored = harness.ws.tickets[str(ticket["id"])]
    assert harness.id_of("custom_object_instances", "asset:1") in str(stored)


def test_a_link_to_an_instance_of_another_type_is_skipped_with_the_reason(harness: Harness) -> None:
    """A freely definable asset type is its own object type: a relationship to `Asset` cannot hold it, nor can an
    `Asset` parent link start from it. Skipped with the reason (not retried as a failure every run)."""
    vehicle = {
        "source_key": "asset:9",
        "object_type": "Reservation",
        "external_id": "v9",
        "custom_attributes": {"Title": "Van"},
    }  # an instance of another type under the same key family
    links = [
        {
            "source_key": "reservation-asset:r1:9",
            "relationship": "Reserved assets",
            "from_kind": "custom_object",
            "from_type": "Reservation",
            "to_type": "Asset",
            "refs": {"from": "reservation:r1", "to": "asset:9"},
        },
        parent_link(1, 9, 1),
    ]
    reservation = {
        "source_key": "reservation:r1",
        "object_type": "Reservation",
        "external_id": "r1",
        "custom_attributes": {"Title": "Room"},
    }
    counts = harness.run(("custom_object_instances", [asset(1), vehicle, reservation]), ("custom_object_links", links))
    assert counts["custom_object_links"] == {"received": 2, "skipped": 2}
    reasons = sorted(i["reason"] for i in harness.issues("skipped"))
    assert "asset:9 is a Reservation in Intercom, but the relationship 'Parent asset' lives on Asset" in reasons[0]
    assert "asset:9 is a Reservation in Intercom, but the relationship 'Reserved assets' points to Asset" in reasons[1]
    assert "Reserved assets" not in instances(harness, "Reservation")["r1"]["custom_attributes"]


@pytest.mark.parametrize("order", [(3, 1, 2), (2, 3, 1)])
def test_a_relationship_list_is_in_the_same_order_whatever_the_order_of_its_links(
    harness: Harness, order: tuple
) -> None:
    """The same input gives the same workspace, a crashed and resumed run (links written in another order)
    included: a list follows its instances' external ids."""
    link = {
        n: {
            "source_key": f"asset-person:{n}:p1",
            "relationship": "TOPdesk assets",
            "from_kind": "contact",
            "to_type": "Asset",
            "refs": {"from": "person:p1", "to": f"asset:{n}"},
        }
        for n in (1, 2, 3)
    }
    harness.run(
        ("contacts", [contact("p1")]),
        ("custom_object_instances", [asset(n) for n in order]),
        *(("custom_object_links", [link[n]]) for n in order),
        concurrency=1,
    )
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2, 3)]
    person = harness.ws.contacts[harness.id_of("contacts", "person:p1")]
    assert person["custom_attributes"]["TOPdesk assets"] == ids  # a1, a2, a3


def person_link(asset_no: int, person: str = "p1") -> dict:
    return {
        "source_key": f"asset-person:{asset_no}:{person}",
        "relationship": "TOPdesk assets",
        "from_kind": "contact",
        "to_type": "Asset",
        "refs": {"from": f"person:{person}", "to": f"asset:{asset_no}"},
    }


def reserved_link(asset_no: int) -> dict:
    return {
        "source_key": f"reservation-asset:r1:{asset_no}",
        "relationship": "Reserved assets",
        "from_kind": "custom_object",
        "from_type": "Reservation",
        "to_type": "Asset",
        "refs": {"from": "reservation:r1", "to": f"asset:{asset_no}"},
    }


class Sent:
    """The harness client's requests as (method, path), and a lost answer on demand: the request reaches Intercom,
    its answer does not (the client then raises, as after a broken connection)."""

    def __init__(self, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[tuple[str, str]] = []
        self.lose_answer_of: list[tuple[str, str]] = []  # (method, path start): the next such request's answer
        real = harness.client.request

        def request(method: str, path: str, **kwargs: t.Any) -> t.Any:
            self.requests.append((method, path))
            answer = real(method, path, **kwargs)
            lost = [(m, p) for m, p in self.lose_answer_of if m == method and path.startswith(p)]
            if lost:
                self.lose_answer_of.remove(lost[0])
                raise IntercomError("connection broken after the request was sent", ambiguous=True)
            return answer

        monkeypatch.setattr(harness.client, "request", request)

    def to(self, path_start: str) -> list[str]:
        return [method for method, path in self.requests if path.startswith(path_start)]


def test_links_on_a_host_the_run_created_cost_one_request_each(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact, a conversation or an instance this run created holds only what this run's links wrote: no read
    before each write (the floor of the load is one request per link)."""
    sent = Sent(harness, monkeypatch)
    reservation = {"source_key": "reservation:r1", "object_type": "Reservation", "external_id": "r1"}
    reserved = [reserved_link(n) for n in (1, 2)]
    harness.run(
        ("contacts", [contact("p1")]),
        ("custom_object_instances", [asset(1), asset(2), asset(3), reservation]),
        ("custom_object_links", [person_link(3), person_link(1), person_link(2), *reserved]),
        concurrency=1,
    )
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2, 3)]
    person_id = harness.id_of("contacts", "person:p1")
    assert harness.ws.contacts[person_id]["custom_attributes"]["TOPdesk assets"] == ids
    assert instances(harness, "Reservation")["r1"]["custom_attributes"]["Reserved assets"] == ids[:2]
    assert sent.to(f"/contacts/{person_id}") == ["PUT", "PUT", "PUT"]
    assert sent.to("/custom_object_instances/Reservation") == ["POST", "POST", "POST"]  # the create, two links
    assert ("GET", f"/contacts/{person_id}") not in sent.requests


def test_a_host_of_an_earlier_run_is_read_once_and_keeps_what_others_linked(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intercom may hold values the ledger never wrote on a host an earlier run created (an admin linked an asset
    since): the next run reads the list once, keeps them, and then goes by what it wrote."""
    harness.run(("contacts", [contact("p1")]), ("custom_object_instances", [asset(n) for n in (1, 2, 3, 4)]))
    harness.run(("custom_object_links", [person_link(1)]))
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2, 3, 4)]
    person_id = harness.id_of("contacts", "person:p1")
    person = harness.ws.contacts[person_id]
    person["custom_attributes"]["TOPdesk assets"] = [ids[0], ids[3]]  # linked by an admin in Intercom
    sent = Sent(harness, monkeypatch)
    harness.run(("custom_object_links", [person_link(2), person_link(3)]), concurrency=1)
    assert sorted(person["custom_attributes"]["TOPdesk assets"]) == sorted(ids)
    assert sent.to(f"/contacts/{person_id}") == ["GET", "PUT", "PUT"]


def test_after_a_lost_answer_the_host_is_read_again_and_no_link_is_lost(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose answer never came may or may not have been applied: the list is read again before the next
    write on that host, so neither the link retried nor the next one drops the other."""
    sent = Sent(harness, monkeypatch)
    sent.lose_answer_of.append(("PUT", "/contacts/"))  # the first link's write
    counts = harness.run(
        ("contacts", [contact("p1")]),
        ("custom_object_instances", [asset(1), asset(2)]),
        ("custom_object_links", [person_link(1), person_link(2)]),
        concurrency=1,
    )
    assert counts["custom_object_links"]["created"] == 2
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2)]
    person_id = harness.id_of("contacts", "person:p1")
    assert harness.ws.contacts[person_id]["custom_attributes"]["TOPdesk assets"] == ids
    to_person = sent.to(f"/contacts/{person_id}")
    assert to_person[:2] == ["PUT", "GET"] and to_person.count("GET") == 1


def test_an_instance_created_with_its_links_carries_them_and_they_cost_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What one TOPdesk record became is staged at once: a reservation and the links to its assets (written
    before). The reservation's create carries the relationship; the links' own records send nothing. A parent
    link within one type is still written on its own (its cycle is judged per link)."""
    harness.run(("custom_object_instances", [asset(1), asset(2), asset(3)]))
    sent = Sent(harness, monkeypatch)
    reservation = {"source_key": "reservation:r1", "object_type": "Reservation", "external_id": "r1"}
    reserved = [reserved_link(n) for n in (2, 1)]
    counts = harness.run(
        ("custom_object_instances", [reservation, asset(4)]),
        ("custom_object_links", [*reserved, parent_link(1, 4, 3)]),
        together=True,
    )
    assert counts["custom_object_links"] == {"received": 3, "created": 3}
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2, 3)]
    assert instances(harness, "Reservation")["r1"]["custom_attributes"]["Reserved assets"] == ids[:2]
    assert instances(harness)["a4"]["custom_attributes"]["Parent asset"] == [ids[2]]
    assert sent.to("/custom_object_instances/Reservation") == ["POST"]  # the create, with both links
    assert sent.to("/custom_object_instances/Asset") == ["POST", "POST"]  # asset 4, then its parent link
    harness.run(("custom_object_links", [{**reserved[0], "refs": {"from": "reservation:r1", "to": "asset:3"}}]))
    assert instances(harness, "Reservation")["r1"]["custom_attributes"]["Reserved assets"] == [ids[0], ids[2]]


def lacking(*names: str) -> CheckResult:
    """A live check's result where the workspace refused ``names`` (the rest holds)."""
    return CheckResult({}, "", "", verdicts=[Verdict(name, "refused") for name in names])


@pytest.mark.parametrize("created_with_links", [True, False])
def test_a_contact_and_a_ticket_are_created_with_the_links_waiting_for_them(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, created_with_links: bool
) -> None:
    """Assets are synced before persons and calls: their links wait for the contact and the ticket, whose create
    carries them (the links' own records send nothing). Where the live check found creates drop or refuse
    relationships, each link is written after the create, one request each, with the same result."""
    ticket_type = harness.post("/ticket_types", {"name": "TOPdesk Call", "category": "Customer"})
    harness.directory.ticket_type_ids["TOPdesk Call"] = ticket_type["id"]
    harness.post(
        f"/ticket_types/{ticket_type['id']}/attributes",
        {"name": "TOPdesk asset", "description": "asset", "data_type": "string"},
    )
    harness.capabilities = None if created_with_links else lacking("created_with_links")
    harness.run(("custom_object_instances", [asset(1), asset(2)]))
    call_asset = {
        "source_key": "call-asset:1:2",
        "relationship": "TOPdesk asset",
        "from_kind": "ticket",
        "to_type": "Asset",
        "refs": {"from": "call-number:I1", "to": "asset:2"},
    }
    call = {
        "source_key": "call:1",
        "alias_key": "call-number:I1",
        "ticket_type": "TOPdesk Call",
        "created_at": 1_600_000_000,
        "refs": {"contact": "person:p1"},
        "ticket_attributes": {"_default_title_": "Printer"},
    }
    sent = Sent(harness, monkeypatch)
    counts = harness.run(
        ("custom_object_links", [person_link(2), person_link(1)]),  # from the assets: held for the contact
        ("contacts", [contact("p1")]),
        ("tickets", [call]),
        ("custom_object_links", [call_asset]),
        together=True,
    )
    assert counts["custom_object_links"] == {"received": 3, "created": 3}
    ids = [harness.id_of("custom_object_instances", f"asset:{n}") for n in (1, 2)]
    person_id, ticket_id = harness.id_of("contacts", "person:p1"), harness.id_of("tickets", "call:1")
    assert harness.ws.contacts[person_id]["custom_attributes"]["TOPdesk assets"] == ids
    per_link = [] if created_with_links else ["PUT", "PUT"]
    assert sent.to("/contacts") == ["POST", *per_link]
    assert sent.to(f"/tickets/{ticket_id}") == (["PUT"] if not created_with_links else [])
    read = harness.client.request("GET", f"/tickets/{ticket_id}")["ticket_attributes"]["TOPdesk asset"]
    assert relationship_ids(read) == [ids[1]]


def test_a_rollback_puts_back_what_a_run_changed_in_an_earlier_runs_instance(harness: Harness) -> None:
    """The attributes an update changed come back; an attribute it set that was unset before is cleared (issue #19)."""
    harness.run(("custom_object_instances", [asset(1)]))
    before = copy.deepcopy(instances(harness)["a1"])
    changed = asset(1, "Laptop 1")
    changed["custom_attributes"]["Status"] = "In use"
    harness.run(("custom_object_instances", [changed]))
    assert instances(harness)["a1"]["custom_attributes"] == {"Name": "Laptop 1", "Status": "In use"}
    summary = rb.rollback(harness.ledger, harness.client, run_id=harness.run_id, settings={}, progress=False)
    assert summary["entities"]["custom_object_instances"]["restored"] == 1, summary["not_restored"]
    after = instances(harness)["a1"]
    assert after["custom_attributes"] == before["custom_attributes"] == {"Name": "PC 1"}
    assert not summary["not_restorable"]
