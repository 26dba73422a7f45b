"""``topdesk2intercom sample``: a small, chosen slice of TOPdesk migrated end to end, for people to review in
Intercom before the full load: some calls with everything they need (caller and their branch, operators and groups,
the linked asset) and their whole history (progress trail, e-mails, attachments).

The tap runs once and its output is buffered on disk, not in memory; the slice is chosen from it in a few passes
over that file and replayed, SCHEMA messages and selected records only, into the target with the project's ledger:
the later full ``meltano run`` finds these records in the ledger and never creates them twice."""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
import typing as t
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
from tqdm import tqdm

from target_intercom.api import Section, Table, Text
from topdesk2intercom.plugins import run_target, tap_lines
from topdesk2intercom.project import Project, pass_project
from topdesk2intercom.reports import write_report

#: children of a call: their ``incident_id`` names it
CALL_CHILDREN = ("incident_progress_trail", "incident_emails", "incident_attachments")
#: streams the map needs whole for every call (operators and groups become admins and teams; they are few)
ALWAYS = ("operators", "operator_groups", "operator_group_members")
ASSET_PREFIX = "assets_"  # one stream per asset template (assets_computer, ...)


def normalise_number(number: str) -> str:
    """``I 2401 001``, ``I2401-001`` and ``i2401001`` are the same call number."""
    return re.sub(r"[\s\-_]", "", number).upper()


def _ref(record: dict, name: str) -> str | None:
    value = record.get(name)
    return str(value["id"]) if isinstance(value, dict) and value.get("id") else None


@dataclass
class Slice:
    """The ids chosen, per kind of TOPdesk record, and what was replayed per stream."""

    calls: dict[str, str] = field(default_factory=dict)  # call id -> number
    persons: set[str] = field(default_factory=set)
    branches: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)
    replayed: Counter = field(default_factory=Counter)

    def wants(self, stream: str, record: dict) -> bool:
        """Whether a record belongs to the slice (the ids are complete when this is asked)."""
        if stream in ALWAYS:
            return True
        if stream == "incidents":
            return str(record.get("id")) in self.calls
        if stream in CALL_CHILDREN:
            return str(record.get("incident_id")) in self.calls
        if stream == "persons":
            return str(record.get("id")) in self.persons
        if stream == "branches":
            return str(record.get("id")) in self.branches
        if stream.startswith(ASSET_PREFIX):
            return str(record.get("id")) in self.assets
        if stream == "asset_links":  # only between assets of the slice: a link to an asset outside it would wait
            return str(record.get("sourceId")) in self.assets and str(record.get("targetId")) in self.assets
        return False


class Buffer:
    """The tap's output as it printed it, in a temporary file: read again as often as needed, never held whole."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "tap-output.jsonl"
        self.lines = 0

    def fill(self, lines: t.Iterable[str]) -> None:
        with self.path.open("w", encoding="utf-8") as out:
            for line in tqdm(lines, desc="extract", unit=" msg", disable=None, file=sys.stderr):
                out.write(line.rstrip("\n") + "\n")
                self.lines += 1

    def messages(self, desc: str) -> Iterator[tuple[str, dict]]:
        """(raw line, parsed message) for every message."""
        with self.path.open(encoding="utf-8") as handle:
            for line in tqdm(handle, desc=desc, total=self.lines, unit=" msg", disable=None, file=sys.stderr):
                yield line, json.loads(line)

    def records(self, desc: str, streams: t.Container[str]) -> Iterator[tuple[str, dict]]:
        for _, message in self.messages(desc):
            if message.get("type") == "RECORD" and message.get("stream") in streams:
                yield message["stream"], message["record"]


def choose_calls(buffer: Buffer, count: int, seed: int, numbers: list[str] | None) -> dict[str, str]:
    """Call id -> number: the given numbers (every one must exist), or ``count`` calls drawn with ``seed``."""
    calls = {str(r["id"]): str(r.get("number") or "") for _, r in buffer.records("find calls", {"incidents"})}
    if numbers:
        by_number = {normalise_number(number): call_id for call_id, number in calls.items()}
        missing = [n for n in numbers if normalise_number(n) not in by_number]
        if missing:
            raise click.UsageError(f"no call numbered {', '.join(missing)} in TOPdesk (of {len(calls):,} calls read)")
        return {by_number[normalise_number(n)]: calls[by_number[normalise_number(n)]] for n in numbers}
    if not calls:
        raise click.ClickException("TOPdesk returned no calls to sample")
    chosen = random.Random(seed).sample(sorted(calls), min(count, len(calls)))
    return {call_id: calls[call_id] for call_id in chosen}


def collect(buffer: Buffer, chosen: Slice) -> None:
    """The ids the calls reference: callers and the persons in their history, the callers' branches, the linked
    asset (``object``/``asset``). Persons are read last for their own branch."""
    for stream, record in buffer.records("collect references", {"incidents", *CALL_CHILDREN}):
        if stream == "incidents" and str(record.get("id")) not in chosen.calls:
            continue
        if stream != "incidents" and str(record.get("incident_id")) not in chosen.calls:
            continue
        for name in ("caller", "person"):  # the caller; a trail entry, e-mail or attachment by a person
            if ref := _ref(record, name):
                chosen.persons.add(ref)
        for name in ("callerBranch", "branch"):
            if ref := _ref(record, name):
                chosen.branches.add(ref)
        caller = record.get("caller") if stream == "incidents" else None
        if isinstance(caller, dict) and (ref := _ref(caller, "branch")):
            chosen.branches.add(ref)
        for name in ("object", "asset"):
            if ref := _ref(record, name):
                chosen.assets.add(ref)
    for _, record in buffer.records("collect branches", {"persons"}):
        if str(record.get("id")) in chosen.persons and (ref := _ref(record, "branch")):
            chosen.branches.add(ref)


def replay(buffer: Buffer, chosen: Slice) -> Iterator[str]:
    """Every SCHEMA message and the slice's records, as the tap printed them (STATE is not replayed: a sample never
    moves Meltano's bookmarks)."""
    for line, message in buffer.messages("load"):
        kind = message.get("type")
        if kind == "SCHEMA":
            yield line
        elif kind == "RECORD" and chosen.wants(message["stream"], message["record"]):
            chosen.replayed[message["stream"]] += 1
            yield line


