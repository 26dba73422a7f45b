"""Custom objects, articles and collections, tags, data attributes, seeds, admin API, faults and latency."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from intercom_sandbox_testkit import ADMIN_ID, TOKEN, Sandbox, SandboxFactory


def test_custom_object_upsert_is_idempotent(sandbox: Sandbox) -> None:
    first = sandbox.ok(
        "POST",
        "/custom_object_instances/Asset",
        {"external_id": "A-1", "external_created_at": 1_500_000_000, "custom_attributes": {"name": "Laptop"}},
    )
    again = sandbox.ok(
        "POST", "/custom_object_instances/Asset", {"external_id": "A-1", "custom_attributes": {"serial": "XYZ"}}
    )
    assert again["id"] == first["id"] and first["type"] == "Asset"
    assert (
        again["custom_attributes"] == {"name": "Laptop", "serial": "XYZ"}
        and again["external_created_at"] == 1_500_000_000
    )
    assert sandbox.ok("GET", "/custom_object_instances/Asset", params={"external_id": "A-1"})["id"] == first["id"]
    assert sandbox.ok("GET", f"/custom_object_instances/Asset/{first['id']}")["external_id"] == "A-1"
    assert sandbox.ok("GET", "/custom_object_instances/Asset/A-1")["id"] == first["id"]
    listed = sandbox.ok("GET", "/custom_object_instances/Asset", params={"per_page": 10})
    assert listed["total_count"] == 1 and listed["data"][0]["id"] == first["id"]
    old = sandbox.get("/custom_object_instances/Asset", headers={"Intercom-Version": "2.14"})
    assert old.status_code == 400  # 2.14 has no list mode
    unknown = sandbox.post("/custom_object_instances/Order", {"external_id": "1"})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "not_found"
    deleted = sandbox.ok("DELETE", "/custom_object_instances/Asset", params={"external_id": "A-1"})
    assert deleted == {"id": first["id"], "object": "Asset", "deleted": True}
    assert sandbox.get(f"/custom_object_instances/Asset/{first['id']}").status_code == 404


def test_articles_need_an_admin_author(sandbox: Sandbox) -> None:
    collection = sandbox.ok("POST", "/help_center/collections", {"name": "Printers", "description": "How-tos"})
    child = sandbox.ok("POST", "/help_center/collections", {"name": "Laser", "parent_id": collection["id"]})
    assert child["parent_id"] == collection["id"] and collection["help_center_id"] == 1
    assert (
        sandbox.post("/help_center/collections", {"description": "x"}).json()["errors"][0]["message"]
        == "Name is a required parameter."
    )
    no_author = sandbox.post("/articles", {"title": "Reset", "author_id": 12345})
    assert no_author.status_code == 400
    assert (
        no_author.json()["errors"][0]["message"]
        == "author_id must be in the main body or default locale translated_content object"
    )
    article = sandbox.ok(
        "POST",
        "/articles",
        {
            "title": "Reset the printer",
            "body": "Turn it off",
            "author_id": int(ADMIN_ID),
            "state": "published",
            "parent_id": int(collection["id"]),
            "parent_type": "collection",
        },
    )
    assert article["parent_ids"] == [int(collection["id"])] and article["body"] == "<p>Turn it off</p>"
    old = sandbox.get(f"/articles/{article['id']}", headers={"Intercom-Version": "2.14"}).json()
    assert old["parent_id"] == int(collection["id"]) and "parent_ids" not in old
    updated = sandbox.ok("PUT", f"/articles/{article['id']}", {"title": "Reset it"})
    assert updated["title"] == "Reset it" and updated["state"] == "published"
    assert sandbox.ok("GET", "/articles")["total_count"] == 1
    assert sandbox.ok("GET", "/help_center/collections")["total_count"] == 2
    assert sandbox.ok("PUT", f"/help_center/collections/{child['id']}", {"name": "Inkjet"})["name"] == "Inkjet"
    assert sandbox.ok("GET", "/help_center/help_centers")["data"][0]["default"] is True
    assert sandbox.ok("DELETE", f"/articles/{article['id']}") == {
        "id": article["id"],
        "object": "article",
        "deleted": True,
    }
    assert sandbox.get(f"/articles/{article['id']}").json()["errors"][0]["message"] == "Resource Not Found"
    assert sandbox.ok("DELETE", f"/help_center/collections/{child['id']}")["deleted"] is True


def test_tags_are_idempotent_and_case_insensitive(sandbox: Sandbox) -> None:
    tag = sandbox.ok("POST", "/tags", {"name": "Hardware"})
    assert tag["id"].isdigit()
    assert sandbox.ok("POST", "/tags", {"name": "hardware"})["id"] == tag["id"]
    assert [t["name"] for t in sandbox.ok("GET", "/tags")["data"]] == ["Hardware"]
    assert sandbox.ok("GET", f"/tags/{tag['id']}") == {"type": "tag", "id": tag["id"], "name": "Hardware"}
    assert sandbox.post("/tags", {}).json()["errors"][0] == {
        "code": "parameter_invalid",
        "message": "invalid tag parameters",
    }
    assert sandbox.delete(f"/tags/{tag['id']}").status_code == 200
    assert sandbox.get(f"/tags/{tag['id']}").status_code == 404


def test_data_attributes(sandbox: Sandbox) -> None:
    created = sandbox.ok(
        "POST",
        "/data_attributes",
        {"name": "department", "model": "contact", "data_type": "string", "description": "TOPdesk department"},
    )
    assert created["full_name"] == "custom_attributes.department" and created["custom"] is True
    duplicate = sandbox.post("/data_attributes", {"name": "department", "model": "company", "data_type": "string"})
    assert (
        duplicate.status_code == 400
        and "You already have 'department' in your people data" in duplicate.json()["errors"][0]["message"]
    )
    assert (
        sandbox.post("/data_attributes", {"name": "x", "model": "contact", "data_type": "text"}).json()["errors"][0][
            "message"
        ]
        == "Data Type isn't an option"
    )
    archived = sandbox.ok("PUT", f"/data_attributes/{created['id']}", {"archived": True})
    assert archived["archived"] is True
    assert all(
        a["name"] != "department" for a in sandbox.ok("GET", "/data_attributes", params={"model": "contact"})["data"]
    )
    missing = sandbox.put("/data_attributes/9999", {"archived": True})
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "field_not_found"
    attr = sandbox.ok(
        "POST",
        "/conversations/attributes",
        {"name": "priority_td", "data_type": "list", "options": [{"label": "P1"}, {"label": "P2"}]},
    )
    assert [o["label"] for o in attr["options"]] == ["P1", "P2"]
    assert sandbox.ok("GET", f"/conversations/attributes/{attr['id']}")["id"] == attr["id"]
    assert len(sandbox.ok("GET", "/conversations/attributes")["data"]) == 1


def test_seeded_admins_teams_and_admin_api(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    admins = tmp_path / "admins.json"
    admins.write_text(
        json.dumps(
            [
                {"id": "11", "name": "Op One", "email": "op1@example.com"},
                {"id": "12", "name": "Op Two", "email": "op2@example.com"},
            ]
        )
    )
    teams = tmp_path / "teams.json"
    teams.write_text(json.dumps([{"id": "501", "name": "Service Desk", "admin_ids": ["11", "12"]}]))
    sandbox = make_sandbox(admins_file=admins, teams_file=teams)
    assert sandbox.ok("GET", "/me")["id"] == "11"
    assert [a["email"] for a in sandbox.ok("GET", "/admins")["admins"]] == ["op1@example.com", "op2@example.com"]
    assert sandbox.ok("GET", "/admins/12")["team_ids"] == [501]
    assert sandbox.get("/admins/99").json()["errors"][0] == {"code": "admin_not_found", "message": "Admin not found"}
    assert sandbox.ok("GET", "/teams")["teams"][0]["admin_ids"] == [11, 12]
    assert sandbox.get("/teams/1").json()["errors"][0]["code"] == "team_not_found"
    sandbox.contact(email="stat@example.com")
    health = httpx.get(f"{sandbox.url}/__sandbox/health")
    assert health.json() == {"status": "ok"} and "x-ratelimit-limit" not in health.headers
    stats = httpx.get(f"{sandbox.url}/__sandbox/stats").json()
    assert stats["objects"]["contacts"] == 1 and stats["requests_served"] >= 7
    export = httpx.get(f"{sandbox.url}/__sandbox/export").json()
    assert export["contacts"][0]["email"] == "stat@example.com"
    assert httpx.post(f"{sandbox.url}/__sandbox/reset").status_code == 200
    assert httpx.get(f"{sandbox.url}/__sandbox/stats").json()["objects"]["contacts"] == 0


def test_fault_rate_one_breaks_every_request(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(fault_rate=1.0, fault_seed=7)
    statuses, resets = [], 0
    for _ in range(20):
        try:
            response = httpx.get(f"{sandbox.url}/me", headers={"Authorization": f"Bearer {TOKEN}"})
            statuses.append(response.status_code)
        except httpx.HTTPError:
            resets += 1
    assert resets > 0 and statuses and all(s in (500, 502, 503) for s in statuses)
    assert httpx.get(f"{sandbox.url}/__sandbox/health").status_code == 200  # admin paths are never faulted


@pytest.mark.parametrize("latency_ms", [150])
def test_latency_is_applied(make_sandbox: SandboxFactory, latency_ms: int) -> None:
    sandbox = make_sandbox(latency_ms=latency_ms)
    started = time.perf_counter()
    sandbox.ok("GET", "/me")
    assert time.perf_counter() - started >= latency_ms / 1000
    started = time.perf_counter()
    httpx.get(f"{sandbox.url}/__sandbox/health")
    assert time.perf_counter() - started < latency_ms / 1000


def test_unknown_path_is_intercom_404(sandbox: Sandbox) -> None:
    response = sandbox.get("/segments_nope")
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "not_found"


def test_cli_serves_with_seeds(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    admins = tmp_path / "admins.json"
    admins.write_text(json.dumps([{"id": "7", "name": "Seven", "email": "seven@example.com"}]))
    command = [sys.executable, "-m", "intercom_sandbox.cli", "serve", "--port", str(port), "--token", "cli-token"]
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps([{"name": "Order", "relationships": [{"name": "orders", "from": ["contact"]}]}]))
    command += ["--rate-limit", "600", "--admins", str(admins), "--custom-object-types", "Asset, Change"]
    command += ["--custom-objects", str(objects)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/__sandbox/health")
                break
            except httpx.HTTPError:
                assert time.time() < deadline and process.poll() is None, (
                    process.stderr.read() if process.stderr else ""
                )
                time.sleep(0.1)
        # only admin paths here: API exchanges are validated against the spec in-process, not in a subprocess
        stats = httpx.get(f"http://127.0.0.1:{port}/__sandbox/stats").json()
        assert stats["window_budget"] == 100
        export = httpx.get(f"http://127.0.0.1:{port}/__sandbox/export").json()
        assert [a["id"] for a in export["admins"]] == ["7"]
        assert sorted(export["custom_object_instances"]) == ["Asset", "Change", "Order"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_absolute_next_urls_point_back_to_the_sandbox(sandbox: Sandbox) -> None:
    for i in range(5):
        sandbox.ok("POST", "/custom_object_instances/KnownError", {"external_id": f"KE-{i}"})
    seen: list[str] = []
    page = sandbox.ok("GET", "/custom_object_instances/KnownError", params={"per_page": 2})
    while True:
        seen += [i["external_id"] for i in page["data"]]
        next_url = page["pages"]["next"]
        if not next_url:
            break
        assert next_url.startswith(sandbox.url)
        page = sandbox.ok("GET", next_url)
    assert sorted(seen) == [f"KE-{i}" for i in range(5)]


def test_admin_edit_plays_a_teammate_changing_a_record(sandbox: Sandbox) -> None:
    """``PATCH /__sandbox/records/...``: fields merged into the stored record (null removes one, an object merges one
    level), parts and custom object instances too; what the public API then answers shows the edit."""
    contact = sandbox.ok("POST", "/contacts", {"role": "user", "email": "a@x.example", "name": "Ann", "phone": "1"})
    url = f"{sandbox.url}/__sandbox/records"
    edited = httpx.patch(f"{url}/contacts/{contact['id']}", json={"name": "Anne", "phone": None})
    assert edited.status_code == 200 and edited.json()["name"] == "Anne" and "phone" not in edited.json()
    read = sandbox.ok("GET", f"/contacts/{contact['id']}")
    assert read["name"] == "Anne" and not read.get("phone")
    instance = sandbox.ok(
        "POST", "/custom_object_instances/Asset", {"external_id": "A-1", "custom_attributes": {"name": "L", "s": "1"}}
    )
    patch = httpx.patch(f"{url}/custom_object_instances/Asset/{instance['id']}", json={"custom_attributes": {"s": "2"}})
    assert patch.json()["custom_attributes"] == {"name": "L", "s": "2"}
    assert httpx.patch(f"{url}/contacts/nope", json={"name": "x"}).status_code == 404
    assert httpx.patch(f"{url}/admins/{ADMIN_ID}", json={"name": "x"}).status_code == 404  # not an editable collection
    assert httpx.patch(f"{url}/contacts/{contact['id']}", json=["not", "an", "object"]).status_code == 400
