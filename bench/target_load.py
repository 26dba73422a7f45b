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

``bench/run`` measures the load as users run it instead (:func:`measure_meltano`): ``meltano run tap-topdesk
target-intercom`` with one or several access tokens, the trace and the target's CPU time taken inside the target by
``bench/trace_target.py`` (hooked into its plugin venv), the same :func:`analyse`. Both paths also report requests
per entity kind against the floor (:data:`FLOOR_PER_RECORD`, :func:`floor_requests`) and the target's CPU per
request (:func:`cpu_per_request`).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from sandbox_common.process import free_port, served

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trace_target
from tap_extract import ensure_dataset, tap_config, topdesk_sandbox
from trace_target import PREFLIGHT, route  # noqa: F401 (route: part of this module's interface)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "sandbox-intercom-token"  # the Intercom sandbox's default token
WORKSPACE_RATE_LIMIT = 25_000  # Intercom's limit for all private apps of a workspace together (requests/min)
#: Custom object types the default map writes to; in Intercom only a person can create them (Settings > Data >
#: Custom Objects). If the map grows, the preflight's error names the missing ones.
OBJECT_TYPES = ("Asset", "Change", "ChangeActivity", "ChangeLogEntry", "KnownError", "ProcessDefinition", "Reservation")
WINDOW_S = 10
TRACE_ENV = "BENCH_TARGET_TRACE"
GAP_S = 0.05  # longer gaps between two requests of one writer thread count as idle
AFTER_LOAD = "completeness read-back"  # main-thread requests after the first write (the target's parts sample)


# ---------------------------------------------------------------------------------------------------- the target


