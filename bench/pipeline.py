"""Benchmark the whole pipeline as a user runs it: ``meltano run tap-topdesk target-intercom`` (the project's
meltano.yml, sandbox environment, the plugins' environment variables pointing at sandboxes on free ports).

Why sampling /proc: Meltano starts the tap and the target itself, so this script cannot ``wait4`` on them; every
``SAMPLE_S`` it walks Meltano's process tree and keeps each process's ``VmHWM`` (the kernel's own peak RSS of that
process), by role: ``meltano``, ``tap`` (tap-topdesk), ``target`` (target-intercom). Meltano's system dir (plugin
venvs, state DB) is a temp dir, so the working tree's .meltano/ is never touched; the plugins are installed once per
bench run and that time is reported apart from the runs.

Which side bounds a run (``bounded_by``, :func:`bounded_by`): the TOPdesk sandbox answers ``topdesk_latency_ms`` late
(100 ms in ``bench/run``, a real TOPdesk's) and the Intercom sandbox 150 ms at Intercom's rate limit, so either the tap
(extraction) or the target with its rate budget (load) can be the slower side. The evidence, per run:

* when the tap process ended (the last sample that saw it; within ``SAMPLE_S``) as a share of the wall time;
* the share of Intercom's rate budget the target used in each *full* 10-s window (every window strictly between the
  first and the last the target sent in; accepted requests per window as the server counted them, from the target's
  reconciliation report), split into the windows while the tap still ran and those after it had ended.

The rule: ``load`` if the target used >= ``BUDGET_AT_LIMIT`` (90 %) of the budget while the tap still ran (it was at
Intercom's limit while records were arriving), or if the tap ended before ``TAP_DONE_EARLY`` (50 %) of the wall time
(the target then worked alone through a backlog for most of the run); otherwise ``extraction`` (the target had budget
to spare while the tap ran, which took most of the run: it waited on records, and what it did after the tap ended is
the smaller part). Without a full window while the tap ran (a short run) the budget is taken as not at the limit.
The target stages records in its ledger and writes them in the background, so a slow target does not hold the tap
back (no back-pressure): the tap's end is when extraction was done.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tap_extract import ensure_dataset, expected_counts, topdesk_sandbox
from target_load import TOKEN, WORKSPACE_RATE_LIMIT, intercom_sandbox, sandbox_stats

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
STATE_ID = "sandbox:tap-topdesk-to-target-intercom"
SAMPLE_S = 0.2
PROJECTED_RECORDS = 2_000_000
BUDGET_AT_LIMIT = 0.9  # share of the rate budget per full window that counts as "at Intercom's limit"
TAP_DONE_EARLY = 0.5  # the tap ended before this share of the wall time: the target worked alone for most of it


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(entry.path, "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _role(pid: int, root: int) -> str | None:
    """``meltano`` for the root; ``tap``/``target`` for a process running that executable (its plugin venv's
    ``python .../bin/tap-topdesk`` or the console script itself); ``None`` for anything else."""
    if pid == root:
        return "meltano"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    names = {Path(arg.decode(errors="replace")).name for arg in argv[:2]}
    return "tap" if "tap-topdesk" in names else "target" if "target-intercom" in names else None


def _hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    return 0


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


class PeakRss:
    """Peak RSS by role of a process tree, sampled in a thread until ``stop()``; ``seen`` holds, per role, the first
    and last time (unix seconds) a sample found a process of that role alive; ``cpu_s`` per role the CPU seconds its
    processes had used at the last sample that saw each (a lower bound: up to ``SAMPLE_S`` before its end)."""

    def __init__(self, root: int) -> None:
        self.root, self.peak_kb = root, {"meltano": 0, "tap": 0, "target": 0}
        self.seen: dict[str, tuple[float, float]] = {}
        self._cpu: dict[int, tuple[str, float]] = {}
        #: per role, (time, CPU seconds of its processes so far) at each sample that saw one
        self.cpu_timeline: dict[str, list[tuple[float, float]]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.is_set():
            now = time.time()
            for pid in _descendants(self.root):
                role = _role(pid, self.root)
                if role and (kb := _hwm_kb(pid)):  # 0: gone (or a zombie) by the time its status was read
                    self.peak_kb[role] = max(self.peak_kb[role], kb)
                    self.seen[role] = (self.seen.get(role, (now, now))[0], now)
                    if (cpu := _cpu_s(pid)) is not None:
                        self._cpu[pid] = (role, cpu)
            for role, cpu_s in self.cpu_s.items():
                timeline = self.cpu_timeline.setdefault(role, [])
                if not timeline or timeline[-1][1] != cpu_s:
                    timeline.append((now, cpu_s))
            self._done.wait(SAMPLE_S)

    @property
    def cpu_s(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for role, cpu in self._cpu.values():
            out[role] = round(out.get(role, 0.0) + cpu, 2)
        return out

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        return {role: round(kb / 1024, 1) for role, kb in self.peak_kb.items()}


def base_env(sys_dir: Path) -> dict[str, str]:
    """A user's shell: no stray plugin/Meltano settings, Meltano's system dir in ``sys_dir``, and Python's default
    bytecode caching (``PYTHONDONTWRITEBYTECODE``, set on some build machines, would make pip skip compiling the
    plugins' modules and every plugin start compile them again: a second of CPU per start no user pays)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_TOPDESK_", "TARGET_INTERCOM_", "MELTANO_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    return env | {
        "MELTANO_SYS_DIR_ROOT": str(sys_dir),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "sandbox",
    }


