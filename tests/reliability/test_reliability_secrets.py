"""Secrets never leak (issue 7): a whole migration (audit, plan, tap | target, verify, rollback --dry-run, every
step a process) runs with recognisable secrets on both sandboxes; then every byte it left behind (each process's
stdout and stderr, the Singer state, the SQLite ledger, every report folder) is searched for the TOPdesk
application password, the Intercom tokens (three private apps of the workspace, all used) and the Basic auth header
TOPdesk's password travels in: zero hits.
The same through Meltano, as a user runs it (secrets in the plugins' environment variables): Meltano's own state
database, run logs and run directory are searched too."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import requests

from topdesk2intercom_testing.cli import TOPDESK_LOGIN, Migration
from topdesk2intercom_testing.e2e import Sandboxes, cli, meltano, meltano_sys_dir, project_env, reports
from topdesk2intercom_testing.reliability import Logs, grep_tree, run_cli, run_pipeline

APP_PASSWORD = "S3CRET-app-pw-7f3a"
TOKEN = "tok-S3CRET-9c1e"
OTHER_TOKENS = ["tok-S3CRET-app2-4d7b", "tok-S3CRET-app3-0a5f"]  # more private apps of the same workspace
TOKENS = [TOKEN, *OTHER_TOKENS]
BASIC = base64.b64encode(f"{TOPDESK_LOGIN}:{APP_PASSWORD}".encode()).decode()


def test_no_secret_in_any_log_state_ledger_or_report(tmp_path: Path) -> None:
    started = time.monotonic()
    intercom = {"token": TOKEN, "extra_tokens": tuple(OTHER_TOKENS)}
    with Migration.started(tmp_path, scale=20, topdesk={"password": APP_PASSWORD}, intercom=intercom) as m:
        m.write_configs(tap={"app_password": APP_PASSWORD}, target={"access_token": TOKEN, "access_tokens": TOKENS})
        logs = Logs(tmp_path / "logs")
        cli = (m.tap_config_path, m.target_config_path, logs)
        run_cli(["audit"], *cli)
        run_cli(["plan"], *cli)
        assert run_pipeline(m.tap_config_path, m.target_config_path, logs) == (0, 0), "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(logs.folder.glob("*.err"))
        )
        # a delta run from the bookmarks the target emitted (what Meltano stores as the pipeline's state)
        states = [
            json.loads(line)
            for out in sorted(logs.folder.glob("*-target.out"))
            for line in out.read_text().splitlines()
            if line.startswith("{")
        ]
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(states[-1]))  # a Singer target prints the state value
        assert run_pipeline(m.tap_config_path, m.target_config_path, logs, state=state_file) == (0, 0)
        run_cli(["verify", "--seed", "3"], *cli)
        run_cli(["rollback", "--all", "--dry-run"], *cli)
        loaded = m.intercom("GET", "/contacts", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        served = [app["requests_served"] for app in m.intercom("GET", "/__sandbox/stats").json()["apps"]]

    # the run really happened: the secrets were used, the folders to search are full
    assert loaded["total_count"] > 0
    assert len(served) == 3 and min(served) > 0.2 * sum(served), served  # every token was used
    assert m.ledger_path.stat().st_size > 0 and list(m.report_dir.glob("*/reconciliation.json"))
    assert {p.name.split("-", 1)[0] for p in m.report_dir.iterdir()} >= {"audit", "plan", "verify"}
    assert len(list(logs.folder.iterdir())) >= 12
    # the search itself finds a secret where one is (the config files hold them on purpose)
    assert grep_tree(tmp_path, [APP_PASSWORD, *TOKENS]) == [
        "tap-config.json: " + APP_PASSWORD,
        *(f"target-config.json: {token}" for token in TOKENS),
    ]

    needles = [APP_PASSWORD, BASIC, *TOKENS, *(f"Bearer {token}" for token in TOKENS)]
    hits = grep_tree(tmp_path, needles, skip=[m.tap_config_path, m.target_config_path])
    print(
        f"\n[secrets] {time.monotonic() - started:.1f} s, {sum(1 for p in tmp_path.rglob('*') if p.is_file())} "
        f"files searched"
    )
    assert hits == [], "secrets leaked:\n" + "\n".join(hits)


def test_no_secret_in_meltanos_state_logs_or_run_directory(tmp_path: Path) -> None:
    """A full and a delta ``meltano run tap-topdesk target-intercom`` (a state ID of its own), the CLI around them:
    Meltano writes each plugin's config (with the secrets) into its run directory for the run; nothing may stay
    behind, in the state it keeps, in its logs, or in what the commands print."""
    started = time.monotonic()
    secrets = {
        "TAP_TOPDESK_APP_PASSWORD": APP_PASSWORD,
        "TARGET_INTERCOM_ACCESS_TOKEN": TOKEN,
        "TARGET_INTERCOM_ACCESS_TOKENS": json.dumps(OTHER_TOKENS),  # the first app's token, and two more
    }
    with Sandboxes.started(
        tmp_path, scale=15, app_password=APP_PASSWORD, token=TOKEN, extra_tokens=tuple(OTHER_TOKENS)
    ) as sb:
        env = project_env(sb, tmp_path, **secrets)
        printed = [cli("provision", env=env, expect=1)]
        to_create = json.loads(reports(tmp_path, "provision-*/provision.json")[-1].read_text())["ui_objects_to_create"]
        requests.post(f"{sb.intercom_url}/__sandbox/custom_object_types", json=to_create, timeout=30).raise_for_status()
        state_id = "sandbox:tap-topdesk-to-target-intercom:secrets-test"
        printed += [
            meltano("install", "extractor", "tap-topdesk", env=env),
            meltano("install", "loader", "target-intercom", env=env),
        ]
        for _ in range(2):  # the full run, then a delta from the state Meltano kept
            printed.append(
                meltano("run", "--state-id-suffix", "secrets-test", "tap-topdesk", "target-intercom", env=env)
            )
        printed += [meltano("state", "get", state_id, env=env), cli("verify", "--seed", "3", env=env)]
        assert sb.intercom("GET", "/contacts").json()["total_count"] > 0
        served = [
            app["requests_served"]
            for app in requests.get(f"{sb.intercom_url}/__sandbox/stats", timeout=30).json()["apps"]
        ]

    logs = tmp_path / "printed"
    logs.mkdir()
    for i, result in enumerate(printed):
        (logs / f"{i:02d}.out").write_text(result.stdout + result.stderr)
    assert len(served) == 3 and min(served) > 0.2 * sum(served), served  # every token was used
    state = json.loads(printed[-2].stdout)
    assert state["singer_state"]["bookmarks"], "no state was kept: the delta run was not tested"
    needles = [APP_PASSWORD, BASIC, *TOKENS, *(f"Bearer {token}" for token in TOKENS)]
    hits = grep_tree(tmp_path, needles) + [f"<meltano>/{hit}" for hit in grep_tree(meltano_sys_dir(), needles)]
    print(
        f"\n[secrets/meltano] {time.monotonic() - started:.1f} s; Meltano system dir "
        f"{sum(1 for p in meltano_sys_dir().rglob('*') if p.is_file())} files searched"
    )
    assert hits == [], "secrets leaked:\n" + "\n".join(hits)
