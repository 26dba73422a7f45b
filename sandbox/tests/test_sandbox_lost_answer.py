"""Lost answers: the request is handled (a write is applied) and then its answer never arrives intact, a gateway
5xx or a body cut mid-way. Unlike ``fault_rate`` (which fails before the handler), this is the fault that makes a
client face "did my create happen?"."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from urllib3.exceptions import IncompleteRead, ProtocolError

from sandbox_common.faults import LOST_ANSWER_STATUSES, FaultInjectionMiddleware
from sandbox_common.server import ServerThread

BROKEN = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)


def make_app(**kwargs) -> tuple[FaultInjectionMiddleware, list[int]]:
    """An app whose POST appends to a list (the "write") and answers the new length."""
    writes: list[int] = []

    async def create(request):
        writes.append(len(writes) + 1)
        return JSONResponse({"id": writes[-1], "padding": "x" * 200})

    async def ok(request):
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/things", create, methods=["POST"]), Route("/__sandbox/health", ok)])
    errors = lambda status: JSONResponse({"errors": [{"code": "gateway"}]}, status_code=status)  # noqa: E731
    return FaultInjectionMiddleware(app, error_response=errors, seed=5, **kwargs), writes


def outcome(url: str) -> str | int:
    try:
        response = requests.post(f"{url}/api/things", timeout=5)
    except BROKEN:
        return "cut"
    return response.status_code


def test_every_answer_is_lost_at_rate_one_but_every_write_happens() -> None:
    app, writes = make_app(lost_answer_rate=1.0)
    with ServerThread(app) as server:
        seen = Counter(outcome(server.url) for _ in range(40))
    assert len(writes) == 40  # the handler ran every time
    assert set(seen) <= {*LOST_ANSWER_STATUSES, "cut"}
    assert seen["cut"] and sum(seen[s] for s in LOST_ANSWER_STATUSES)  # both kinds of loss
    assert app.stats["lost_error"] + app.stats["lost_cut"] == 40
    assert app.stats["lost_cut"] == seen["cut"]


def test_a_cut_answer_carries_the_real_status_and_half_the_real_body() -> None:
    app, _writes = make_app(lost_answer_rate=1.0)
    with ServerThread(app) as server:
        for _ in range(20):
            response = requests.post(f"{server.url}/api/things", stream=True, timeout=5)
            if response.status_code != 200:
                continue
            declared = int(response.headers["content-length"])
            raw = b""
            with pytest.raises((ProtocolError, IncompleteRead)):  # the body ends short of its content-length
                for chunk in response.raw.stream(64, decode_content=False):
                    raw += chunk
            assert raw and len(raw) < declared and raw.startswith(b'{"id":')
            return
    pytest.fail("no cut answer in 20 requests")


def test_lost_answers_are_drawn_at_about_the_given_rate() -> None:
    app, writes = make_app(lost_answer_rate=0.2)
    with ServerThread(app) as server:
        seen = Counter(outcome(server.url) for _ in range(200))
    assert len(writes) == 200
    lost = 200 - seen[200]
    assert 20 <= lost <= 65, seen


def test_fault_rate_draws_are_unchanged_by_the_lost_answer_rate() -> None:
    """Same seed and fault_rate: the same requests fail before the handler, whatever lost_answer_rate is."""

    def pattern(lost_answer_rate: float) -> list[bool]:
        app, writes = make_app(fault_rate=0.3, lost_answer_rate=lost_answer_rate)
        handled = []
        with ServerThread(app) as server:
            for _ in range(60):
                before = len(writes)
                outcome(server.url)
                handled.append(len(writes) > before)
        return handled

    without, with_lost = pattern(0.0), pattern(0.5)
    assert without == with_lost
    assert not all(without) and any(without)


def test_admin_paths_never_lose_their_answer() -> None:
    app, _writes = make_app(lost_answer_rate=1.0)
    with ServerThread(app) as server:
        for _ in range(10):
            assert requests.get(f"{server.url}/__sandbox/health", timeout=5).json() == {"ok": True}


def test_lost_answer_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="lost_answer_rate"):
        make_app(lost_answer_rate=-0.1)


def test_intercom_sandbox_applies_the_create_whose_answer_it_loses() -> None:
    from intercom_sandbox.app import WorkspaceSettings, create_app

    app = create_app(WorkspaceSettings(token="t", lost_answer_rate=1.0, fault_seed=2))
    headers = {"Authorization": "Bearer t"}
    seen: Counter = Counter()
    with ServerThread(app) as server:
        for n in range(12):
            try:
                response = requests.post(
                    f"{server.url}/contacts", json={"email": f"c{n}@example.com"}, headers=headers, timeout=5
                )
            except BROKEN:
                seen["cut"] += 1
                continue
            seen[response.status_code] += 1
            body = response.json()
            assert body["type"] == "error.list" and body["errors"][0]["code"]  # Intercom's envelope
            assert "X-RateLimit-Remaining" in response.headers  # still counted against the budget
        stats = requests.get(f"{server.url}/__sandbox/stats", timeout=5).json()
    assert set(seen) <= {*LOST_ANSWER_STATUSES, "cut"} and seen["cut"] and len(seen) > 1
    assert len(app.state.workspace.contacts) == 12  # every create was applied
    assert stats["objects"]["contacts"] == 12
    assert app.state.fault_stats["lost_error"] + app.state.fault_stats["lost_cut"] == 12


def test_topdesk_sandbox_loses_answers_as_its_proxy_would() -> None:
    from topdesk_sandbox.app import SandboxSettings, create_app
    from topdesk_sandbox.store import Store

    settings = SandboxSettings(lost_answer_rate=1.0, fault_seed=4)
    app = create_app(settings, store=Store())
    seen: set = set()
    with ServerThread(app) as server:
        for _ in range(12):
            try:
                response = requests.get(
                    f"{server.url}/tas/api/version", timeout=5, auth=(settings.login, settings.password)
                )
            except BROKEN:
                seen.add("cut")
                continue
            seen.add(response.status_code)
            assert response.headers["content-type"].startswith("text/html")  # the proxy's page, not TOPdesk's
    assert seen <= {*LOST_ANSWER_STATUSES, "cut"} and "cut" in seen and len(seen) > 1


@pytest.mark.parametrize("module", ["intercom_sandbox.cli", "topdesk_sandbox.cli"])
def test_both_serve_commands_take_the_lost_answer_rate(module: str) -> None:
    import importlib

    cli = importlib.import_module(module)
    result = CliRunner().invoke(cli.main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--lost-answer-rate" in result.output and "--fault-seed" in result.output
    bad = CliRunner().invoke(cli.main, ["serve", "--lost-answer-rate", "2"])
    assert bad.exit_code == 2 and "lost-answer-rate" in bad.output
