"""Rate limit acceptance: 600/min = 100 per 10-s window; 200 requests in one window get 100 x 200 then 429s.

Several private apps (tokens) of one workspace: each its own per-app budget, all of them one shared workspace budget
(the app's window is checked first, then the workspace's); tokens of another workspace answer only ``GET /me``."""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from intercom_sandbox_testkit import TOKEN, Sandbox, SandboxFactory

from intercom_sandbox import cli
from intercom_sandbox.app import WorkspaceSettings, create_app
from intercom_sandbox.ratelimit import RateLimiter, WorkspaceLimiter
from intercom_sandbox.store import WORKSPACE_ID


def _wait_for_window_start(margin: float = 7.0) -> None:
    """Start right after a 10-s boundary so that the burst falls into a single window."""
    now = time.time()
    if now % 10 > 10 - margin:
        time.sleep(10 - now % 10 + 0.05)


def test_burst_of_200_gets_100_then_429(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(rate_limit_per_minute=600)
    url = f"{sandbox.url}/tags"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=headers, limits=httpx.Limits(max_connections=16)) as client:
        client.get(f"{sandbox.url}/__sandbox/health")  # warm up (admin paths are not counted)
        _wait_for_window_start()
        started = time.time()
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: client.get(url), range(200)))
        elapsed = time.time() - started
    assert elapsed < 2.0, f"burst took {elapsed:.2f}s"
    window_end = (math.floor(started / 10) + 1) * 10
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100 and statuses.count(429) == 100
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(100))  # counts down 99..0
    for response in responses:
        assert response.headers["x-ratelimit-limit"] == "100"
        assert int(response.headers["x-ratelimit-reset"]) == window_end
        if response.status_code == 429:
            assert response.headers["x-ratelimit-remaining"] == "0"
            body = response.json()
            assert body["type"] == "error.list" and body["errors"][0]["code"] == "rate_limit_exceeded"
    stats = httpx.get(f"{sandbox.url}/__sandbox/stats").json()
    assert stats["requests_served"] == 100 and stats["requests_rejected_429"] == 100
    assert stats["max_requests_in_window"] == 200 and stats["window_budget"] == 100


