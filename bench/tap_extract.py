"""Benchmark a full `tap-topdesk` extraction from a large TOPdesk sandbox (not a test: numbers, not pass/fail).

Why this shape: the tap's output goes nowhere (records are only counted from its stdout), so the numbers are the
tap's own cost plus the sandbox's, not a target's. Peak RSS comes from ``wait4`` on the tap process itself, so the
sandbox and this script are not counted in it. The sandbox runs on the same machine and competes for its cores;
against a real TOPdesk the network and server dominate instead.

    make bench-tap                         # scale 50000, seed 7, dataset in data/bench50k (generated once)
    .venv/bin/python bench/tap_extract.py --scale 2000 --data data/bench2k --out /tmp/r.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox_common.process import free_port, served
from topdesk2intercom_testing.tap import SAME_COUNT

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RECORD_PREFIX = b'{"type":"RECORD","stream":"'


@dataclass
class StreamStats:
    records: int = 0
    first: float = 0.0
    last: float = 0.0


@dataclass
class Run:
    wall_s: float
    first_record_s: float | None
    peak_rss_kb: int
    returncode: int
    state_messages: int
    stdout_bytes: int
    state_bytes: int
    streams: dict[str, StreamStats] = field(default_factory=dict)


def ensure_dataset(data: Path, scale: int, seed: int) -> dict:
    """Generate once: 50k calls take a while and ~0.5 GB, and the same seed gives the same bytes anyway."""
    manifest = data / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if (meta.get("scale"), meta.get("seed")) == (scale, seed):
            return meta
    print(f"generating scale={scale} seed={seed} into {data} ...", file=sys.stderr)
    subprocess.run(
        [str(BIN / "topdesk-sandbox"), "generate", "--scale", str(scale), "--seed", str(seed), "--out", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(manifest.read_text())


@contextlib.contextmanager
def topdesk_sandbox(
    data: Path, counts: dict, log: Path | None = None, latency_ms: float = 0, capacity: int | None = None
) -> Iterator[str]:
    """Serve the dataset on a free port until the block ends (each answer ``latency_ms`` late; ``capacity``: later
    beyond that many requests at once, see the sandbox's ``--capacity``); yields the base URL once *this* server
    answers with *this* dataset's counts (a port race is possible)."""
    url = f"http://127.0.0.1:{free_port()}"
    command = [BIN / "topdesk-sandbox", "serve", "--data", data, "--port", url.rsplit(":", 1)[1]]
    if latency_ms:
        command += ["--latency-ms", str(latency_ms)]
    if capacity:
        command += ["--capacity", str(capacity)]
    with served(command, url, timeout=300, log=log) as health:
        if health["counts"] != counts:
            raise RuntimeError(f"{url} serves another dataset")
        yield url


def tap_config(url: str, data: Path, **optional: object) -> dict:
    """tap-topdesk's settings for a sandbox serving ``data`` (its CSV exports too); ``None`` options are left out."""
    return {
        "url": url,
        "username": "api_operator",
        "app_password": "sandbox-app-password",
        "exports_dir": str(data / "exports"),
        **{k: v for k, v in optional.items() if v is not None},
    }


def run_tap(
    config: Path, log: Path, command: Sequence[str | Path] = (BIN / "tap-topdesk",), extra: Sequence[str | Path] = ()
) -> Run:
    """Run a tap (tap-topdesk unless ``command`` says otherwise), count RECORDs per stream from stdout as they
    arrive, and take its rusage via wait4 (the peak RSS of the tap process alone)."""
    streams: dict[str, StreamStats] = {}
    states = state_bytes = total_bytes = 0
    start = time.perf_counter()
    first_record: float | None = None
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*map(str, command), "--config", str(config), *map(str, extra)],
            stdout=subprocess.PIPE,
            stderr=err,
            bufsize=1 << 20,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - start
            total_bytes += len(line)
            if line.startswith(RECORD_PREFIX):  # cheap path: the SDK writes compact JSON, type and stream first
                name = line[len(RECORD_PREFIX) : line.index(b'"', len(RECORD_PREFIX))].decode()
            else:
                message = json.loads(line)
                if message.get("type") == "STATE":
                    states += 1
                    state_bytes += len(line)
                if message.get("type") != "RECORD":
                    continue
                name = message["stream"]
            stats = streams.get(name)
            if stats is None:
                stats = streams[name] = StreamStats(first=now)
                first_record = now if first_record is None else first_record
            stats.records += 1
            stats.last = now
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return Run(wall, first_record, usage.ru_maxrss, proc.returncode, states, total_bytes, state_bytes, streams)


