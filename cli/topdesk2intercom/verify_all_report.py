"""``verify --all`` as a command: the store for this ledger (continued, or started afresh), the read-back, and its
report: per kind, the mapped records and where each stands, the records and fields compared, the differences
explained and unexplained; the requests and time it cost against the load's; every difference in
``differences.jsonl`` beside the report (the Markdown and JSON list the first ones)."""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import click

from target_intercom.api import Bars, Ledger, Section, Table, Text
from topdesk2intercom.project import Project, existing_ledger, intercom_client
from topdesk2intercom.reports import write_report
from topdesk2intercom.verify_all import VerifyAll, selected
from topdesk2intercom.verify_source import mapped
from topdesk2intercom.verify_store import Store, store_path

LISTED = 1000  # differences listed in the report's JSON and Markdown (all of them: differences.jsonl)
#: what verify --all may cost: this share of the load's requests, plus one read per ticket and conversation
BUDGET_SHARE = 0.05


def verify_all(project: Project, kinds: tuple[str, ...], restart: bool) -> None:
    target = project.target
    ledger = existing_ledger(target)
    if ledger is None:
        raise click.UsageError(
            f"no ledger at {Ledger.url_from_config(target)}: run `meltano run tap-topdesk target-intercom` first"
        )
    try:
        chosen = selected(kinds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kind") from None
    store = Store(store_path(project.report_base, Ledger.url_from_config(target)))
    client = intercom_client(target)
    try:
        if restart or store.get("finished") or store.get("kinds", chosen) != chosen:
            store.reset()
        elif store.get("kinds"):
            click.echo(f"verify --all: continuing the unfinished read-back in {store.path}")
        store.put("kinds", chosen)
        runner = VerifyAll(store, ledger, client, kinds)
        try:
            runner.run(lambda: mapped(project.tap, target))
        finally:
            runner.close()
        data = report_data(store, ledger, project.report_base)
    finally:
        client.close()
        ledger.close()
    directory = project.report_dir("verify-all")
    with (directory / "differences.jsonl").open("w") as out:
        for explained in (False, True):
            for difference in store.differences(explained=explained):
                out.write(json.dumps(difference, default=str) + "\n")
    store.close()
    paths = write_report(directory, "verify", data, "Verify --all", sections(data), subtitle=data["verdict"])
    console(data)
    click.echo(f"report: {paths[0]} (every difference: {directory / 'differences.jsonl'})")
    if data["unexplained"]:
        sys.exit(1)


# ---------------------------------------------------------------- report data


def report_data(store: Store, ledger: Ledger, report_base: Path) -> dict[str, t.Any]:
    counts, compared, differing = store.counts(), store.compared(), store.difference_counts()
    rows: list[dict[str, t.Any]] = []
    for kind in sorted(set(counts) | set(compared) | set(differing)):
        buckets = counts.get(kind, {})
        written = buckets.get("written", 0)
        records, fields = compared.get(kind, (0, 0))
        explained, unexplained = differing.get(kind, (0, 0))
        rows.append(
            {
                "kind": kind,
                "mapped": sum(n for b, n in buckets.items() if b != "in Intercom, not from the ledger"),
                "written": written,
                "compared": records,
                "fields_compared": fields,
                "buckets": {b: n for b, n in buckets.items() if b != "written" and n},
                "explained": explained,
                "unexplained": unexplained,
            }
        )
    written = sum(r["written"] for r in rows)
    compared_total = sum(r["compared"] for r in rows)
    requests, seconds = int(store.get("requests", 0)), float(store.get("seconds", 0))
    load = load_requests(ledger, report_base)
    containers = sum(r["compared"] for r in rows if r["kind"] in ("tickets", "conversations"))
    budget = round(BUDGET_SHARE * load) + containers if load else None
    unexplained = sum(r["unexplained"] for r in rows)
    verdict = (
        f"{unexplained} unexplained difference(s); {compared_total:,} of {written:,} written records compared "
        f"({_pct(compared_total, written)}); {requests:,} requests in {seconds:,.0f} s"
    )
    return {
        "mode": "all",
        "kinds_read": store.get("kinds") or [],
        "verdict": verdict,
        "mapped_records": store.get("mapped_records", 0),
        "kinds": rows,
        "written": written,
        "compared": compared_total,
        "coverage": round(compared_total / written, 4) if written else None,
        "requests": requests,
        "seconds": seconds,
        "load_requests": load,
        "tickets_and_conversations": containers,
        "request_budget": budget,
        "requests_share_of_load": round(requests / load, 4) if load else None,
        "unexplained": unexplained,
        "differences": list(store.differences(explained=False, limit=LISTED)),
        "explained_differences": list(store.differences(explained=True, limit=LISTED)),
    }


def load_requests(ledger: Ledger, report_base: Path) -> int:
    """The requests the loads sent, rolled-back runs included: what the migration cost, against which the read-back
    is measured. From each run's summary in the ledger; a run from before it kept them there: its reconciliation
    report (a large file at scale: read only then)."""
    total = 0
    for run in ledger.runs():
        if (run.get("info") or {}).get("command") == "rollback":
            continue
        sent = (run.get("summary") or {}).get("requests_sent")
        path = report_base / run["run_id"] / "reconciliation.json"
        if sent is None and path.is_file():
            sent = (json.loads(path.read_text()).get("requests") or {}).get("requests_sent")
        total += int(sent or 0)
    return total


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


# ---------------------------------------------------------------- presentation

COLUMNS = [
    "kind",
    "mapped",
    "written",
    "compared",
    "fields compared",
    "also (not compared)",
    "explained",
    "unexplained",
]


def _rows(data: dict) -> list[list[t.Any]]:
    return [
        [
            r["kind"],
            r["mapped"],
            r["written"],
            r["compared"],
            r["fields_compared"],
            ", ".join(f"{n:,} {b}" for b, n in sorted(r["buckets"].items())) or "-",
            r["explained"],
            r["unexplained"],
        ]
        for r in data["kinds"]
    ]


def _cost(data: dict) -> str:
    if not data["load_requests"]:
        return f"{data['requests']:,} requests in {data['seconds']:,.0f} s (no load report to compare with)."
    return (
        f"{data['requests']:,} requests in {data['seconds']:,.0f} s: {data['requests_share_of_load']:.1%} of the "
        f"loads' {data['load_requests']:,} requests (allowed: {BUDGET_SHARE:.0%} of them plus one read per ticket "
        f"and conversation, {data['tickets_and_conversations']:,}: {data['request_budget']:,})."
    )


def _diff_rows(rows: list[dict], explained: bool) -> list[list[t.Any]]:
    return [
        [d["kind"], d["source_key"], d["intercom_id"] or "-", d["field"], _short(d["expected"]), _short(d["actual"])]
        + ([d["why"]] if explained else [])
        for d in rows
    ]


def _short(value: t.Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sections(data: dict) -> list[Section]:
    head = ["kind", "source key", "Intercom id", "field", "expected (TOPdesk, mapped)", "found (Intercom)"]
    return [
        Text("Result", f"{data['verdict']}.\n\n{_cost(data)}"),
        Table("Per kind", COLUMNS, _rows(data)),
        Bars(
            "Written and compared per kind",
            {
                "written": {r["kind"]: r["written"] for r in data["kinds"]},
                "compared": {r["kind"]: r["compared"] for r in data["kinds"]},
            },
        ),
        Table(
            f"Unexplained differences ({data['unexplained']:,})",
            head,
            _diff_rows(data["differences"], False),
            note=f"The first {LISTED:,}; every one in differences.jsonl.",
        ),
        Table(
            "Explained differences",
            [*head, "why"],
            _diff_rows(data["explained_differences"], True),
            note="A flag, a fallback the load reported, a documented Intercom rewrite or a rollback's restore.",
        ),
    ]


def console(data: dict) -> None:
    click.echo(
        f"{'kind':<26}{'mapped':>8}{'written':>9}{'compared':>10}{'fields':>9}{'explained':>11}{'unexplained':>13}"
    )
    for r in data["kinds"]:
        click.echo(
            f"{r['kind']:<26}{r['mapped']:>8}{r['written']:>9}{r['compared']:>10}{r['fields_compared']:>9}"
            f"{r['explained']:>11}{r['unexplained']:>13}"
        )
    click.echo(_cost(data))
    click.echo(f"verify --all: {data['verdict']}")
    for d in data["differences"][:50]:
        click.echo(
            f"  {d['kind']} {d['source_key']} (Intercom {d['intercom_id'] or '-'}): {d['field']}: "
            f"expected {_short(d['expected'], 80)!s}, got {_short(d['actual'], 80)!s}"
        )
