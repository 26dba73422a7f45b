"""The sandbox's own admin API under ``/__sandbox/`` (no auth, no rate limit, never faulted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intercom_sandbox.errors import json_response
from intercom_sandbox.store import Workspace
from intercom_sandbox.tokens import TokenApps


def routes(ws: Workspace, tokens: TokenApps) -> list[Route]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def stats(request: Request) -> Response:
        with ws.lock:
            counts = ws.counts()
            undocumented = dict(sorted(ws.undocumented_fields.items()))
            denied = dict(sorted(ws.denials.items()))
        return json_response(
            {"objects": counts, "undocumented_fields": undocumented, "denied": denied, **tokens.workspace.stats()}
        )

    async def export(request: Request) -> Response:
        with ws.lock:
            return json_response(ws.export())

    async def reset(request: Request) -> Response:
        ws.reset()
        tokens.reset_counters()
        return json_response({"status": "reset"})

    async def define_custom_objects(request: Request) -> Response:
        """What only Intercom's UI can do (custom object types are not created through the REST API): the demo and
        tests play the admin who creates the types a provisioning list asks for. Body: a list of definitions, as
        ``--custom-objects``."""
        try:
            body = await request.json()
            if not isinstance(body, list):
                raise ValueError("expected a JSON list of custom object definitions")
            names = ws.define_custom_objects(body)
        except ValueError as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"defined": names})

    return [
        Route("/custom_object_types", define_custom_objects, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/export", export, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
