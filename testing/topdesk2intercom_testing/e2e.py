"""End-to-end test helpers: the project as a user runs it (sandbox processes, ``meltano``, ``topdesk2intercom``),
never its internals."""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from sandbox_common.process import free_port, served
from topdesk2intercom_testing import ROOT


def _load_demo() -> types.ModuleType:
    """``scripts/demo.py`` (a script, not a package), loaded by its path."""
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("demo", importlib.util.module_from_spec(spec))
    if module.__spec__ is spec:
        spec.loader.exec_module(module)
    return module


change_topdesk = _load_demo().change_topdesk  # the demo's TOPdesk change: the test makes exactly the same one
BIN = Path(sys.executable).parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
INTERCOM_TOKEN = "sandbox-intercom-token"  # the sandbox environment's token in meltano.yml


@functools.cache
def meltano_sys_dir() -> Path:
    """One Meltano system dir (plugin venvs, state DB) per test process: plugins are installed once, and the
    working tree's .meltano/ is never touched; removed when the test process ends."""
    path = Path(tempfile.mkdtemp(prefix="t2i-meltano-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass
class Sandboxes:
    topdesk_url: str
    intercom_url: str
    dataset: Path
    counts: dict[str, int]
    token: str = INTERCOM_TOKEN

    @classmethod
    @contextlib.contextmanager
    def started(
        cls,
        workdir: Path,
        *,
        scale: int,
        seed: int = 7,
        app_password: str | None = None,
        token: str = INTERCOM_TOKEN,
        extra_tokens: tuple[str, ...] = (),
    ) -> Iterator[Sandboxes]:
        """A generated TOPdesk dataset served by ``topdesk-sandbox``, and an empty ``intercom-sandbox`` (its
        custom object types are created later, as an admin would, from the confirmed map). ``app_password`` and
        ``token``: the credentials they accept, when not the sandbox environment's; ``extra_tokens``: more private
        apps of the Intercom workspace."""
        data = workdir / "dataset"
        subprocess.run(
            [str(BIN / "topdesk-sandbox"), "generate", "--scale", str(scale), "--seed", str(seed), "--out", str(data)],
            check=True,
            capture_output=True,
        )
        counts = json.loads((data / "manifest.json").read_text())["counts"]
        topdesk, intercom = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        password = ["--password", app_password] if app_password else []
        with (
            served(
                [BIN / "topdesk-sandbox", "serve", "--data", data, "--port", topdesk.rsplit(":", 1)[1], *password],
                topdesk,
                log=workdir / "topdesk-sandbox.log",
            ) as health,
            served(
                [
                    BIN / "intercom-sandbox",
                    "serve",
                    "--port",
                    intercom.rsplit(":", 1)[1],
                    *(arg for t in (token, *extra_tokens) for arg in ("--token", t)),
                ],
                intercom,
                log=workdir / "intercom-sandbox.log",
            ),
        ):
            assert health["counts"] == counts, "the server on that port is not serving our dataset"
            yield cls(topdesk, intercom, data, counts, token)

    def intercom(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Intercom-Version": "2.16", "Accept": "application/json"}
        return requests.request(method, f"{self.intercom_url}{path}", headers=headers, timeout=30, **kwargs)

    def intercom_objects(self) -> dict[str, int]:
        return requests.get(f"{self.intercom_url}/__sandbox/stats", timeout=30).json()["objects"]

    def topdesk_admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = requests.request(method, f"{self.topdesk_url}/__sandbox{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response


def project_env(sandboxes: Sandboxes, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell pointed at the sandboxes: the plugins' standard variables only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_TOPDESK_", "TARGET_INTERCOM_", "MELTANO_"))}
    return env | {
        "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir()),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO": str(MELTANO),
        "TAP_TOPDESK_URL": sandboxes.topdesk_url,
        "TARGET_INTERCOM_API_URL": sandboxes.intercom_url,
        "TARGET_INTERCOM_LEDGER_URL": f"sqlite:///{workdir / 'ledger.db'}",
        "TARGET_INTERCOM_REPORT_DIR": str(workdir / "reports"),
        **extra,
    }


def run(
    command: list[str | Path], env: dict[str, str], *, expect: int | None = 0, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if expect is not None:
        assert result.returncode == expect, (
            f"{' '.join(map(str, command))} -> {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def meltano(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run([MELTANO, *args], env, **kwargs)


def cli(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run([BIN / "topdesk2intercom", *args], env, **kwargs)


def reports(workdir: Path, pattern: str) -> list[Path]:
    return sorted((workdir / "reports").glob(pattern), key=lambda p: p.stat().st_mtime_ns)
