"""Helpers shared by the Intercom sandbox tests (a uniquely named module: test folders are not packages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sandbox_common.server import ServerThread

TOKEN = "test-token"
ADMIN_ID = "991267459"


class Sandbox:
    """A running sandbox plus an authenticated client."""

    def __init__(self, server: ServerThread, app: Any) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.client = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            timeout=30,
        )

    @property
    def workspace(self) -> Any:
        return self.app.state.workspace

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, **kwargs)

    def ok(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        """Request that must succeed with 200; returns the JSON body."""
        response = self.client.request(method, path, json=json, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def contact(self, **fields: Any) -> dict[str, Any]:
        return self.ok("POST", "/contacts", fields)

    def admin(self, method: str, path: str, json: Any = None, expect: int = 200) -> Any:
        """The sandbox's own admin API (``/__sandbox/...``, no auth); returns the JSON body."""
        response = httpx.request(method, f"{self.url}/__sandbox{path}", json=json, timeout=30)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def make_attributes(sb: Sandbox) -> None:
    """The attributes the migration provisions before it writes records."""
    sb.ok("POST", "/data_attributes", {"name": "topdesk_id", "model": "contact", "data_type": "string"})
    sb.ok("POST", "/data_attributes", {"name": "branch_code", "model": "company", "data_type": "string"})
    sb.ok("POST", "/conversations/attributes", {"name": "topdesk_number", "data_type": "string"})


SandboxFactory = Callable[..., Sandbox]
