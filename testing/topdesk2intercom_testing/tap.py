"""Test helpers: in-thread TOPdesk sandboxes and in-process tap runs that capture the Singer output."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox_common.server import ServerThread
from tap_topdesk.tap import TapTopdesk
from topdesk_sandbox.app import SandboxSettings, create_app

LOGIN, PASSWORD = "api_operator", "sandbox-app-password"
_SERVERS: dict[tuple, ServerThread] = {}


def start_sandbox(**settings: t.Any) -> str:
    """A sandbox on a free port in a background thread (stopped at exit); returns its base URL."""
    settings.setdefault("export_hang_s", 0.01)
    server = ServerThread(create_app(SandboxSettings(**settings)))
    server.__enter__()
    atexit.register(server.__exit__, None, None, None)
    return server.url


def shared_sandbox(**settings: t.Any) -> str:
    """One read-only sandbox per distinct settings for the whole session (tests must not change its data)."""
    key = tuple(sorted((k, str(v)) for k, v in settings.items()))
    if key not in _SERVERS:
        _SERVERS[key] = start_sandbox(**settings)  # type: ignore[assignment]
    return _SERVERS[key]  # type: ignore[return-value]


def config(url: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"url": url, "username": LOGIN, "app_password": PASSWORD, "max_retries": 2, **extra}


@dataclass
class Run:
    """The messages of one sync."""

    messages: list[dict] = field(default_factory=list)

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def counts(self) -> Counter:
        return Counter(m["stream"] for m in self.messages if m["type"] == "RECORD")

    @property
    def state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def catalog_selecting(cfg: dict, streams: t.Iterable[str] | None) -> dict | None:
    """A catalog with only ``streams`` selected (None = everything)."""
    if streams is None:
        return None
    wanted = set(streams)
    catalog = TapTopdesk(config=cfg, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def sync(cfg: dict, *, state: dict | None = None, streams: t.Iterable[str] | None = None) -> Run:
    """Run a full ``sync_all`` in process and parse what it wrote to stdout."""
    tap = TapTopdesk(config=cfg, state=state, catalog=catalog_selecting(cfg, streams), parse_env_config=False)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tap.sync_all()
    return Run([json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()])


def admin(url: str, method: str, path: str, **kwargs: t.Any) -> requests.Response:
    response = requests.request(method, f"{url}/__sandbox/{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response


def health_counts(url: str) -> dict[str, int]:
    return requests.get(f"{url}/__sandbox/health", timeout=30).json()["counts"]


#: tap stream → sandbox resource (dataset file stem) with exactly the same records.
SAME_COUNT = {
    "incidents": "incidents",
    "incident_progress_trail": "incident_progresstrail",
    "incident_attachments": "incident_attachments",
    "incident_emails": "emails",
    "persons": "persons",
    "operators": "operators",
    "operator_groups": "operatorgroups",
    "operator_group_members": "operator_operatorgroups",
    "branches": "branches",
    "locations": "locations",
    "departments": "departments",
    "budget_holders": "budgetholders",
    "suppliers": "suppliers",
    "changes": "changes",
    "change_activities": "change_activities",
    "change_progress_trail": "change_progresstrail",
    "asset_templates": "asset_templates",
    "asset_links": "asset_links",
    "operational_activities": "operational_activities",
    "operational_series": "operational_series",
    "knowledge_items": "knowledge_items",
    "knowledge_folders": "knowledge_folders",
    "reservations": "reservations",
}


@dataclass(frozen=True)
class Sent:
    """One request the tap sent, and TOPdesk's status."""

    path: str
    query: str  # URL-encoded, as sent
    status: int
    accept: str = ""

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def __str__(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@contextlib.contextmanager
def recording() -> t.Iterator[list[Sent]]:
    """Every request the tap sends while in the block (``requests.Session.send`` patched, then restored)."""
    seen: list[Sent] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        response = original(self, request, **kwargs)
        parts = urlsplit(str(request.url))
        seen.append(Sent(parts.path, parts.query, response.status_code, request.headers.get("Accept", "")))
        return response

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