def run_instrumented_target(argv: list[str]) -> None:
    """The ``target-intercom`` CLI with every request traced to ``$BENCH_TARGET_TRACE`` (``trace_target.install``)."""
    from target_intercom import cli

    trace_target.install(Path(os.environ[TRACE_ENV]))
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
def intercom_sandbox(
    rate_limit: int,
    latency_ms: float,
    log: Path,
    tokens: tuple[str, ...] = (TOKEN,),
    workspace_rate_limit: int | None = None,
) -> Iterator[str]:
    """An Intercom sandbox on a free port with the map's custom object types (as an admin would have created them)
    at the given rate limit (per app: one per token) and latency, until the block ends; yields its base URL."""
    objects = write_custom_objects(log.with_name("intercom-custom-objects.json"))
    url = f"http://127.0.0.1:{free_port()}"
    workspace = [] if workspace_rate_limit is None else ["--workspace-rate-limit", str(workspace_rate_limit)]
    with served(
        [
            BIN / "intercom-sandbox",
            "serve",
            "--port",
            url.rsplit(":", 1)[1],
            *(arg for token in tokens for arg in ("--token", token)),
            "--rate-limit",
            str(rate_limit),
            *workspace,
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


#: Requests a record of a kind needs at least (issue #18): one write per contact, company, contact-company
#: attachment, custom-object instance, ticket or conversation part, article, collection (and per contact note and
#: inventory item, also one write each); none per relationship (custom_object_links: set on the instance's create)
#: or per teammate/team (matched, never written). Tickets and conversations: one, plus one each whose final state is
#: not the state a create leaves (:data:`FINAL_STATE_KINDS`, counted by :func:`final_states`). Companies: two, the
#: read that finds one the workspace had already (issue #19: matched and restorable, not created) and the upsert.
FLOOR_PER_RECORD = dict.fromkeys(
    (
        "contacts",
        "companies",
        "contact_companies",
        "custom_object_instances",
        "ticket_parts",
        "conversation_parts",
        "articles",
        "collections",
        "contact_notes",
        "inventory_items",
        "tickets",
        "conversations",
    ),
    1,
) | {"companies": 2}
FINAL_STATE_KINDS = ("tickets", "conversations")
#: the final state a create leaves: a ticket is submitted and open (``{}``: nothing to write), a conversation open
CREATED_STATES: tuple[dict | None, ...] = (None, {}, {"open": True})


def floor_requests(records: dict[str, int], final_states: dict[str, int] | None = None) -> dict[str, int]:
    """Per kind, the fewest requests its ``records`` (records the target handled) need: ``FLOOR_PER_RECORD`` each,
    plus, for tickets and conversations, one per record whose final state a create does not leave
    (``final_states``; without it, 1 per ticket)."""
    return {
        kind: FLOOR_PER_RECORD.get(kind, 0) * n
        + ((final_states or {}).get(kind, 0) if kind in FINAL_STATE_KINDS else 0)
        for kind, n in records.items()
    }


def final_states(ledger_db: Path) -> dict[str, int]:
    """Tickets/conversations in the target's ledger (SQLite) whose final state (the map's Intercom state of the
    record's final TOPdesk state) is not what a create leaves: the extra write each needs."""
    import sqlite3

    counts = dict.fromkeys(FINAL_STATE_KINDS, 0)
    with contextlib.closing(sqlite3.connect(ledger_db)) as db:
        rows = db.execute(
            "SELECT kind, extra FROM ledger_entities WHERE status = 'written' AND kind IN (?, ?)", FINAL_STATE_KINDS
        ).fetchall()
    for kind, extra in rows:
        if (json.loads(extra or "{}") or {}).get("final_state") not in CREATED_STATES:
            counts[kind] += 1
    return counts


def ratio(measured: int | None, floor: int | None) -> float | None:
    """Measured requests over the floor (``None`` without a floor)."""
    return round(measured / floor, 3) if measured is not None and floor else None


def cpu_per_request(cpu_s: float | None, requests: int | None) -> dict[str, float | None]:
    """The target's CPU time (user + system) per request it sent: ms per request, and s per 1,000 requests (the
    same number: one is the other's unit times 1,000)."""
    per = cpu_s / requests if cpu_s is not None and requests else None
    return {
        "target_cpu_ms_per_request": None if per is None else round(per * 1000, 3),
        "target_cpu_s_per_1000_requests": None if per is None else round(per * 1000, 3),
    }


def cpu_share(timeline: list[tuple[float, float]] | None, lo: float, hi: float) -> float | None:
    """The share of one core a process used over [lo, hi) from samples ``(time, CPU seconds so far)``: the CPU
    between the last samples at or before ``lo`` and ``hi`` over the time between them (``None``: too few)."""
    points = sorted(timeline or [])
    before = [p for p in points if p[0] <= lo]
    until = [p for p in points if p[0] <= hi]
    if not before or not until or until[-1][0] <= before[-1][0]:
        return None
    return round((until[-1][1] - before[-1][1]) / (until[-1][0] - before[-1][0]), 3)


def server_delta(before: dict, after: dict) -> dict:
    """The Intercom sandbox's counters over the run (``/__sandbox/stats`` after minus before): workspace-wide and per
    app (``apps``); the maxima and budgets as they are after."""
    keys = ("requests_served", "requests_rejected_429", "requests_rejected_workspace_429")
    apps_before = {a["app"]: a for a in before.get("apps") or []}
    return {
        **{k: after.get(k, 0) - before.get(k, 0) for k in keys},
        "max_accepted_in_window": after.get("max_accepted_in_window"),
        "window_budget": after.get("window_budget"),
        "workspace_window_budget": after.get("workspace_window_budget"),
        "apps": [
            {
                "app": a["app"],
                "requests_served": a["requests_served"] - apps_before.get(a["app"], {}).get("requests_served", 0),
                "requests_rejected_429": a["requests_rejected_429"]
                - apps_before.get(a["app"], {}).get("requests_rejected_429", 0),
                "max_accepted_in_window": a.get("max_accepted_in_window"),
                "window_budget": a.get("window_budget"),
            }
            for a in after.get("apps") or []
        ],
    }


def analyse(
    trace: list[tuple],
    summary: dict,
    before: dict,
    after: dict,
    run: dict,
    concurrency: int,
    states: dict[str, int] | None = None,
) -> dict:
    """The load's figures from the trace, the reconciliation report (``summary``), the sandbox's stats and the
    processes' rusage (``run``); ``states``: :func:`final_states` of the run's ledger (for the floor)."""
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
            "floor_requests": 0,  # below, with every kind's records
            "floor": 0,
            "by_route": dict(by_kind[kind].most_common()),
        }
    floors = floor_requests({k: c["records"] for k, c in calls.items()}, states)
    for kind, c in calls.items():
        c["floor_requests"] = floors[kind]
        c["floor"] = round(floors[kind] / c["records"], 3) if c["records"] else 0
        c["vs_floor"] = ratio(c["calls"], floors[kind])
    total_records = sum(c["records"] for c in calls.values())
    total_writes = len(writes)
    floor_total = sum(floors.values())
    server = server_delta(before, after)
    cpu_s = run["target"]["cpu_s"]
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
        "requests_rejected_workspace_429": server["requests_rejected_workspace_429"],
        "workspace_window_budget": server["workspace_window_budget"],
        "apps": len(requests.get("apps") or []) or 1,
        "apps_client": [
            {k: a.get(k) for k in ("requests_sent", "requests_over_limit", "limit", "wait_seconds")}
            for a in requests.get("apps") or []
        ],
        "apps_server": server["apps"],
        # writer requests (every kind's, the preflight and the completeness read-back apart) over the floor
        "requests_writers": total_writes,
        "floor_requests": floor_total,
        "floor_final_states": states,
        "requests_vs_floor": ratio(total_writes, floor_total),
        "requests_vs_floor_all": ratio(requests.get("requests_sent"), floor_total),
        **cpu_per_request(cpu_s, requests.get("requests_sent")),
        "requests_over_limit_client": requests.get("requests_over_limit"),
        "requests_sent_client": requests.get("requests_sent"),
        # reads that keep what a change overwrites (issue #19): a company's lookup by company_id, an update's read
        "reads_before_change": requests.get("reads_before_change", 0),
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
        "target_cpu_s": None if cpu_s is None else round(cpu_s, 2),
        "target_cpu_user_s": run["target"].get("user_s"),
        "target_cpu_sys_s": run["target"].get("sys_s"),
        "target_cpu_basis": run["target"].get("cpu_basis", "wait4 on the target process"),
        "target_cpu_s_sampled": run["target"].get("cpu_s_sampled"),  # /proc, the last sample before its exit
        "target_cpu_share_of_wall": None if cpu_s is None else round(cpu_s / (run["end"] - run["start"]), 3),
        # from /proc samples (meltano runs): how busy the target's one Python process was while it loaded
        "target_cpu_share_load_phase": cpu_share(run["target"].get("cpu_timeline"), load_start, load_end),
        "tap_peak_rss_mb": round(run["tap"]["peak_rss_kb"] / 1024, 1),
        "tap_cpu_s": None if run["tap"]["cpu_s"] is None else round(run["tap"]["cpu_s"], 1),
        "meltano_peak_rss_mb": run.get("meltano_peak_rss_mb"),
        "via": run.get("via", "tap | target (bench/target_load.py)"),
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
        f"read-back, {load.get('reads_before_change', 0):,} reads keeping what a change overwrites (rollback) |",
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
        trace, _ = trace_target.read(tmp / "trace.json")
        states = final_states(tmp / "ledger.db")
    return analyse(trace, summary, before, after, run, concurrency, states), meta


#: the Intercom sandbox's tokens for a run with several private apps (the first is the sandbox's default)
TOKENS = (TOKEN, "sandbox-intercom-token-2", "sandbox-intercom-token-3")


def measure_meltano(
    data: Path,
    scale: int,
    seed: int,
    rate_limit: int,
    latency_ms: float,
    concurrency: int,
    sys_dir: Path,
    tmp: Path,
    tokens: tuple[str, ...] = (TOKEN,),
    workspace_rate_limit: int = WORKSPACE_RATE_LIMIT,
) -> tuple[dict, dict]:
    """The load benchmark as users run it: ``meltano run tap-topdesk target-intercom`` (the repo's meltano.yml, the
    sandbox environment, Meltano's system dir ``sys_dir`` with both plugins installed: ``pipeline.installed``), the
    target configured by environment variables (``TARGET_INTERCOM_ACCESS_TOKENS`` a JSON list of ``tokens``,
    ``TARGET_INTERCOM_WORKSPACE_RATE_LIMIT``), the Intercom sandbox with one app per token at ``rate_limit`` per
    app and ``workspace_rate_limit`` together. The trace and the target's CPU time come from
    :mod:`trace_target`'s hook in the target's plugin venv; peak RSS (and the tap's CPU) from sampling /proc."""
    import pipeline  # here: pipeline imports this module

    meta = ensure_dataset(data, scale, seed)
    work = Path(tempfile.mkdtemp(prefix=f"load-{len(tokens)}-tokens-", dir=tmp))
    site = target_site_packages(sys_dir)
    trace_target.hook_venv(site)
    trace_target.trace_to(site, work / "trace.json")
    try:
        with (
            topdesk_sandbox(data, meta["counts"], log=work / "topdesk-sandbox.log") as topdesk_url,
            intercom_sandbox(
                rate_limit, latency_ms, work / "intercom-sandbox.log", tokens, workspace_rate_limit
            ) as intercom_url,
        ):
            env = pipeline.base_env(sys_dir) | {
                "TAP_TOPDESK_URL": topdesk_url,
                "TAP_TOPDESK_EXPORTS_DIR": str(data / "exports"),
                "TARGET_INTERCOM_API_URL": intercom_url,
                "TARGET_INTERCOM_ACCESS_TOKENS": json.dumps(list(tokens)),
                "TARGET_INTERCOM_WORKSPACE_RATE_LIMIT": str(workspace_rate_limit),
                "TARGET_INTERCOM_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
                "TARGET_INTERCOM_REPORT_DIR": str(work / "reports"),
                "TARGET_INTERCOM_FALLBACK_ADMIN_EMAIL": "fallback@sandbox.example",
            }
            pipeline.meltano("state", "clear", "--force", pipeline.STATE_ID, env=env, log=work / "meltano.log")
            before = sandbox_stats(intercom_url)
            print(
                f"meltano run tap-topdesk target-intercom, {scale} calls, {len(tokens)} token(s) ...", file=sys.stderr
            )
            start = time.time()
            with (work / "meltano.log").open("ab") as out:
                proc = subprocess.Popen(
                    [str(pipeline.MELTANO), "run", "tap-topdesk", "target-intercom"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=out,
                )
                sampler = pipeline.PeakRss(proc.pid)
                returncode = proc.wait()
                peak = sampler.stop()
            end = time.time()
            after = sandbox_stats(intercom_url)
    finally:
        trace_target.trace_to(site, None)
    if returncode:
        raise RuntimeError(
            f"meltano run exited {returncode}: {(work / 'meltano.log').read_text(errors='replace')[-3000:]}"
        )
    summary = json.loads(next((work / "reports").glob("*/reconciliation.json")).read_text())
    trace, cpu = trace_target.read(work / "trace.json")
    run = {
        "start": start,
        "end": end,
        "states": None,  # Meltano reads the target's state lines itself
        "via": "meltano run tap-topdesk target-intercom",
        "meltano_peak_rss_mb": peak["meltano"],
        "tap": {"returncode": 0, "peak_rss_kb": peak["tap"] * 1024, "cpu_s": sampler.cpu_s.get("tap")},
        "target": {
            "returncode": 0,
            "peak_rss_kb": peak["target"] * 1024,
            "cpu_s": None if cpu is None else cpu["user_s"] + cpu["sys_s"],
            "user_s": None if cpu is None else cpu["user_s"],
            "sys_s": None if cpu is None else cpu["sys_s"],
            "cpu_basis": "getrusage(RUSAGE_SELF) of the target-intercom process at its exit",
            "cpu_s_sampled": sampler.cpu_s.get("target"),
            "cpu_timeline": sampler.cpu_timeline.get("target"),
        },
    }
    states = final_states(work / "ledger.db")
    return analyse(trace, summary, before, after, run, concurrency, states), meta


def target_site_packages(sys_dir: Path) -> Path:
    """The site-packages of target-intercom's plugin venv in Meltano's system dir."""
    found = sorted(sys_dir.glob("**/loaders/target-intercom/venv/lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no target-intercom venv under {sys_dir}")
    return found[0]


if __name__ == "__main__":
    sys.exit(main())
