"""Helpers for whole-migration tests of target-intercom (acceptance, and the reliability suite of issue 7):
a TOPdesk source, the target in process or as a killable process, and "same contents" comparisons of Intercom
sandboxes whose ids differ.

Usage::

    from topdesk2intercom_testing.target_acceptance import content, differences, kill_and_resume, run_target
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import typing as t
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from target_intercom.ledger import Ledger
from target_intercom.target import TargetIntercom
from target_intercom.writers import WRITERS
from topdesk2intercom_testing.target import RunningSandbox

#: the TOPdesk streams the default map turns into Intercom entities (contacts, companies, tickets and their parts)
STREAMS = [
    "persons",
    "branches",
    "operators",
    "operator_groups",
    "incidents",
    "incident_progress_trail",
    "incident_attachments",
    "incident_emails",
]
#: created by the workspace admin in Intercom's UI before the migration (the preflight checks them)
OBJECT_TYPES = ("Asset", "Change", "ChangeActivity", "ChangeLogEntry", "KnownError", "ProcessDefinition", "Reservation")
#: a ticket's state changes are parts logged at request time: not part of the compared contents
STATE_PART = "ticket_state_updated_by_admin"
TARGET_BIN = Path(sys.executable).with_name("target-intercom")


def tap_kit() -> t.Any:
    """tap-topdesk's test helpers (``start_sandbox``, ``sync``, ``config``, ``admin``)."""
    import topdesk2intercom_testing.tap as tap_topdesk_testkit

    return tap_topdesk_testkit


@dataclass
class Source:
    """A TOPdesk sandbox of its own (tests may change it) and the Singer messages of one full sync."""

    url: str
    messages: tuple[dict, ...]
    state: dict

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def write_jsonl(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(m) + "\n" for m in self.messages))
        return path


def topdesk_source(scale: int, seed: int, streams: t.Sequence[str] = tuple(STREAMS)) -> Source:
    kit = tap_kit()
    url = kit.start_sandbox(scale=scale, seed=seed)
    run = kit.sync(kit.config(url), streams=list(streams))
    return Source(url, tuple(run.messages), run.state)


# ---------------------------------------------------------------------------------------------------- the target


@dataclass
class Run:
    """One target run: its reconciliation report, the wall time and what the settle paths did."""

    report: dict
    seconds: float
    settles: Counter = field(default_factory=Counter)


def target_config(sb: RunningSandbox | str, workdir: Path, **extra: t.Any) -> dict:
    """Config for one sandbox (a RunningSandbox, or a URL of a sandbox served elsewhere with the testkit token):
    every private app's token of its workspace."""
    from topdesk2intercom_testing.target import TOKEN

    url, tokens = (sb, [TOKEN]) if isinstance(sb, str) else (sb.url, sb.tokens)
    return {
        "access_token": tokens[0],
        **({"access_tokens": tokens} if len(tokens) > 1 else {}),
        "api_url": url,
        "ledger_url": Ledger.url_for_path(workdir / "ledger.db"),
        "report_dir": str(workdir / "reports"),
        "fallback_admin_email": "fallback@sandbox.example",
        **extra,
    }