def expected_counts(meta: dict) -> dict[str, int]:
    counts = meta["counts"]
    out = {stream: counts[res] for stream, res in SAME_COUNT.items() if res in counts}  # as the tap's tests
    out |= {name.removesuffix(".csv"): rows for name, rows in meta.get("exports", {}).items()}
    return out


def report(run: Run, meta: dict, args: argparse.Namespace) -> tuple[str, dict]:
    expected = expected_counts(meta)
    total = sum(s.records for s in run.streams.values())
    assets = sum(s.records for n, s in run.streams.items() if n.startswith("assets_"))
    rows = []
    for name, s in sorted(run.streams.items(), key=lambda kv: -kv[1].records):
        span = s.last - s.first
        rows.append(
            {
                "stream": name,
                "records": s.records,
                "expected": expected.get(name),
                "span_s": round(span, 2),
                "records_per_s": round(s.records / span) if span > 0.05 else None,
            }
        )
    missing = sorted(set(expected) - set(run.streams))
    result = {
        "benchmark": "tap_extract",
        "scale": meta["scale"],
        "seed": meta["seed"],
        "page_size": args.page_size,
        "window_days": args.window_days,
        "start_date": args.start_date,
        "wall_s": round(run.wall_s, 2),
        "first_record_s": round(run.first_record_s or 0, 2),
        "records": total,
        "records_per_s": round(total / run.wall_s),
        "peak_rss_mb": round(run.peak_rss_kb / 1024, 1),
        "state_messages": run.state_messages,
        "stdout_mb": round(run.stdout_bytes / 1e6, 1),
        "state_mb": round(run.state_bytes / 1e6, 1),
        "returncode": run.returncode,
        "assets_total": {"records": assets, "expected": meta["counts"].get("assets")},
        "streams_missing": missing,
        "streams": rows,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    lines = [
        f"tap-topdesk full extraction, sandbox scale {meta['scale']} (seed {meta['seed']}), output counted, not stored",
        "",
        "| metric | value |",
        "|---|---|",
        f"| wall time | {result['wall_s']} s (first record after {result['first_record_s']} s) |",
        f"| records | {total:,} in {len(run.streams)} streams |",
        f"| records/s overall | {result['records_per_s']:,} |",
        f"| tap peak RSS | {result['peak_rss_mb']} MB |",
        f"| tap stdout | {result['stdout_mb']} MB, of which STATE {result['state_mb']} MB "
        f"({run.state_messages:,} messages) |",
        "",
        "| stream | records | expected | span s | records/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        exp = r["expected"]
        flag = "" if exp is None or exp == r["records"] else " ≠"
        rate = f"{r['records_per_s']:,}" if r["records_per_s"] else "-"
        lines.append(
            f"| {r['stream']} | {r['records']:,} | {'' if exp is None else f'{exp:,}'}{flag} | {r['span_s']} | {rate} |"
        )
    lines.append(f"| (all assets_*) | {assets:,} | {meta['counts'].get('assets', 0):,} | | |")
    lines += ["", "span = first to last record of the stream; child streams interleave with their parent's span."]
    if missing:
        lines.append(f"No records from: {', '.join(missing)}")
    return "\n".join(lines), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench50k")
    parser.add_argument("--page-size", type=int, default=None, help="tap page_size (default: each endpoint's max)")
    parser.add_argument("--window-days", type=int, default=None, help="tap window_days (default: the tap's 90)")
    parser.add_argument("--start-date", default=None, help="tap start_date (default: everything)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tap_extract.json")
    args = parser.parse_args()

    meta = ensure_dataset(args.data, args.scale, args.seed)
    with topdesk_sandbox(args.data, meta["counts"]) as url, tempfile.TemporaryDirectory() as tmp:
        config = tap_config(
            url, args.data, page_size=args.page_size, window_days=args.window_days, start_date=args.start_date
        )
        (cfg := Path(tmp) / "config.json").write_text(json.dumps(config))
        run = run_tap(cfg, log := Path(tmp) / "tap.log")
        if run.returncode != 0:
            print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
    table, result = report(run, meta, args)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
