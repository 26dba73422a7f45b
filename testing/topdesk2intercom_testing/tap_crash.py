"""The tap as a process that a test SIGKILLs in the middle of its output, then restarts from the last STATE it wrote
(issue 16: children read concurrently, bookmarks only past records whose children were all emitted)::

    from topdesk2intercom_testing.tap_crash import run_tap
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The tap's console script (``tap_topdesk.tap:TapTopdesk.cli``), with the SDK's STATE cadence lowered from every
#: 10,000 parent records to every ``TAP_STATE_EVERY``: at test scale (150 or 5,000 calls) the tap would otherwise
#: write no STATE between the start and the end of the incidents, and a crash could only resume from scratch. The
#: cadence is the only change: the same process, CLI, config, catalog and state file as ``tap-topdesk``.
LAUNCH = (
    "import os, sys\n"
    "from singer_sdk.streams.core import Stream\n"
    "assert hasattr(Stream, 'STATE_MSG_FREQUENCY'), 'the SDK no longer has STATE_MSG_FREQUENCY'\n"
    "Stream.STATE_MSG_FREQUENCY = int(os.environ['TAP_STATE_EVERY'])\n"
    "from tap_topdesk.tap import TapTopdesk\n"
    "sys.argv[0] = 'tap-topdesk'\n"
    "TapTopdesk.cli()\n"
)


@dataclass
class TapRun:
    """One tap process: every complete line it wrote (parsed), whether it was killed and after which message."""

    messages: list[dict] = field(default_factory=list)
    killed_after: int | None = None  # index in ``messages`` of the message that triggered the kill
    seconds: float = 0.0
    returncode: int | None = None

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict | None:
        """The last STATE written: what the orchestrator saves and the next run starts from."""
        return self.states[-1] if self.states else None


#: decides, for each complete message as it is read (with those before it), whether to SIGKILL the tap now
KillWhen = Callable[[list[dict], dict], bool]


def run_tap(
    config: Path,
    catalog: Path,
    workdir: Path,
    *,
    state: Path | None = None,
    kill_when: KillWhen | None = None,
    state_every: int = 10,
    timeout: float = 600,
) -> TapRun:
    """Run the tap as its own process, reading its stdout line by line. With ``kill_when``: SIGKILL it as soon as
    that says so, then keep every complete line it had written by then (what is still in the pipe too; a trailing
    partial line is dropped, as a target would never see it). Without: it must exit 0."""
    cmd = [sys.executable, "-c", LAUNCH, "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        cmd += ["--state", str(state)]
    env = {**os.environ, "TAP_STATE_EVERY": str(state_every)}
    run = TapRun()
    stderr_path = workdir / f"tap-{'resume' if state else 'first'}-stderr.log"
    started = time.monotonic()
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=workdir, env=env)
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                if not raw.endswith(b"\n"):
                    break  # cut short by the kill: never a whole message
                if not raw.strip():
                    continue
                message = json.loads(raw)
                run.messages.append(message)
                if run.killed_after is None and kill_when is not None and kill_when(run.messages, message):
                    os.kill(process.pid, signal.SIGKILL)
                    run.killed_after = len(run.messages) - 1
                if time.monotonic() - started > timeout:
                    raise AssertionError(f"the tap ran over {timeout} s")
        finally:
            if process.poll() is None and run.killed_after is None:
                process.kill()
            process.stdout.close()
            run.returncode = process.wait()
    run.seconds = time.monotonic() - started
    if run.killed_after is None and run.returncode != 0:
        raise AssertionError(f"the tap failed ({run.returncode}):\n" + stderr_path.read_text(errors="replace")[-3000:])
    if run.killed_after is not None:
        assert run.returncode == -signal.SIGKILL, f"the tap ended with {run.returncode}, not by the SIGKILL"
    return run


def write_json(path: Path, value: t.Any) -> Path:
    path.write_text(json.dumps(value))
    return path