def latest_report(workdir: Path) -> dict:
    path = max((workdir / "reports").glob("*/reconciliation.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(path.read_text())


def run_target(messages: t.Iterable[dict], config: dict) -> Run:
    """The target in process on these Singer messages; counts the settle calls (ambiguous creates)."""
    settles: Counter = Counter()
    originals = {kind: WRITERS[kind].settle for kind in ("tickets", "ticket_parts")}

    def counting(kind: str) -> t.Callable:
        def settle(ctx: t.Any, intent: t.Any) -> str | None:
            found = originals[kind](ctx, intent)
            settles[f"{kind} {'found' if found else 'not found'}"] += 1
            return found

        return settle

    for kind in originals:
        WRITERS[kind].settle = counting(kind)
    started = time.monotonic()
    try:
        target = TargetIntercom(config=config)
        with contextlib.redirect_stdout(io.StringIO()):
            target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    finally:
        for kind, original in originals.items():
            WRITERS[kind].settle = original
    return Run(latest_report(Path(config["report_dir"]).parent), time.monotonic() - started, settles)


# ---------------------------------------------------------------------------------------------------- contents


def content(url: str) -> dict[str, t.Any]:
    """The contents of the sandbox at ``url`` (``/__sandbox/export``, so also a sandbox in another process) with
    Intercom ids replaced by the source keys they stand for (contact: TOPdesk person id or e-mail; company: branch
    id; ticket: call number) and request-time fields dropped: what two runs must agree on."""
    ex = requests.get(f"{url}/__sandbox/export", timeout=60).json()
    contact_key = {c["id"]: c.get("external_id") or c.get("email") for c in ex["contacts"]}
    company_key = {c["id"]: c["company_id"] for c in ex["companies"]}
    state = {s["id"]: s["category"] for s in ex["ticket_states"]}
    ticket_type = {tt["id"]: tt["name"] for tt in ex["ticket_types"]}
    request_time = {"id", "created_at", "updated_at"}

    def contact(c: dict) -> dict:
        out = {k: v for k, v in c.items() if k not in request_time}
        out["company_ids"] = sorted(company_key[i] for i in c.get("company_ids", []))
        return out

    def company(c: dict) -> dict:
        out = {k: v for k, v in c.items() if k not in request_time}
        out["contact_ids"] = sorted(contact_key[i] for i in c.get("contact_ids", []))
        return out

    def part(p: dict) -> dict:
        kind, who = p["author"]
        out = {k: v for k, v in p.items() if k not in ("id", "updated_at", "author")}
        out["author"] = [kind, contact_key.get(who, who) if kind == "user" else who]
        return out

    def ticket(tk: dict) -> dict:
        out = {
            k: v
            for k, v in tk.items()
            if k not in ("id", "ticket_id", "updated_at", "previous_state_id", "state_id", "parts")
        }
        out["state"] = state[tk["state_id"]]
        out["ticket_type_id"] = ticket_type[tk["ticket_type_id"]]
        out["contact_ids"] = sorted(contact_key[i] for i in tk.get("contact_ids", []))
        out["company_id"] = company_key.get(tk.get("company_id"), tk.get("company_id"))
        # state changes are logged at request time (and, after a crash, may take another path to the same state)
        out["parts"] = [part(p) for p in tk["parts"] if p["part_type"] != STATE_PART]
        return out

    def by(key: str, rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: str(r.get(key)))

    return {
        "contacts": by("external_id", sorted((contact(c) for c in ex["contacts"]), key=lambda c: str(c.get("email")))),
        "companies": by("company_id", [company(c) for c in ex["companies"]]),
        "tickets": sorted((ticket(tk) for tk in ex["tickets"]), key=lambda tk: tk["attributes"]["Call number"]),
        "ticket_types": sorted(tt["name"] for tt in ex["ticket_types"]),
        "ticket_type_attributes": sorted(a["name"] for a in ex["ticket_type_attributes"]),
        "data_attributes": sorted(a["full_name"] for a in ex["data_attributes"]),
        "others": {k: len(ex[k]) for k in ("notes", "tags", "conversations", "articles", "collections")},
        "custom_object_instances": {k: len(v) for k, v in ex["custom_object_instances"].items()},
    }


def differences(got: dict, want: dict) -> list[str]:
    """A readable list of what differs (the first few records per entity, only their differing fields)."""
    out = []
    for kind in want:
        if got.get(kind) == want[kind]:
            continue
        if not (isinstance(want[kind], list) and isinstance(got.get(kind), list)):
            out.append(f"{kind}: {got.get(kind)} != {want[kind]}")
            continue
        out.append(f"{kind}: {len(got[kind])} vs {len(want[kind])} records")
        for g, w in [(g, w) for g, w in zip(got[kind], want[kind], strict=False) if g != w][:5]:
            if not isinstance(w, dict):
                out.append(f"  {g!r} != {w!r}")
                continue
            name = (w.get("attributes") or {}).get("Call number") or w.get("external_id") or w.get("company_id")
            for key in sorted(set(g) | set(w)):
                if g.get(key) == w.get(key):
                    continue
                if key == "parts":
                    gp, wp = g["parts"], w["parts"]
                    first = next(
                        (i for i, (a, b) in enumerate(zip(gp, wp, strict=False)) if a != b), min(len(gp), len(wp))
                    )
                    out.append(
                        f"  {name}: parts {len(gp)} vs {len(wp)}, first difference at {first}: "
                        f"{gp[first : first + 2]} != {wp[first : first + 2]}"
                    )
                else:
                    out.append(
                        f"  {name}: {key} {json.dumps(g.get(key), default=str)[:300]} != "
                        f"{json.dumps(w.get(key), default=str)[:300]}"
                    )
    return out


# ---------------------------------------------------------------------------------------------------- SIGKILL


@dataclass
class Progress:
    """What an in-thread sandbox holds now (read without its lock: counts only, good enough to pick kill points)."""

    sb: RunningSandbox

    def contacts(self) -> int:
        return len(self.sb.workspace.contacts)

    def tickets(self) -> int:
        return len(self.sb.workspace.tickets)

    def parts(self) -> int:
        tickets = list(self.sb.workspace.tickets.values())
        return sum(1 for tk in tickets for p in list(tk["parts"]) if p["part_type"] != STATE_PART)

    def now(self) -> tuple[int, int, int]:
        return self.contacts(), self.tickets(), self.parts()

    def total(self) -> int:
        return sum(self.now())


#: (label, what to count, kill once the count reaches this)
KillPoint = tuple[str, Callable[[], int], int]


def kill_point(progress: Progress, kind: str, at: int) -> KillPoint:
    """Kill once the sandbox holds ``at`` contacts, tickets or parts."""
    count = {"contacts": progress.contacts, "tickets": progress.tickets, "parts": progress.parts}[kind]
    return f"{at} {kind}", count, at


def seeded_kill_points(progress: Progress, totals: dict[str, int], n: int, seed: int) -> list[KillPoint]:
    """``n`` kill points at seeded random fractions (5-95%) of everything the migration writes (contacts + tickets
    + parts, ``totals``), in increasing order: each run gets further than the last (issue 7's crash/resume suite).
    Counted as a whole because the kinds are written side by side (contacts finish after most tickets)."""
    pick = random.Random(seed)
    whole = sum(totals.values())
    return [
        (f"{fraction:.0%} of {whole} objects", progress.total, int(whole * fraction))
        for fraction in sorted(pick.uniform(0.05, 0.95) for _ in range(n))
    ]


def kill_and_resume(
    messages: Path,
    config: Path,
    points: t.Sequence[KillPoint],
    progress: Progress,
    workdir: Path,
    poll_s: float = 0.005,
) -> list[tuple[str, tuple[int, int, int]]]:
    """Run the target as its own process (console script, ``messages`` on stdin) once per kill point, SIGKILL it
    as soon as the point is reached (and this run has written something: an earlier run may have passed the point
    already), then once more to the end (must exit 0). Returns the points actually killed at with what the sandbox
    held then (a run may finish before its point is reached)."""
    killed = []
    stderr_path = workdir / "target-stderr.log"
    for label, count, at in [*points, ("to the end", lambda: 0, 1)]:
        at = max(at, count() + 1)
        with messages.open("rb") as stdin, stderr_path.open("ab") as stderr:
            process = subprocess.Popen(
                [str(TARGET_BIN), "--config", str(config)],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=workdir,
            )
            while process.poll() is None:
                if count() >= at:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                    killed.append((label, progress.now()))
                    break
                time.sleep(poll_s)
        if label == "to the end" and process.returncode != 0:
            raise AssertionError(
                f"the final run failed ({process.returncode}):\n" + stderr_path.read_text(errors="replace")[-3000:]
            )
    return killed
