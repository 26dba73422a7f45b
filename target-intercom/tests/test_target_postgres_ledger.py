"""A load on a PostgreSQL ledger, as a team or an orchestrator runs it: killed mid-run and re-run, it ends with
the same Intercom contents as an uninterrupted load on the default SQLite ledger, and a further run writes nothing.

The ledger's own tests run on both databases (``test_ledger.py``); this one takes the whole target through
PostgreSQL's transactions and locks (intents, held records, the writer thread and the pool side by side). It needs
``LEDGER_TEST_PG_URL`` (``.ci/run`` starts a PostgreSQL and sets it); the ledger's tables in the test process's own
schema are dropped first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from topdesk2intercom_testing import postgres
from topdesk2intercom_testing.target import intercom_sandbox, map_custom_objects
from topdesk2intercom_testing.target_acceptance import (
    Progress,
    content,
    differences,
    kill_and_resume,
    kill_point,
    latest_report,
    run_target,
    target_config,
    topdesk_source,
)

SCALE, SEED = 120, 31

pytestmark = pytest.mark.skipif(not postgres.SERVER_URL, reason=postgres.SKIP_REASON)


def test_killed_load_on_a_postgresql_ledger_resumes_to_the_same_contents(tmp_path: Path) -> None:
    source = topdesk_source(SCALE, SEED)
    with intercom_sandbox(custom_objects=map_custom_objects()) as reference:
        run_target(source.messages, target_config(reference, tmp_path / "sqlite"))
        want = content(reference.url)

    ledger_url = postgres.empty_ledger_url()
    workdir = tmp_path / "postgresql"
    workdir.mkdir()
    messages = source.write_jsonl(workdir / "messages.jsonl")
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        config = target_config(sb, workdir, ledger_url=ledger_url)
        (workdir / "config.json").write_text(json.dumps(config))
        progress = Progress(sb)
        points = [
            kill_point(progress, "contacts", len(want["contacts"]) // 2),
            kill_point(progress, "tickets", len(want["tickets"]) // 2),
        ]
        killed = kill_and_resume(messages, workdir / "config.json", points, progress, workdir)
        got = content(sb.url)
        report = latest_report(workdir)
        again = run_target(source.messages, config)
        after = content(sb.url)
    print(f"\n[postgresql ledger] {SCALE} calls, killed at {killed}, totals {report['totals']}")
    assert killed, "the target finished before the first kill point"
    assert report["totals"]["failed"] == 0 and report["manual_review"] == []
    assert differences(got, want) == []
    totals = again.report["totals"]
    assert (totals["created"], totals["updated"], totals["failed"]) == (0, 0, 0), again.report["entities"]
    assert differences(after, want) == []
