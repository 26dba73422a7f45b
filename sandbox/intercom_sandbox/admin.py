"""The sandbox's own admin API under ``/__sandbox/`` (no auth, no rate limit, never faulted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intercom_sandbox.errors import json_response
from intercom_sandbox.ratelimit import RateLimiter
from intercom_sandbox.store import Workspace


def routes(ws: Workspace, limiter: RateLimiter) -> list[Route]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def stats(request: Request) -> Response:
        with ws.lock:
            counts = ws.counts()
        return json_response({"objects": counts, **limiter.stats()})

    async def export(request: Request) -> Response:
        with ws.lock:
            return json_response(ws.export())

    async def reset(request: Request) -> Response:
        ws.reset()
        limiter.reset_counters()
        return json_response({"status": "reset"})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/export", export, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
