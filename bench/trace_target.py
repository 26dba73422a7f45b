"""Trace every request ``target-intercom`` sends, and its own CPU time, from inside its process (stdlib only: this
file is also copied into a Meltano plugin venv, where only the target's packages exist).

Two ways in: ``bench/target_load.py --as-target`` calls :func:`install` before the target's CLI (the bench's own
``tap | target`` pipe), and :func:`hook_venv` drops this file plus a ``.pth`` line into the site-packages of the
target's Meltano plugin venv (a temp ``MELTANO_SYS_DIR_ROOT`` of the bench, never the project's): every Python that
venv starts imports it, and :func:`auto` installs the trace only in a ``target-intercom`` process, writing where
the JSON next to the hook says. Meltano starts the target exactly as it does for a user (it does not pass
``PYTHONPATH`` or the bench's environment through, hence the ``.pth``).

The trace file (JSON, written at exit): ``{"requests": [[sent, answered, kind, METHOD, route, status, thread],
...], "cpu": {"user_s", "sys_s"}}``: ``kind`` = the entity kind whose writer sent the request (``preflight``
outside any writer); ``cpu`` = the process's own ``getrusage`` (user + system time of all its threads) at exit.
"""

from __future__ import annotations

import atexit
import json
import re
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

PREFLIGHT = "preflight"
ID_SEGMENT = re.compile(r"^(\d+|(?=.*\d)[0-9A-Za-z_-]{12,})$")  # Intercom ids: numbers or 24-hex
HOOK = "bench_trace_target"  # the module's name inside a plugin venv
_installed = False


def route(path: str) -> str:
    """``/tickets/215466/reply`` -> ``/tickets/{id}/reply`` (type names such as ``/custom_object_instances/Asset``
    stay)."""
    path = path.split("?", 1)[0]
    return "/".join("{id}" if ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


def cpu_now() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": round(usage.ru_utime, 3), "sys_s": round(usage.ru_stime, 3)}


def install(out: Path) -> None:
    """Patch this process's target: ``IntercomClient._send`` (one list append per request, under a lock) and
    ``Loader._write_one`` / ``settle_intents`` / ``_write_final_state`` (a thread-local naming the kind being
    written); write the trace and the process's CPU time to ``out`` at exit."""
    global _installed
    if _installed:
        return
    _installed = True
    from target_intercom.client import IntercomClient
    from target_intercom.loader import Loader

    trace: list[tuple] = []
    lock = threading.Lock()
    local = threading.local()
    send, write_one, settle = IntercomClient._send, Loader._write_one, Loader.settle_intents
    final_state = Loader._write_final_state

    def traced_send(self: Any, method: str, path: str, **kwargs: Any) -> Any:
        started = time.time()
        status: object = None
        try:
            answer = send(self, method, path, **kwargs)
            status = "ok"
            return answer
        except Exception as exc:
            status = getattr(exc, "status", None) or type(exc).__name__
            raise
        finally:
            row = (
                started,
                time.time(),
                getattr(local, "kind", PREFLIGHT),
                method.upper(),
                route(path),
                status,
                threading.get_ident(),
            )
            with lock:
                trace.append(row)

    def traced_settle(self: Any) -> Any:
        local.kind = "settle_intents"
        try:
            return settle(self)
        finally:
            local.kind = PREFLIGHT

    def traced_final_state(self: Any, entity: Any) -> Any:  # a ticket's state, after its parts: the writer's call
        local.kind = entity.kind
        try:
            return final_state(self, entity)
        finally:
            local.kind = PREFLIGHT

    IntercomClient._send, Loader.settle_intents = traced_send, traced_settle  # type: ignore[method-assign]
    Loader._write_one = _traced_by_kind(write_one, local)  # type: ignore[method-assign]
    if hasattr(Loader, "_write_batch"):  # bulk_preview's batches (a target without them: nothing to trace)
        Loader._write_batch = _traced_by_kind(Loader._write_batch, local)  # type: ignore[method-assign]
    Loader._write_final_state = traced_final_state  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps({"requests": trace, "cpu": cpu_now()})))


def _traced_by_kind(method: Any, local: threading.local) -> Any:
    """``method(self, writer, ...)`` with the thread-local kind set to the writer's while it runs (a record's write,
    a bulk batch)."""

    def traced(self: Any, writer: Any, *args: Any, **kwargs: Any) -> Any:
        local.kind = writer.kind
        try:
            return method(self, writer, *args, **kwargs)
        finally:
            local.kind = PREFLIGHT

    return traced


def auto() -> None:
    """Called by the ``.pth`` line of :func:`hook_venv` in every Python of the venv: traces a ``target-intercom``
    process when the JSON beside this file names a trace path; any other process (pip, the tap) is left alone."""
    if Path(sys.argv[0] if sys.argv else "").name != "target-intercom":
        return
    config = Path(__file__).with_suffix(".json")
    if config.exists() and (out := json.loads(config.read_text()).get("trace")):
        install(Path(out))


def hook_venv(site_packages: Path) -> None:
    """Copy this module into a plugin venv's site-packages and import it at every start (a ``.pth`` line)."""
    shutil.copyfile(__file__, site_packages / f"{HOOK}.py")
    (site_packages / f"{HOOK}.pth").write_text(f"import {HOOK}; {HOOK}.auto()\n")


def trace_to(site_packages: Path, out: Path | None) -> None:
    """Where the hooked venv's next ``target-intercom`` writes its trace (``None``: no trace)."""
    (site_packages / f"{HOOK}.json").write_text(json.dumps({"trace": str(out) if out else None}))


def read(path: Path) -> tuple[list[tuple], dict[str, float] | None]:
    """The requests (tuples) and the CPU times of a trace file."""
    data = json.loads(path.read_text())
    if isinstance(data, list):  # the format before the CPU times
        return [tuple(r) for r in data], None
    return [tuple(r) for r in data["requests"]], data.get("cpu")
