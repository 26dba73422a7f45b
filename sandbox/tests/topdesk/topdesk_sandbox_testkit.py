"""Helpers for the TOPdesk sandbox server tests: a client bound to a real server (``ServerThread``), the
hand-written dataset, and programmatically built calls. (A module of its own, not conftest, so tests import it.)"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import requests

from sandbox_common.server import ServerThread
from topdesk_sandbox.app import SandboxSettings, create_app
from topdesk_sandbox.dates import format_topdesk
from topdesk_sandbox.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "small"
LOGIN, PASSWORD = "api_operator", "sandbox-app-password"


class Api:
    """A ``requests`` session bound to a running sandbox."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.auth = (LOGIN, PASSWORD)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.get(self.url + path, timeout=60, **kwargs)  # type: ignore[arg-type]

    def admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, self.url + "/__sandbox/" + path, timeout=30, **kwargs)  # type: ignore[arg-type]


@contextmanager
def running(store: Store | None = None, **settings: object) -> Iterator[Api]:
    """A real server on a free port for the given settings (default: the hand-written dataset, lenient: these tests
    hold each route's own behaviour; the request gate is tested with ``strict=True``)."""
    settings.setdefault("data_dir", SMALL if store is None else None)
    settings.setdefault("strict", False)
    app = create_app(SandboxSettings(**settings), store=store)  # type: ignore[arg-type]
    with ServerThread(app) as server:
        yield Api(server.url)


def small_records() -> dict[str, list[dict]]:
    """The hand-written dataset as ``{stem: [raw lines]}``."""
    return {
        p.stem: [orjson.loads(line) for line in p.read_bytes().splitlines() if line.strip()]
        for p in SMALL.glob("*.jsonl")
    }


def make_calls(count: int, *, days: int = 365, seed_name: str = "calls") -> list[dict]:
    """``count`` incidents cloned from the fixture's first call, modification dates spread evenly over ``days``
    (all first/second line, so the default filter keeps every one)."""
    template = small_records()["incidents"][0]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(days=days) / count
    calls = []
    for i in range(count):
        rec = copy.deepcopy(template)
        rec["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed_name}/{i}"))
        rec["number"] = f"I {2400 + i // 10000} {i % 10000:04d}"
        rec["status"] = "firstLine" if i % 2 else "secondLine"
        moment = start + step * i
        ms = int(moment.timestamp() * 1000)
        rec["modificationDate"] = format_topdesk(ms)
        rec["creationDate"] = format_topdesk(ms - 3_600_000)
        calls.append(rec)
    return calls
