"""Benchmark the load phase of `tap-topdesk | target-intercom` against an Intercom sandbox at Intercom's rate limit
(not a test: numbers, not pass/fail; the target is >= 95 % of the rate budget and 0 requests over the limit).

Why this shape: the TOPdesk sandbox, the Intercom sandbox (``--rate-limit 10000 --latency-ms 150``), the tap and the
target each run as their own process, so none shares a GIL with another; the target maps the TOPdesk streams
itself, as in ``meltano run tap-topdesk target-intercom``. The target runs through this file (``--as-target``),
which only wraps the normal ``target-intercom`` CLI with a per-request trace: send and answer time, the entity kind
whose writer sent it (``preflight`` for the preflight) and the route. The numbers come from three sources that
must agree: the target's reconciliation report (``requests`` = its client's pacer counters: requests sent, 429s,
accepted per server window), the Intercom sandbox's ``/__sandbox/stats`` before/after (server-side truth), and the
trace (calls per record per kind, requests in flight per window). Load phase = from the first request a writer
sends to the answer of the last one. A *full* window is a server window (10 s, aligned to the wall clock, budget
limit/6) entirely inside the load phase. Peak RSS of the target comes from ``wait4`` on its process.

    make bench-target                      # scale 2000, seed 7, dataset in data/bench-target2k (generated once)
    .venv/bin/python bench/target_load.py --quick     # 300 calls, data/bench-target300: a fast check
    .venv/bin/python bench/target_load.py --scale 5000 --data data/bench-target5k --concurrency 48 --out /tmp/r.json

``--concurrency`` sets the target's cap on requests in flight (default: the target's own default); below it the target
keeps about twice what the budget needs at the latency it observes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from sandbox_common.process import free_port, served

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tap_extract import ensure_dataset, tap_config, topdesk_sandbox

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "sandbox-intercom-token"  # the Intercom sandbox's default token
#: Custom object types the default map writes to; in Intercom only a person can create them (Settings > Data >
#: Custom Objects). If the map grows, the preflight's error names the missing ones.
OBJECT_TYPES = ("Asset", "Change", "ChangeActivity", "ChangeLogEntry", "KnownError", "ProcessDefinition", "Reservation")
WINDOW_S = 10
TRACE_ENV = "BENCH_TARGET_TRACE"
PREFLIGHT = "preflight"
ID_SEGMENT = re.compile(r"^(\d+|(?=.*\d)[0-9A-Za-z_-]{12,})$")  # Intercom ids: numbers or 24-hex
GAP_S = 0.05  # longer gaps between two requests of one writer thread count as idle
AFTER_LOAD = "completeness read-back"  # main-thread requests after the first write (the target's parts sample)


# ---------------------------------------------------------------------------------------------------- the target


def route(path: str) -> str:
    """``/tickets/215466/reply`` -> ``/tickets/{id}/reply`` (type names such as ``/custom_object_instances/Asset``
    stay)."""
    path = path.split("?", 1)[0]
    return "/".join("{id}" if ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


def run_instrumented_target(argv: list[str]) -> None:
    """The ``target-intercom`` CLI with every request traced to ``$BENCH_TARGET_TRACE`` (JSON, written at exit).

    Patches only the bench process: ``IntercomClient._send`` (one list append per request, under a lock) and
    ``Loader._write_one`` / ``Loader.settle_intents`` (a thread-local naming the kind being written)."""
    from target_intercom import cli
    from target_intercom.client import IntercomClient
    from target_intercom.loader import Loader

    trace: list[tuple] = []
    lock = threading.Lock()
    local = threading.local()
    send, write_one, settle = IntercomClient._send, Loader._write_one, Loader.settle_intents
    final_state = Loader._write_final_state

    def traced_send(self, method, path, **kwargs):
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

    def traced_write_one(self, writer, *args, **kwargs):
        local.kind = writer.kind
        try:
            return write_one(self, writer, *args, **kwargs)
        finally:
            local.kind = PREFLIGHT

    def traced_settle(self):
        local.kind = "settle_intents"
        try:
            return settle(self)
        finally:
            local.kind = PREFLIGHT

    def traced_final_state(self, entity):  # a ticket's or conversation's state, after its parts: the writer's call
        local.kind = entity.kind
        try:
            return final_state(self, entity)
        finally:
            local.kind = PREFLIGHT

    IntercomClient._send, Loader._write_one, Loader.settle_intents = traced_send, traced_write_one, traced_settle
    Loader._write_final_state = traced_final_state
    out = Path(os.environ[TRACE_ENV])
    atexit.register(lambda: out.write_text(json.dumps(trace)))
    cli.main(argv)


# ---------------------------------------------------------------------------------------------------- harness


def write_custom_objects(path: Path) -> Path:
    """The default map's custom object types with their attributes and relationships, as a person creates them in
    Intercom's UI: the sandbox's ``--custom-objects`` file (so contact/ticket links have their relationships)."""
    from map_topdesk_intercom.mapfile import load_map

    objects = load_map(catalog=False).ui_custom_objects()
    path.write_text(json.dumps(objects, indent=1))
    return path


@contextlib.contextmanager
def intercom_sandbox(rate_limit: int, latency_ms: float, log: Path) -> Iterator[str]:
    """An Intercom sandbox on a free port with the map's custom object types (as an admin would have created them)
    at the given rate limit and latency, until the block ends; yields its base URL."""
    objects = write_custom_objects(log.with_name("intercom-custom-objects.json"))
    url = f"http://127.0.0.1:{free_port()}"
    with served(
        [
            BIN / "intercom-sandbox",
            "serve",
            "--port",
            url.rsplit(":", 1)[1],
            "--token",
            TOKEN,
            "--rate-limit",
            str(rate_limit),
            "--latency-ms",
            str(latency_ms),
            "--custom-object-types",
            ",".join(OBJECT_TYPES),
            "--custom-objects",
            objects,
        ],
        url,
        log=log,
    ):
        yield url


def sandbox_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/__sandbox/stats", timeout=10) as resp:
        return json.load(resp)


def run_pipeline(tap_cfg: Path, target_cfg: Path, trace: Path, tmp: Path) -> dict:
    """``tap-topdesk --config … | target-intercom --config …`` (the target wrapped by this file); rusage of both."""
    env = {**os.environ, TRACE_ENV: str(trace)}
    start = time.time()
    with (tmp / "tap.log").open("wb") as tap_err, (tmp / "target.log").open("wb") as target_err:
        tap = subprocess.Popen(
            [str(BIN / "tap-topdesk"), "--config", str(tap_cfg)],
            stdout=subprocess.PIPE,
            stderr=tap_err,
            bufsize=1 << 20,
        )
        target = subprocess.Popen(
            [sys.executable, __file__, "--as-target", "--config", str(target_cfg)],
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=target_err,
            env=env,
        )
        assert tap.stdout is not None and target.stdout is not None
        tap.stdout.close()  # the target owns the read end now
        states = sum(1 for line in target.stdout if line.strip())  # singer-sdk targets print the bare state value
        _, tap_status, tap_usage = os.wait4(tap.pid, 0)
        tap.returncode = os.waitstatus_to_exitcode(tap_status)
        _, status, usage = os.wait4(target.pid, 0)
        target.returncode = os.waitstatus_to_exitcode(status)
    return {
        "start": start,
        "end": time.time(),
        "states": states,
        "tap": {
            "returncode": tap.returncode,
            "peak_rss_kb": tap_usage.ru_maxrss,
            "cpu_s": tap_usage.ru_utime + tap_usage.ru_stime,
        },
        "target": {
            "returncode": target.returncode,
            "peak_rss_kb": usage.ru_maxrss,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
        },
    }


# ---------------------------------------------------------------------------------------------------- analysis


def in_flight_mean(rows: list[tuple], lo: float, hi: float) -> float:
    """Mean number of requests in flight over [lo, hi): the overlap of every request's [sent, answered) with it."""
    if hi <= lo:
        return 0.0
    return sum(max(0.0, min(r[1], hi) - max(r[0], lo)) for r in rows) / (hi - lo)


