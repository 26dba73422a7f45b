"""IntercomClient against the in-process Intercom sandbox: auth, versions, error envelopes, retries, pagination."""

from __future__ import annotations

import logging
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from target_intercom.client import IntercomClient, IntercomError
from topdesk2intercom_testing.target import intercom_sandbox


def test_auth_and_version_headers() -> None:
    # the app's default version (used without a header) differs from what the client asks for
    with intercom_sandbox(default_version="2.14") as sb, sb.client() as client:
        me = client.request("GET", "/me")
        assert me["type"] == "admin" and me["id"] == "991267459"
        # 2.16 (the client's default header) refuses model=conversation; 2.14 (per-request override) lists them
        with pytest.raises(IntercomError) as refused:
            client.request("GET", "/data_attributes", params={"model": "conversation"})
        assert (refused.value.status, refused.value.code) == (422, "parameter_invalid")
        listed = client.request("GET", "/data_attributes", params={"model": "conversation"}, version="2.14")
        assert listed["type"] == "list"
        with pytest.raises(IntercomError) as bad_version:
            client.request("GET", "/me", version="9.99")
        assert (bad_version.value.status, bad_version.value.code) == (400, "intercom_version_invalid")


def test_wrong_token_is_401_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    with intercom_sandbox() as sb:
        secret = "wrong-token-s3cr3t-value"
        caplog.set_level(logging.DEBUG)
        with IntercomClient(sb.url, secret) as client:
            with pytest.raises(IntercomError) as caught:
                client.request("GET", "/me")
            error = caught.value
            assert (error.status, error.code, error.message) == (401, "unauthorized", "Access Token Invalid")
            assert error.request_id and not error.ambiguous
            for text in (str(error), repr(error), repr(client), str(client.stats), caplog.text):
                assert secret not in text
            assert "GET /me -> 401" in caplog.text  # the one DEBUG line per request


