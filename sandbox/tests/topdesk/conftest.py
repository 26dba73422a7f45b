"""Fixtures for the TOPdesk sandbox server tests: real servers (``ServerThread``) on the hand-written dataset, on
programmatically built datasets, and on a generated one when the generator is available."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from topdesk_sandbox_testkit import Api, make_calls, running

from topdesk_sandbox.generator import build_dataset


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """The hand-written dataset, default settings (shared by a module: tests must not mutate it)."""
    with running() as client:
        yield client


@pytest.fixture
def fresh_api() -> Iterator[Api]:
    """A private server on the hand-written dataset, for tests that change data."""
    with running() as client:
        yield client


@pytest.fixture(scope="session")
def calls_1000() -> list[dict]:
    return make_calls(1000)


@pytest.fixture(scope="session")
def generated_records() -> dict[str, list[dict]]:
    """A generated dataset (scale 300, seed 7)."""
    return build_dataset(300, 7).records
