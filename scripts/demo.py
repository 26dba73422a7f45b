"""The README's demo: generate a TOPdesk dataset, start both sandboxes, show real API calls against them.

Standard library only, so it runs from the project's venv right after `make setup` and says plainly what it does.
Until the pipeline exists this is the whole story; later issues extend it to the full migration.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOPDESK_LOGIN, TOPDESK_PASSWORD = "api_operator", "sandbox-app-password"
INTERCOM_TOKEN = "sandbox-intercom-token"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1000, help="number of TOPdesk calls to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--topdesk-port", type=int, default=8181)
    parser.add_argument("--intercom-port", type=int, default=8182)
    parser.add_argument("--serve-only", action="store_true", help="start the sandboxes and keep them running")
    args = parser.parse_args()

    step(f"1. Generate a TOPdesk dataset: {args.scale} calls, seed {args.seed} -> {args.data_dir}")
    shutil.rmtree(args.data_dir, ignore_errors=True)
    run([BIN / "topdesk-sandbox", "generate", "--scale", str(args.scale), "--seed", str(args.seed),
         "--out", str(args.data_dir)])
    manifest = json.loads((args.data_dir / "manifest.json").read_text())
    for name, count in sorted(manifest["counts"].items()):
        print(f"   {name:<32} {count:>8}")

    topdesk = f"http://127.0.0.1:{args.topdesk_port}"
    intercom = f"http://127.0.0.1:{args.intercom_port}"
    with ExitStack() as stack:
        step("2. Start both sandboxes")
        stack.enter_context(started([BIN / "topdesk-sandbox", "serve", "--data", str(args.data_dir),
                                     "--port", str(args.topdesk_port)], topdesk))
        objects = write_custom_objects(args.data_dir / "intercom-custom-objects.json")
        stack.enter_context(started([BIN / "intercom-sandbox", "serve", "--port", str(args.intercom_port),
                                     "--custom-objects", str(objects)], intercom))
        print(f"   TOPdesk  {topdesk}/tas/api   (Basic {TOPDESK_LOGIN}:<application password>)")
        print(f"   Intercom {intercom}          (Bearer <token>, Intercom-Version 2.16)")
        if args.serve_only:
            print("   Serving until Ctrl-C.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
        show_topdesk(topdesk)
        show_intercom(intercom)
        step("Done: both sandboxes stopped. `make sandboxes` keeps them running; `make test` runs the tests.")
    return 0


def show_topdesk(base: str) -> None:
    step("3. TOPdesk: page through calls the way the tap will")
    auth = "Basic " + base64.b64encode(f"{TOPDESK_LOGIN}:{TOPDESK_PASSWORD}".encode()).decode()
    status, headers, body = call("GET", f"{base}/tas/api/incidents?all=true&pageStart=0&pageSize=3"
                                 "&sort=modificationDate:asc&fields=number,briefDescription,status,modificationDate",
                                 {"Authorization": auth})
    show(status, body, {"x-next-page-url": headers.get("x-next-page-url")})
    status, _, body = call("GET", f"{base}/tas/api/persons?pageSize=2&fields=id,dynamicName,email,archived",
                           {"Authorization": auth, "Accept": "application/x.topdesk-collection-person-v2+json"})
    show(status, body)
    status, _, body = call("GET", f"{base}/tas/api/incidents", {"Authorization": "Basic d3Jvbmc6d3Jvbmc="})
    print("   wrong application password ->", status, " ".join(body.decode(errors="replace").split())[:90], "...")


def show_intercom(base: str) -> None:
    step("4. Intercom: what the target will do")
    headers = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.16",
               "Content-Type": "application/json", "Accept": "application/json"}
    status, _, body = call("GET", f"{base}/me", headers)
    show(status, body)
    contact = {"role": "user", "external_id": "demo-person-1", "email": "Ada.Lovelace@example.com",
               "name": "Ada Lovelace"}
    status, rate, body = call("POST", f"{base}/contacts", headers, contact)
    show(status, body, {k: rate.get(k) for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")})
    status, _, body = call("POST", f"{base}/contacts", headers, {**contact, "email": "ada.lovelace@example.com"})
    print("   same person again ->", status, json.loads(body)["errors"][0]["message"])


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def show(status: int, body: bytes, extra: dict | None = None) -> None:
    text = json.dumps(json.loads(body), ensure_ascii=False) if body else ""
    print(f"   {status} {text[:300]}{' ...' if len(text) > 300 else ''}")
    for key, value in (extra or {}).items():
        print(f"   {key}: {value}")


def call(method: str, url: str, headers: dict, payload: dict | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def run(command: list) -> None:
    subprocess.run([str(c) for c in command], check=True)


def write_custom_objects(path: Path) -> Path:
    """The default map's custom object types with their attributes and relationships, as a person creates them in
    Intercom's UI before the migration: the Intercom sandbox's ``--custom-objects`` file."""
    from map_topdesk_intercom.mapfile import load_map

    objects = load_map(catalog=False).ui_custom_objects()
    path.write_text(json.dumps(objects, indent=1))
    return path

class started:
    """Start a sandbox process, wait until its admin health endpoint answers, stop it on exit."""

    def __init__(self, command: list, base_url: str) -> None:
        self.command = [str(c) for c in command]
        self.health = f"{base_url}/__sandbox/health"

    def __enter__(self) -> subprocess.Popen:
        self.process = subprocess.Popen(self.command)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.command[0]} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.health, timeout=2):
                    return self.process
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise SystemExit(f"{self.command[0]} did not become healthy at {self.health}")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


if __name__ == "__main__":
    sys.exit(main())
