"""Running a sandbox app: in the foreground for the CLI, or on a free port in a thread for tests."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


def serve(app: ASGIApp, *, host: str, port: int) -> None:
    """Serve until interrupted; access logging is off because it costs more than the sandbox's own work."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


class ServerThread:
    """A real HTTP server on 127.0.0.1 in a background thread, so tests exercise real sockets and headers.

    Use as a context manager; ``url`` is the base URL once started.
    """

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self.port = port or _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