def test_a_netrc_entry_for_the_host_never_replaces_the_token(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests would send ~/.netrc's login as Basic auth instead of the Bearer token (a 401 for a user who keeps
    one for the host); the client reads the environment once and never consults netrc."""
    with intercom_sandbox() as sb:
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login someone password something\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        with sb.client() as client:
            assert client.request("GET", "/me")["type"] == "admin"


def test_404_and_409_envelopes() -> None:
    with intercom_sandbox() as sb, sb.client() as client:
        with pytest.raises(IntercomError) as missing:
            client.request("GET", "/contacts/000000000000000000000000")
        assert (missing.value.status, missing.value.code, missing.value.message) == (404, "not_found", "User Not Found")
        assert missing.value.body["type"] == "error.list"
        created = client.request("POST", "/contacts", json={"email": "twice@example.com", "role": "user"})
        with pytest.raises(IntercomError) as duplicate:
            client.request("POST", "/contacts", json={"email": "twice@example.com", "role": "user"})
        error = duplicate.value
        assert (error.status, error.code, error.ambiguous) == (409, "conflict", False)
        assert re.search(r"id=([0-9a-f]{24})", error.message).group(1) == created["id"]  # type: ignore[union-attr]
        assert client.stats["retries"] == 0


def test_idempotent_requests_survive_faults(caplog: pytest.LogCaptureFixture) -> None:
    """25% of answers are 500/502/503 or a connection cut mid-body: every GET still succeeds through retries."""
    with intercom_sandbox(fault_rate=0.25, fault_seed=7) as sb:
        caplog.set_level(logging.WARNING, logger="target_intercom.client")
        with sb.client(max_retries=10, concurrency=8) as client:
            client.backoff_factor = 0.005
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(lambda _: client.request("GET", "/me"), range(200)))
            assert all(answer["type"] == "admin" for answer in answers)
            stats = client.stats
        assert stats["retries"] == stats["requests_sent"] - 200 > 20
        assert sb.stats()["requests_served"] == stats["requests_sent"]  # every attempt reached the server
        warnings = caplog.text
        assert re.search(r"GET /me: 50[023] ", warnings)  # 5xx retried
        assert "ProtocolError after the request was sent" in warnings  # connection cut retried


def test_non_idempotent_post_fault_is_ambiguous() -> None:
    """Every answer is a fault: a create is never resent (it may have been applied), an upsert is retried."""
    with intercom_sandbox(fault_rate=1.0, fault_seed=3) as sb:
        with sb.client(max_retries=2) as client:
            client.backoff_factor = 0.005
            statuses = set()
            for number in range(8):
                with pytest.raises(IntercomError) as caught:
                    client.request("POST", "/contacts", json={"email": f"c{number}@example.com"})
                assert caught.value.ambiguous
                statuses.add(caught.value.status)
            assert client.stats["requests_sent"] == 8 and client.stats["retries"] == 0
            assert None in statuses and statuses - {None} <= {500, 502, 503} and len(statuses) > 1  # cuts and 5xx

            with pytest.raises(IntercomError) as upsert:
                client.request("POST", "/companies", json={"company_id": "c1", "name": "C"}, idempotent=True)
            assert upsert.value.ambiguous and client.stats["requests_sent"] == 8 + 3  # 1 + max_retries
            with pytest.raises(IntercomError) as read:
                client.request("GET", "/me")
            assert not read.value.ambiguous  # a read cannot have changed anything
        assert sb.workspace.counts().get("contacts", 0) == 0


def test_a_request_that_cannot_be_built_frees_its_pacer_slot() -> None:
    """Without the release the next request would wait forever: the pacer lets one request out before the first
    answer."""
    with intercom_sandbox() as sb, sb.client() as client:
        with pytest.raises(TypeError):
            client.request("POST", "/contacts", json={"email": object()})
        result: list[dict] = []
        worker = threading.Thread(target=lambda: result.append(client.request("GET", "/me")), daemon=True)
        worker.start()
        worker.join(5)
        assert result and result[0]["type"] == "admin"


def test_connection_refused_is_retried_even_for_post() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with IntercomClient(f"http://127.0.0.1:{port}", "t", max_retries=2) as client:
        client.backoff_factor = 0.005
        with pytest.raises(IntercomError) as caught:
            client.request("POST", "/contacts", json={"email": "x@example.com"})
        assert caught.value.status is None and not caught.value.ambiguous
        assert "before the request was sent" in caught.value.message
        assert client.stats["requests_sent"] == 3


def test_paginate_all_styles() -> None:
    with intercom_sandbox() as sb, sb.client() as client:
        ids = {client.request("POST", "/contacts", json={"email": f"page{n}@example.com"})["id"] for n in range(7)}
        sent = client.stats["requests_sent"]
        listed = list(client.paginate("/contacts", params={"per_page": 3}))  # cursor objects
        assert [c["id"] for c in listed if c["id"] in ids] == [c["id"] for c in listed] and len(listed) == 7
        assert {c["id"] for c in listed} == ids and client.stats["requests_sent"] - sent == 3

        owner = min(ids)
        for n in range(4):
            company = client.request(
                "POST", "/companies", json={"company_id": f"co{n}", "name": f"Co {n}"}, idempotent=True
            )
            client.request("POST", f"/contacts/{owner}/companies", json={"id": company["id"]}, idempotent=True)
        attached = list(client.paginate(f"/contacts/{owner}/companies", params={"per_page": 3}))  # next = URL
        assert sorted(c["company_id"] for c in attached) == ["co0", "co1", "co2", "co3"]
        companies = list(client.paginate("/companies", params={"per_page": 3}))  # next = page object
        assert sorted(c["company_id"] for c in companies) == ["co0", "co1", "co2", "co3"]

        assert [a["id"] for a in client.paginate("/admins")] == ["991267459", "991267460"]  # no pages, "admins"
        assert list(client.paginate("/teams")) == []
        client.request(
            "POST", "/data_attributes", json={"name": "topdesk_id", "model": "contact", "data_type": "string"}
        )
        attributes = list(client.paginate("/data_attributes", params={"model": "contact"}))
        assert "topdesk_id" in {a["name"] for a in attributes}


def test_search_walks_pages() -> None:
    with intercom_sandbox() as sb, sb.client() as client:
        wanted = {client.request("POST", "/contacts", json={"email": f"found{n}@example.com"})["id"] for n in range(7)}
        client.request("POST", "/contacts", json={"email": "other@example.org"})
        sent = client.stats["requests_sent"]
        query = {"field": "email", "operator": "~", "value": "found"}
        found = list(client.search("/contacts/search", query, per_page=3))
        assert len(found) == 7 and {c["id"] for c in found} == wanted
        assert client.stats["requests_sent"] - sent == 3
        assert list(client.search("/tickets/search", {"field": "open", "operator": "=", "value": True})) == []