def thread_time(trace: list[tuple], lo: float, hi: float, workers: int) -> dict:
    """Where the writer threads' time in [lo, hi) goes: waiting for an answer (``http``), between two requests of one
    thread less than ``GAP_S`` apart (``between``: the ledger writes and Python work of a record, the pacer's wait),
    and longer gaps or threads not yet started (``idle``: no work handed to the thread, e.g. at a chunk barrier)."""
    per_thread: dict[int, list[tuple]] = defaultdict(list)
    for r in trace:
        if r[2] not in (PREFLIGHT, AFTER_LOAD) and r[1] > lo and r[0] < hi:
            per_thread[r[6]].append(r)
    http = between = 0.0
    for rows in per_thread.values():
        rows.sort()
        http += sum(min(r[1], hi) - max(r[0], lo) for r in rows)
        between += sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(rows) if b[0] - a[1] < GAP_S)
    total = workers * (hi - lo)
    return {
        "http": round(http / total, 3),
        "between": round(between / total, 3),
        "idle": round(1 - (http + between) / total, 3),
    }


def analyse(trace: list[tuple], summary: dict, before: dict, after: dict, run: dict, concurrency: int) -> dict:
    requests = summary.get("requests") or {}
    # the target sizes its requests in flight below the concurrency cap: thread shares are over the threads it used
    threads = len({r[6] for r in trace if r[2] != PREFLIGHT}) or concurrency
    limit = requests.get("limit") or after.get("window_budget")
    writes = [r for r in trace if r[2] != PREFLIGHT]
    load_start = min(r[0] for r in writes) if writes else run["start"]
    # requests outside any writer: the preflight before the first write, the completeness sample after it
    trace = [r if r[2] != PREFLIGHT or r[0] < load_start else (*r[:2], AFTER_LOAD, *r[3:]) for r in trace]
    writes = [r for r in trace if r[2] not in (PREFLIGHT, AFTER_LOAD)]
    load_end = max(r[1] for r in writes) if writes else run["end"]
    load_s = load_end - load_start
    # server windows as the target's pacer recorded them (keyed by reset = the window's end, unix seconds)
    windows = {int(reset): counts for reset, counts in (requests.get("windows") or {}).items()}
    full = sorted(reset for reset in windows if reset - WINDOW_S >= load_start and reset <= load_end)
    per_window = []
    for reset in full:
        lo = reset - WINDOW_S
        sent = sorted(r[0] for r in trace if lo <= r[0] < reset)
        busy_until = sent[min(len(sent), limit) - 1] - lo if sent else 0.0
        kinds = Counter(r[2] for r in trace if lo <= r[0] < reset)
        per_window.append(
            {
                "reset": reset,
                "accepted": windows[reset].get("accepted", 0),
                "rejected": windows[reset].get("rejected", 0),
                "fraction": round(windows[reset].get("accepted", 0) / limit, 4),
                # when this client had sent a window's budget (by send time; a send in the window's last ms may be
                # counted by the server in the next one): the rest of the window the pacer holds requests back
                "budget_spent_at_s": round(busy_until, 2) if len(sent) >= limit else None,
                "mean_in_flight": round(in_flight_mean(trace, lo, reset), 1),
                "thread_time": thread_time(trace, lo, reset, threads),
                "kinds": dict(kinds.most_common()),
            }
        )
    fractions = [w["fraction"] for w in per_window]
    touched = [reset for reset in windows if reset > load_start and reset - WINDOW_S < load_end]
    # calls per record per kind: records the writer handled vs requests attributed to it
    entities = summary.get("entities") or {}
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for r in trace:
        by_kind[r[2]][f"{r[3]} {r[4]}" + ("" if r[5] == "ok" else f" -> {r[5]}")] += 1
    calls = {}
    writers = {r[2] for r in writes}
    for kind in sorted(set(by_kind) | {k for k, v in entities.items() if v.get("received")}):
        row = entities.get(kind, {})
        handled = sum(row.get(c, 0) for c in ("created", "updated", "matched", "merged", "skipped", "failed"))
        n = sum(by_kind[kind].values())
        calls[kind] = {
            "records": handled,
            "received": row.get("received", 0),
            "created": row.get("created", 0),
            "calls": n,
            "calls_per_record": round(n / handled, 3) if handled else None,
            "floor": 1 if handled and kind in writers else 0,
            "by_route": dict(by_kind[kind].most_common()),
        }
    total_records = sum(c["records"] for c in calls.values())
    total_writes = len(writes)
    mean_fraction = sum(fractions) / len(fractions) if fractions else None
    served = after.get("requests_served", 0) - before.get("requests_served", 0)
    rejected = after.get("requests_rejected_429", 0) - before.get("requests_rejected_429", 0)
    return {
        "budget_used_fraction": round(mean_fraction, 4) if mean_fraction is not None else None,
        "budget_used_fraction_min": min(fractions) if fractions else None,
        # every window the load phase touches, the partial first and last ones included (a lower bound)
        "budget_used_fraction_all_windows": round(
            sum(windows[w].get("accepted", 0) for w in touched) / (limit * len(touched)), 4
        )
        if touched
        else None,
        "windows_touched": len(touched),
        "budget_limited_windows": sum(1 for w in per_window if w["budget_spent_at_s"] is not None),
        "full_windows": len(full),
        "window_budget": limit,
        "requests_over_limit": rejected,
        "requests_over_limit_client": requests.get("requests_over_limit"),
        "requests_sent_client": requests.get("requests_sent"),
        "requests_served_server": served,
        "requests_traced": len(trace),
        "requests_preflight": sum(1 for r in trace if r[2] == PREFLIGHT),
        "requests_after_load": sum(1 for r in trace if r[2] == AFTER_LOAD),
        "max_accepted_in_window_server": after.get("max_accepted_in_window"),
        "pacer_wait_seconds": requests.get("wait_seconds"),
        "retries": requests.get("retries"),
        "load_phase_s": round(load_s, 2),
        "load_requests_per_min": round(total_writes / load_s * 60) if load_s > 0 else None,
        "limit_per_min": limit * 6 if limit else None,
        "calls_per_record": round(total_writes / total_records, 3) if total_records else None,
        "calls_per_record_by_kind": {k: v["calls_per_record"] for k, v in calls.items() if v["calls"]},
        "records_written": total_records,
        "records_per_s_load": round(total_records / load_s, 1) if load_s > 0 else None,
        "wall_s": round(run["end"] - run["start"], 2),
        "before_load_s": round(load_start - run["start"], 2),
        "after_load_s": round(run["end"] - load_end, 2),
        "records_per_s_wall": round(total_records / (run["end"] - run["start"]), 1),
        "target_peak_rss_mb": round(run["target"]["peak_rss_kb"] / 1024, 1),
        "target_cpu_s": round(run["target"]["cpu_s"], 1),
        "target_cpu_share_of_wall": round(run["target"]["cpu_s"] / (run["end"] - run["start"]), 3),
        "tap_peak_rss_mb": round(run["tap"]["peak_rss_kb"] / 1024, 1),
        "tap_cpu_s": round(run["tap"]["cpu_s"], 1),
        "mean_in_flight_load": round(in_flight_mean(trace, load_start, load_end), 1),
        "thread_time_load": thread_time(trace, load_start, load_end, threads),
        "concurrency": concurrency,
        "writer_threads": threads,
        "latency_s_observed": requests.get("latency_seconds"),
        "kinds": calls,
        "windows": per_window,
        "failed": (summary.get("totals") or {}).get("failed"),
        "state_messages": run["states"],
    }


