"""Admins (teammates) and teams: read-only, seeded at start, because Intercom creates them only in the UI."""

from __future__ import annotations

from typing import Any

from intercom_sandbox.errors import not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.store import WORKSPACE_ID, Workspace
from intercom_sandbox.tokens import foreign_id_code

routes = RouteTable()
AVATAR = "https://static.intercomassets.com/assets/default-avatars/admins/128.png"


def admin_author(admin: dict[str, Any]) -> dict[str, Any]:
    """The short admin shape used as note/part author."""
    return {
        "type": "admin",
        "id": admin["id"],
        "name": admin["name"],
        "email": admin["email"],
        "away_mode_enabled": False,
        "away_mode_reassign": False,
    }


def render_admin(admin: dict[str, Any], avatar: bool = False) -> dict[str, Any]:
    """The admin as ``/admins`` shows it: the author shape plus inbox seat and teams."""
    body = admin_author(admin)
    body["has_inbox_seat"] = True
    body["team_ids"] = [int(t) for t in admin["team_ids"] if t.isdigit()]
    if avatar:
        body["avatar"] = AVATAR
    return body


def find_admin(ws: Workspace, admin_id: Any) -> dict[str, Any] | None:
    return ws.admins.get(str(admin_id)) if admin_id not in (None, "") else None


#: the admin a foreign token (an app of another workspace) authenticates as: not one of this workspace's admins
FOREIGN_ADMIN = {"id": "991200001", "name": "Other Workspace Admin", "email": "admin@other-workspace.example"}


@routes.get("/me")
def me(ctx: Ctx) -> dict[str, Any]:
    """The token's admin and app (the workspace): every token of this workspace answers the same ``app``; a token
    of another workspace (``foreign_tokens``) answers that workspace's app and admin."""
    token_app = ctx.token_app
    if token_app is not None and token_app.foreign:
        admin, id_code, app_name = FOREIGN_ADMIN, foreign_id_code(token_app.number), "Other Workspace"
    else:
        admin, id_code, app_name = ctx.ws.first_admin, WORKSPACE_ID, "Intercom Sandbox"
    return {
        "type": "admin",
        "id": admin["id"],
        "email": admin["email"],
        "name": admin["name"],
        "email_verified": True,
        "app": {
            "type": "app",
            "id_code": id_code,
            "name": app_name,
            "created_at": ctx.ws.created_at,
            "secure": False,
            "identity_verification": False,
            "timezone": ctx.ws.timezone,
            "region": "US",
        },
        "avatar": {"type": "avatar", "image_url": AVATAR},
        "has_inbox_seat": True,
    }


@routes.get("/admins")
def list_admins(ctx: Ctx) -> dict[str, Any]:
    avatar = ctx.flag("display_avatar")
    return {"type": "admin.list", "admins": [render_admin(a, avatar) for a in ctx.ws.admins.values()]}


@routes.get("/admins/{admin_id}")
def get_admin(ctx: Ctx) -> dict[str, Any]:
    admin = find_admin(ctx.ws, ctx.path["admin_id"])
    if admin is None:
        raise not_found("Admin not found", code="admin_not_found")
    body = render_admin(admin)
    body["away_status_reason_id"] = None
    return body


def render_team(team: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "team",
        "id": team["id"],
        "name": team["name"],
        "admin_ids": [int(a) for a in team["admin_ids"] if a.isdigit()],
        "assignment_limit": None,
        "distribution_method": "round_robin",
    }


@routes.get("/teams")
def list_teams(ctx: Ctx) -> dict[str, Any]:
    return {"type": "team.list", "teams": [render_team(t) for t in ctx.ws.teams.values()]}


@routes.get("/teams/{team_id}")
def get_team(ctx: Ctx) -> dict[str, Any]:
    team = ctx.ws.teams.get(ctx.path["team_id"])
    if team is None:
        raise not_found("Team not found", code="team_not_found")
    return render_team(team)
