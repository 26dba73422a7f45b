"""``topdesk2intercom plan``: what a load would do, like a Terraform plan, writing nothing (neither Intercom nor the
ledger nor Meltano's state). The tap's records are mapped and staged by the target's own code (a
:class:`TargetIntercom` whose ``stage`` only judges), so every record is hashed in exactly the form the loader hashes
it; the ledger (read only) says create, update or unchanged; the writers' request counts and the workspace's rate
limit say how long it will take."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import click
from singer_sdk import Target
from tqdm import tqdm

from target_intercom.api import (
    CREATE,
    DOCUMENTED_WINDOW_S,
    NOT_UPDATABLE,
    UNCHANGED,
    UPDATE,
    WRITERS,
    WRITTEN,
    Bars,
    Ledger,
    Section,
    Table,
    TargetIntercom,
    Text,
    as_held,
    content_hash,
    decide,
)
from topdesk2intercom.plugins import tap_lines
from topdesk2intercom.project import Project, existing_ledger, intercom_client, pass_project
from topdesk2intercom.reports import write_report

SKIPPED, WAITING = "skipped_before", "waiting"  # retried by the load; 0 requests until their cause is fixed
MATCH = "match_or_list"  # a new record of a kind nothing is written for (teammates, teams: matched; inventory: listed)
VERDICTS = (CREATE, UPDATE, UNCHANGED, NOT_UPDATABLE, SKIPPED, WAITING, MATCH)
UTILISATION = 0.95  # of the rate limit the target's pacer achieves on a long load


class PlanningTarget(TargetIntercom):
    """The target (mapper, SDK sinks, definitions) that never opens its ledger run, preflight or loader: a staged
    batch is only remembered as (kind, source key) -> content hash, the newest version winning as in
    ``Ledger.hold``."""

    def __init__(self, config: dict[str, t.Any]) -> None:
        super().__init__(config=config)
        self.hashes: dict[str, dict[str, str]] = defaultdict(dict)
        self.flagged_counts: Counter = Counter()
        self.listed_only: Counter = Counter()

    def stage(self, kind: str, records: list[dict]) -> None:
        for record in records:
            # the loader hashes what the ledger reads back: the same round trip here
            self.hashes[kind][str(record["source_key"])] = content_hash(as_held(record))

    def flagged(self, record: dict) -> None:
        self.flagged_counts[record.get("output") or "unknown"] += 1

    def not_loaded(self, stream: str, records: list[dict]) -> None:
        self.listed_only[stream] += len(records)

    def process_endofpipe(self) -> None:
        Target.process_endofpipe(self)  # drains the sinks: the last batches are staged (judged), nothing written


def judge(hashes: dict[str, dict[str, str]], ledger: Ledger | None) -> dict[str, Counter]:
    """Per kind: create / update / unchanged / not_updatable, as the loader decides (``decide``); a record with no
    Intercom counterpart that an earlier run skipped (e.g. no team of that name) or holds for a parent that never
    came is counted as such, not as a create, and a new one of a kind that is matched or listed as such."""
    verdicts: dict[str, Counter] = {}
    skipped = {(i["kind"], i["source_key"]) for i in ledger.issues(category="skipped")} if ledger else set()
    waiting = {(h.kind, h.source_key) for h, _ in ledger.waiting(limit=10_000_000)} if ledger else set()
    for kind, by_key in hashes.items():
        writer = WRITERS[kind]
        counts: Counter = Counter()
        existing = ledger.lookup_many(kind, list(by_key)) if ledger is not None else {}
        for key, digest in by_key.items():
            entity = existing.get(key)
            if entity is None and (kind, key) in waiting:
                counts[WAITING] += 1
            elif entity is None and (kind, key) in skipped:
                counts[SKIPPED] += 1
            elif entity is None and writer.represented != WRITTEN:
                counts[MATCH] += 1
            else:
                counts[decide(writer, entity, digest)] += 1
        verdicts[kind] = counts
    return verdicts


def requests_for(kind: str, counts: Counter) -> int:
    """Intercom requests the records of ``kind`` so decided cost (the writer's ``requests_per_create``/``update``)."""
    writer = WRITERS[kind]
    return sum(n * writer.requests_for(decision) for decision, n in counts.items())


@dataclass
class RateLimit:
    """The workspace's budget: ``per_window`` requests (``X-RateLimit-Limit``) per ``window_s`` seconds."""

    per_window: int
    window_s: int
    window_assumed: bool  # the answers could not show the window's length: Intercom's documented 10 s
    ends_in_s: int | None  # the current window's end (X-RateLimit-Reset) as seen by the plan's request

    @property
    def per_minute(self) -> float:
        return self.per_window * 60 / self.window_s

    def describe(self) -> str:
        if not self.window_assumed:
            return f"{self.per_window:,} requests per window, {self.window_s}-s windows, from X-RateLimit-Reset"
        reset = f", its X-RateLimit-Reset was {self.ends_in_s} s ahead" if self.ends_in_s is not None else ""
        return (
            f"{self.per_window:,} requests per window, {self.window_s}-s windows assumed (Intercom's rate-limit "
            f"docs; one answer cannot show a window's length{reset})"
        )


def rate_limit(target: dict[str, t.Any]) -> RateLimit | None:
    """The workspace's budget from the ``X-RateLimit-*`` headers of one GET /me per token: the window's budget (all
    apps together, each within its share of the workspace's limit), and how far ahead its reset is (a window
    cannot be shorter than that; its length is otherwise Intercom's documented one)."""
    with intercom_client(target) as client:
        for app in range(client.apps):  # each token's app: their shares of the workspace's budget add up
            client.request("GET", "/me", app=app)
        pacer = client.pacer
        if not pacer.limit:
            return None
        ends_in = None if pacer.reset is None else max(0, round(pacer.reset - time.time()))
        window = pacer.window_seconds or max(DOCUMENTED_WINDOW_S, ends_in or 0)
        return RateLimit(int(pacer.limit), window, pacer.window_seconds is None, ends_in)


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{max(1, round(minutes * 60))} s"
    if minutes < 120:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f} h"