def report(load: dict, meta: dict, args: argparse.Namespace) -> tuple[str, dict]:
    result = {
        "benchmark": "target_load",
        "scale": meta["scale"],
        "seed": meta["seed"],
        "rate_limit_per_min": args.rate_limit,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "load": load,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tt = load["thread_time_load"]
    pct = lambda x: "-" if x is None else f"{x * 100:.1f} %"  # noqa: E731
    lines = [
        f"tap-topdesk | target-intercom, TOPdesk sandbox scale {meta['scale']} (seed {meta['seed']}), Intercom sandbox "
        f"--rate-limit {args.rate_limit} --latency-ms {args.latency_ms:g}, concurrency {args.concurrency}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| budget used per full 10-s window | mean {pct(load['budget_used_fraction'])}, min "
        f"{pct(load['budget_used_fraction_min'])} over {load['full_windows']} full windows "
        f"(budget {load['window_budget']:,}/window; {load['budget_limited_windows']} windows spent the budget) |",
        f"| budget used over all {load['windows_touched']} windows the load phase touches (first and last partial) | "
        f"{pct(load['budget_used_fraction_all_windows'])} |",
        f"| requests over the limit (429) | {load['requests_over_limit']} (server), "
        f"{load['requests_over_limit_client']} (client) |",
        f"| requests | {load['requests_served_server']:,} served (server), {load['requests_sent_client']:,} sent "
        f"(client); {load['requests_preflight']:,} preflight, {load['requests_after_load']:,} completeness "
        "read-back |",
        f"| load phase | {load['load_phase_s']} s, {load['load_requests_per_min']:,} requests/min vs "
        f"{load['limit_per_min']:,} limit |",
        f"| wall time | {load['wall_s']} s ({load['before_load_s']} s before the first write, "
        f"{load['after_load_s']} s after the last) |",
        f"| records written | {load['records_written']:,}: {load['records_per_s_load']} /s in the load phase, "
        f"{load['records_per_s_wall']} /s wall |",
        f"| API calls per record | {load['calls_per_record']} (floor 1) |",
        f"| requests in flight (mean, load phase) | {load['mean_in_flight_load']} ({load['writer_threads']} writer "
        f"threads used, cap {args.concurrency}; latency the pacer observed "
        f"{(load['latency_s_observed'] or 0) * 1000:.0f} ms) |",
        f"| writer threads (load phase) | {tt['http']:.0%} waiting for answers, {tt['between']:.0%} between requests, "
        f"{tt['idle']:.0%} idle |",
        f"| target peak RSS / CPU | {load['target_peak_rss_mb']} MB / {load['target_cpu_s']} s "
        f"({pct(load['target_cpu_share_of_wall'])} of one core over the wall time) |",
        f"| tap peak RSS / CPU | {load['tap_peak_rss_mb']} MB / {load['tap_cpu_s']} s |",
        f"| failed records / state lines emitted | {load['failed']} / {load['state_messages']} |",
        "",
        "| entity kind | records | calls | calls/record | floor | calls by route |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind, c in sorted(load["kinds"].items(), key=lambda kv: -kv[1]["calls"]):
        routes = ", ".join(f"{r} x{n:,}" for r, n in c["by_route"].items())
        cpr = "-" if c["calls_per_record"] is None else c["calls_per_record"]
        lines.append(f"| {kind} | {c['records']:,} | {c['calls']:,} | {cpr} | {c['floor']} | {routes} |")
    lines += [
        "",
        "Writer threads: share of time waiting for answers / between a thread's requests (< 50 ms: "
        "ledger and Python work per record, pacer waits) / idle (no task)",
        "",
        "| window end (UTC) | accepted | fraction | budget spent at | mean in flight | threads http/between/idle "
        "| kinds sending |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for w in load["windows"]:
        kinds = ", ".join(f"{k} {n}" for k, n in w["kinds"].items())
        tt = w["thread_time"]
        spent = "-" if w["budget_spent_at_s"] is None else f"{w['budget_spent_at_s']} s"
        lines.append(
            f"| {time.strftime('%H:%M:%S', time.gmtime(w['reset']))} | {w['accepted']:,} "
            f"| {pct(w['fraction'])} | {spent} | {w['mean_in_flight']} | {tt['http']:.0%} / "
            f"{tt['between']:.0%} / {tt['idle']:.0%} | {kinds} |"
        )
    return "\n".join(lines), result


def main() -> int:
    if sys.argv[1:2] == ["--as-target"]:
        run_instrumented_target(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 calls in data/bench-target300 (a fast check)")
    parser.add_argument("--scale", type=int, default=None, help="calls (default 2000, --quick 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None, help="dataset dir (default data/bench-target<scale>)")
    parser.add_argument("--rate-limit", type=int, default=10000, help="Intercom sandbox requests/minute")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="the target's concurrency setting (cap on requests in flight; default: the target's)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "target_load.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs, trace, ledger and report here")
    args = parser.parse_args()
    settings = {} if args.concurrency is None else {"concurrency": args.concurrency}
    if args.concurrency is None:
        from target_intercom.target import DEFAULT_CONCURRENCY

        args.concurrency = DEFAULT_CONCURRENCY
    scale = args.scale or (300 if args.quick else 2000)
    data = args.data or default_data(scale)

    load, meta = measure(
        data, scale, args.seed, args.rate_limit, args.latency_ms, args.concurrency, settings, args.keep
    )
    if load is None:
        return 1
    table, result = report(load, meta, args)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def default_data(scale: int) -> Path:
    """data/bench-target300, data/bench-target2k: one dataset per scale, generated once."""
    return ROOT / "data" / (f"bench-target{scale}" if scale % 1000 else f"bench-target{scale // 1000}k")


def measure(
    data: Path,
    scale: int,
    seed: int,
    rate_limit: int,
    latency_ms: float,
    concurrency: int,
    settings: dict,
    keep: Path | None = None,
) -> tuple[dict | None, dict]:
    """One load benchmark: both sandboxes, the traced pipeline, the analysis (``None`` if a process failed)."""
    meta = ensure_dataset(data, scale, seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        with (
            topdesk_sandbox(data, meta["counts"], log=tmp / "topdesk-sandbox.log") as topdesk_url,
            intercom_sandbox(rate_limit, latency_ms, tmp / "intercom-sandbox.log") as intercom_url,
        ):
            tap_cfg, target_cfg = tmp / "tap.json", tmp / "target.json"
            tap_cfg.write_text(json.dumps(tap_config(topdesk_url, data)))
            target_cfg.write_text(
                json.dumps(
                    {
                        "api_url": intercom_url,
                        "access_token": TOKEN,
                        "ledger_url": f"sqlite:///{tmp / 'ledger.db'}",
                        "report_dir": str(tmp / "reports"),
                        "fallback_admin_email": "fallback@sandbox.example",
                        **settings,
                    }
                )
            )
            before = sandbox_stats(intercom_url)
            print(f"running tap-topdesk | target-intercom on {scale} calls ...", file=sys.stderr)
            run = run_pipeline(tap_cfg, target_cfg, tmp / "trace.json", tmp)
            after = sandbox_stats(intercom_url)
        if run["target"]["returncode"] or run["tap"]["returncode"]:
            print((tmp / "target.log").read_text(errors="replace")[-5000:], file=sys.stderr)
            print(
                f"tap exited {run['tap']['returncode']}, target exited {run['target']['returncode']}", file=sys.stderr
            )
            return None, meta
        summary = json.loads(next((tmp / "reports").glob("*/reconciliation.json")).read_text())
        trace = [tuple(r) for r in json.loads((tmp / "trace.json").read_text())]
    return analyse(trace, summary, before, after, run, concurrency), meta


if __name__ == "__main__":
    sys.exit(main())
