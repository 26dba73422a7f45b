"""Test helpers for the ``topdesk2intercom`` CLI: both sandboxes in this process, config files pointing at them
(temporary ledger and report folder), and the CLI invoked as a user would (``--tap-config``/``--target-config``,
no Meltano needed)::

    from topdesk2intercom_testing.cli import Migration

    def test_x(tmp_path):
        with Migration.started(tmp_path, scale=40) as m:
            result = m.cli("audit")
"""

from __future__ import annotations

import contextlib
import json
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from click.testing import CliRunner, Result

from intercom_sandbox.app import WorkspaceSettings, create_app
from map_topdesk_intercom.mapfile import load_map
from sandbox_common.server import ServerThread
from topdesk2intercom.cli import main
from topdesk_sandbox.app import SandboxSettings
from topdesk_sandbox.app import create_app as create_topdesk_app

TOPDESK_LOGIN, TOPDESK_PASSWORD = "api_operator", "sandbox-app-password"
INTERCOM_TOKEN = "cli-test-intercom-token"
FALLBACK_ADMIN = "fallback@sandbox.example"


@dataclass
class Migration:
    """A TOPdesk sandbox (generated dataset), an Intercom sandbox (the default map's custom object types created,
    as an admin does in the UI) and the CLI's config files for them."""

    workdir: Path
    topdesk_url: str
    intercom_url: str
    intercom_app: t.Any

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, workdir: Path, *, scale: int = 40, seed: int = 3, topdesk: dict | None = None, intercom: dict | None = None
    ) -> Iterator[Migration]:
        """``topdesk``/``intercom``: extra ``SandboxSettings``/``WorkspaceSettings`` keywords."""
        objects = tuple(load_map(catalog=False).ui_custom_objects())
        intercom_settings = {
            "token": INTERCOM_TOKEN,
            "custom_objects": objects,
            "validate_openapi": True,
            **(intercom or {}),
        }
        topdesk_settings = {"scale": scale, "seed": seed, "export_hang_s": 0.01, **(topdesk or {})}
        intercom_app = create_app(WorkspaceSettings(**intercom_settings))
        with (
            ServerThread(create_topdesk_app(SandboxSettings(**topdesk_settings))) as td,
            ServerThread(intercom_app) as ic,
        ):
            migration = cls(workdir, td.url, ic.url, intercom_app)
            migration.write_configs()
            yield migration

    @property
    def tap_config_path(self) -> Path:
        return self.workdir / "tap-config.json"

    @property
    def target_config_path(self) -> Path:
        return self.workdir / "target-config.json"

    @property
    def report_dir(self) -> Path:
        return self.workdir / "reports"

    @property
    def ledger_path(self) -> Path:
        return self.workdir / "ledger.db"

    def write_configs(self, tap: dict | None = None, target: dict | None = None) -> None:
        """(Re)write both config files; keyword dicts add or override settings."""
        self.tap_config_path.write_text(
            json.dumps(
                {
                    "url": self.topdesk_url,
                    "username": TOPDESK_LOGIN,
                    "app_password": TOPDESK_PASSWORD,
                    "max_retries": 2,
                    **(tap or {}),
                }
            )
        )
        self.target_config_path.write_text(
            json.dumps(
                {
                    "access_token": INTERCOM_TOKEN,
                    "api_url": self.intercom_url,
                    "ledger_url": f"sqlite:///{self.ledger_path}",
                    "report_dir": str(self.report_dir),
                    "fallback_admin_email": FALLBACK_ADMIN,
                    **(target or {}),
                }
            )
        )

    def cli(self, *args: str, expect: int | None = 0) -> Result:
        """``topdesk2intercom --tap-config ... --target-config ... ARGS``; asserts the exit code unless None."""
        result = CliRunner().invoke(
            main,
            ["--tap-config", str(self.tap_config_path), "--target-config", str(self.target_config_path), *args],
            catch_exceptions=False,
        )
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}:\n{result.output}"
        return result

    def migrate(self) -> None:
        """A full load as ``meltano run tap-topdesk target-intercom`` does it (two processes, a pipe), without
        Meltano: the end-to-end test in ``tests/`` covers Meltano itself."""
        from topdesk2intercom.plugins import run_target, tap_messages

        config = json.loads(self.tap_config_path.read_text())
        run_target(json.loads(self.target_config_path.read_text()), tap_messages(config))

    def intercom(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        """A request to the Intercom sandbox with the token (e.g. to plant a difference)."""
        headers = {
            "Authorization": f"Bearer {INTERCOM_TOKEN}",
            "Intercom-Version": "2.16",
            "Accept": "application/json",
            **kwargs.pop("headers", {}),
        }
        return requests.request(method, f"{self.intercom_url}{path}", headers=headers, timeout=30, **kwargs)

    def topdesk_admin(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        """The TOPdesk sandbox's admin API (``/__sandbox/...``), e.g. to change a record between runs."""
        return requests.request(method, f"{self.topdesk_url}/__sandbox{path}", timeout=30, **kwargs)

    def reports(self, pattern: str) -> list[Path]:
        """Report files under the report folder matching ``pattern`` (e.g. ``verify-*/verify.json``), oldest first."""
        return sorted(self.report_dir.glob(pattern), key=lambda p: p.stat().st_mtime_ns)