def meltano(*args: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run([str(MELTANO), *args], cwd=ROOT, env=env, stdout=out, stderr=out)
    if result.returncode:
        raise RuntimeError(
            f"meltano {' '.join(args)} exited {result.returncode}: {log.read_text(errors='replace')[-3000:]}"
        )


def install(tmp: Path) -> tuple[Path, float]:
    """A new Meltano system dir in ``tmp`` with both plugins installed; it and the install time."""
    sys_dir = Path(tempfile.mkdtemp(prefix="bench-meltano-", dir=tmp))
    start = time.perf_counter()
    print("installing tap-topdesk and target-intercom into a temp Meltano system dir ...", file=sys.stderr)
    env = base_env(sys_dir)
    meltano("install", "extractor", "tap-topdesk", env=env, log=tmp / "meltano-install.log")
    meltano("install", "loader", "target-intercom", env=env, log=tmp / "meltano-install.log")
    return sys_dir, time.perf_counter() - start


@contextlib.contextmanager
def installed(tmp: Path) -> Iterator[tuple[Path, float]]:
    """Meltano's system dir with both plugins installed (once per bench run); yields it and the install time."""
    yield install(tmp)


def budget_use(windows: dict[int, int], limit: int, tap_end: float | None, window_s: int = 10) -> dict:
    """The share of the rate budget (``limit`` per window) the target used: ``windows`` maps each server window's end
    (unix seconds) to the requests accepted in it. Over the full windows (strictly between the first and the last
    window the target sent in; one without a request counts 0), and split at ``tap_end``: the full windows that ended
    while the tap ran, those that began after it had ended."""
    resets = sorted(windows)
    full = list(range(resets[0] + window_s, resets[-1], window_s)) if resets and limit else []
    during = [r for r in full if tap_end is None or r <= tap_end]
    after = [r for r in full if tap_end is not None and r - window_s >= tap_end]

    def used(rs: list[int]) -> float | None:
        return round(sum(windows.get(r, 0) for r in rs) / (limit * len(rs)), 3) if rs else None

    return {
        "window_budget": limit,
        "first_window_start": resets[0] - window_s if resets else None,
        "full_windows": len(full),
        "budget_used": used(full),
        "full_windows_while_tap_ran": len(during),
        "budget_used_while_tap_ran": used(during),
        "full_windows_after_tap": len(after),
        "budget_used_after_tap": used(after),
    }


def bounded_by(tap_end_fraction: float | None, budget_used_while_tap_ran: float | None) -> tuple[str, str]:
    """``("load" | "extraction", why)`` by the rule in this module's docstring."""
    if budget_used_while_tap_ran is not None and budget_used_while_tap_ran >= BUDGET_AT_LIMIT:
        return "load", (
            f"the target used {budget_used_while_tap_ran:.0%} of Intercom's rate budget while the tap "
            f"still ran (>= {BUDGET_AT_LIMIT:.0%})"
        )
    if tap_end_fraction is not None and tap_end_fraction < TAP_DONE_EARLY:
        return "load", (
            f"the tap ended at {tap_end_fraction:.0%} of the wall time (< {TAP_DONE_EARLY:.0%}): the "
            "target worked alone after the last record for most of the run"
        )
    used = (
        "sent in no full 10-s window"
        if budget_used_while_tap_ran is None
        else f"used {budget_used_while_tap_ran:.0%} of the rate budget (< {BUDGET_AT_LIMIT:.0%})"
    )
    ended = "?" if tap_end_fraction is None else f"{tap_end_fraction:.0%}"
    return "extraction", (
        f"the tap ran until {ended} of the wall time (>= {TAP_DONE_EARLY:.0%}) and the target "
        f"{used} meanwhile: it waited on records"
    )


def run(
    data: Path,
    scale: int,
    seed: int,
    sys_dir: Path,
    tmp: Path,
    rate_limit: int,
    latency_ms: float,
    topdesk_latency_ms: float = 0,
    tokens: tuple[str, ...] = (TOKEN,),
) -> dict:
    """One ``meltano run tap-topdesk target-intercom`` of a fresh migration (state cleared, new ledger); the Intercom
    sandbox at ``rate_limit`` per app (one per token, ``WORKSPACE_RATE_LIMIT`` together) and ``latency_ms``, the
    TOPdesk sandbox answering ``topdesk_latency_ms`` late."""
    meta = ensure_dataset(data, scale, seed)
    records = sum(expected_counts(meta).values()) + meta["counts"].get("assets", 0)
    work = Path(tempfile.mkdtemp(prefix=f"pipeline-{scale}-{len(tokens)}-", dir=tmp))
    with (
        topdesk_sandbox(
            data, meta["counts"], log=work / "topdesk-sandbox.log", latency_ms=topdesk_latency_ms
        ) as topdesk_url,
        intercom_sandbox(
            rate_limit, latency_ms, work / "intercom-sandbox.log", tokens, WORKSPACE_RATE_LIMIT
        ) as intercom_url,
    ):
        env = base_env(sys_dir) | {
            "TAP_TOPDESK_URL": topdesk_url,
            "TAP_TOPDESK_EXPORTS_DIR": str(data / "exports"),
            "TARGET_INTERCOM_API_URL": intercom_url,
            "TARGET_INTERCOM_ACCESS_TOKENS": json.dumps(list(tokens)),
            "TARGET_INTERCOM_WORKSPACE_RATE_LIMIT": str(WORKSPACE_RATE_LIMIT),
            "TARGET_INTERCOM_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
            "TARGET_INTERCOM_REPORT_DIR": str(work / "reports"),
            "TARGET_INTERCOM_FALLBACK_ADMIN_EMAIL": "fallback@sandbox.example",
        }
        meltano("state", "clear", "--force", STATE_ID, env=env, log=work / "meltano.log")
        print(
            f"meltano run tap-topdesk target-intercom on {records:,} TOPdesk records, {len(tokens)} token(s) ...",
            file=sys.stderr,
        )
        start, started_at = time.perf_counter(), time.time()
        with (work / "meltano.log").open("ab") as out:
            proc = subprocess.Popen(
                [str(MELTANO), "run", "tap-topdesk", "target-intercom"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
            sampler = PeakRss(proc.pid)
            returncode = proc.wait()
            peak = sampler.stop()
        wall, ended_at = time.perf_counter() - start, time.time()
        stats = sandbox_stats(intercom_url)
    if returncode:
        raise RuntimeError(
            f"meltano run exited {returncode}: {(work / 'meltano.log').read_text(errors='replace')[-3000:]}"
        )
    summary = json.loads(next((work / "reports").glob("*/reconciliation.json")).read_text())
    entities = summary.get("entities") or {}
    written = sum(v.get("created", 0) + v.get("updated", 0) for v in entities.values())
    requests = summary.get("requests") or {}
    tap_seen, target_seen = sampler.seen.get("tap"), sampler.seen.get("target")
    tap_end = tap_seen[1] if tap_seen else None
    tap_end_fraction = round((tap_end - started_at) / (ended_at - started_at), 3) if tap_end else None
    budget = budget_use(
        {int(float(k)): v.get("accepted", 0) for k, v in (requests.get("windows") or {}).items()},
        requests.get("limit") or stats.get("window_budget") or 0,
        tap_end,
        int(requests.get("window_seconds") or 10),
    )
    side, why = bounded_by(tap_end_fraction, budget["budget_used_while_tap_ran"])
    return {
        "scale": scale,
        "tokens": len(tokens),
        "source_records": records,
        "intercom_records_written": written,
        "failed": (summary.get("totals") or {}).get("failed"),
        "requests_served": stats.get("requests_served"),
        "requests_over_limit": stats.get("requests_rejected_429"),
        "wall_s": round(wall, 1),
        "records_per_s": round(records / wall, 1),
        "peak_rss_mb": peak,
        "bounded_by": side,
        "bounded_by_why": why,
        "evidence": {
            "tap_start_s": round(tap_seen[0] - started_at, 1) if tap_seen else None,
            "tap_end_s": round(tap_end - started_at, 1) if tap_end else None,
            "tap_end_fraction": tap_end_fraction,
            "target_end_s": round(target_seen[1] - started_at, 1) if target_seen else None,
            # the start of the first 10-s window the target sent a request in (its preflight), from the run's start
            "target_first_window_s": round(first - started_at, 1)
            if (first := budget.pop("first_window_start"))
            else None,
            **budget,
            # the sandbox's own counters: the busiest window's accepted requests against its budget
            "max_accepted_in_window": stats.get("max_accepted_in_window"),
            "pacer_wait_s": requests.get("wait_seconds"),
        },
    }


def _line(runs: list[dict]) -> tuple[float, float, str]:
    """``(fixed s, s per record, basis)`` of the runs' wall times: a line through the two largest runs, or with one
    run proportional to it."""
    if len(runs) >= 2:
        small, large = sorted(runs, key=lambda r: r["source_records"])[-2:]
        per_record = (large["wall_s"] - small["wall_s"]) / (large["source_records"] - small["source_records"])
        fixed = large["wall_s"] - per_record * large["source_records"]
        basis = f"line through {small['dataset']} and {large['dataset']}: {fixed:.0f} s + {per_record * 1000:.2f}"
        return fixed, per_record, basis + " ms/record"
    per_record = runs[0]["wall_s"] / runs[0]["source_records"]
    return 0.0, per_record, f"proportional to {runs[0]['dataset']} (upper bound: its start-up is scaled too)"


def projection(runs: list[dict]) -> dict:
    """Wall time for ``PROJECTED_RECORDS``: a line through the two largest runs (start-up costs apart from the
    per-record cost); with one run, proportional to it, an upper bound since its start-up is scaled too."""
    fixed, per_record, basis = _line(runs)
    return {
        "records": PROJECTED_RECORDS,
        "hours": round((fixed + per_record * PROJECTED_RECORDS) / 3600, 1),
        "basis": basis,
    }
