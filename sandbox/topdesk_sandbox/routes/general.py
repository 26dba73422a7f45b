"""General API (general 1.2.0): version probes and e-mails of progress-trail entries."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from topdesk_sandbox.common import ctx, json, not_found
from topdesk_sandbox.errors import ApiError

#: What ``/version`` reports: a REST API version with FIQL support (FIQL arrived in 3.3.0/3.4.0).
API_VERSION = "3.7.1"
PRODUCT_VERSION = {"major": 14, "minor": 3, "patch": 0}


async def version(request: Request) -> Response:
    return json({"version": API_VERSION})


async def product_version(request: Request) -> Response:
    return json(PRODUCT_VERSION)


async def email(request: Request) -> Response:
    """One e-mail; it "requires read permission on 'Sent email messages'" (general 1.2.0): without it, a 403."""
    c = ctx(request)
    if c.variant("no-sent-email-permission"):
        raise ApiError(403, "No permission on entity", code="forbidden")
    record = None if c.hidden("incidents") else c.store["emails"].get(request.path_params["id"])
    if record is None:
        raise not_found()
    return json(record)


routes = [
    Route("/tas/api/version", version),
    Route("/tas/api/productVersion", product_version),
    Route("/tas/api/emails/id/{id}", email),
]
