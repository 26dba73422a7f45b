"""The rollback of a delta, as users run it (issue #19): ``meltano run tap-topdesk target-intercom`` (the load),
changes in TOPdesk (a share of the persons, calls and branches, through the sandbox's admin API), ``meltano run``
again (the delta: Meltano's state makes it incremental), then ``meltano invoke target-intercom rollback --run
<the delta>``. TOPdesk answers 100 ms late, Intercom 150 ms at 10,000 requests/min.

Numbers: the delta's requests and among them the reads that keep what a change overwrites (one per record the
delta updates, unless the writer had read it anyway); the rollback's wall time and requests, records restored and
removed per second, and what it listed as not restorable or not restored."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pipeline
import target_load
from tap_extract import topdesk_sandbox

RATE_LIMIT, LATENCY_MS, TOPDESK_LATENCY_MS = 10_000, 150.0, 100.0
CHANGED_SHARE = 0.05  # of the persons, calls and branches changed in TOPdesk between the load and the delta


def _rows(data: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (data / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def _patch(url: str, resource: str, record_id: str, body: dict) -> None:
    request = urllib.request.Request(
        f"{url}/__sandbox/{resource}/{record_id}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def change_topdesk(url: str, data: Path, share: float, seed: int) -> dict[str, int]:
    """Rename ``share`` of the persons and branches, retitle and reopen (or close) ``share`` of the calls."""
    rng = random.Random(seed)
    changed: dict[str, int] = {}
    for resource, change in (
        ("persons", lambda r: {"dynamicName": f"{r.get('dynamicName') or ''} (changed)"}),
        ("branches", lambda r: {"name": f"{r.get('name') or ''} (changed)"}),
        (
            "incidents",
            lambda r: {
                "briefDescription": "Changed before the cutover",
                "closed": not r.get("closed"),
                "processingStatus": {
                    **(r.get("processingStatus") or {}),
                    "name": "In progress" if r.get("closed") else "Closed",
                },
            },
        ),
    ):
        rows = _rows(data, resource)
        chosen = rng.sample(rows, max(1, round(len(rows) * share)))
        for row in chosen:
            _patch(url, resource, row["id"], change(row))
        changed[resource] = len(chosen)
    return changed


def _served(url: str) -> int:
    return int(target_load.sandbox_stats(url)["requests_served"])


def _newest(work: Path, pattern: str) -> dict:
    return json.loads(max((work / "reports").glob(pattern), key=lambda p: p.stat().st_mtime_ns).read_text())


def run(calls: int, seed: int, sys_dir: Path, tmp: Path, share: float = CHANGED_SHARE) -> dict:
    """Load, change, delta, rollback of the delta; the figures of the last three."""
    data = target_load.default_data(calls)
    meta = target_load.ensure_dataset(data, calls, seed)
    work = Path(tempfile.mkdtemp(prefix="rollback-", dir=tmp))
    log = work / "meltano.log"
    with (
        topdesk_sandbox(data, meta["counts"], log=work / "topdesk-sandbox.log", latency_ms=TOPDESK_LATENCY_MS) as td,
        target_load.intercom_sandbox(RATE_LIMIT, LATENCY_MS, work / "intercom-sandbox.log") as ic,
    ):
        env = pipeline.base_env(sys_dir) | {
            "TAP_TOPDESK_URL": td,
            "TAP_TOPDESK_EXPORTS_DIR": str(data / "exports"),
            "TARGET_INTERCOM_API_URL": ic,
            "TARGET_INTERCOM_ACCESS_TOKEN": target_load.TOKEN,
            "TARGET_INTERCOM_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
            "TARGET_INTERCOM_REPORT_DIR": str(work / "reports"),
            "TARGET_INTERCOM_FALLBACK_ADMIN_EMAIL": "fallback@sandbox.example",
        }
        pipeline.meltano("state", "clear", "--force", pipeline.STATE_ID, env=env, log=log)
        timed: dict[str, dict] = {}

        def step(name: str, *args: str) -> None:
            before, start = _served(ic), time.perf_counter()
            print(f"rollback bench, {calls} calls: {name} ...", flush=True, file=sys.stderr)
            pipeline.meltano(*args, env=env, log=log)
            timed[name] = {"wall_s": round(time.perf_counter() - start, 1), "requests": _served(ic) - before}

        step("load", "run", "tap-topdesk", "target-intercom")
        changed = change_topdesk(td, data, share, seed)
        step("delta", "run", "tap-topdesk", "target-intercom")
        delta = _newest(work, "*/reconciliation.json")
        step("rollback", "invoke", "target-intercom", "rollback", "--run", delta["run_id"], "--no-progress")
        rolled = _newest(work, "*/rollback.json")
    updated = {k: r["updated"] for k, r in delta["entities"].items() if r.get("updated")}
    entities = rolled["entities"]
    restored = {k: r["restored"] for k, r in entities.items() if r["restored"]}
    removed = sum(r["deleted"] + r["with_container"] + r["already_gone"] for r in entities.values())
    rb = timed["rollback"]
    return {
        "calls": calls,
        "latency_ms": {"topdesk": TOPDESK_LATENCY_MS, "intercom": LATENCY_MS},
        "changed_in_topdesk": changed,
        "load": timed["load"],
        "delta": {
            **timed["delta"],
            "updated": updated,
            "reads_before_change": (delta.get("requests") or {}).get("reads_before_change", 0),
        },
        "rollback": {
            **rb,
            "status": rolled["status"],
            "restored": restored,
            "removed": removed,
            "not_restored": len(rolled["not_restored"]),
            "not_restorable": len(rolled["not_restorable"]),
            "records_per_s": round((sum(restored.values()) + removed) / rb["wall_s"], 1) if rb["wall_s"] else None,
            "requests_per_restored": round(rb["requests"] / sum(restored.values()), 2) if restored else None,
        },
    }


def markdown(result: dict) -> list[str]:
    d, r = result["delta"], result["rollback"]
    updates = sum(d["updated"].values())
    return [
        f"**Rollback of a delta** ({result['calls']:,} calls; TOPdesk changes: "
        + ", ".join(f"{n} {k}" for k, n in result["changed_in_topdesk"].items())
        + f"; TOPdesk {result['latency_ms']['topdesk']:.0f} ms, Intercom {result['latency_ms']['intercom']:.0f} ms; "
        "`meltano run` twice, then `meltano invoke target-intercom rollback`)",
        "",
        "| step | wall s | requests | |",
        "|---|---:|---:|---|",
        f"| load | {result['load']['wall_s']} | {result['load']['requests']:,} | |",
        f"| delta | {d['wall_s']} | {d['requests']:,} | {updates:,} records updated; "
        f"{d['reads_before_change']:,} reads keeping what a change overwrites |",
        f"| rollback | {r['wall_s']} | {r['requests']:,} | {r['status']}: restored "
        + (", ".join(f"{n} {k}" for k, n in r["restored"].items()) or "none")
        + f", removed {r['removed']:,}; {r['records_per_s']} records/s, {r['requests_per_restored']} requests per "
        f"restored record; not restorable {r['not_restorable']}, not restored {r['not_restored']} |",
        "",
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as name:
        sys_dir, _ = pipeline.install(Path(name))
        out = run(int(sys.argv[1]) if len(sys.argv) > 1 else 600, 7, sys_dir, Path(name))
    print(json.dumps(out, indent=2))
    print("\n".join(markdown(out)))