def _reconciliation_report(report_dir: Path, since: float) -> Path | None:
    """The target's reconciliation report written by this run (the newest one since it started)."""
    found = [p for p in report_dir.glob("*/reconciliation.md") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def _summary(chosen: Slice) -> list[tuple[str, int]]:
    r = chosen.replayed
    return [
        ("calls", r["incidents"]),
        ("persons", r["persons"]),
        ("branches", r["branches"]),
        ("assets", sum(n for s, n in r.items() if s.startswith(ASSET_PREFIX))),
        ("operators", r["operators"]),
        ("operator groups", r["operator_groups"]),
        ("progress-trail entries", r["incident_progress_trail"]),
        ("e-mails", r["incident_emails"]),
        ("attachments", r["incident_attachments"]),
    ]


@click.command(name="sample")
@click.option(
    "--calls",
    "count",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="how many calls, drawn deterministically (see --seed)",
)
@click.option("--seed", type=int, default=0, show_default=True, help="the draw: the same seed picks the same calls")
@click.option("--numbers", metavar="N1,N2,...", help="these TOPdesk call numbers instead of a draw (I2401-001,...)")
@pass_project
def sample(project: Project, count: int, seed: int, numbers: str | None) -> None:
    """Migrate a few calls end to end with everything they need and their history, into the same Intercom and
    ledger as the full load (which then does not create them again)."""
    wanted = [n.strip() for n in numbers.split(",") if n.strip()] if numbers else None
    target = project.target
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="t2i-sample-") as tmp:
        buffer = Buffer(Path(tmp))
        buffer.fill(tap_lines(project.tap))
        chosen = Slice(calls=choose_calls(buffer, count, seed, wanted))
        collect(buffer, chosen)
        run_target(target, replay(buffer, chosen))
    summary = _summary(chosen)
    click.echo("Sampled " + ", ".join(f"{n:,} {what}" for what, n in summary))
    click.echo("Calls: " + ", ".join(sorted(chosen.calls.values())))
    report_dir = Path(target.get("report_dir") or "reports")
    reconciliation = _reconciliation_report(report_dir, started - 1)
    click.echo(f"Reconciliation report of the load: {reconciliation or 'not found under ' + str(report_dir)}")

    data = {
        "seed": None if wanted else seed,
        "numbers": wanted,
        "calls": chosen.calls,
        "selected": dict(summary),
        "replayed_per_stream": dict(chosen.replayed),
        "reconciliation_report": str(reconciliation) if reconciliation else None,
    }
    sections: list[Section] = [
        Text(
            "Sample",
            ("Calls " + ", ".join(wanted) if wanted else f"{len(chosen.calls)} calls drawn with seed {seed}")
            + ", loaded with everything they need into the project's Intercom and ledger.\n\n"
            + f"{len(chosen.calls)} calls: "
            + ", ".join(sorted(chosen.calls.values())),
        ),
        Table("Selected", ["what", "records"], [[w, n] for w, n in summary]),
        Table("Replayed per stream", ["stream", "records"], sorted(map(list, chosen.replayed.items()))),
        Text("Reconciliation report", str(reconciliation or "not found")),
    ]
    paths = write_report(project.report_dir("sample"), "sample", data, "Sample migration", sections)
    click.echo("Report: " + ", ".join(str(p) for p in paths))
