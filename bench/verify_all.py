"""``topdesk2intercom verify --all`` at two sizes (issue #20): a dataset loaded with ``tap-topdesk | target-intercom``
into an Intercom sandbox (no latency, a rate limit high enough not to matter: the load is setup, not measured), then
``verify --all`` as its own process: its peak RSS (``VmHWM`` of the verify process itself, sampled; the tap it
starts is reported apart), wall time, requests against the load's, records compared and differences. Streaming
means the peak RSS at the larger size stays within 1.15x of the smaller one's."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pipeline
import target_load
from tap_extract import ensure_dataset, tap_config, topdesk_sandbox

RATE_LIMIT = 1_000_000  # per app per minute: never reached
BIN = Path(sys.executable).parent


def load(tap_cfg: Path, target_cfg: Path, work: Path) -> None:
    with (work / "load.log").open("wb") as log:
        tap = subprocess.Popen([str(BIN / "tap-topdesk"), "--config", str(tap_cfg)], stdout=subprocess.PIPE, stderr=log)
        target = subprocess.run(
            [str(BIN / "target-intercom"), "--config", str(target_cfg)],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
            stderr=log,
            check=False,
        )
        tap.wait()
    if tap.returncode or target.returncode:
        raise RuntimeError(f"load failed: {(work / 'load.log').read_text(errors='replace')[-3000:]}")


def run(records: int, seed: int, tmp: Path) -> dict:
    """Load a dataset of about ``records`` TOPdesk records, then ``verify --all``; its figures."""
    scale = round(records / 5.9)
    data = target_load.ROOT / "data" / f"bench-{records // 1000}k"
    meta = ensure_dataset(data, scale, seed)
    work = Path(tempfile.mkdtemp(prefix=f"verify-all-{records // 1000}k-", dir=tmp))
    with (
        topdesk_sandbox(data, meta["counts"], log=work / "topdesk-sandbox.log") as td,
        target_load.intercom_sandbox(RATE_LIMIT, 0, work / "intercom-sandbox.log") as ic,
    ):
        tap_cfg, target_cfg = work / "tap.json", work / "target.json"
        tap_cfg.write_text(json.dumps(tap_config(td, data)))
        target_cfg.write_text(
            json.dumps(
                {
                    "api_url": ic,
                    "access_token": target_load.TOKEN,
                    "ledger_url": f"sqlite:///{work / 'ledger.db'}",
                    "report_dir": str(work / "reports"),
                    "fallback_admin_email": "fallback@sandbox.example",
                }
            )
        )
        print(f"verify --all bench, {records:,} records: loading ...", file=sys.stderr, flush=True)
        load(tap_cfg, target_cfg, work)
        print(f"verify --all bench, {records:,} records: verify --all ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with (work / "verify.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(BIN / "topdesk2intercom"),
                    "--tap-config",
                    str(tap_cfg),
                    "--target-config",
                    str(target_cfg),
                    "verify",
                    "--all",
                ],
                stdout=log,
                stderr=log,
            )
            sampler = pipeline.PeakRss(proc.pid)
            returncode = proc.wait()
            peak = sampler.stop()
        wall = time.perf_counter() - start
    report = json.loads(max((work / "reports").glob("verify-all-*/verify.json")).read_text())
    return {
        "records": records,
        "records_in_dataset": sum(meta["counts"].values()),
        "exit_code": returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mb": peak["meltano"],  # the verify process (the root of its tree)
        "tap_peak_rss_mb": peak["tap"],
        "written": report["written"],
        "compared": report["compared"],
        "unexplained": report["unexplained"],
        "requests": report["requests"],
        "load_requests": report["load_requests"],
        "tickets_and_conversations": report["tickets_and_conversations"],
        "request_budget": report["request_budget"],
        "requests_share_of_load": report["requests_share_of_load"],
    }


def runs(sizes: tuple[int, ...], seed: int, tmp: Path) -> dict:
    out = [run(size, seed, tmp) for size in sizes]
    small, large = out[0], out[-1]
    return {
        "runs": out,
        "rss_ratio_largest_to_smallest": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3)
        if small["peak_rss_mb"]
        else None,
    }


def markdown(result: dict) -> list[str]:
    lines = [
        "**verify --all** (a load into the Intercom sandbox, then `topdesk2intercom verify --all` as its own process; "
        "peak RSS of the verify process, the tap it starts apart)",
        "",
        "| records | written | compared | unexplained | requests | of the load's | budget | wall s | peak RSS MB "
        "| tap MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['records_in_dataset']:,} | {r['written']:,} | {r['compared']:,} | {r['unexplained']} | "
        f"{r['requests']:,} | {r['requests_share_of_load']:.1%} of {r['load_requests']:,} | "
        f"{r['request_budget']:,} | {r['wall_s']} | {r['peak_rss_mb']} | {r['tap_peak_rss_mb']} |"
        for r in result["runs"]
    ]
    lines += ["", f"Peak RSS, largest over smallest: {result['rss_ratio_largest_to_smallest']}x.", ""]
    return lines


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-verify-all-") as name:
        sizes = tuple(int(a) for a in sys.argv[1:]) or (2_000, 10_000)
        result = runs(sizes, 7, Path(name))
    print(json.dumps(result, indent=2))
    print("\n".join(markdown(result)))
