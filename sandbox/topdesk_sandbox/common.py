"""Helpers every route module uses: the request context, JSON responses, Accept negotiation, offset paging."""

from __future__ import annotations

import json as stdlib_json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response

from topdesk_sandbox.errors import NOT_FOUND, ApiError
from topdesk_sandbox.listing import ListQuery, ResultCache, guard_export, page_of, run

if TYPE_CHECKING:
    from topdesk_sandbox.app import SandboxSettings
    from topdesk_sandbox.store import Store

JSON = "application/json"


@dataclass
class Context:
    """What every handler needs: settings, the data and the result cache."""

    settings: SandboxSettings
    store: Store
    cache: ResultCache

    def variant(self, name: str) -> bool:
        """Whether the sandbox plays this tenant variant (``variants.VARIANTS``)."""
        return name in self.settings.variants

    def hidden(self, module: str) -> bool:
        """Whether this operator may not see ``module`` (answers as if nothing matched)."""
        return module in self.settings.hidden_modules

    async def matched(self, q: ListQuery, *, guard: bool = True) -> Sequence[int]:
        """Run a list query; with ``guard``, apply the export time-out to the matched count."""
        positions = run(q, self.cache)
        if guard:
            await guard_export(len(positions), self.settings.export_timeout_over, self.settings.export_hang_s)
        return positions


def ctx(request: Request) -> Context:
    """The app's context."""
    return request.app.state.ctx


def params(request: Request) -> dict[str, str]:
    """Query parameters, last value wins (use ``request.query_params.getlist`` for repeatable ones)."""
    return dict(request.query_params)


def dumps(data: object) -> bytes:
    """JSON bytes: orjson, or the standard library for what orjson refuses although the dataset holds it as valid
    JSON (a lone surrogate, an integer beyond 64 bits: see ``store.loads``); ``\\u`` escapes keep it valid UTF-8."""
    try:
        return orjson.dumps(data)
    except TypeError:  # orjson.JSONEncodeError
        return stdlib_json.dumps(data, separators=(",", ":")).encode("ascii")


def json(data: object, status: int = 200, *, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (``dumps``)."""
    return Response(dumps(data), status_code=status, media_type=media_type, headers=headers)


def no_content() -> Response:
    """204 without a body."""
    return Response(status_code=204)


def not_found(message: str = NOT_FOUND) -> ApiError:
    """404 in the path's error family."""
    return ApiError(404, message, code="not_found")


def negotiate(request: Request, offered: Sequence[str], default: str) -> str:
    """Pick the response media type from ``Accept``: none/``*/*``/``application/*`` → ``default``; a listed type
    → that type; anything else → 406 (as TOPdesk does for a version it cannot serve)."""
    header = request.headers.get("accept")
    if not header:
        return default
    wildcard = False
    for part in header.split(","):
        media = part.split(";")[0].strip().lower()
        if media in offered:
            return media
        if media in ("*/*", "application/*"):
            wildcard = True
    if wildcard:
        return default
    raise ApiError(406, "Incorrect 'Accept' header used for the endpoint", code="not_acceptable")


def offset_page(positions: Sequence[int], start: int, size: int) -> tuple[Sequence[int], int]:
    """One page and its status: 206 when more follow, 200 for the last page, 204 when the page is empty."""
    page, more = page_of(positions, start, size)
    if not page:
        return page, 204
    return page, 206 if more else 200


def next_url(request: Request, **overrides: int) -> str:
    """The absolute URL of the next page (incident ``x-next-page-url``, v2 ``next``)."""
    return str(request.url.include_query_params(**{k: str(v) for k, v in overrides.items()}))
