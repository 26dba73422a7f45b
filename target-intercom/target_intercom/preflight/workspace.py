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

    def _me(self, app: int) -> dict:
        """``GET /me`` with one token (``app``: its index among the configured tokens)."""
        which = "the access token" if self.client.apps == 1 else f"access token {app + 1} of {self.client.apps}"
        try:
            return self.client.request("GET", "/me", app=app)
        except IntercomError as exc:
            if exc.status == 401:
                msg = (
                    f"Intercom rejected {which} ({describe(exc)}). Check the `access_token`/`access_tokens` "
                    "setting (Developer Hub > your app > Authentication) and `api_url` (US, EU or AU region)."
                )
            elif exc.status == 403:
                msg = f"{which.capitalize()} may not read the workspace ({describe(exc)}): check the app's permissions."
            else:
                msg = f"Intercom did not answer GET /me ({describe(exc)}); nothing was checked or written."
            raise PreflightError(msg) from None

    def _auth(self) -> dict:
        """``GET /me`` with every token: proves each and says which workspace the run is about to change. Several
        tokens must be apps of one workspace (the same ``app.id_code``): their rate limits add up only there, and
        records written with one must be found with the others."""
        me = self._me(0)
        app = me.get("app") or {}
        for index in range(1, self.client.apps):
            other = self._me(index).get("app") or {}
            if other.get("id_code") != app.get("id_code"):
                raise PreflightError(
                    f"Access token {index + 1} of {self.client.apps} opens the workspace {other.get('name')!r} "
                    f"(app {other.get('id_code')}), the first one {app.get('name')!r} (app {app.get('id_code')}): "
                    "every token in `access_tokens` must belong to a private app of the same workspace. Nothing "
                    "was checked or written."
                )
        workspace = {
            "name": app.get("name"),
            "app_id": app.get("id_code"),
            "region": app.get("region"),
            "admin_id": str(me.get("id")) if me.get("id") is not None else None,
            "admin_name": me.get("name"),
            "admin_email": me.get("email"),
        }
        self.log.info(
            "Intercom workspace %r (app %s, region %s), token of admin %s <%s>, %d private app(s)",
            workspace["name"],
            workspace["app_id"],
            workspace["region"],
            workspace["admin_name"],
            workspace["admin_email"],
            self.client.apps,
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
