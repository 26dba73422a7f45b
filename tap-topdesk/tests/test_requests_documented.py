"""The request gate (issue 15): a full sync of every stream and a delta against the strict sandbox, every request
the tap sends held against TOPdesk's descriptions (``topdesk_sandbox.documented``). A request the descriptions do not
document is refused by TOPdesk with a 400 that ends the whole sync, hours into a run; this test names each one by
operation and parameter instead.

Each stream is synced on its own, so that one refused stream does not hide the requests of the others."""

from __future__ import annotations

from collections import defaultdict

import pytest
import requests

from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.tap import admin, config, start_sandbox, sync

SCALE, SEED = 300, 5
#: Records changed between the full sync and the delta: (sandbox resource, how many) — one of each kind the tap
#: reads incrementally, so the delta sends its bookmarked requests and reads something.
CHANGED = (
    ("incidents", 3),
    ("persons", 2),
    ("operators", 1),
    ("changes", 2),
    ("change_activities", 2),
    ("assets", 2),
    ("operational_activities", 1),
    ("knowledge_items", 1),
    ("reservations", 1),
)


def _requests(url: str) -> list[dict]:
    log = requests.get(f"{url}/__sandbox/requests", timeout=30).json()
    assert log["dropped"] == 0, "the sandbox's request log overflowed"
    requests.delete(f"{url}/__sandbox/requests", timeout=30)
    return log["requests"]


def _sync_each(cfg: dict, names: list[str], states: dict[str, dict]) -> dict[str, str]:
    """Sync every stream alone (from its own state); a stream's failure is kept, not raised."""
    failures = {}
    for name in names:
        try:
            run = sync(cfg, state=states.get(name), streams=[name])
        except Exception as exc:  # noqa: BLE001  any stream's failure is kept for the report, not raised
            failures[name] = str(exc).splitlines()[0][:300]
            continue
        states[name] = run.state
    return failures


def _change_records(url: str, dataset: dict) -> None:
    """An empty patch bumps the modification date: the record changed now, as an operator's edit would."""
    for resource, count in CHANGED:
        for record in dataset[resource][:count]:
            admin(url, "PATCH", f"{resource}/{record['id']}", json={})


@pytest.fixture(scope="module")
def recorded() -> dict:
    """Every request of a full sync and of a delta, and the streams that failed in either."""
    from topdesk_sandbox.generator import build_dataset

    url = start_sandbox(scale=SCALE, seed=SEED, strict=True)
    cfg = config(url)
    names = sorted(TapTopdesk(config=cfg, parse_env_config=False).streams)
    assert any(n.startswith("assets_") for n in names), names
    states: dict[str, dict] = {}
    _requests(url)  # discovery's requests: not a sync
    full_failures = _sync_each(cfg, names, states)
    full = _requests(url)
    _change_records(url, build_dataset(SCALE, SEED).records)
    delta_failures = _sync_each(cfg, names, states)
    delta = _requests(url)
    return {"full": full, "delta": delta, "failures": {"full": full_failures, "delta": delta_failures}}


def test_both_syncs_sent_requests(recorded: dict) -> None:
    assert len(recorded["full"]) > 100 and recorded["delta"]


def test_every_request_is_documented(recorded: dict) -> None:
    """Grouped by operation, parameter and kind, with the offending names or values and the phases they occur in."""
    groups: dict[tuple[str, str, str], dict] = defaultdict(lambda: {"details": set(), "phases": set(), "count": 0})
    for phase in ("full", "delta"):
        for request in recorded[phase]:
            for v in request["violations"]:
                group = groups[(v["operation"], v["parameter"], v["message"])]
                group["details"].add(v["detail"])
                group["phases"].add(phase)
                group["count"] += 1
    lines = []
    for (operation, parameter, message), group in sorted(groups.items()):
        details = sorted(group["details"])
        shown = ", ".join(details[:4]) + (f", ... ({len(details)} values)" if len(details) > 4 else "")
        phases = "+".join(p for p in ("full", "delta") if p in group["phases"])
        lines.append(f"{operation} · {parameter}: {message}: {shown} [{group['count']} requests, {phases}]")
    failed: dict[str, list[str]] = defaultdict(list)  # one error, the streams and phases it ended
    for phase, failures in recorded["failures"].items():
        for name, error in failures.items():
            failed[error.replace(f" for {name} at ", " for <stream> at ")].append(f"{phase} {name}")
    report = "\n".join(["Requests the TOPdesk descriptions do not document:", *lines]) if lines else ""
    if failed:
        report += "\n\nSyncs that failed (their later requests were never sent):\n"
        report += "\n".join(f"{', '.join(syncs)}: {error}" for error, syncs in failed.items())
    assert not lines and not failed, report
