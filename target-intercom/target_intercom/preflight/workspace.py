"""The token and the workspace it opens (GET /me), the teammates (the fallback admin) and the teams the map
needs: teams and teammates can only be made in Intercom's UI."""

from __future__ import annotations

from target_intercom.client import IntercomError
from target_intercom.directory import Directory
from target_intercom.preflight.base import PreflightBase
from target_intercom.preflight.common import PAGES, backticked, describe
from target_intercom.preflight.model import Entry, PreflightError, Problem


class WorkspaceChecks(PreflightBase):
    """Token, fallback admin, required teams."""

    # ------------------------------------------------------------------ 1. auth

    def _auth(self) -> dict:
        """``GET /me``: proves the token and says which workspace the run is about to change."""
        try:
            me = self.client.request("GET", "/me")
        except IntercomError as exc:
            if exc.status == 401:
                msg = (
                    f"Intercom rejected the access token ({describe(exc)}). Check the `access_token` setting "
                    "(Developer Hub > your app > Authentication) and `api_url` (US, EU or AU region)."
                )
            elif exc.status == 403:
                msg = f"The access token may not read the workspace ({describe(exc)}): check the app's permissions."
            else:
                msg = f"Intercom did not answer GET /me ({describe(exc)}); nothing was checked or written."
            raise PreflightError(msg) from None
        app = me.get("app") or {}
        workspace = {
            "name": app.get("name"),
            "app_id": app.get("id_code"),
            "region": app.get("region"),
            "admin_id": str(me.get("id")) if me.get("id") is not None else None,
            "admin_name": me.get("name"),
            "admin_email": me.get("email"),
        }
        self.log.info(
            "Intercom workspace %r (app %s, region %s), token of admin %s <%s>",
            workspace["name"],
            workspace["app_id"],
            workspace["region"],
            workspace["admin_name"],
            workspace["admin_email"],
        )
        return workspace

    # ------------------------------------------------------------------ 2. admins and teams

    def _admins_and_teams(self, me: dict) -> None:
        admins = self._get("/admins", key="admins")
        teams = self._get("/teams", key="teams")
        directory = Directory(admins, teams, None)
        wanted = self.settings.fallback_admin_email
        if wanted:
            fallback = directory.admin_id_by_email(wanted)
            if fallback is None:
                emails = sorted(a["email"] for a in admins if a.get("email"))
                more = f" (and {len(emails) - 10} more)" if len(emails) > 10 else ""
                self.report.problems.append(
                    Problem(
                        "admin",
                        wanted,
                        f"The fallback admin `{wanted}` (setting `fallback_admin_email`) is not a "
                        f"teammate of this workspace: invite them in {PAGES['admin']}, or set `fallback_admin_email` "
                        "to "
                        f"a teammate's e-mail, e.g. {backticked(emails[:10])}{more}.",
                    )
                )
            else:
                self.report.existing.append(Entry("admin", wanted, fallback, detail="fallback admin"))
        else:
            fallback = me.get("admin_id")
            self.report.warnings.append(
                f"`fallback_admin_email` is not set: the token's admin {me.get('admin_name')} "
                f"<{me.get('admin_email')}> stands in for operators without an Intercom teammate."
            )
        directory.fallback_admin_id = fallback
        self.report.directory = directory
        for name in self.required_teams:
            team_id = directory.team_id_by_name(name)
            if team_id is None:
                self.report.problems.append(
                    Problem(
                        "team",
                        name,
                        f"Create the team `{name}` in {PAGES['team']} (teams cannot be created through the API).",
                        ui_only=True,
                    )
                )
            else:
                self.report.existing.append(Entry("team", name, team_id))
