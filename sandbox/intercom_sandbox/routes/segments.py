"""Segments: read-only. Intercom creates them in the UI only (no API writes them) and a migration makes none, so a
workspace lists none; the read endpoints answer as the 2.16 spec shows, so reporting and backup clients (tap-intercom,
Airbyte's source-intercom) that list segments after a load read what Intercom would show."""

from __future__ import annotations

from typing import Any

from intercom_sandbox.errors import not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.companies import require_company
from intercom_sandbox.routes.contacts import require_contact

routes = RouteTable()


@routes.get("/segments")
def list_segments(ctx: Ctx) -> dict[str, Any]:
    return {"type": "segment.list", "segments": []}


@routes.get("/segments/{segment_id}")
def get_segment(ctx: Ctx) -> dict[str, Any]:
    raise not_found()


@routes.get("/companies/{company_id}/segments")
def company_segments(ctx: Ctx) -> dict[str, Any]:
    require_company(ctx.ws, ctx.path["company_id"])
    return {"type": "list", "data": []}


@routes.get("/contacts/{contact_id}/segments")
def contact_segments(ctx: Ctx) -> dict[str, Any]:
    require_contact(ctx.ws, ctx.path["contact_id"])
    return {"type": "list", "data": []}
