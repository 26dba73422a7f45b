"""The load with ``bulk_preview`` on: requests to contacts and their company links per contact (not a test: a number).

Why apart from ``bench/run``'s load: that load measures the default settings through ``meltano run``; this one runs
the same ``tap-topdesk | target-intercom`` pipe as ``target_load.py`` (traced the same way) with ``bulk_preview`` on,
and counts what the contacts and contact_companies writers sent (bulk requests, job polls and searches included;
the live check's throwaway requests, before the load, are not) over the contacts the target wrote.

    .venv/bin/python bench/bulk_preview.py --calls 300          # prints the JSON
    from bulk_preview import measure; measure(300)             # {"contacts_requests_per_contact": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import target_load
import trace_target

KINDS = ("contacts", "contact_companies")


def measure(
    calls: int = 300, seed: int = 7, rate_limit: int = 10_000, latency_ms: float = 150.0, keep: Path | None = None
) -> dict:
    """One traced load of ``calls`` TOPdesk calls (the dataset ``target_load`` uses at that scale) with
    ``bulk_preview`` on; returns ``load.bulk_preview``'s figures. ``keep``: the logs, ledger and trace go there."""
    data = target_load.default_data(calls)
    meta = target_load.ensure_dataset(data, calls, seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = keep or Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        with (
            target_load.topdesk_sandbox(data, meta["counts"], log=tmp / "topdesk-sandbox.log") as topdesk_url,
            target_load.intercom_sandbox(rate_limit, latency_ms, tmp / "intercom-sandbox.log") as intercom_url,
        ):
            tap_cfg, target_cfg = tmp / "tap.json", tmp / "target.json"
            tap_cfg.write_text(json.dumps(target_load.tap_config(topdesk_url, data)))
            target_cfg.write_text(
                json.dumps(
                    {
                        "api_url": intercom_url,
                        "access_token": target_load.TOKEN,
                        "ledger_url": f"sqlite:///{tmp / 'ledger.db'}",
                        "report_dir": str(tmp / "reports"),
                        "fallback_admin_email": "fallback@sandbox.example",
                        "bulk_preview": True,
                    }
                )
            )
            run = target_load.run_pipeline(tap_cfg, target_cfg, tmp / "trace.json", tmp)
        if run["target"]["returncode"] or run["tap"]["returncode"]:
            tail = (tmp / "target.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the bulk_preview load failed: {tail}")
        summary = json.loads(next((tmp / "reports").glob("*/reconciliation.json")).read_text())
        trace, _ = trace_target.read(tmp / "trace.json")
    return figures(trace, summary, calls)


def figures(trace: list[tuple], summary: dict, calls: int) -> dict:
    """The figures from a trace (rows ``[sent, answered, kind, METHOD, route, status, thread]``) and the
    reconciliation report's per-kind counts."""
    by_route: Counter[str] = Counter(f"{r[3]} {r[4]}" for r in trace if r[2] in KINDS)
    kinds = summary.get("entities") or {}
    contacts = _written(kinds.get("contacts") or {})
    requests = sum(by_route.values())
    return {
        "calls": calls,
        "contacts": contacts,
        "contact_companies": _written(kinds.get("contact_companies") or {}),
        "contacts_requests": requests,
        "contacts_requests_per_contact": round(requests / contacts, 4) if contacts else None,
        "requests_by_route": dict(by_route.most_common()),
    }


def _written(row: dict) -> int:
    return sum(int(row.get(k) or 0) for k in ("created", "updated", "merged", "settled"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure(args.calls, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