def test_headers_on_every_response(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(rate_limit_per_minute=600)
    for response in (sandbox.get("/me"), sandbox.get("/contacts/nope")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)
        assert int(response.headers["x-ratelimit-reset"]) % 10 == 0
    unauthenticated = httpx.get(f"{sandbox.url}/me")  # no app to count it for: 401 without rate-limit headers
    assert unauthenticated.status_code == 401 and "x-ratelimit-limit" not in unauthenticated.headers


# --- several apps of one workspace: the limiter on its own (fake clock) -------------------------------------------

T0 = 1_700_000_003.0  # 3 s into a window (1_700_000_000 is a multiple of 10)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _workspace(apps: int, app_per_minute: int, workspace_per_minute: int) -> tuple[FakeClock, list[RateLimiter]]:
    clock = FakeClock()
    workspace = WorkspaceLimiter(workspace_per_minute)
    return clock, [workspace.add_app(app_per_minute, clock=clock) for _ in range(apps)]


def test_per_app_budgets_are_independent() -> None:
    clock, (app1, app2) = _workspace(2, app_per_minute=60, workspace_per_minute=25000)
    assert [app1.hit().remaining for _ in range(10)] == list(range(9, -1, -1))
    spent = app1.hit()
    assert (spent.allowed, spent.remaining, spent.workspace_limited) == (False, 0, False)
    second = [app2.hit() for _ in range(10)]  # app1's spent window does not touch app2's
    assert all(d.allowed and d.limit == 10 for d in second) and second[-1].remaining == 0
    clock.now += 10  # the next window: both budgets back
    assert app1.hit().remaining == 9 and app2.hit().remaining == 9


def test_workspace_budget_binds_when_the_apps_together_exceed_it() -> None:
    """3 apps x 60/min (10 per window) but 120/min for the workspace (20 per window)."""
    clock, (app1, app2, app3) = _workspace(3, app_per_minute=60, workspace_per_minute=120)
    assert all(app1.hit().allowed for _ in range(10)) and all(app2.hit().allowed for _ in range(10))
    refused = app3.hit()  # app3 has spent nothing: the workspace's window is what is spent
    assert (refused.allowed, refused.workspace_limited, refused.limit, refused.remaining) == (False, True, 10, 10)
    assert refused.reset == (math.floor(T0 / 10) + 1) * 10
    assert app1.hit().remaining == 0 and not app1.hit().workspace_limited  # the app's own window is checked first
    workspace = app1.workspace
    assert workspace is not None
    stats = workspace.stats()
    assert (stats["requests_served"], stats["requests_rejected_429"], stats["requests_rejected_workspace_429"]) == (
        20,
        3,
        1,
    )
    assert stats["max_accepted_in_window"] == 20 and stats["max_requests_in_window"] == 23
    assert (stats["window_budget"], stats["workspace_window_budget"]) == (10, 20)
    assert [(a["app"], a["requests_served"], a["requests_rejected_429"]) for a in stats["apps"]] == [
        ("app1", 10, 2),
        ("app2", 10, 0),
        ("app3", 0, 1),
    ]
    clock.now += 10
    fresh = app3.hit()
    assert fresh.allowed and fresh.remaining == 9
    workspace.reset_counters()
    stats = workspace.stats()
    assert stats["requests_served"] == stats["requests_rejected_429"] == stats["requests_rejected_workspace_429"] == 0
    assert all(
        a["requests_served"] == a["requests_rejected_429"] == a["max_accepted_in_window"] == 0 for a in stats["apps"]
    )


def test_threads_cannot_overshoot_the_workspace_budget() -> None:
    _, apps = _workspace(4, app_per_minute=600, workspace_per_minute=600)  # 100 per app, 100 for all four
    decisions: list[Any] = []
    barrier = threading.Barrier(4)

    def burst(limiter: RateLimiter) -> None:
        barrier.wait()
        decisions.extend(limiter.hit() for _ in range(60))

    threads = [threading.Thread(target=burst, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(d.allowed for d in decisions) == 100
    assert all(d.workspace_limited and d.remaining > 0 for d in decisions if not d.allowed)


# --- several apps of one workspace: through the server ----------------------------------------------------------

TOKENS = (TOKEN, "test-token-app2", "test-token-app3")
FOREIGN = "test-token-other-workspace"


def _apps_sandbox(make_sandbox: SandboxFactory, **overrides: Any) -> tuple[Sandbox, FakeClock]:
    """3 apps x 60/min, 120/min for the workspace, one foreign token; every limiter on one fake clock."""
    settings: dict[str, Any] = {
        "extra_tokens": TOKENS[1:],
        "rate_limit_per_minute": 60,
        "workspace_rate_limit_per_minute": 120,
        "foreign_tokens": (FOREIGN,),
    }
    sandbox = make_sandbox(**{**settings, **overrides})
    clock = FakeClock()
    for limiter in (*sandbox.app.state.tokens.workspace.apps, *sandbox.app.state.tokens.foreign_workspace.apps):
        limiter.clock = clock
    return sandbox, clock


def _get(sandbox: Sandbox, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{sandbox.url}{path}", headers={"Authorization": f"Bearer {token}"})


def _rate(response: httpx.Response) -> tuple[int, int, int]:
    return (
        response.status_code,
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
    )


def test_each_answer_carries_its_apps_headers(make_sandbox: SandboxFactory) -> None:
    sandbox, _ = _apps_sandbox(make_sandbox)
    assert [_rate(_get(sandbox, "/tags", TOKENS[0])) for _ in range(3)][-1] == (200, 10, 7)
    assert _rate(_get(sandbox, "/tags", TOKENS[1])) == (200, 10, 9)
    assert _rate(_get(sandbox, "/contacts/nope", TOKENS[2])) == (404, 10, 9)
    assert _rate(_get(sandbox, "/tags", TOKENS[0])) == (200, 10, 6)
    reset = int(_get(sandbox, "/tags", TOKENS[1]).headers["x-ratelimit-reset"])
    assert reset == (math.floor(T0 / 10) + 1) * 10


def test_workspace_429_keeps_the_apps_remaining(make_sandbox: SandboxFactory) -> None:
    sandbox, clock = _apps_sandbox(make_sandbox)
    for token in TOKENS[:2]:
        assert [_rate(_get(sandbox, "/tags", token)) for _ in range(10)][-1] == (200, 10, 0)
    app_spent = _get(sandbox, "/tags", TOKENS[0])
    assert _rate(app_spent) == (429, 10, 0)
    workspace_spent = _get(sandbox, "/tags", TOKENS[2])
    assert _rate(workspace_spent) == (429, 10, 10)  # the app's own headers: it has spent nothing
    assert workspace_spent.json()["errors"][0]["code"] == "rate_limit_exceeded"
    stats = sandbox.admin("GET", "/stats")
    assert {k: stats[k] for k in ("requests_served", "requests_rejected_429", "requests_rejected_workspace_429")} == {
        "requests_served": 20,
        "requests_rejected_429": 2,
        "requests_rejected_workspace_429": 1,
    }
    assert (stats["max_accepted_in_window"], stats["window_budget"], stats["workspace_window_budget"]) == (20, 10, 20)
    assert stats["apps"] == [
        {"app": "app1", "requests_served": 10, "requests_rejected_429": 1, "max_accepted_in_window": 10,
         "window_budget": 10},
        {"app": "app2", "requests_served": 10, "requests_rejected_429": 0, "max_accepted_in_window": 10,
         "window_budget": 10},
        {"app": "app3", "requests_served": 0, "requests_rejected_429": 1, "max_accepted_in_window": 0,
         "window_budget": 10},
    ]  # fmt: skip
    assert not any(token in json.dumps(stats) for token in (*TOKENS, FOREIGN))
    clock.now += 10
    assert _rate(_get(sandbox, "/tags", TOKENS[2])) == (200, 10, 9)
    sandbox.admin("POST", "/reset")
    stats = sandbox.admin("GET", "/stats")
    assert stats["requests_served"] == stats["requests_rejected_workspace_429"] == 0
    assert all(app["requests_served"] == app["requests_rejected_429"] == 0 for app in stats["apps"])


def test_bad_token_is_401_and_not_counted(make_sandbox: SandboxFactory) -> None:
    sandbox, _ = _apps_sandbox(make_sandbox)
    assert _rate(_get(sandbox, "/tags", TOKENS[0])) == (200, 10, 9)
    for _ in range(15):  # more than any budget
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKENS[0]}"}):
            response = httpx.get(f"{sandbox.url}/tags", headers=headers)
            assert response.status_code == 401 and "x-ratelimit-remaining" not in response.headers
    assert _rate(_get(sandbox, "/tags", TOKENS[0])) == (200, 10, 8)
    stats = sandbox.admin("GET", "/stats")
    assert (stats["requests_served"], stats["requests_rejected_429"], stats["max_requests_in_window"]) == (2, 0, 2)


def test_foreign_token_sees_another_workspace_on_me_only(make_sandbox: SandboxFactory) -> None:
    sandbox, _ = _apps_sandbox(make_sandbox)
    ours = [_get(sandbox, "/me", token).json() for token in TOKENS]
    assert {me["app"]["id_code"] for me in ours} == {WORKSPACE_ID}
    assert all(me == ours[0] for me in ours)  # every app of the workspace is the same admin and the same app
    foreign = _get(sandbox, "/me", FOREIGN)
    assert foreign.status_code == 200 and _rate(foreign) == (200, 10, 9)  # its own app's budget
    other = foreign.json()
    assert other["type"] == "admin" and other["app"]["id_code"] != WORKSPACE_ID
    assert other["app"]["name"] != ours[0]["app"]["name"] and other["id"] != ours[0]["id"]
    for method, path in (("GET", "/tags"), ("GET", "/contacts/1"), ("POST", "/contacts"), ("GET", "/admins")):
        response = httpx.request(method, f"{sandbox.url}{path}", headers={"Authorization": f"Bearer {FOREIGN}"})
        assert response.status_code == 401 and response.json()["errors"][0]["code"] == "unauthorized"
    stats = sandbox.admin("GET", "/stats")  # the other workspace's requests count in neither budget of this one
    assert stats["requests_served"] == 3 and [app["requests_served"] for app in stats["apps"]] == [1, 1, 1]


def test_tokens_must_differ() -> None:
    with pytest.raises(ValueError, match="twice"):
        create_app(WorkspaceSettings(token="a", extra_tokens=("b", "a")))
    with pytest.raises(ValueError, match="twice"):
        create_app(WorkspaceSettings(token="a", foreign_tokens=("a",)))
    with pytest.raises(ValueError, match="empty"):
        create_app(WorkspaceSettings(token="a", extra_tokens=("",)))


def test_cli_repeated_token_and_rate_limit_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(cli, "run_server", lambda app, host, port: served.append(app))
    a, b, c, x = "tok-first-app", "tok-second-app", "tok-third-app", "tok-other-workspace"
    args = ["serve", "--token", a, "--token", b, "--token", c, "--app-rate-limit", "600"]
    args += ["--workspace-rate-limit", "900", "--foreign-token", x]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    settings = served[0].state.settings
    assert (settings.token, settings.extra_tokens, settings.foreign_tokens) == (a, (b, c), (x,))
    assert (settings.rate_limit_per_minute, settings.workspace_rate_limit_per_minute) == (600, 900)
    assert "600/min per app" in result.output and "900/min per workspace" in result.output
    assert "tok-" not in result.output  # never the tokens
    stats = served[0].state.tokens.workspace.stats()
    assert [app["app"] for app in stats["apps"]] == ["app1", "app2", "app3"]
    assert (stats["window_budget"], stats["workspace_window_budget"]) == (100, 150)

    result = CliRunner().invoke(cli.main, ["serve", "--rate-limit", "120"])  # the old name, as scripts use it
    assert result.exit_code == 0, result.output
    settings = served[1].state.settings
    assert (settings.token, settings.extra_tokens, settings.rate_limit_per_minute) == (
        "sandbox-intercom-token",
        (),
        120,
    )
    assert settings.workspace_rate_limit_per_minute == 25000 and settings.foreign_tokens == ()
    assert CliRunner().invoke(cli.main, ["serve", "--token", "A", "--foreign-token", "A"]).exit_code == 2
