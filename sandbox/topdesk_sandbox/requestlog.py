"""What clients asked TOPdesk: every request to a TOPdesk path is recorded with the violations of the descriptions
it carries (``documented.check``), readable at ``GET /__sandbox/requests`` and cleared by ``DELETE``, so a test can
hold a whole sync against the descriptions; with ``strict`` such a request is refused (400 in its API's error family)
as TOPdesk refuses it."""

from __future__ import annotations

from collections import deque
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from topdesk_sandbox import documented
from topdesk_sandbox.common import json
from topdesk_sandbox.errors import ApiError, error_response

#: Oldest entries are dropped beyond this many: a benchmark sync sends millions of requests, the sandbox must not grow
#: with them (a test's sync sends a few thousand).
MAX_ENTRIES = 50_000
#: Paths that are TOPdesk's (everything else, e.g. ``/__sandbox/``, is the sandbox's own).
TOPDESK_PREFIXES = ("/tas/", "/services/", "/solutions/")


class RequestLog:
    """Method, path, raw query string and violations of the most recent TOPdesk requests, oldest first."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self.entries: deque[tuple[str, str, str, tuple[documented.Violation, ...]]] = deque(maxlen=limit)
        self.seen = 0

    def add(self, method: str, path: str, query: str, violations: list[documented.Violation]) -> None:
        self.seen += 1
        self.entries.append((method, path, query, tuple(violations)))

    def clear(self) -> None:
        self.entries.clear()
        self.seen = 0

    def as_json(self) -> dict:
        """``seen`` counts every request since the last clear; ``dropped`` > 0 means the oldest are gone."""
        requests = [
            {"method": method, "path": path, "query": query, "violations": [v.as_dict() for v in violations]}
            for method, path, query, violations in self.entries
        ]
        return {"seen": self.seen, "dropped": self.seen - len(self.entries), "requests": requests}


class DocumentedRequestsMiddleware:
    """Records every TOPdesk request with its violations; refuses a violating one when ``strict``. Sits inside the
    auth middleware: TOPdesk answers 401 before it looks at parameters."""

    def __init__(self, app: ASGIApp, *, log: RequestLog, strict: bool) -> None:
        self.app = app
        self.log = log
        self.strict = strict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(TOPDESK_PREFIXES):
            await self.app(scope, receive, send)
            return
        raw = scope.get("query_string", b"").decode("latin-1")
        params = parse_qsl(raw, keep_blank_values=True)
        violations = documented.check(scope["method"], path, params, asset_field_ids=_asset_field_ids(scope))
        self.log.add(scope["method"], path, raw, violations)
        # a path no description has is recorded, not refused: TOPdesk answers those 404, which the routes do
        refused = [v for v in violations if v.code != documented.UNDOCUMENTED_OPERATION]
        if self.strict and refused:
            first = refused[0]
            error = ApiError(400, _summary(refused), code=first.code, applies_to=first.parameter)
            await error_response(path, error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _summary(violations: list[documented.Violation]) -> str:
    """One line per parameter and kind: ``fields: field not among ...: archived, @status``."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for v in violations:
        grouped.setdefault((v.parameter, v.message), []).append(v.detail)
    return "; ".join(f"{param}: {message}: {', '.join(details)}" for (param, message), details in grouped.items())


def _asset_field_ids(scope: Scope) -> frozenset[str] | None:
    """The IDs of the tenant's user-defined asset fields (from its card types): the asset API's ``fields`` accepts
    them besides its documented standard names. None when the app has no dataset (e.g. a bare ASGI test)."""
    if not scope["path"].startswith("/tas/api/assetmgmt/"):
        return None
    ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
    if ctx is None:
        return None
    cardtypes = ctx.store.resources.get("asset_cardtypes")
    items = cardtypes.items if cardtypes is not None else ()
    return frozenset(f["key"] for ct in items if ct for f in ct.get("fields") or () if f.get("key"))


async def show_requests(request: Request) -> Response:
    """GET ``/__sandbox/requests``: every recorded TOPdesk request, oldest first."""
    return json(request.app.state.request_log.as_json())


async def clear_requests(request: Request) -> Response:
    """DELETE ``/__sandbox/requests``: forget them (e.g. between a full sync and a delta)."""
    request.app.state.request_log.clear()
    return Response(status_code=204)


routes = [
    Route("/__sandbox/requests", show_requests, methods=["GET"]),
    Route("/__sandbox/requests", clear_requests, methods=["DELETE"]),
]
