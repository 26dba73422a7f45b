"""ASGI middleware that makes a sandbox misbehave the way real networks and SaaS backends do.

Injected on purpose so that clients are tested against slow responses, 5xx answers and connections that break
mid-response. Paths under ``/__sandbox/`` (the sandboxes' own admin API) are never disturbed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/__sandbox/"

ErrorFactory = Callable[[int], Response]


class ConnectionReset(Exception):
    """Raised after a partial response so that the server aborts the connection (the client sees a reset)."""


def _not_injected(record: logging.LogRecord) -> bool:
    """Keep uvicorn from printing a traceback for every reset we injected on purpose."""
    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionReset))


logging.getLogger("uvicorn.error").addFilter(_not_injected)


class FaultInjectionMiddleware:
    """Adds latency to every request and turns a fraction of them into 5xx answers or broken connections."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        error_response: ErrorFactory,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.app = app
        self.fault_rate = fault_rate
        self.latency_s = max(latency_ms, 0.0) / 1000.0
        self.error_response = error_response
        self.random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fault_rate and self.random.random() < self.fault_rate:
            if self.random.random() < 0.5:
                status = self.random.choice((500, 502, 503))
                await self.error_response(status)(scope, receive, send)
                return
            await _reset_connection(send)
        await self.app(scope, receive, send)


async def _reset_connection(send: Send) -> None:
    """Promise a body, send part of it, then abort: uvicorn closes the socket and the client reads a truncated
    response, exactly what a reset load balancer connection looks like from the client side."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
    raise ConnectionReset("injected connection reset")
