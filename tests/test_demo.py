"""The README's demo command must work on a fresh checkout: the whole story on free ports, a small dataset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sandbox_common.process import free_port
from topdesk2intercom_testing.e2e import MELTANO, ROOT, meltano_sys_dir


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_TOPDESK_", "TARGET_INTERCOM_", "MELTANO_"))}
    env |= {
        "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir()),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO": str(MELTANO),
    }
    reports = tmp_path / "reports"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--scale",
            "30",
            "--data-dir",
            str(tmp_path / "d"),
            "--report-dir",
            str(reports),
            "--topdesk-port",
            str(free_port()),
            "--intercom-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=ROOT,
    )
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-5000:]
    steps = ("audit", "map confirm", "provision", "plan", "sample --calls 5", "verify", "rollback --run", "handoff")
    for command in (*(f"topdesk2intercom {s}" for s in steps), "meltano run tap-topdesk target-intercom"):
        assert f"$ {command}" in out, command
    verify = json.loads(max(reports.glob("verify-2*/verify.json")).read_text())
    assert verify["unexplained"] == 0
    everything = json.loads(max(reports.glob("verify-all-*/verify.json")).read_text())  # the demo's workspace
    assert everything["unexplained"] == 0 and everything["coverage"] == 1.0, everything["kinds"]
    assert everything["requests"] <= everything["request_budget"], everything
    assert "$ topdesk2intercom verify --all" in out and "of the loads'" in out
    delta = re.search(r"tickets received (\d+), created 1, updated 1, unchanged (\d+)", out)
    assert delta and int(delta.group(1)) == 2 + int(delta.group(2)), out
    for name in ("audit", "provision", "plan", "verify", "handoff"):
        assert list(reports.glob(f"{name}-*/{name}.html")), name
    assert len(list(reports.glob("*/reconciliation.html"))) >= 3  # sample, full, delta
