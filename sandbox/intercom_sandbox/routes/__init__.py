"""Endpoint plumbing shared by the resource modules: a route table and the per-request context.

Handlers are plain synchronous functions ``(ctx) -> payload``. The wrapper reads and parses the body first
(awaiting), then runs the handler under the workspace lock, so a handler sees and changes state atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intercom_sandbox.documented import documented_body
from intercom_sandbox.errors import RESOURCE_NOT_FOUND, ApiError, bad_request, error_response, json_response
from intercom_sandbox.store import Workspace
from intercom_sandbox.tokens import TokenApp
from intercom_sandbox.versioning import DEFAULT_VERSION, is_preview, new_shapes


@dataclass
class Ctx:
    ws: Workspace
    version: str
    query: QueryParams
    path: dict[str, str]
    body: Any
    base_url: str
    #: the app of the request's token (``None`` only when a handler is called without the middleware)
    token_app: TokenApp | None = None

    @property
    def new_shapes(self) -> bool:
        return new_shapes(self.version)

    def json(self) -> dict[str, Any]:
        """The body as an object (an absent body is an empty object)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise bad_request("Request body must be a JSON object", code="bad_request")
        return self.body

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"


Handler = Callable[[Ctx], Any]


class RouteTable:
    """Collects ``(method, path, handler)`` for one resource module."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Handler]] = []
        #: (method, path) of the operations only the Preview description has: other versions answer 404 as for
        #: an unknown route (EVIDENCE.md ``preview-only-404``)
        self.preview_only: set[tuple[str, str]] = set()

    def _add(self, method: str, path: str, preview: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.entries.append((method, path, handler))
            if preview:
                self.preview_only.add((method, path))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path)

    def put(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("PUT", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path)

    def preview_get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path, preview=True)

    def preview_post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path, preview=True)


def build_routes(ws: Workspace, tables: list[RouteTable]) -> list[Route]:
    """Starlette routes; literal paths are registered before templated ones so ``/contacts/search`` wins."""
    entries = [entry for table in tables for entry in table.entries]
    entries.sort(key=lambda e: e[1].count("{"))
    preview_only = {entry for table in tables for entry in table.preview_only}
    grouped: dict[str, dict[str, Handler]] = {}
    for method, path, handler in entries:
        grouped.setdefault(path, {})[method] = handler
    return [
        Route(
            path,
            _endpoint(ws, path, handlers, {m for m in handlers if (m, path) in preview_only}),
            methods=list(handlers),
        )
        for path, handlers in grouped.items()
    ]


def _endpoint(
    ws: Workspace, route_path: str, handlers: dict[str, Handler], preview_only: set[str] | None = None
) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        method = request.method if request.method != "HEAD" else "GET"
        handler = handlers[method]
        version = request.scope.get("state", {}).get("intercom_version", DEFAULT_VERSION)
        if preview_only and method in preview_only and not is_preview(version):
            return error_response(404, *RESOURCE_NOT_FOUND)  # as an unknown route (``app._http_error``)
        raw = await request.body()
        body: Any = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return error_response(400, "bad_request", "Request body is not valid JSON")
        version = request.scope.get("state", {}).get("intercom_version", DEFAULT_VERSION)
        try:
            body, dropped = documented_body(request.method, route_path, version, body)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field)
        if dropped:
            ws.note_undocumented(dropped)
        ctx = Ctx(
            ws=ws,
            version=version,
            query=request.query_params,
            path=request.path_params,
            body=body,
            base_url=str(request.base_url).rstrip("/"),
            token_app=request.scope.get("state", {}).get("intercom_app"),
        )
        try:
            with ws.lock:
                result = handler(ctx)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field)
        if isinstance(result, Response):
            return result
        return json_response(result)

    return endpoint
