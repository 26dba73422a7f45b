"""Sandboxes as separate processes (the demo, end-to-end tests, benchmarks): a free port, and a server started,
waited for until its admin health endpoint answers, and stopped."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(
    command: Sequence[str | Path],
    base_url: str,
    *,
    timeout: float = 120,
    log: Path | None = None,
) -> Iterator[dict]:
    """Run ``command`` (a ``topdesk-sandbox serve``/``intercom-sandbox serve`` line) until the block ends; yields
    the health answer, so a caller can check it is *its* server on that port (a port race is possible)."""
    with contextlib.ExitStack() as stack:
        # The log (if any) is closed after the process has stopped.
        out: IO[bytes] | int = stack.enter_context(Path(log).open("ab")) if log else subprocess.DEVNULL
        process = subprocess.Popen([str(c) for c in command], stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited with {process.returncode}")
                try:
                    with urllib.request.urlopen(f"{base_url}/__sandbox/health", timeout=2) as response:
                        health = json.load(response)
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{command[0]} did not become healthy at {base_url}") from None
                    time.sleep(0.2)
            yield health
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
