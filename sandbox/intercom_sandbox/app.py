"""Application factory and settings for the Intercom sandbox.

Request path, outermost first: [OpenAPI capture (tests only)] → auth (the Bearer token names one app of the
workspace, or of another workspace; 401 otherwise, not counted) → rate limit (the app's and the workspace's 10-s
windows; the app's headers on every answer, 429 beyond either budget) → fault injection (latency, 5xx, resets;
answers lost after the handler ran) → ``Intercom-Version`` → router. ``/__sandbox/`` admin paths skip all of it.
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
from intercom_sandbox.routes import (
    admins,
    articles,
    attributes,
    build_routes,
    bulk,
    companies,
    contacts,
    conversations,
    custom_objects,
    segments,
    tags,
    tickets,
)
from intercom_sandbox.store import DEFAULT_ADMINS, Workspace, load_custom_objects, load_seed
from intercom_sandbox.tokens import FOREIGN_PATHS, TokenApp, TokenApps
from sandbox_common.faults import ADMIN_PREFIX, FaultInjectionMiddleware


@dataclass
class WorkspaceSettings:
    #: the first private app's Bearer token (``--token``, the first one given)
    token: str = "sandbox-intercom-token"
    #: the per-app limit, requests per minute (``--app-rate-limit``, alias ``--rate-limit``); every app has its own
    rate_limit_per_minute: int = 10000
    #: more private apps of the same workspace (``--token`` repeated): own per-app limit, shared workspace limit
    extra_tokens: tuple[str, ...] = ()
    #: the limit all apps of the workspace share, requests per minute (``--workspace-rate-limit``)
    workspace_rate_limit_per_minute: int = 25000
    #: tokens of another workspace (``--foreign-token``): ``GET /me`` answers that workspace's app, all else 401
    foreign_tokens: tuple[str, ...] = ()
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
    #: seconds a Preview bulk job's task stays ``pending`` (its items are applied at once; ``routes/bulk.py``)
    bulk_job_delay_seconds: float = 0.0


_DOUBLE_SLASH = re.compile(r"/{2,}")


def _header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's value (the last one sent), by its lower-case name."""
    found = None
    for key, value in scope["headers"]:
        if key == name:
            found = value
    return found


def _token_app(scope: Scope) -> TokenApp | None:
    """The app the auth middleware found for this request."""
    app = scope.get("state", {}).get("intercom_app")
    return app if isinstance(app, TokenApp) else None


class AuthMiddleware:
    """Bearer token check: a token of the workspace's apps (or a foreign token on ``GET /me``) passes with its app in
    ``scope["state"]["intercom_app"]``; anything else is 401 ``unauthorized``, without rate-limit headers and not
    counted against any budget (there is no app to count it for)."""

    def __init__(self, app: ASGIApp, tokens: TokenApps) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if "//" in scope["path"]:  # tap-intercom builds base_url + '/' + '/contacts/…'
            scope["path"] = _DOUBLE_SLASH.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        scheme, _, credentials = (_header(scope, b"authorization") or b"").strip().partition(b" ")
        token_app = self.tokens.get(credentials.strip()) if scheme.lower() == b"bearer" else None
        foreign_path = scope["method"] in ("GET", "HEAD") and scope["path"] in FOREIGN_PATHS
        if token_app is not None and token_app.foreign and not foreign_path:
            token_app = None  # another workspace's token reaches nothing here but GET /me
        if token_app is None:
            code, message = errors.UNAUTHORIZED
            await errors.error_response(401, code, message)(scope, receive, send)
            return
        scope.setdefault("state", {})["intercom_app"] = token_app
        await self.app(scope, receive, send)


class RateLimitMiddleware:
    """Counts every authenticated API request in its app's and its workspace's 10-s windows and stamps the app's
    X-RateLimit-* headers on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token_app = _token_app(scope) if scope["type"] == "http" else None
        if token_app is None:  # admin paths (auth lets nothing else through without an app)
            await self.app(scope, receive, send)
            return
        decision = token_app.limiter.hit()
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


class VersionMiddleware:
    """``Intercom-Version`` resolution (400 on unknown values)."""

    def __init__(self, app: ASGIApp, default_version: str) -> None:
        self.app = app
        self.default_version = default_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        version_header = _header(scope, b"intercom-version")
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
        bulk_job_delay_seconds=settings.bulk_job_delay_seconds,
    )
    tokens = TokenApps(
        (settings.token, *settings.extra_tokens),
        settings.foreign_tokens,
        app_per_minute=settings.rate_limit_per_minute,
        workspace_per_minute=settings.workspace_rate_limit_per_minute,
    )
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
        bulk,
    )
    tables = [module.routes for module in modules]
    api_routes = build_routes(workspace, tables)
    app = Starlette(
        routes=[Mount("/__sandbox", routes=admin.routes(workspace, tokens)), *api_routes],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.workspace = workspace
    app.state.tokens = tokens
    #: the first app's limiter (``.hit()``, ``.clock``), as when the sandbox had one; all: ``tokens.workspace``
    app.state.limiter = tokens.workspace.apps[0]
    app.state.settings = settings
    app.state.fault_stats = Counter()  # what the fault injection did: error, reset, lost_error, lost_cut
    app.add_middleware(VersionMiddleware, default_version=settings.default_version)
    app.add_middleware(
        FaultInjectionMiddleware,
        fault_rate=settings.fault_rate,
        latency_ms=settings.latency_ms,
        error_response=errors.fault_error_response,
        seed=settings.fault_seed,
        lost_answer_rate=settings.lost_answer_rate,
        stats=app.state.fault_stats,
    )
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(AuthMiddleware, tokens=tokens)
    if settings.validate_openapi:
        from intercom_sandbox.openapi import OpenAPICaptureMiddleware, SpecValidator

        validator = SpecValidator.shared()
        app.state.openapi_validator = validator
        app.add_middleware(OpenAPICaptureMiddleware, validator=validator)
    return app
