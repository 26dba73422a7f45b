"""Test helpers for target-intercom: a real Intercom sandbox on a free port, in this process.

Use the context manager directly, or import the ``make_intercom_sandbox`` fixture into a test module::

    from topdesk2intercom_testing.target import intercom_sandbox, make_intercom_sandbox  # noqa: F401

    with intercom_sandbox(rate_limit_per_minute=600) as sb:
        client = sb.client()
"""

from __future__ import annotations

import contextlib
import functools
import typing as t
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests

from intercom_sandbox.app import WorkspaceSettings, create_app
from intercom_sandbox.ratelimit import Decision
from sandbox_common.server import ServerThread
from target_intercom.client import IntercomClient

TOKEN = "target-intercom-test-token"


@functools.lru_cache(maxsize=4)
def map_custom_objects(map_path: str | None = None) -> tuple[dict, ...]:
    """The custom object types of a map (default: the default map) as an admin creates them in Intercom's UI, with
    their attributes and relationships: the sandbox's ``custom_objects`` setting (``--custom-objects`` JSON)."""
    from map_topdesk_intercom.mapfile import load_map

    spec = load_map(map_path, catalog=False) if map_path else load_map(catalog=False)
    return tuple(spec.ui_custom_objects())


@dataclass
class WindowLog:
    """What the sandbox's rate limiter decided, per window (keyed by the window's reset time): server-side truth."""

    accepted: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)


@dataclass
class RunningSandbox:
    """A started sandbox: base ``url``, the accepted ``token`` and the ASGI ``app`` (its state is inspectable)."""

    url: str
    token: str
    app: t.Any

    @property
    def workspace(self) -> t.Any:
        return self.app.state.workspace

    @property
    def limiter(self) -> t.Any:
        return self.app.state.limiter

    @property
    def tokens(self) -> list[str]:
        """Every private app's token of the workspace (``token`` first, then ``extra_tokens``)."""
        settings = self.app.state.settings
        return [settings.token, *settings.extra_tokens]

    def client(self, **kwargs: t.Any) -> IntercomClient:
        """An IntercomClient for this sandbox with every app's token (keyword arguments as IntercomClient's)."""
        return IntercomClient(self.url, self.tokens, **kwargs)

    def stats(self) -> dict[str, t.Any]:
        """``/__sandbox/stats`` (not rate limited, never faulted)."""
        return requests.get(f"{self.url}/__sandbox/stats", timeout=10).json()

    def reset(self) -> None:
        """Empty workspace (seeds kept), counters zeroed."""
        requests.post(f"{self.url}/__sandbox/reset", timeout=10).raise_for_status()

    def record_windows(self) -> WindowLog:
        """Start logging the rate limiters' decisions per window, every app's together (wraps the live limiters;
        the sandbox is unchanged)."""
        log = WindowLog()
        for limiter in self.app.state.tokens.workspace.apps:
            limiter.hit = self._logged(limiter.hit, log)
        return log

    @staticmethod
    def _logged(hit: t.Callable[[], Decision], log: WindowLog) -> t.Callable[[], Decision]:
        def logged_hit() -> Decision:
            decision = hit()
            (log.accepted if decision.allowed else log.rejected)[decision.reset] += 1
            return decision

        return logged_hit


@contextlib.contextmanager
def intercom_sandbox(**settings: t.Any) -> Iterator[RunningSandbox]:
    """An Intercom sandbox (``WorkspaceSettings`` keywords, e.g. ``rate_limit_per_minute``, ``latency_ms``,
    ``fault_rate``, ``fault_seed``) served on 127.0.0.1 for the duration of the block."""
    settings.setdefault("token", TOKEN)
    app = create_app(WorkspaceSettings(**settings))
    with ServerThread(app) as server:
        yield RunningSandbox(server.url, settings["token"], app)


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def make_intercom_sandbox() -> Iterator[SandboxFactory]:
    """Factory fixture: ``make_intercom_sandbox(**settings)`` starts a sandbox that is stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda **settings: stack.enter_context(intercom_sandbox(**settings))
