"""``topdesk2intercom verify``: after ``meltano run tap-topdesk target-intercom``, prove the load. Row counts per
Intercom kind (TOPdesk, mapped in process, versus the ledger versus Intercom itself) and a field-by-field comparison
of a random sample read back from Intercom. Exit 1 on any difference nothing explains (issue #6)."""

from __future__ import annotations

import random
import sys
import typing as t

import click

from target_intercom.api import Bars, Ledger, Section, Table, Text
from topdesk2intercom.project import Project, existing_ledger, intercom_client, pass_project
from topdesk2intercom.reports import write_report
from topdesk2intercom.verify_counts import Counts, Difference, reconcile
from topdesk2intercom.verify_fields import Compared, clamp, compare_sample, draw
from topdesk2intercom.verify_source import expected_records


def _include(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        kind, sep, key = value.partition(":")
        if not sep or not key:
            raise click.BadParameter(
                f"{value!r}: expected KIND:SOURCE_KEY (e.g. contacts:person:<id>)", param_hint="--include"
            )
        out.append((kind, key))
    return out


@click.command(name="verify")
@click.option(
    "--sample-size",
    type=int,
    default=40,
    show_default=True,
    help="records compared field by field (clamped to 25-50; all of them when fewer were written)",
)
@click.option("--seed", type=int, default=None, help="sample seed (printed; give it again to redraw the same sample)")
@click.option(
    "--include",
    "includes",
    multiple=True,
    metavar="KIND:SOURCE_KEY",
    help="force a record into the sample (repeatable), e.g. contacts:person:<TOPdesk id>",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="compare every written record field by field, read back through Intercom's lists (before cutover; "
    "resumable: run it again after an interruption)",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="with --all: only this kind (repeatable), e.g. tickets (with their parts), contacts",
)
@click.option("--restart", is_flag=True, help="with --all: start afresh instead of continuing an unfinished one")
@pass_project
def verify(
    project: Project,
    sample_size: int,
    seed: int | None,
    includes: tuple[str, ...],
    everything: bool,
    kinds: tuple[str, ...],
    restart: bool,
) -> None:
    """Reconcile TOPdesk with Intercom after a load: counts per kind and a field sample (--all: every record);
    exit 1 on any unexplained difference."""
    if everything:
        from topdesk2intercom.verify_all_report import verify_all

        verify_all(project, kinds, restart)
        return
    if kinds or restart:
        raise click.UsageError("--kind and --restart go with --all")
    forced = _include(includes)
    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000_000)
    size = clamp(sample_size)
    target = project.target
    ledger = existing_ledger(target)
    if ledger is None:
        raise click.UsageError(
            f"no ledger at {Ledger.url_from_config(target)}: run `meltano run tap-topdesk "
            "target-intercom` first (or point ledger_url at the load's ledger)"
        )
    client = intercom_client(target)
    try:
        expected = expected_records(project.tap, target)
        counts = reconcile(expected, ledger, client)
        sample = draw(counts.written, size, seed, forced)
        compared = compare_sample(client, ledger, expected.records, counts.written, sample)
    finally:
        client.close()
        ledger.close()
    unknown = [f"{k}:{key}" for k, key in forced if (k, key) not in sample]
    differences = counts.differences + [d for c in compared for d in c.differences]
    data = _data(counts, compared, differences, seed, size, unknown, expected.source_records)
    paths = write_report(
        project.report_dir("verify"),
        "verify",
        data,
        "Verify",
        _sections(data),
        subtitle=f"seed {seed}; {len(compared)} records sampled",
    )
    _console(data)
    for path in paths:
        click.echo(f"report: {path}")
    if differences:
        sys.exit(1)


# ---------------------------------------------------------------- report data


def _data(
    counts: Counts,
    compared: list[Compared],
    differences: list[Difference],
    seed: int,
    size: int,
    unknown: list[str],
    source_records: int,
) -> dict[str, t.Any]:
    return {
        "seed": seed,
        "sample_size_requested": size,
        "sample_size": len(compared),
        "source_records": source_records,
        "counts": [c.as_dict() for c in counts.kinds.values()],
        "extra_in_ledger": {k: dict(v) for k, v in counts.extra_in_ledger.items()},
        "sample": [c.as_dict() for c in compared],
        "differences": [d.as_dict() for d in differences],
        "unexplained": len(differences),
        "include_not_sampled": unknown,
    }


def _explained_text(row: dict) -> str:
    return ", ".join(f"{n} {bucket}" for bucket, n in sorted(row["explained"].items())) or "-"