def _read_state(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read the state file {path}: {exc}") from None
    return doc.get("singer_state", doc) if isinstance(doc, dict) else doc  # `meltano state get` wraps it


@click.command(name="plan")
@click.option(
    "--state",
    "state_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="plan a delta from this Meltano state JSON (`meltano state get ...`); default: full extraction",
)
@pass_project
def plan(project: Project, state_file: str | None) -> None:
    """What a load would create, update or leave unchanged, per Intercom kind, with the requests and time it will
    cost at the workspace's rate limit. Writes nothing but its report."""
    target_config = project.target
    planner = PlanningTarget(dict(target_config))
    with tqdm(desc="extract + map", unit=" msg", disable=None, file=sys.stderr) as bar:
        for line in tap_lines(project.tap, state=_read_state(state_file)):
            bar.update()
            message = planner.message_reader.deserialize_json(line)  # as the target reads it (numbers: Decimal)
            kind = message.get("type")
            if kind == "SCHEMA":
                planner._process_schema_message(message)
            elif kind == "RECORD":
                planner._process_record_message(message)
    planner.process_endofpipe()

    ledger = existing_ledger(target_config)
    try:
        verdicts = judge(planner.hashes, ledger)
        held = ledger.held_counts() if ledger is not None else {}
    finally:
        if ledger is not None:
            ledger.close()
    budget = rate_limit(target_config)
    limit = budget.per_minute if budget else None

    kinds = [k for k in WRITERS.kinds if k in verdicts]
    rows: list[list[t.Any]] = []  # table rows (Table's cells): kind, then numbers
    totals: Counter[str] = Counter()
    for kind in kinds:
        counts = verdicts[kind]
        cost = requests_for(kind, counts)
        totals.update(counts)
        totals["requests"] += cost
        rows.append([kind, *(counts[v] for v in VERDICTS), cost])
    minutes = totals["requests"] / (limit * UTILISATION) if limit else None
    at = f" at {round(limit, -1):,}/min" if limit else " (rate limit unknown)"
    summary = (
        f"Plan: {totals[CREATE]:,} to create, {totals[UPDATE]:,} to update, {totals[UNCHANGED]:,} unchanged; "
        f"~{totals['requests']:,} requests, ~{_duration(minutes) if minutes is not None else '?'}{at}"
    )

    width = max([len("kind"), *(len(k) for k in kinds)])
    heads = ("create", "update", "unchanged", "not upd.", "skipped", "waiting", "match", "requests")
    click.echo(f"  {'kind':<{width}} " + " ".join(f"{h:>9}" for h in heads))
    for row in rows:
        mark = "+" if row[1] else ("~" if row[2] else " ")
        click.echo(f"{mark} {row[0]:<{width}} " + " ".join(f"{v:>9,}" for v in row[1:]))
    for label, counter in (
        ("flagged by the map (not loaded, listed in the report)", planner.flagged_counts),
        ("listed only (this target cannot write them yet)", planner.listed_only),
    ):
        if counter:
            click.echo(f"{label}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())))
    if totals[NOT_UPDATABLE]:
        click.echo(f"{totals[NOT_UPDATABLE]:,} changed record(s) Intercom cannot edit (notes, parts) stay as they are.")
    if totals[SKIPPED] or totals[WAITING]:
        click.echo(
            f"{totals[SKIPPED]:,} record(s) an earlier run skipped (e.g. no Intercom team of that name) and "
            f"{totals[WAITING]:,} waiting for a parent that never came are tried again, at no cost until "
            "their cause is fixed."
        )
    if budget:
        click.echo(f"Rate limit: {budget.describe()}.")
    click.echo(summary)

    data = {
        "summary": summary,
        "state_file": state_file,
        "rate_limit_per_minute": limit,
        "rate_limit": dataclasses.asdict(budget) if budget else None,
        "rate_limit_note": budget.describe() if budget else "no X-RateLimit-Limit in the answer",
        "utilisation": UTILISATION,
        "minutes": minutes,
        "requests_per_operation": {w.kind: {op: w.requests_for(op) for op in (CREATE, UPDATE)} for w in WRITERS},
        "totals": {k: totals[k] for k in (*VERDICTS, "requests")},
        "kinds": {row[0]: dict(zip((*VERDICTS, "requests"), row[1:], strict=True)) for row in rows},
        "flagged": dict(planner.flagged_counts),
        "listed_only": dict(planner.listed_only),
        "held": held,
    }
    columns = [
        "kind",
        "create",
        "update",
        "unchanged",
        "not updatable",
        "skipped before",
        "waiting",
        "match / list",
        "requests",
    ]
    sections: list[Section] = [
        Text(
            "Summary",
            f"{summary}\n\nNothing was written. Requests per operation follow the writers; duration at "
            f"{UTILISATION:.0%} of the rate limit{at}.",
        ),
        Bars(
            "Records per kind",
            {verdict: {row[0]: row[i] for row in rows} for i, verdict in enumerate((CREATE, UPDATE, UNCHANGED), 1)},
        ),
        Bars("Requests per kind", {"requests": {row[0]: row[-1] for row in rows}}),
        Table("Per kind", columns, rows),
    ]
    listed = [
        [what, kind, n]
        for what, counter in (("flagged by the map", planner.flagged_counts), ("listed only", planner.listed_only))
        for kind, n in counter.items()
    ]
    if listed:
        sections.append(Table("Flagged by the map or listed only (not loaded)", ["why", "kind", "records"], listed))
    paths = write_report(
        project.report_dir("plan"),
        "plan",
        data,
        "Plan",
        sections,
        subtitle="what a load would do; nothing written",
    )
    click.echo("Report: " + ", ".join(str(p) for p in paths))
