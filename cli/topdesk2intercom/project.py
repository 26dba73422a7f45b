"""Where the CLI's settings come from: the Meltano project (``meltano.yml`` + environment + ``.env`` + the plugins'
env vars, resolved by Meltano itself), or plain JSON config files for users without Meltano. One source of truth:
the CLI talks to the same TOPdesk and Intercom, with the same ledger, as ``meltano run``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
import yaml
from sqlalchemy.engine import make_url

from map_topdesk_intercom.api import MapInvalid, MapSpec, catalog_from_file, load_map
from target_intercom.api import IntercomClient, Ledger, access_tokens

TAP, TARGET = "tap-topdesk", "target-intercom"


def find_root(start: Path | None = None) -> Path | None:
    """The nearest folder holding ``meltano.yml`` (this one or a parent), as Meltano finds its project."""
    here = (start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "meltano.yml").is_file()), None)


def meltano_executable(root: Path) -> str | None:
    """``$MELTANO``, else ``meltano`` on PATH, else the project's ``.venv-meltano`` (what ``make meltano`` installs)."""
    candidates = [os.environ.get("MELTANO"), shutil.which("meltano"), str(root / ".venv-meltano" / "bin" / "meltano")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@dataclass
class Project:
    """Settings of the tap and the target, resolved once per command."""

    environment: str | None = None
    tap_config_file: str | None = None
    target_config_file: str | None = None
    root: Path | None = field(default_factory=find_root)
    _cache: dict[str, dict] = field(default_factory=dict, repr=False)

    def config(self, plugin: str) -> dict[str, t.Any]:
        """The plugin's resolved config (secrets included: never print it)."""
        if plugin not in self._cache:
            file = self.tap_config_file if plugin == TAP else self.target_config_file
            self._cache[plugin] = _read_json(file) if file else self._from_meltano(plugin)
        return self._cache[plugin]

    @property
    def tap(self) -> dict[str, t.Any]:
        return self.config(TAP)

    @property
    def target(self) -> dict[str, t.Any]:
        return self.config(TARGET)

    def _from_meltano(self, plugin: str) -> dict[str, t.Any]:
        if self.root is None:
            raise click.UsageError(f"no meltano.yml here or above, and no --{plugin.split('-')[0]}-config FILE given")
        meltano = meltano_executable(self.root)
        if meltano is None:
            raise click.UsageError(
                "Meltano not found (set $MELTANO, put meltano on PATH, or run `make meltano`), "
                f"or give --{plugin.split('-')[0]}-config FILE"
            )
        # `meltano config` ignores the default environment unless it is named: name it, as `meltano run` uses it.
        environment = self.environment or _default_environment(self.root)
        command = [
            meltano,
            *(["--environment", environment] if environment else []),
            "config",
            "--unsafe",
            "print",
            plugin,
        ]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            # Meltano's own error, without the config (it is not printed on failure).
            raise click.ClickException(f"`meltano config print {plugin}` failed: {done.stderr.strip()[-800:]}")
        return json.loads(done.stdout)

    @property
    def report_base(self) -> Path:
        """The target's ``report_dir``: the load reports, and every command's report folder beside them."""
        return Path(self.target.get("report_dir") or (self.root or Path.cwd()) / "reports")

    def report_dir(self, command: str) -> Path:
        """A fresh folder for one command's reports, under the target's ``report_dir`` (beside the load reports)."""
        base = self.report_base
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = base / f"{command}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = base / f"{command}-{stamp}-{n}"
        path.mkdir(parents=True)
        return path


def _default_environment(root: Path) -> str | None:
    doc = yaml.safe_load((root / "meltano.yml").read_text(encoding="utf-8")) or {}
    return doc.get("default_environment")


def _read_json(path: str) -> dict[str, t.Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read config file {path}: {type(exc).__name__}") from None


def intercom_client(target: dict[str, t.Any]) -> IntercomClient:
    """A client with the target's settings (same API URL, token, version and retries as the load)."""
    if not access_tokens(target):
        raise click.UsageError(
            "target-intercom's access_token is not set (meltano config target-intercom set "
            "access_token ..., or access_token / access_tokens in --target-config)"
        )
    return IntercomClient.from_config(target)


def existing_ledger(target: dict[str, t.Any]) -> Ledger | None:
    """The load's ledger, or None when no load ran with these settings: a SQLite file that does not exist is not
    created (an empty ledger would make every record look new, or missing)."""
    url = make_url(Ledger.url_from_config(target))
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).is_file()):
        return None
    return Ledger(url.render_as_string(hide_password=False))


pass_project = click.make_pass_decorator(Project)


def target_map(target: dict[str, t.Any]) -> MapSpec:
    """The map the load will apply: the target's ``map_file`` (or the packaged map)."""
    try:
        catalog = catalog_from_file(target["catalog"]) if target.get("catalog") else True
        return load_map(target.get("map_file"), catalog)
    except MapInvalid as exc:
        raise click.ClickException("the map has problems:\n" + "\n".join(exc.problems)) from None


def map_definitions(spec: MapSpec) -> dict[str, list[dict]]:
    """The definition records the mapper sends before any record (``ticket_types``, ``attribute_definitions``,
    ``custom_object_types``), as the mapper builds them."""
    return {
        "ticket_types": [d.record() for d in spec.active(spec.ticket_types)],
        "attribute_definitions": [d.record() for d in spec.active(spec.attributes)],
        "custom_object_types": [d.record() for d in spec.active(spec.custom_object_types)],
    }
