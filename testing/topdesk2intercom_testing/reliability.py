"""Helpers of the reliability suite (issue 7): the pipeline and the CLI as processes whose every output lands in a
log file (so nothing escapes the secrets grep), a grep over a whole work folder, the hostile TOPdesk dataset, and
lookups in the reconciliation report."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import typing as t
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from topdesk2intercom_testing import ROOT

BIN = Path(sys.executable).parent
HOSTILE = ROOT / "tests" / "reliability" / "hostile"
#: ``TOPDESK2INTERCOM_HEAVY=1`` runs the big variants (by hand, not in CI)
HEAVY = os.environ.get("TOPDESK2INTERCOM_HEAVY") == "1"


@dataclass
class Logs:
    """A folder collecting the stdout/stderr of every process a test starts, one file per stream and process."""

    folder: Path
    count: int = 0

    def pair(self, name: str) -> tuple[Path, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        return self.folder / f"{self.count:02d}-{name}.out", self.folder / f"{self.count:02d}-{name}.err"


def run_pipeline(
    tap_config: Path,
    target_config: Path,
    logs: Logs,
    *,
    state: Path | None = None,
    rewrite: Callable[[bytes], bytes] | None = None,
    timeout: float = 600,
) -> tuple[int, int]:
    """``tap-topdesk | target-intercom`` as two processes and a pipe, as ``meltano run`` composes them; the tap's
    log, the target's log and the target's stdout (Singer STATE, the bookmarks Meltano would store) go to files.
    ``rewrite`` changes each line on the wire (see :func:`wire_surrogates`). Returns both exit codes."""
    tap_out, tap_err = logs.pair("tap")
    target_out, target_err = logs.pair("target")
    tap_cmd = [str(BIN / "tap-topdesk"), "--config", str(tap_config)]
    if state is not None:
        tap_cmd += ["--state", str(state)]
    with tap_err.open("wb") as te, target_out.open("wb") as to, target_err.open("wb") as tge:
        tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=te, cwd=logs.folder)
        target = subprocess.Popen(
            [str(BIN / "target-intercom"), "--config", str(target_config)],
            stdin=tap.stdout if rewrite is None else subprocess.PIPE,
            stdout=to,
            stderr=tge,
            cwd=logs.folder,
        )
        assert tap.stdout is not None
        if rewrite is None:
            tap.stdout.close()  # the target owns the read end: the tap sees a broken pipe if the target dies
        else:
            relay = threading.Thread(target=_relay, args=(tap.stdout, target.stdin, rewrite), daemon=True)
            relay.start()
        target.wait(timeout=timeout)
        tap.wait(timeout=timeout)
    tap_out.write_text("(tap stdout is the pipe into the target)\n")
    return tap.returncode, target.returncode


def run_cli(
    args: t.Sequence[str],
    tap_config: Path,
    target_config: Path,
    logs: Logs,
    *,
    expect: int | None = 0,
    timeout: float = 300,
) -> str:
    """``topdesk2intercom --tap-config ... --target-config ... ARGS`` as a process; returns its stdout."""
    out, err = logs.pair("cli-" + args[0])
    command = [
        str(BIN / "topdesk2intercom"),
        "--tap-config",
        str(tap_config),
        "--target-config",
        str(target_config),
        *args,
    ]
    with out.open("wb") as o, err.open("wb") as e:
        code = subprocess.run(command, stdout=o, stderr=e, cwd=logs.folder, timeout=timeout).returncode
    if expect is not None:
        assert code == expect, (
            f"topdesk2intercom {' '.join(args)} -> {code}\n{out.read_text()[-3000:]}\n"
            f"{err.read_text(errors='replace')[-5000:]}"
        )
    return out.read_text()


def grep_tree(root: Path, needles: t.Iterable[str], *, skip: t.Collection[Path] = ()) -> list[str]:
    """``path: needle`` for every file under ``root`` (binary files too: the SQLite ledger) that contains one of
    the needles as bytes; ``skip`` are files that hold the secret on purpose (the config files)."""
    wanted = [n.encode() for n in needles]
    skipped = {p.resolve() for p in skip}
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.resolve() in skipped:
            continue
        data = path.read_bytes()
        hits += [f"{path.relative_to(root)}: {n.decode()}" for n in wanted if n in data]
    return hits


def _relay(source: t.IO[bytes], sink: t.IO[bytes] | None, rewrite: Callable[[bytes], bytes]) -> None:
    assert sink is not None
    try:
        for line in source:
            sink.write(rewrite(line))
    except BrokenPipeError:
        pass
    finally:
        source.close()
        with contextlib.suppress(BrokenPipeError):
            sink.close()


# ---------------------------------------------------------------------------------------------------- hostile data

#: the TOPdesk sandbox's store (orjson) refuses lone surrogates, so the dataset carries them as markers and the
#: wire between tap and target turns the markers back into the JSON escapes a real TOPdesk sends
SURROGATE = re.compile(r"\\u(d[89a-f][0-9a-f]{2})", re.IGNORECASE)
MARKER = re.compile(rb"~U\+(D[89A-F][0-9A-F]{2})~")


def mark_surrogates(json_line: str) -> str:
    """``\\udc80`` escapes of a JSON line -> ``~U+DC80~`` markers the sandbox can store."""
    return SURROGATE.sub(lambda m: f"~U+{m.group(1).upper()}~", json_line)


def wire_surrogates(line: bytes) -> bytes:
    """``~U+DC80~`` markers in a Singer message -> the ``\\udc80`` escapes (a ``rewrite`` for run_pipeline)."""
    return MARKER.sub(lambda m: b"\\u" + m.group(1).lower(), line)


def hostile_dataset(out: Path, *, scale: int = 5, seed: int = 2) -> dict[str, list[dict]]:
    """A small generated dataset (reference lists, operators, branches a real tenant has) with the hand-written
    hostile records of ``hostile/*.jsonl`` appended to the resource files of the same name. Returns the hostile
    records by resource."""
    subprocess.run(
        [str(BIN / "topdesk-sandbox"), "generate", "--scale", str(scale), "--seed", str(seed), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    added: dict[str, list[dict]] = {}
    for corpus in sorted(HOSTILE.glob("*.jsonl")):
        lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        added[corpus.stem] = [json.loads(line) for line in lines]
        with (out / corpus.name).open("a", encoding="utf-8") as f:
            f.write("".join(mark_surrogates(line) + "\n" for line in lines))
    return added


def issues_naming(report: dict, record_id: str) -> list[dict]:
    """The reconciliation report's issues about one source record (its id in the source key or the detail)."""
    return [
        i
        for i in report["issues"] + report.get("manual_review", [])
        if record_id in (i.get("source_key") or "") or record_id in json.dumps(i.get("detail") or {})
    ]
