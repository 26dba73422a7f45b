"""Running the plugins themselves (not their internals) from the CLI: the tap's Singer messages as an iterator, and
the target fed from one, each as its own process with a private (0600, deleted afterwards) config file."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import typing as t
from pathlib import Path

import click


def executable(name: str) -> str:
    """A plugin's console script from this Python's environment (the CLI depends on all three packages)."""
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else name


@contextlib.contextmanager
def config_file(config: dict[str, t.Any]) -> t.Iterator[str]:
    """The config as a file only this user can read, removed when the block ends (it holds secrets)."""
    fd, path = tempfile.mkstemp(prefix="t2i-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def discover_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """``tap-topdesk --discover`` (the catalog ``map propose`` and ``validate`` check against)."""
    with config_file(config) as path:
        done = subprocess.run(
            [executable("tap-topdesk"), "--config", path, "--discover"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise click.ClickException(f"tap-topdesk --discover exited with {done.returncode}:\n{tail}")
    return json.loads(done.stdout)


def select_only(catalog: dict[str, t.Any], wanted: set[str]) -> dict[str, t.Any]:
    """The catalog with only ``wanted`` streams selected (stream-level metadata, breadcrumb [])."""
    result = json.loads(json.dumps(catalog))
    for stream in result.get("streams") or []:
        selected = stream["tap_stream_id"] in wanted
        entries = stream.setdefault("metadata", [])
        top = next((m for m in entries if not m.get("breadcrumb")), None)
        if top is None:
            top = {"breadcrumb": [], "metadata": {}}
            entries.append(top)
        top.setdefault("metadata", {})["selected"] = selected
    return result


def tap_messages(
    config: dict[str, t.Any], *, catalog: dict | None = None, state: dict | None = None
) -> t.Iterator[dict]:
    """Every Singer message ``tap-topdesk`` prints, parsed, in order. The tap's log goes to our stderr only when
    it fails (its last lines are in the error)."""
    for line in tap_lines(config, catalog=catalog, state=state):
        yield json.loads(line)


def tap_lines(config: dict[str, t.Any], *, catalog: dict | None = None, state: dict | None = None) -> t.Iterator[str]:
    """The same messages as the JSON lines the tap prints, unparsed: for a reader that must parse them exactly as
    a target does (singer-sdk reads numbers as Decimal), or to buffer them on disk as they are."""
    with contextlib.ExitStack() as stack:
        command = [executable("tap-topdesk"), "--config", stack.enter_context(config_file(config))]
        for flag, doc in (("--catalog", catalog), ("--state", state)):
            if doc is not None:
                command += [flag, stack.enter_context(config_file(doc))]
        log = stack.enter_context(tempfile.TemporaryFile(mode="w+", encoding="utf-8"))
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8")
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.strip():
                    yield line
        finally:
            if proc.poll() is None and proc.stdout and not proc.stdout.closed:
                proc.stdout.close()
            code = proc.wait()
        if code != 0:
            log.seek(0)
            tail = "".join(log.readlines()[-15:])
            raise click.ClickException(f"tap-topdesk exited with {code}:\n{tail}")


def run_target(config: dict[str, t.Any], messages: t.Iterable[dict | str]) -> None:
    """Feed ``messages`` to ``target-intercom`` as its stdin; its log streams to our stderr (progress, report path;
    singer-sdk's per-stream METRIC lines left out), its STATE messages are dropped (a CLI run never moves Meltano's
    bookmarks; the ledger keeps it idempotent)."""
    with config_file(config) as path:
        proc = subprocess.Popen(
            [executable("target-intercom"), "--config", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        assert proc.stdin is not None and proc.stderr is not None
        log = threading.Thread(target=_forward_log, args=(proc.stderr,), daemon=True)
        log.start()
        try:
            for message in messages:  # a str is a JSON line as the tap printed it, passed on byte for byte
                line = message.rstrip("\n") if isinstance(message, str) else json.dumps(message)
                proc.stdin.write(line + "\n")
        finally:
            proc.stdin.close()
            code = proc.wait()
            log.join(timeout=10)
    if code != 0:
        raise click.ClickException(f"target-intercom exited with {code}")


def _forward_log(stream: t.IO[str]) -> None:
    for line in stream:
        if "singer_sdk.metrics" not in line:
            sys.stderr.write(line)
