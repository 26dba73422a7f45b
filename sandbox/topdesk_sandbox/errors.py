"""TOPdesk's error bodies, one family per API (reference §3), so clients parse errors as they would in production."""

from __future__ import annotations

import orjson
from starlette.responses import Response

#: Body of a 401 on SaaS: an HTML page, not JSON (reference §2, pipedream issue 19120).
UNAUTHORIZED_HTML = (
    "<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>\n"
    "<body><h1>Unauthorized</h1>\n"
    "<p>The request has not been applied because it lacks valid authentication credentials.</p>\n"
    "</body></html>\n"
)

CLASSIC = "classic"  # /tas/api: [{"message": "..."}]
NEWER = "newer"  # reservations: {"errors":[{"errorCode","appliesTo":[..],"errorMessage"}]}
KB = "kb"  # knowledge base: same, but appliesTo is a string in its spec
ASSETS = "assets"  # assetmgmt: {"errors":[{"errorCode","appliesTo":[..],"detail"}]}

SERVER_ERROR = "An error occurred on the server"
MALFORMED = "Input parameters malformed"
NOT_FOUND = "Entity not found"


class ApiError(Exception):
    """Raised by a route; rendered in the error family of the API the request belongs to."""

    def __init__(self, status: int, message: str, *, code: str = "bad_request", applies_to: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.applies_to = applies_to


def family_for(path: str) -> str:
    """Which error family a path belongs to."""
    if path.startswith("/tas/api/assetmgmt"):
        return ASSETS
    if path.startswith("/services/knowledge-base-v1"):
        return KB
    if path.startswith("/tas/api/reservations"):
        return NEWER
    return CLASSIC


def error_body(family: str, message: str, code: str = "bad_request", applies_to: str | None = None) -> object:
    """The JSON body of an error in one family."""
    if family == CLASSIC:
        return [{"message": message}]
    if family == ASSETS:
        return {"errors": [{"errorCode": code, "appliesTo": [applies_to] if applies_to else [], "detail": message}]}
    entry: dict[str, object] = {"errorCode": code, "errorMessage": message}
    if applies_to:
        entry["appliesTo"] = applies_to if family == KB else [applies_to]
    return {"errors": [entry]}


def error_response(path: str, error: ApiError) -> Response:
    """Render an ApiError for the API family of ``path``."""
    body = error_body(family_for(path), error.message, error.code, error.applies_to)
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json")


def unauthorized() -> Response:
    """401 as TOPdesk SaaS sends it: an HTML page plus a Basic challenge."""
    return Response(
        UNAUTHORIZED_HTML,
        status_code=401,
        media_type="text/html; charset=utf-8",
        headers={"WWW-Authenticate": 'Basic realm="TOPdesk"'},
    )


def fault_response(status: int) -> Response:
    """Injected faults: 500 comes from TOPdesk itself (classic body); 502/503/504 from the proxy in front (HTML)."""
    if status == 500:
        return Response(orjson.dumps([{"message": SERVER_ERROR}]), status_code=500, media_type="application/json")
    titles = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}
    title = titles.get(status, f"{status} Error")
    html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")
