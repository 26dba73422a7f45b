"""The TOPdesk sandbox app: settings, loading the dataset, and wiring routes, auth and fault injection."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from sandbox_common.faults import FaultInjectionMiddleware
from topdesk_sandbox import admin, requestlog
from topdesk_sandbox.auth import BasicAuthMiddleware
from topdesk_sandbox.common import Context
from topdesk_sandbox.errors import ApiError, error_response, fault_response
from topdesk_sandbox.listing import ResultCache
from topdesk_sandbox.routes import assets, changes, general, incidents, knowledge, operations, reservations, supporting
from topdesk_sandbox.store import Store
from topdesk_sandbox.variants import check_variants

#: Names accepted by ``--hidden-modules`` (see README): each hides the endpoints listed there.
MODULES = frozenset(
    {
        "incidents",
        "changes",
        "assets",
        "knowledge",
        "operations",
        "reservations",
        "persons",
        "operators",
        "operatorgroups",
        "branches",
        "locations",
        "suppliers",
        "departments",
        "budgetholders",
    }
)


def _default_hang() -> float:
    return float(os.environ.get("TOPDESK_SANDBOX_EXPORT_HANG_S", "2"))


@dataclass
class SandboxSettings:
    """Everything ``topdesk-sandbox serve`` can be told."""

    data_dir: Path | None = None
    scale: int | None = None
    seed: int = 1
    login: str = "api_operator"
    password: str = "sandbox-app-password"
    hidden_modules: frozenset[str] = frozenset()
    export_timeout_over: int | None = None
    export_hang_s: float = field(default_factory=_default_hang)
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    #: more requests in progress than this: each one's latency grows with them (``latency_ms`` x in progress /
    #: capacity), a server that strains (EVIDENCE: assumed); None: no limit
    capacity: int | None = None
    fault_seed: int | None = None
    #: fraction of requests handled whose answer is then lost (502/503/504 or a cut body): see sandbox_common.faults
    lost_answer_rate: float = 0.0
    #: tenant variants to play (``variants.VARIANTS``), e.g. asset grids keyed ``unid``
    variants: frozenset[str] = frozenset()
    #: refuse (400) a request the descriptions do not document, as TOPdesk does (``documented.py``); every request is
    #: recorded with its violations either way (``GET /__sandbox/requests``)
    strict: bool = True

    def __post_init__(self) -> None:
        check_variants(self.variants)
        unknown = set(self.hidden_modules) - MODULES
        if unknown:
            raise ValueError(f"unknown module(s) {sorted(unknown)}; known: {sorted(MODULES)}")


def load_store(settings: SandboxSettings) -> Store:
    """The dataset: a directory written by hand or by the generator, or generated in memory."""
    if settings.data_dir is not None:
        return Store.from_directory(Path(settings.data_dir))
    if settings.scale is not None:
        from topdesk_sandbox.generator import build_dataset  # lazy: the generator is optional at import time

        return Store.from_records(build_dataset(settings.scale, settings.seed).records)
    return Store()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request.url.path, exc)


def create_app(settings: SandboxSettings, store: Store | None = None) -> Starlette:
    """Build the ASGI app; ``store`` lets tests hand in a dataset built in code."""
    routes = [
        *requestlog.routes,
        *admin.routes,
        *general.routes,
        *incidents.routes,
        *supporting.routes,
        *changes.routes,
        *assets.routes,
        *operations.routes,
        *knowledge.routes,
        *reservations.routes,
    ]
    request_log = requestlog.RequestLog()
    middleware = [
        Middleware(
            FaultInjectionMiddleware,
            fault_rate=settings.fault_rate,
            latency_ms=settings.latency_ms,
            error_response=fault_response,
            seed=settings.fault_seed,
            lost_answer_rate=settings.lost_answer_rate,
            capacity=settings.capacity,
        ),
        Middleware(BasicAuthMiddleware, login=settings.login, password=settings.password),
        Middleware(requestlog.DocumentedRequestsMiddleware, log=request_log, strict=settings.strict),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={ApiError: _api_error})
    if store is None:
        store = load_store(settings)
        # A million loaded records are permanent: keep the cyclic GC from re-walking them on every full collection.
        gc.collect()
        gc.freeze()
    app.state.ctx = Context(settings=settings, store=store, cache=ResultCache())
    app.state.request_log = request_log
    return app
