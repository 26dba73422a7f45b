"""Extraction at real-world latency (#16): the TOPdesk sandbox answers each request ``--latency-ms`` late (100 ms, as
a real TOPdesk does), so what counts is how many requests a tap sends one after another.

1. Side by side: tap-topdesk with a catalog selecting the streams the generic ``tap-rest-api-msdk`` reads (its three
   configurations, see ``rest_tap``), then the generic tap; wall time, records, requests (from the sandbox's request
   log) per tap, both at their defaults (tap-topdesk: ``max_concurrency`` 16, adaptive from 8).
2. Per tap-topdesk list path, the paging floor ``ceil(records / the endpoint's maximum page size)`` (an empty listing
   costs one; the knowledge base is listed per language and per archived/active, asset templates per category: one
   each) against the requests its
   sync sent, split: the listing pages (``ratio`` = pages / floor); the checks its reads make (the listing of the
   records outside every range, the asset categories' ids-only listings and flags); the module probe and the request
   check (``tap-topdesk --probe`` with the same catalog, counted apart and subtracted).
3. Full extraction: tap-topdesk with every stream, children included, at its default ``max_concurrency`` (16: the
   bound adapts from 8), at 8 (fixed: the default before it adapted) and at ``FULL_CONCURRENCY``: records/s,
   requests, peak RSS.

Alone, one full extraction at the tap's defaults with its requests per path (ids collapsed), for quick iterations:

    .venv/bin/python bench/latency.py --data data/bench-10k [--max-concurrency N] [--latency-ms 100] [--capacity N]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl

import rest_tap
from tap_extract import BIN, Run, run_tap, tap_config, topdesk_sandbox

from tap_topdesk.concurrency import DEFAULT_MAX_CONCURRENCY, START_CONCURRENCY

LATENCY_MS = 100.0
#: ``max_concurrency`` of the second full extraction (the default is 16, adaptive from 8).
FULL_CONCURRENCY = 64


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

    catalog = json.loads(
        subprocess.run(
            [str(BIN / "tap-topdesk"), "--config", str(config), "--discover"], check=True, capture_output=True
        ).stdout
    )
    generic = {s["name"] for c in rest_tap.configs("") for s in c["streams"]}
    wanted = {
        e["tap_stream_id"]
        for e in catalog["streams"]
        if e["tap_stream_id"] in generic or ("assets" in generic and e["tap_stream_id"].startswith("assets_"))
    }
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    out.write_text(json.dumps(catalog))
    tap = TapTopdesk(config=json.loads(config.read_text()), parse_env_config=False)
    paths = {name: (stream.path, stream.max_page_size or 0) for name, stream in tap.streams.items() if name in wanted}
    return out, paths


def check_kind(path: str, query: str) -> bool:
    """Whether a listing request of the sync is one of its checks rather than a page of a range: the listing of the
    records outside every range (FIQL without ``=ge=`` bound, asset ``$filter`` without ``and``), an asset category's
    ids-only listing (no ``templateId``) or flag listing."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if path.endswith("/assetmgmt/assets"):
        return "templateId" not in params or " and " not in params.get("$filter", " and ")
    fiql = params.get("query", "")
    return "modificationDate" in fiql and "=ge=" not in fiql


def kinds(log: dict) -> Counter:
    """(path, whether a check) of each logged request."""
    return Counter((e["path"], check_kind(e["path"], e["query"])) for e in log["requests"])


def paging_floor(run: Run, paths: dict[str, tuple[str, int]], log: dict, probe: Counter) -> list[dict]:
    """Per list path: the records its streams emitted, the floor, and the requests the sync sent (pages, checks),
    those of the probe and request check (``probe``, by (path, kind)) set apart."""
    sent = kinds(log) - probe
    by_path: dict[str, dict] = {}
    for name, (path, size) in sorted(paths.items()):
        row = by_path.setdefault(path, {"path": path, "streams": [], "records": 0, "floor": 0})
        records = run.streams[name].records if name in run.streams else 0
        row["streams"].append(name)
        row["records"] += records
        # listings of one read: (default + 4 languages) x (active, archived); templates: asset, stock, bulk items
        listings = 10 if "knowledge-base" in path else 3 if path.endswith("/templates") else 1
        row["floor"] += max(listings, math.ceil(records / size)) if size else listings
    for row in by_path.values():
        path = row["path"]
        row["probe_and_check"] = probe.get((path, False), 0) + probe.get((path, True), 0)
        row["checks"] = sent.get((path, True), 0)
        row["pages"] = sent.get((path, False), 0)
        row["requests"] = row["pages"] + row["checks"] + row["probe_and_check"]
        row["ratio"] = round(row["pages"] / row["floor"], 2)
        if len(row["streams"]) > 3:
            row["streams"] = [f"{len(row['streams'])} streams"]
    return sorted(by_path.values(), key=lambda r: -r["records"])


