"""ASGI middleware that makes a sandbox misbehave the way real networks and SaaS backends do.

Injected on purpose so that clients are tested against slow responses, 5xx answers and connections that break
mid-response. Paths under ``/__sandbox/`` (the sandboxes' own admin API) are never disturbed.

Two kinds of fault, drawn independently:

- ``fault_rate``: the request fails *before* the handler runs (nothing is applied): 500/502/503 or a reset.
- ``lost_answer_rate``: the request is *handled* (a write happens) and then its answer is lost on the way back: a
  502/503/504 from the proxy in front, or the real answer cut mid-body. Real Intercom does this (a gateway times out
  after the backend wrote, a connection drops while the answer streams), and it is the only fault that exercises a
  client's "may have been applied" path: it must look before it sends a create again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/__sandbox/"

ErrorFactory = Callable[[int], Response]
#: Statuses of an answer lost after the handler ran: what a proxy / gateway in front of the app answers.
LOST_ANSWER_STATUSES = (502, 503, 504)


class ConnectionReset(Exception):
    """Raised after a partial response so that the server aborts the connection (the client sees a reset)."""


def _not_injected(record: logging.LogRecord) -> bool:
    """Keep uvicorn from printing a traceback for every reset we injected on purpose."""
    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionReset))


logging.getLogger("uvicorn.error").addFilter(_not_injected)


class FaultInjectionMiddleware:
    """Adds latency to every request, turns a fraction of them into 5xx answers or broken connections before they
    are handled (``fault_rate``), and loses the answer of a fraction of handled ones (``lost_answer_rate``).

    ``capacity`` (optional): a server that strains. With more than ``capacity`` requests in progress (arrived, not
    yet answered), a request's added latency grows with them (``latency_ms`` x in progress / ``capacity``), as a
    saturated server queues: the latency scales, so it needs ``latency_ms``. ``in_progress`` is the count now.

    ``stats`` (optional) counts what was injected: ``error``, ``reset`` (before the handler), ``lost_error``,
    ``lost_cut`` (after it). Seeded draws are reproducible; the lost-answer draws use their own generator, so a
    given ``seed`` and ``fault_rate`` fault the same requests whatever ``lost_answer_rate`` is.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        error_response: ErrorFactory,
        seed: int | None = None,
        lost_answer_rate: float = 0.0,
        stats: Counter | None = None,
        capacity: int | None = None,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if not 0.0 <= lost_answer_rate <= 1.0:
            raise ValueError("lost_answer_rate must be between 0 and 1")
        self.app = app
        self.fault_rate = fault_rate
        self.lost_answer_rate = lost_answer_rate
        self.latency_s = max(latency_ms, 0.0) / 1000.0
        self.error_response = error_response
        self.random = random.Random(seed)
        self.lost_random = random.Random(None if seed is None else f"lost-answer-{seed}")
        self.stats = stats if stats is not None else Counter()
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        self.in_progress += 1  # one event loop: no lock needed
        try:
            await self._handle(scope, receive, send)
        finally:
            self.in_progress -= 1

    def delay_s(self) -> float:
        """The latency a request arriving now gets (``capacity``: more while more are in progress)."""
        if self.capacity is not None and self.in_progress > self.capacity:
            return self.latency_s * self.in_progress / self.capacity
        return self.latency_s

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if delay := self.delay_s():
            await asyncio.sleep(delay)
        if self.fault_rate and self.random.random() < self.fault_rate:
            if self.random.random() < 0.5:
                status = self.random.choice((500, 502, 503))
                self.stats["error"] += 1
                await self.error_response(status)(scope, receive, send)
                return
            self.stats["reset"] += 1
            await _reset_connection(send)
        if self.lost_answer_rate and self.lost_random.random() < self.lost_answer_rate:
            await self._lose_answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _lose_answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler to the end (its effects stay), then replace its answer by a gateway error or cut it."""
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        if self.lost_random.random() < 0.5:
            self.stats["lost_error"] += 1
            status = self.lost_random.choice(LOST_ANSWER_STATUSES)
            await self.error_response(status)(scope, receive, send)
            return
        self.stats["lost_cut"] += 1
        await _cut_answer(send, answer)


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


async def _cut_answer(send: Send, answer: list[Message]) -> None:
    """Send the handler's real status and headers and the first half of its body, then abort: the client gets a
    truncated answer to a request that was applied."""
    start = next((m for m in answer if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in answer if m["type"] == "http.response.body")
    if start is None:  # the handler sent nothing: nothing to cut, the connection just drops
        raise ConnectionReset("injected connection reset after the request was handled")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(max(len(body), 2)).encode()))  # an empty body still ends short
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionReset("injected connection reset after the request was handled")
