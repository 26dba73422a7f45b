"""The pytest plugin (entry point ``pytest11``): registers the ``e2e`` marker and marks the end-to-end test modules
(``e2e``) in one place, so ``make test-fast`` can leave them out.

End to end: whole syncs or loads on the sandboxes, the plugins as processes, Meltano, or pacing in real time. The
rest (``make test-fast``) runs in under two minutes on the 2-core machine; ``make test`` runs everything.
"""

from __future__ import annotations

import pytest

from topdesk2intercom_testing import ROOT

E2E = (
    "tests/",  # the demo, the migration story, meltano run, the reliability suite
    "cli/tests/",  # every command against both sandboxes
    "bench/tests/test_bench_parts.py",
    "tap-topdesk/tests/test_concurrency.py",
    "tap-topdesk/tests/test_conform.py",
    "tap-topdesk/tests/test_changes_reservations.py",
    "tap-topdesk/tests/test_dates_bookmarks_knowledge.py",
    "tap-topdesk/tests/test_requests_documented.py",
    "tap-topdesk/tests/test_sync.py",
    "tap-topdesk/tests/test_traps.py",
    "tap-topdesk/tests/test_window_memory.py",
    "tap-topdesk/tests/test_windows.py",
    "transform/tests/test_default_map.py",
    "transform/tests/test_mapper.py",
    "target-intercom/tests/test_capabilities.py",
    "target-intercom/tests/test_pacer.py",
    "target-intercom/tests/test_request_gate.py",
    "target-intercom/tests/test_rollback.py",
    "target-intercom/tests/test_target_acceptance.py",
    "target-intercom/tests/test_target_load.py",
    "target-intercom/tests/test_target_postgres_ledger.py",
    "target-intercom/tests/test_target_sdk_suite.py",
    "target-intercom/tests/test_writers_end_to_end.py",
)
MARKER = (
    "e2e: end to end (whole syncs and loads on the sandboxes, plugin processes, Meltano, real time): `make test` runs"
    " them, `make test-fast` does not (see topdesk2intercom_testing.plugin)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    stale = [path for path in E2E if not (ROOT / path).exists()]
    if stale:
        raise pytest.UsageError(f"topdesk2intercom_testing.plugin E2E names paths that do not exist: {stale}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()  # a test outside the repository (a temporary one) is never e2e
        if path.is_relative_to(ROOT) and path.relative_to(ROOT).as_posix().startswith(E2E):
            item.add_marker(pytest.mark.e2e)
