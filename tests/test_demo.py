"""The README's demo command must work on a fresh checkout: run it end to end on free ports, small dataset."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_generates_serves_and_shows_api_calls(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--scale", "200", "--data-dir", str(tmp_path / "d"),
         "--topdesk-port", str(free_port()), "--intercom-port", str(free_port())],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert (tmp_path / "d" / "incidents.jsonl").exists()
    # TOPdesk: first page of calls is a 206 with a next-page link; a wrong application password is a 401.
    assert "   206 [" in out and "x-next-page-url: " in out
    assert "wrong application password -> 401" in out
    # Intercom: the contact is created, its case-variant duplicate is refused with the existing id.
    assert '"type": "contact"' in out
    assert "same person again -> 409" in out and "id=" in out
    assert "x-ratelimit-limit: " in out
