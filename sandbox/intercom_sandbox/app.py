"""Application factory and settings for the Intercom sandbox.

Request path, outermost first: [OpenAPI capture (tests only)] → rate limit (headers on every response, 429 beyond
the window budget) → fault injection (latency, 5xx, resets; answers lost after the handler ran) → auth +
``Intercom-Version`` → router. ``/__sandbox/`` admin paths skip all of it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intercom_sandbox import admin, errors, versioning
from intercom_sandbox.ratelimit import RateLimiter
from intercom_sandbox.routes import (
    admins,
    articles,
    attributes,
    build_routes,
    companies,
    contacts,
    conversations,
    custom_objects,
    segments,
    tags,
    tickets,
)
from intercom_sandbox.store import DEFAULT_ADMINS, Workspace, load_custom_objects, load_seed
from sandbox_common.faults import ADMIN_PREFIX, FaultInjectionMiddleware


@dataclass
class WorkspaceSettings:
    token: str = "sandbox-intercom-token"
    rate_limit_per_minute: int = 10000
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    #: fraction of requests handled (writes applied) whose answer is then lost: 502/503/504 or a cut body
    lost_answer_rate: float = 0.0
    admins_file: Path | None = None
    teams_file: Path | None = None
    custom_object_types: tuple[str, ...] = ()
    #: full custom object definitions (attributes, relationships), as created in Intercom's UI; see
    #: ``store.parse_custom_objects``. ``custom_objects_file`` is a JSON list of them (``--custom-objects``).
    custom_objects: tuple[dict, ...] = ()
    custom_objects_file: Path | None = None
    default_version: str = versioning.DEFAULT_VERSION
    timezone: str = "UTC"
    search_delay_seconds: float = 0.0
    fault_seed: int | None = None
    validate_openapi: bool = False
    #: "data" (the 2.16 spec's examples) or "ticket_type_attributes" (its schema): a ticket type's attribute list
    ticket_type_attributes_key: str = "data"
    #: capabilities the workspace lacks, name -> "refused" | "ignored" (``capabilities.CAPABILITIES``; ``--deny``):
    #: plays a real workspace where an assumed behaviour does not hold. Empty: every capability holds.
    deny: dict[str, str] = field(default_factory=dict)
    #: the help center's locales, the default first (``--help-center-locales``)
    help_center_locales: tuple[str, ...] = ("en",)


_DOUBLE_SLASH = re.compile(r"/{2,}")


class RateLimitMiddleware:
    """Counts every API request in its 10-s window and stamps the X-RateLimit-* headers on the response."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if "//" in scope["path"]:  # tap-intercom builds base_url + '/' + '/contacts/…'
            scope["path"] = _DOUBLE_SLASH.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        decision = self.limiter.hit()
        rate_headers = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + rate_headers
            await send(message)

        if not decision.allowed:
            code, message = errors.RATE_LIMITED
            await errors.error_response(429, code, message)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


class AuthVersionMiddleware:
    """Bearer token check (401 ``unauthorized``) and ``Intercom-Version`` resolution (400 on unknown values)."""

    def __init__(self, app: ASGIApp, token: str, default_version: str) -> None:
        self.app = app
        self.token = token.encode()
        self.default_version = default_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        auth = b""
        version_header: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"intercom-version":
                version_header = value
        scheme, _, credentials = auth.strip().partition(b" ")
        if scheme.lower() != b"bearer" or credentials.strip() != self.token:
            code, message = errors.UNAUTHORIZED
            await errors.error_response(401, code, message)(scope, receive, send)
            return
        version = versioning.parse(
            version_header.decode("latin-1") if version_header is not None else None, self.default_version
        )
        if version is None:
            code, message = errors.VERSION_INVALID
            await errors.error_response(400, code, message)(scope, receive, send)
            return
        scope.setdefault("state", {})["intercom_version"] = version
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer like Intercom's API, not with Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):  # a method the path does not have is simply not found
        return errors.error_response(404, *errors.RESOURCE_NOT_FOUND)
    return errors.error_response(status, "server_error", "Server Error")


def create_app(settings: WorkspaceSettings | None = None) -> Starlette:
    settings = settings or WorkspaceSettings()
    if versioning.parse(settings.default_version) is None:
        raise ValueError(f"unknown default Intercom version {settings.default_version!r}")
    unknown_locales = sorted(set(settings.help_center_locales) - articles.spec_locales())
    if unknown_locales:
        raise ValueError(f"help center locales the 2.16 spec does not know: {', '.join(unknown_locales)}")
    workspace = Workspace(
        admins_seed=load_seed(settings.admins_file, DEFAULT_ADMINS),
        teams_seed=load_seed(settings.teams_file, []),
        custom_object_types=settings.custom_object_types,
        custom_object_definitions=(*settings.custom_objects, *load_custom_objects(settings.custom_objects_file)),
        timezone=settings.timezone,
        search_delay_seconds=settings.search_delay_seconds,
        ticket_type_attributes_key=settings.ticket_type_attributes_key,
        deny=dict(settings.deny),
        help_center_locales=tuple(settings.help_center_locales),
    )
    limiter = RateLimiter(settings.rate_limit_per_minute)
    modules = (
        admins,
        contacts,
        companies,
        attributes,
        conversations,
        tickets,
        custom_objects,
        articles,
        tags,
        segments,
    )
    tables = [module.routes for module in modules]
    api_routes = build_routes(workspace, tables)
    app = Starlette(
        routes=[Mount("/__sandbox", routes=admin.routes(workspace, limiter)), *api_routes],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.workspace = workspace
    app.state.limiter = limiter
    app.state.settings = settings
    app.state.fault_stats = Counter()  # what the fault injection did: error, reset, lost_error, lost_cut
    app.add_middleware(AuthVersionMiddleware, token=settings.token, default_version=settings.default_version)
    app.add_middleware(
        FaultInjectionMiddleware,
        fault_rate=settings.fault_rate,
        latency_ms=settings.latency_ms,
        error_response=errors.fault_error_response,
        seed=settings.fault_seed,
        lost_answer_rate=settings.lost_answer_rate,
        stats=app.state.fault_stats,
    )
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    if settings.validate_openapi:
        from intercom_sandbox.openapi import OpenAPICaptureMiddleware, SpecValidator

        validator = SpecValidator.shared()
        app.state.openapi_validator = validator
        app.add_middleware(OpenAPICaptureMiddleware, validator=validator)
    return app
