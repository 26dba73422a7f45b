"""`meltano run tap-topdesk target-jsonl` from the project's own meltano.yml, end to end against a TOPdesk sandbox.

This is the path a user takes (Meltano installs the plugins, passes config and state), so it catches what the tap's
in-process tests cannot: a meltano.yml that no longer matches the tap's settings, a missing `state` capability
(every run a full sync), or state that never reaches Meltano's backend.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
SANDBOX_CLI = Path(sys.executable).parent / "topdesk-sandbox"
STATE_ID = "sandbox:tap-topdesk-to-target-jsonl"
# tap stream -> dataset resource (manifest `counts` key)
CHECKED_STREAMS = {
    "incidents": "incidents",
    "incident_progress_trail": "incident_progresstrail",
    "persons": "persons",
    "operators": "operators",
    "operator_groups": "operatorgroups",
    "changes": "changes",
    "knowledge_items": "knowledge_items",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> dict:
    """Wait for *our* sandbox: a port race could otherwise have us talking to someone else's server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"topdesk-sandbox exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/__sandbox/health", timeout=2) as resp:
                return json.load(resp)
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"topdesk-sandbox not healthy at {url}")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int], Path]]:
    """A scale-300 dataset served on a free port: (base URL, manifest counts, dataset dir)."""
    data = tmp_path_factory.mktemp("topdesk") / "d300"
    subprocess.run(
        [str(SANDBOX_CLI), "generate", "--scale", "300", "--seed", "7", "--out", str(data)],
        check=True,
        capture_output=True,
    )
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [str(SANDBOX_CLI), "serve", "--data", str(data), "--port", url.rsplit(":", 1)[1]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        health = wait_healthy(url, proc)
        assert health["counts"] == counts, "the server on that port is not serving our dataset"
        yield url, counts, data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def meltano(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(MELTANO), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def jsonl_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_meltano_run_tap_topdesk_target_jsonl(sandbox: tuple[str, dict[str, int], Path], tmp_path: Path) -> None:
    assert MELTANO.exists(), "run `make meltano` (make test does) to install Meltano into .venv-meltano"
    url, counts, data = sandbox
    # The project's meltano.yml as is; only the sandbox URL, the output directory and Meltano's own system dir
    # (plugin venvs, state DB) are redirected, so the working tree stays untouched.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_TOPDESK_", "TARGET_JSONL_", "MELTANO_"))}
    env |= {
        "MELTANO_SYS_DIR_ROOT": str(tmp_path / "meltano-sys"),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_TOPDESK_URL": url,
        "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "out1"),
    }
    meltano("install", "extractor", "tap-topdesk", env=env)
    meltano("install", "loader", "target-jsonl", env=env)

    meltano("run", "tap-topdesk", "target-jsonl", env=env)
    out1 = tmp_path / "out1"
    for stream, resource in CHECKED_STREAMS.items():
        records = jsonl_records(out1 / f"{stream}.jsonl")
        assert len(records) == counts[resource], stream
    incident_ids = {r["id"] for r in jsonl_records(out1 / "incidents.jsonl")}
    assert incident_ids == {r["id"] for r in jsonl_records(data / "incidents.jsonl")}

    state = json.loads(meltano("--environment", "sandbox", "state", "get", STATE_ID, env=env).stdout)
    bookmark = state["singer_state"]["bookmarks"]["incidents"]
    assert bookmark["replication_key"] == "modificationDate"
    assert bookmark["replication_key_value"]

    # Second run: Meltano passes the saved state, so only the incidents of the bookmark's own second come again
    # (TOPdesk keeps whole seconds: the tap reads from that second inclusively, so a same-second change is not lost)
    # with their children; none older.
    env["TARGET_JSONL_DESTINATION_PATH"] = str(tmp_path / "out2")
    meltano("run", "tap-topdesk", "target-jsonl", env=env)
    second = str(bookmark["replication_key_value"])[:19]
    again = {r["id"] for r in jsonl_records(out1 / "incidents.jsonl") if str(r["modificationDate"])[:19] == second}
    path = tmp_path / "out2" / "incidents.jsonl"
    assert again and {r["id"] for r in jsonl_records(path)} == again
    for stream in ("incident_progress_trail", "incident_emails"):
        path = tmp_path / "out2" / f"{stream}.jsonl"
        assert not path.exists() or {r["incident_id"] for r in jsonl_records(path)} <= again, stream