def summary(run: Run, log: dict) -> dict:
    records = sum(s.records for s in run.streams.values())
    return {
        "wall_s": round(run.wall_s, 2),
        "requests": log["seen"],
        "records": records,
        "records_per_s": round(records / run.wall_s),
        "peak_rss_mb": round(run.peak_rss_kb / 1024, 1),
        "returncode": run.returncode,
    }


def probe_requests(cfg: Path, catalog: Path, url: str, log: Path) -> Counter:
    """What the module probe and the request check send (every sync sends them first), by (path, kind)."""
    sandbox_requests(url, clear=True)
    with log.open("wb") as err:
        subprocess.run(
            [str(BIN / "tap-topdesk"), "--config", str(cfg), "--catalog", str(catalog), "--probe"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    return kinds(sandbox_requests(url))


def run(data: Path, meta: dict, tmp: Path, latency_ms: float = LATENCY_MS, *, full: bool = True) -> dict:
    """Both taps on the generic tap's endpoints, then (``full``) tap-topdesk on everything, at ``latency_ms``."""
    tmp.mkdir(parents=True, exist_ok=True)
    result: dict = {"latency_ms": latency_ms, "scale": meta["scale"], "full_concurrency": FULL_CONCURRENCY}
    with topdesk_sandbox(data, meta["counts"], log=tmp / "topdesk-sandbox-latency.log", latency_ms=latency_ms) as url:
        (cfg := tmp / "tap-topdesk-latency.json").write_text(json.dumps(tap_config(url, data)))
        catalog, paths = generic_catalog(cfg, tmp / "catalog-generic.json")
        probe = probe_requests(cfg, catalog, url, tmp / "tap-topdesk-probe.log")
        sandbox_requests(url, clear=True)
        ours = run_tap(cfg, tmp / "tap-topdesk-latency.log", extra=("--catalog", catalog))
        log = sandbox_requests(url)
        sandbox_requests(url, clear=True)
        generic = rest_tap.run(url, tmp)
        result["taps"] = {"tap-topdesk": summary(ours, log), rest_tap.PACKAGE: summary(generic, sandbox_requests(url))}
        result["paging_floor"] = paging_floor(ours, paths, log, probe)
        result["probe_and_check_requests"] = probe.total()
        result["wall_ratio"] = round(ours.wall_s / generic.wall_s, 2)
        if full:
            result["full"] = {}
            for concurrency in (DEFAULT_MAX_CONCURRENCY, START_CONCURRENCY, FULL_CONCURRENCY):
                (cfg_full := tmp / f"tap-topdesk-full-{concurrency}.json").write_text(
                    json.dumps(tap_config(url, data, max_concurrency=concurrency))
                )
                sandbox_requests(url, clear=True)
                everything = run_tap(cfg_full, tmp / f"tap-topdesk-latency-full-{concurrency}.log")
                result["full"][str(concurrency)] = summary(everything, sandbox_requests(url))
    return result


def markdown(result: dict) -> list[str]:
    taps = result["taps"]
    lines = [
        f"**Extraction at {result['latency_ms']:g} ms latency** (TOPdesk sandbox `--latency-ms "
        f"{result['latency_ms']:g}`, scale {result['scale']:,}; the generic tap's endpoints, both taps at their "
        "defaults)",
        "",
        "| tap | records | requests | wall s | records/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {tap} | {t['records']:,} | {t['requests']:,} | {t['wall_s']} | {t['records_per_s']:,} "
        f"| {t['peak_rss_mb']} |"
        for tap, t in taps.items()
    ]
    lines += [
        "",
        f"tap-topdesk's wall time is **{result['wall_ratio']}x** the generic tap's.",
        "",
        "| list path (tap-topdesk) | streams | records | paging floor | pages | pages / floor | checks of the "
        "reads | probe + request check |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['path']} | {', '.join(r['streams'])} | {r['records']:,} | {r['floor']} | {r['pages']} "
        f"| {r['ratio']} | {r['checks']} | {r['probe_and_check']} |"
        for r in result["paging_floor"]
    ]
    lines += [
        "",
        "checks of the reads: the listing of the records outside every range (one per windowed stream; on "
        "a first sync one with three bounds), the asset categories' ids-only listings and their archived/"
        f"impacted flags; probe + request check: {result.get('probe_and_check_requests', '?')} requests in all "
        "(page size 1), sent side by side at the start of every sync.",
    ]
    for concurrency, full in (result.get("full") or {}).items():
        default = " (the default: adapts from 8)" if concurrency == str(DEFAULT_MAX_CONCURRENCY) else ""
        lines += [
            "",
            f"Full extraction (every stream, children included) at {result['latency_ms']:g} ms, "
            f"`max_concurrency` {concurrency}{default}: {full['records']:,} records, {full['requests']:,} requests, "
            f"{full['wall_s']} s, **{full['records_per_s']:,} records/s**, peak RSS {full['peak_rss_mb']} MB.",
        ]
    return [*lines, ""]


def requests_per_path(log: dict) -> Counter:
    """The logged requests by path, each id written ``{id}`` (a child read per record counts under one path)."""
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return Counter(uuid.sub("{id}", entry["path"]) for entry in log["requests"])


def in_parallel(tap_log: Path) -> str:
    """The tap's own account of its requests in parallel (peak, the adaptive bound's end and highest), or ''."""
    said = re.findall(r"Requests in parallel: ([^\n\"]*)", tap_log.read_text(errors="replace"))
    return said[-1] if said else ""


def full_once(
    data: Path, latency_ms: float, max_concurrency: int | None, capacity: int | None = None
) -> tuple[dict, Counter]:
    """One full extraction of ``data`` (every stream) at ``latency_ms`` (the sandbox's ``capacity``, if any): its
    summary (with ``in_parallel``) and requests per path."""
    meta = json.loads((data / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with topdesk_sandbox(
            data, meta["counts"], log=tmp / "sandbox.log", latency_ms=latency_ms, capacity=capacity
        ) as url:
            (cfg := tmp / "tap.json").write_text(json.dumps(tap_config(url, data, max_concurrency=max_concurrency)))
            sandbox_requests(url, clear=True)
            everything = run_tap(cfg, tmp / "tap.log")
            log = sandbox_requests(url)
        return {**summary(everything, log), "in_parallel": in_parallel(tmp / "tap.log")}, requests_per_path(log)


def main() -> None:
    parser = argparse.ArgumentParser(description="One full tap-topdesk extraction at a real TOPdesk's latency.")
    parser.add_argument("--data", type=Path, required=True, help="a generated dataset (data/bench-10k, ...)")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    parser.add_argument("--max-concurrency", type=int, default=None, help="default: the tap's own default")
    parser.add_argument("--capacity", type=int, default=None, help="the sandbox strains beyond N requests at once")
    args = parser.parse_args()
    result, paths = full_once(args.data, args.latency_ms, args.max_concurrency, args.capacity)
    strains = f", sandbox capacity {args.capacity}" if args.capacity else ""
    print(
        f"{args.data.name} at {args.latency_ms:g} ms{strains}, max_concurrency {args.max_concurrency or 'default'}: "
        f"{result['records']:,} records, {result['requests']:,} requests, {result['wall_s']} s, "
        f"{result['records_per_s']:,} records/s, peak RSS {result['peak_rss_mb']} MB, exit {result['returncode']}"
    )
    print(f"requests in parallel: {result['in_parallel'] or '(not said)'}")
    for path, count in paths.most_common():
        print(f"{count:>8,}  {path}")


if __name__ == "__main__":
    main()
