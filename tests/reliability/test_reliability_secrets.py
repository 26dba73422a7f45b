"""Secrets never leak (issue 7): a whole migration (audit, plan, tap | target, verify, rollback --dry-run, every
step a process) runs with recognisable secrets on both sandboxes; then every byte it left behind (each process's
stdout and stderr, the Singer state, the SQLite ledger, every report folder) is searched for the TOPdesk
application password, the Intercom token and the Basic auth header TOPdesk's password travels in: zero hits."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cli_testkit import TOPDESK_LOGIN, Migration
from reliability_kit import Logs, grep_tree, run_cli, run_pipeline

APP_PASSWORD = "S3CRET-app-pw-7f3a"
TOKEN = "tok-S3CRET-9c1e"
BASIC = base64.b64encode(f"{TOPDESK_LOGIN}:{APP_PASSWORD}".encode()).decode()


def test_no_secret_in_any_log_state_ledger_or_report(tmp_path: Path) -> None:
    started = time.monotonic()
    with Migration.started(tmp_path, scale=20, topdesk={"password": APP_PASSWORD}, intercom={"token": TOKEN}) as m:
        m.write_configs(tap={"app_password": APP_PASSWORD}, target={"access_token": TOKEN})
        logs = Logs(tmp_path / "logs")
        cli = (m.tap_config_path, m.target_config_path, logs)
        run_cli(["audit"], *cli)
        run_cli(["plan"], *cli)
        assert run_pipeline(m.tap_config_path, m.target_config_path, logs) == (0, 0), \
            "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(logs.folder.glob("*.err")))
        # a delta run from the bookmarks the target emitted (what Meltano stores as the pipeline's state)
        states = [json.loads(line) for out in sorted(logs.folder.glob("*-target.out"))
                  for line in out.read_text().splitlines() if line.startswith("{")]
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(states[-1]))  # a Singer target prints the state value
        assert run_pipeline(m.tap_config_path, m.target_config_path, logs, state=state_file) == (0, 0)
        run_cli(["verify", "--seed", "3"], *cli)
        run_cli(["rollback", "--all", "--dry-run"], *cli)
        loaded = m.intercom("GET", "/contacts", headers={"Authorization": f"Bearer {TOKEN}"}).json()

    # the run really happened: the secrets were used, the folders to search are full
    assert loaded["total_count"] > 0
    assert m.ledger_path.stat().st_size > 0 and list(m.report_dir.glob("*/reconciliation.json"))
    assert {p.name.split("-", 1)[0] for p in m.report_dir.iterdir()} >= {"audit", "plan", "verify"}
    assert len(list(logs.folder.iterdir())) >= 12
    # the search itself finds a secret where one is (the config files hold them on purpose)
    assert grep_tree(tmp_path, [APP_PASSWORD, TOKEN]) == ["tap-config.json: " + APP_PASSWORD,
                                                          "target-config.json: " + TOKEN]

    hits = grep_tree(tmp_path, [APP_PASSWORD, TOKEN, BASIC, f"Bearer {TOKEN}"],
                     skip=[m.tap_config_path, m.target_config_path])
    print(f"\n[secrets] {time.monotonic() - started:.1f} s, {sum(1 for p in tmp_path.rglob('*') if p.is_file())} "
          f"files searched")
    assert hits == [], "secrets leaked:\n" + "\n".join(hits)
