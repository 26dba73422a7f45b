"""Extraction at real-world latency (#16): the TOPdesk sandbox answers each request ``--latency-ms`` late (100 ms, as
a real TOPdesk does), so what counts is how many requests a tap sends one after another.

1. Side by side: tap-topdesk with a catalog selecting the streams the generic ``tap-rest-api-msdk`` reads (its three
   configurations, see ``rest_tap``), then the generic tap; wall time, records, requests (from the sandbox's request
   log) per tap, and per tap-topdesk list stream its requests against the paging floor ``ceil(records / the
   endpoint's maximum page size)`` (an empty listing costs one).
2. Full extraction: tap-topdesk with every stream, children included: records/s, requests, peak RSS.
"""

from __future__ import annotations

import json
import math
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import rest_tap
from tap_extract import BIN, Run, run_tap, tap_config, topdesk_sandbox

LATENCY_MS = 100.0


def sandbox_requests(url: str, *, clear: bool = False) -> dict:
    """The sandbox's request log (``seen`` = every request since the last clear), or clear it."""
    request = urllib.request.Request(f"{url}/__sandbox/requests", method="DELETE" if clear else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return {} if clear else json.load(response)


def requests_by_path(log: dict) -> Counter:
    return Counter(entry["path"] for entry in log["requests"])


def generic_catalog(config: Path, out: Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """tap-topdesk's catalog selecting what the generic tap reads (every ``assets_*`` for its ``assets``), and each
    selected list stream's (path, maximum page size)."""
    from tap_topdesk.tap import TapTopdesk

    catalog = json.loads(subprocess.run([str(BIN / "tap-topdesk"), "--config", str(config), "--discover"],
                                        check=True, capture_output=True).stdout)
    generic = {s["name"] for c in rest_tap.configs("") for s in c["streams"]}
    wanted = {e["tap_stream_id"] for e in catalog["streams"]
              if e["tap_stream_id"] in generic or ("assets" in generic and e["tap_stream_id"].startswith("assets_"))}
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    out.write_text(json.dumps(catalog))
    tap = TapTopdesk(config=json.loads(config.read_text()), parse_env_config=False)
    paths = {name: (stream.path, stream.max_page_size or 0) for name, stream in tap.streams.items() if name in wanted}
    return out, paths


def paging_floor(run: Run, paths: dict[str, tuple[str, int]], sent: Counter) -> list[dict]:
    """Per list path: the records its streams emitted, the floor, the requests sent."""
    by_path: dict[str, dict] = {}
    for name, (path, size) in sorted(paths.items()):
        row = by_path.setdefault(path, {"path": path, "streams": [], "records": 0, "floor": 0})
        records = run.streams[name].records if name in run.streams else 0
        row["streams"].append(name)
        row["records"] += records
        row["floor"] += max(1, math.ceil(records / size)) if size else 1
    for row in by_path.values():
        row["requests"] = sent.get(row["path"], 0)
        row["ratio"] = round(row["requests"] / row["floor"], 2)
        if len(row["streams"]) > 3:
            row["streams"] = [f"{len(row['streams'])} streams"]
    return sorted(by_path.values(), key=lambda r: -r["requests"])


def summary(run: Run, log: dict) -> dict:
    records = sum(s.records for s in run.streams.values())
    return {"wall_s": round(run.wall_s, 2), "requests": log["seen"], "records": records,
            "records_per_s": round(records / run.wall_s), "peak_rss_mb": round(run.peak_rss_kb / 1024, 1),
            "returncode": run.returncode}


def run(data: Path, meta: dict, tmp: Path, latency_ms: float = LATENCY_MS, *, full: bool = True) -> dict:
    """Both taps on the generic tap's endpoints, then (``full``) tap-topdesk on everything, at ``latency_ms``."""
    result: dict = {"latency_ms": latency_ms, "scale": meta["scale"]}
    with topdesk_sandbox(data, meta["counts"], log=tmp / "topdesk-sandbox-latency.log", latency_ms=latency_ms) as url:
        (cfg := tmp / "tap-topdesk-latency.json").write_text(json.dumps(tap_config(url, data)))
        catalog, paths = generic_catalog(cfg, tmp / "catalog-generic.json")
        sandbox_requests(url, clear=True)
        ours = run_tap(cfg, tmp / "tap-topdesk-latency.log", extra=("--catalog", catalog))
        log = sandbox_requests(url)
        floor = paging_floor(ours, paths, requests_by_path(log))
        sandbox_requests(url, clear=True)
        generic = rest_tap.run(url, tmp)
        result["taps"] = {"tap-topdesk": summary(ours, log), rest_tap.PACKAGE: summary(generic, sandbox_requests(url))}
        result["paging_floor"] = floor
        result["wall_ratio"] = round(ours.wall_s / generic.wall_s, 2)
        if full:
            sandbox_requests(url, clear=True)
            everything = run_tap(cfg, tmp / "tap-topdesk-latency-full.log")
            result["full"] = summary(everything, sandbox_requests(url))
    return result


def markdown(result: dict) -> list[str]:
    taps = result["taps"]
    lines = [f"**Extraction at {result['latency_ms']:g} ms latency** (TOPdesk sandbox `--latency-ms "
             f"{result['latency_ms']:g}`, scale {result['scale']:,}; the generic tap's endpoints, both taps)", "",
             "| tap | records | requests | wall s | records/s | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {tap} | {t['records']:,} | {t['requests']:,} | {t['wall_s']} | {t['records_per_s']:,} "
              f"| {t['peak_rss_mb']} |" for tap, t in taps.items()]
    lines += ["", f"tap-topdesk's wall time is {result['wall_ratio']}x the generic tap's.", "",
              "| list path (tap-topdesk) | streams | records | paging floor | requests | ratio |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['path']} | {', '.join(r['streams'])} | {r['records']:,} | {r['floor']} | {r['requests']} "
              f"| {r['ratio']} |" for r in result["paging_floor"]]
    if full := result.get("full"):
        lines += ["", f"Full extraction (every stream, children included) at {result['latency_ms']:g} ms: "
                  f"{full['records']:,} records, {full['requests']:,} requests, {full['wall_s']} s, "
                  f"**{full['records_per_s']:,} records/s**, peak RSS {full['peak_rss_mb']} MB."]
    return [*lines, ""]
