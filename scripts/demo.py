"""The README's demo: the whole migration story on local sandboxes, with the commands a user types.

audit -> map propose/validate/confirm -> provision -> plan -> sample -> full migration (`meltano run`) -> a change
in TOPdesk -> delta (`meltano run` again) -> verify (sample, then --all) -> rollback of the delta -> handoff; each
step prints the command it runs and where its report is. Everything lives under data/demo/ (dataset, map, ledger) and
reports/demo/ (reports), both recreated on each run; Meltano's plugins are installed once into .meltano/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import requests

from sandbox_common.process import served

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
STATE_ID = "sandbox:tap-topdesk-to-target-intercom"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=300, help="number of TOPdesk calls to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports" / "demo")
    parser.add_argument("--topdesk-port", type=int, default=8181)
    parser.add_argument("--intercom-port", type=int, default=8182)
    parser.add_argument("--serve-only", action="store_true", help="start both sandboxes and keep them running")
    args = parser.parse_args()
    data, reports = args.data_dir.resolve(), args.report_dir.resolve()
    topdesk, intercom = f"http://127.0.0.1:{args.topdesk_port}", f"http://127.0.0.1:{args.intercom_port}"

    step(f"Generate a TOPdesk dataset: {args.scale} calls (seed {args.seed}) -> {rel(data)}")
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(reports, ignore_errors=True)
    run(
        [BIN / "topdesk-sandbox", "generate", "--scale", str(args.scale), "--seed", str(args.seed), "--out", data],
        quiet=True,
    )
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    print("   " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items()) if n and "_" not in name))

    with ExitStack() as stack:
        step(f"Start both sandboxes (TOPdesk on :{args.topdesk_port}, Intercom on :{args.intercom_port})")
        stack.enter_context(
            served(
                [BIN / "topdesk-sandbox", "serve", "--data", data, "--port", str(args.topdesk_port)],
                topdesk,
                log=data / "topdesk-sandbox.log",
            )
        )
        stack.enter_context(
            served(
                [BIN / "intercom-sandbox", "serve", "--port", str(args.intercom_port)],
                intercom,
                log=data / "intercom-sandbox.log",
            )
        )
        if args.serve_only:
            return serve_forever(intercom)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_TOPDESK_", "TARGET_INTERCOM_"))}
        env |= {
            "TAP_TOPDESK_URL": topdesk,
            "TARGET_INTERCOM_API_URL": intercom,
            "TARGET_INTERCOM_LEDGER_URL": f"sqlite:///{data / 'ledger.db'}",
            "TARGET_INTERCOM_REPORT_DIR": str(reports),
            "MELTANO": str(MELTANO),
        }
        story(env, data, topdesk, intercom)
    step(f"Done. Every report (Markdown, JSON, HTML) is under {rel(reports)}/; the sandboxes are stopped.")
    return 0


def story(env: dict[str, str], data: Path, topdesk: str, intercom: str) -> None:
    t2i = BIN / "topdesk2intercom"
    step("Install the plugins (once; Meltano keeps them in .meltano/) and forget the sandbox's earlier demo state")
    run([MELTANO, "install", "extractor", "tap-topdesk"], env, quiet=True)
    run([MELTANO, "install", "loader", "target-intercom"], env, quiet=True)
    run([MELTANO, "state", "clear", "--force", STATE_ID], env, quiet=True, check=False)

    step("1. Audit: what is in TOPdesk, what this operator can see, what has no Intercom home")
    run([t2i, "audit"], env)

    map_file = data / "topdesk-intercom.map.yml"
    step("2. Map: propose one from TOPdesk's schemas and the workspace, review it, confirm it")
    run([t2i, "map", "propose", "--out", map_file], env)
    run([t2i, "map", "validate", map_file], env)
    run([t2i, "map", "confirm", map_file], env)
    env["TARGET_INTERCOM_MAP_FILE"] = str(map_file)
    print(f"   (the target reads it from its map_file setting: here TARGET_INTERCOM_MAP_FILE={rel(map_file)})")

    step(
        "3. Check the workspace: what the map relies on beyond Intercom's documentation, tried with throwaway "
        "records (provision checks again once the ticket types exist; the load uses the result)"
    )
    run([t2i, "check", "intercom"], env)

    step("   Provision: attributes and ticket types are created; custom object types only an admin can create")
    if run([t2i, "provision"], env, check=False) != 0:
        objects = json.loads(latest(env, "provision-*/provision.json").read_text())["ui_objects_to_create"]
        print(
            f"   -> an admin creates {', '.join(o['name'] for o in objects)} in Intercom's UI (Settings > Data > "
            "Custom Objects); here the sandbox's admin API plays that part."
        )
        requests.post(f"{intercom}/__sandbox/custom_object_types", json=objects, timeout=30).raise_for_status()
        run([t2i, "provision"], env)

    step("4. Plan: what the load would create, update, leave alone, and what it costs (writes nothing)")
    run([t2i, "plan"], env)

    step("5. Sample migration: 5 calls with their people, assets and history, for review")
    run([t2i, "sample", "--calls", "5"], env)

    step("6. Full migration")
    run([MELTANO, "run", "tap-topdesk", "target-intercom"], env, quiet=True)
    print(f"   report: {rel(latest(env, '*/reconciliation.html'))} (+ .md, .json)")

    step("7. Meanwhile in TOPdesk: one call edited, one new call logged")
    edited, logged = change_topdesk(topdesk, data)
    print(f"   edited {edited}, logged {logged}")
    run([t2i, "plan"], env)

    step("8. Delta: the same command reads only what changed")
    run([MELTANO, "run", "tap-topdesk", "target-intercom"], env, quiet=True)
    delta = json.loads(latest(env, "*/reconciliation.json").read_text())
    tickets = delta["entities"].get("tickets", {})
    print(
        f"   delta run {delta['run_id']}: tickets received {tickets.get('received', 0)}, created "
        f"{tickets.get('created', 0)}, updated {tickets.get('updated', 0)}, unchanged {tickets.get('unchanged', 0)}"
        " (calls of the last run's final second are read again: TOPdesk keeps whole seconds)"
    )
    print(f"   report: {rel(latest(env, '*/reconciliation.html'))}")

    step("9. Verify: counts per object, and a field-by-field sample read back from both APIs")
    run([t2i, "verify"], env)
    step("   ... and before cutover, every record field by field (verify --all: Intercom's lists, few requests)")
    run([t2i, "verify", "--all"], env)

    step(f"10. Rollback of the delta run ({delta['run_id']}): what it changed is put back, what it created goes")
    run([t2i, "rollback", "--run", delta["run_id"]], env)

    step("11. Handoff: automation inventory, knowledge-base article map, asset/CI schema document")
    run([t2i, "handoff"], env)


def change_topdesk(topdesk: str, data: Path) -> tuple[str, str]:
    """One call edited and one logged, through the sandbox's admin API as an operator would in TOPdesk's UI;
    returns both call numbers (the end-to-end test makes the same change)."""
    incidents = [json.loads(line) for line in (data / "incidents.jsonl").read_text().splitlines()[:2]]
    edited = incidents[0]
    requests.patch(
        f"{topdesk}/__sandbox/incidents/{edited['id']}", timeout=30, json={"briefDescription": "Edited before cutover"}
    ).raise_for_status()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    new = {
        **incidents[1],
        "id": str(uuid.uuid4()),
        "number": "I 9912 001",
        "briefDescription": "Logged during cutover",
        "creationDate": now,
        "modificationDate": now,
    }
    requests.post(f"{topdesk}/__sandbox/incidents", json=new, timeout=30).raise_for_status()
    return edited["number"], new["number"]


def serve_forever(intercom: str) -> int:
    """`make sandboxes`: the Intercom sandbox gets the default map's custom object types, as an admin would
    create them, so `meltano run tap-topdesk target-intercom` works against it right away."""
    from map_topdesk_intercom.mapfile import load_map

    objects = load_map(catalog=False).ui_custom_objects()
    requests.post(f"{intercom}/__sandbox/custom_object_types", json=objects, timeout=30).raise_for_status()
    print("   (custom object types of the default map created in the Intercom sandbox)\n   Serving until Ctrl-C.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def latest(env: dict[str, str], pattern: str) -> Path:
    found = Path(env["TARGET_INTERCOM_REPORT_DIR"]).glob(pattern)
    return max(found, key=lambda p: p.stat().st_mtime_ns)


def run(
    command: Sequence[str | Path], env: dict[str, str] | None = None, *, quiet: bool = False, check: bool = True
) -> int:
    """Show the command as a user would type it, run it, show its output (or only its last lines if quiet)."""
    words = [Path(str(c)).name if i == 0 else rel(c) if isinstance(c, Path) else str(c) for i, c in enumerate(command)]
    print(f"   $ {shlex.join(words)}", flush=True)
    done = subprocess.run([str(c) for c in command], cwd=ROOT, env=env, text=True, capture_output=quiet)
    if quiet and done.returncode != 0 and check:
        print(done.stdout[-3000:], done.stderr[-6000:], sep="\n", file=sys.stderr)
    if check and done.returncode != 0:
        raise SystemExit(f"demo stopped: `{shlex.join(words)}` exited with {done.returncode}")
    return done.returncode


def rel(path: str | Path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
