"""Fixtures for the Intercom sandbox tests: real servers on free ports, every exchange validated against the 2.16
OpenAPI description (see ``intercom_sandbox.openapi``); the last test module asserts zero violations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from intercom_sandbox_testkit import TOKEN, Sandbox, SandboxFactory

from intercom_sandbox.app import WorkspaceSettings, create_app
from intercom_sandbox.openapi import SpecValidator
from sandbox_common.server import ServerThread


@pytest.fixture(scope="session")
def validator() -> SpecValidator:
    return SpecValidator.shared()


@pytest.fixture(scope="session", autouse=True)
def openapi_gate(validator: SpecValidator) -> Iterator[None]:
    """Whatever the test order or selection, the session fails if any exchange violated the spec."""
    yield
    violations = validator.check()
    assert violations == [], "\n".join(str(v)[:2000] for v in violations)


@pytest.fixture
def make_sandbox(validator: SpecValidator) -> Iterator[SandboxFactory]:
    started: list[tuple[ServerThread, Sandbox]] = []

    def factory(**overrides: Any) -> Sandbox:
        settings = WorkspaceSettings(token=TOKEN, validate_openapi=True, **overrides)
        app = create_app(settings)
        server = ServerThread(app).__enter__()
        sandbox = Sandbox(server, app)
        started.append((server, sandbox))
        return sandbox

    yield factory
    for server, sandbox in started:
        sandbox.client.close()
        server.__exit__(None, None, None)


@pytest.fixture
def sandbox(make_sandbox: SandboxFactory) -> Sandbox:
    return make_sandbox(custom_object_types=("Asset", "KnownError"))
