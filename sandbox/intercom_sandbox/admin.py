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

    async def edit(request: Request) -> Response:
        """Plays a teammate editing a record in Intercom's UI (or Intercom changing it): the body's fields merged
        into the stored record as ``/__sandbox/export`` shows it (a field set to null is removed; an object merges
        one level deep, so ``{"attributes": {"Priority": "P1"}}`` changes one attribute). Tests plant a difference
        with it that the public API could not make (a part's body, a date)."""
        params = request.path_params
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object of fields")
        except ValueError as exc:
            return json_response({"error": str(exc)}, status=400)
        with ws.lock:
            record = _stored(ws, params.get("collection", ""), params.get("type"), params["id"], params.get("part"))
            if record is None:
                return json_response({"error": "no such record"}, status=404)
            for key, value in body.items():
                if value is None:
                    record.pop(key, None)
                elif isinstance(value, dict) and isinstance(record.get(key), dict):
                    record[key] = {k: v for k, v in {**record[key], **value}.items() if v is not None}
                else:
                    record[key] = value
            return json_response(dict(record))

    return [
        Route("/records/custom_object_instances/{type}/{id}", edit, methods=["PATCH"]),
        Route("/records/{collection}/{id}/parts/{part}", edit, methods=["PATCH"]),
        Route("/records/{collection}/{id}", edit, methods=["PATCH"]),
        Route("/custom_object_types", define_custom_objects, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/export", export, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]


#: the workspace's collections an admin edit may change, as ``/__sandbox/export`` names them
EDITABLE = ("contacts", "companies", "notes", "conversations", "tickets", "articles", "collections")


def _stored(ws: Workspace, collection: str, object_type: str | None, record_id: str, part: str | None) -> dict | None:
    """The stored record (a ticket's or conversation's part with ``part``), or None."""
    if object_type is not None:
        return ws.custom_objects.get(object_type, {}).get(record_id)
    if collection not in EDITABLE:
        return None
    record = getattr(ws, collection).get(record_id)
    if record is None or part is None:
        return record
    return next((p for p in record.get("parts") or [] if str(p.get("id")) == part), None)