def _count_rows(data: dict) -> list[list[t.Any]]:
    return [
        [
            r["kind"],
            r["source"],
            r["written"],
            "-" if r["found_in_intercom"] is None else r["found_in_intercom"],
            r["explained_total"],
            _explained_text(r),
            r["unexplained"],
            "-" if r["intercom_total"] is None else r["intercom_total"],
            "-" if r["other_in_intercom"] is None else r["other_in_intercom"],
        ]
        for r in data["counts"]
    ]


COUNT_COLUMNS = [
    "kind",
    "source (expected)",
    "in ledger (written)",
    "found in Intercom",
    "flagged/listed/merged",
    "explained as",
    "unexplained",
    "Intercom total",
    "not from the ledger",
]
DIFF_COLUMNS = ["kind", "source key", "Intercom id", "field", "expected", "actual"]


def _diff_rows(data: dict) -> list[list[t.Any]]:
    return [
        [d["kind"], d["source_key"], d["intercom_id"] or "-", d["field"], _short(d["expected"]), _short(d["actual"])]
        for d in data["differences"]
    ]


def _short(value: t.Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


TOTAL_NOTE = (
    "'found in Intercom': the ledger's written records, each looked up in Intercom by its id (parts in "
    "their ticket or conversation, links on their entity). 'Intercom total' is the workspace's own count "
    "where its API gives one; it includes the placeholder contacts of unregistered callers (in the ledger, "
    "without a source record: listed below) and counts a merged duplicate once. 'not from the ledger' = "
    "Intercom total minus the distinct ids the ledger holds: what was in the workspace before the "
    "migration or was created by hand since (not a difference; a negative number means entities the "
    "ledger holds are missing)."
)


def _sample_rows(data: dict) -> list[list[t.Any]]:
    return [
        [
            s["kind"],
            s["source_key"],
            s["intercom_id"],
            len(s["fields_compared"]),
            ", ".join(s["differing"]) or "-",
            ", ".join(f"{e['field']} ({e['why']})" for e in s["explained"]) or "-",
        ]
        for s in data["sample"]
    ]


def _sections(data: dict) -> list[Section]:
    chart = {
        "source": {r["kind"]: r["source"] for r in data["counts"]},
        "in Intercom": {
            r["kind"]: r["found_in_intercom"] if r["found_in_intercom"] is not None else r["written"]
            for r in data["counts"]
        },
        "flagged/listed/merged": {r["kind"]: r["explained_total"] for r in data["counts"]},
    }
    verdict = (
        f"{data['unexplained']} unexplained difference(s); seed {data['seed']}.\n\n"
        f"Seed {data['seed']} (rerun with `--seed {data['seed']}`), {data['sample_size']} record(s) compared "
        f"field by field; {data['source_records']:,} TOPdesk records extracted."
    )
    extra = [[k, why, n] for k, v in data["extra_in_ledger"].items() for why, n in v.items()]
    return [
        Text("Result", verdict),
        Table("Counts per kind", COUNT_COLUMNS, _count_rows(data), note=TOTAL_NOTE),
        Bars("Source vs Intercom vs flagged per kind", chart),
        *(
            [Table("In the ledger without a source record (explained)", ["kind", "why", "count"], extra)]
            if extra
            else []
        ),
        Table("Differences", DIFF_COLUMNS, _diff_rows(data)),
        Table(
            "Sample (field by field)",
            ["kind", "source key", "Intercom id", "fields compared", "differing", "explained"],
            _sample_rows(data),
        ),
    ]


def _console(data: dict) -> None:
    click.echo(f"{'kind':<26}{'source':>8}{'written':>9}{'found':>7}{'explained':>11}{'unexplained':>13}")
    for r in data["counts"]:
        found = "-" if r["found_in_intercom"] is None else r["found_in_intercom"]
        click.echo(
            f"{r['kind']:<26}{r['source']:>8}{r['written']:>9}{found:>7}{r['explained_total']:>11}"
            f"{r['unexplained']:>13}"
        )
    click.echo(f"sample: {data['sample_size']} record(s), seed {data['seed']}")
    for key in data["include_not_sampled"]:
        click.echo(f"--include {key}: not a written record of that kind, not sampled")
    click.echo(f"verify: {data['unexplained']} unexplained difference(s)")
    for d in data["differences"]:
        click.echo(
            f"  {d['kind']} {d['source_key']} (Intercom {d['intercom_id'] or '-'}): {d['field']}: "
            f"expected {_short(d['expected'], 80)!s}, got {_short(d['actual'], 80)!s}"
        )
