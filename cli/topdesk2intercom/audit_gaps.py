"""The audit's judgements, derived rather than listed by hand: the gap inventory (what has no Intercom home under the
map, read from the map itself), the timeline of the load (the writes the map would make, paced by Intercom's rate
limit) and a complexity rating with its reasons."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from map_topdesk_intercom.api import MapSpec, OutputSpec, is_freely_definable
from target_intercom.api import CREATE, WRITERS
from topdesk2intercom.audit_scan import StreamStats

INVENTORY = "inventory_items"


def requests_per_record(kind: str) -> int:
    """Intercom requests one new record of an output kind costs, as its writer declares them (``requests_per_create``:
    a ticket is created, then gets its state; teammates and teams are matched, the inventory only listed: 0); a
    kind the target has no writer for counts 1."""
    writer = WRITERS.get(kind)
    return writer.requests_for(CREATE) if writer is not None else 1


#: Intercom's default private-app rate limit (requests per minute; 10,000 per app per workspace).
RATE_PER_MIN = 10_000
HIDDEN_STATUSES = ("probably hidden", "forbidden")
LEVELS = ("low", "medium", "high")


@dataclass
class Gap:
    stream: str
    records: int
    treatment: str  # what happens to the stream's records
    outputs: list[str] = field(default_factory=list)
    reason: str = ""


def active_outputs(spec: MapSpec, stream: str) -> list[OutputSpec]:
    """The stream's outputs whose strategy conditions hold under the map's chosen strategies (record conditions
    are decided per record at load time and do not rule an output out here)."""
    return [
        o
        for o in spec.outputs_for(stream)
        if all(c.holds({}, spec.strategies) for c in o.when if c.strategy is not None)
    ]


def _map_comment(lines: list[str], line: int) -> str:
    """The comment on an output's line in the map file (the map explains its choices there)."""
    if not 0 < line <= len(lines):
        return ""
    match = re.search(r"\s#\s*(.+)$", lines[line - 1])
    return match.group(1).strip() if match else ""


def gap_inventory(
    spec: MapSpec, streams: dict[str, StreamStats], catalog_streams: t.Iterable[str], probe: dict[str, dict[str, t.Any]]
) -> list[Gap]:
    """Every stream whose records (some or all) do not become Intercom entities, and why."""
    try:
        lines = Path(spec.path).read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    gaps: list[Gap] = []
    for stream in sorted(set(catalog_streams) | set(streams)):
        stats = streams.get(stream) or StreamStats()
        outputs = active_outputs(spec, stream)
        kinds = sorted({o.output for o in outputs})
        if spec.map_key(stream) is None:
            gaps.append(Gap(stream, stats.records, "not migrated: the map has no entry (only listed here)"))
            continue
        if not outputs:
            chosen = ", ".join(
                sorted(
                    {
                        c.strategy + "=" + spec.strategies.get(c.strategy, "?")
                        for o in spec.outputs_for(stream)
                        for c in o.when
                        if c.strategy
                    }
                )
            )
            gaps.append(Gap(stream, stats.records, f"not migrated under the chosen strategies ({chosen})"))
            continue
        inventory = [o for o in outputs if o.output == INVENTORY]
        if inventory:
            reason = next((c for c in (_map_comment(lines, o.line) for o in inventory) if c), "")
            others = ", ".join(k for k in kinds if k != INVENTORY)
            treatment = (
                f"partly handoff inventory (also written as {others})"
                if others
                else "handoff inventory: no Intercom home, listed for a rebuild by hand"
            )
            gaps.append(Gap(stream, stats.records, treatment, kinds, reason))
        warned = [o for o in outputs if o.warn]
        if warned:
            gaps.append(
                Gap(
                    stream,
                    stats.records,
                    "flagged: written, with a warning per record",
                    kinds,
                    "; ".join(sorted({str(o.warn) for o in warned})),
                )
            )
        for key, n in sorted(stats.flags.items()):
            output, fld, severity = key
            gaps.append(
                Gap(
                    stream,
                    n,
                    f"flagged ({severity}) in this extraction: {output}" + (f" field {fld}" if fld else ""),
                    [output],
                    stats.flag_examples.get(key, ""),
                )
            )
    for module, entry in sorted(probe.items()):
        if module.startswith("export:") and entry.get("status") == "not available":
            gaps.append(
                Gap(
                    module.removeprefix("export:"),
                    0,
                    "not extracted: no REST API, no CSV export given",
                    [],
                    str(entry.get("detail") or ""),
                )
            )
        elif entry.get("status") in HIDDEN_STATUSES:
            gaps.append(
                Gap(
                    f"module {module}",
                    0,
                    f"not extracted: {entry['status']} for this operator",
                    [],
                    str(entry.get("detail") or ""),
                )
            )
    return gaps


def duration(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.1f} h"


@dataclass
class Estimate:
    writes: dict[str, int]  # output kind -> records the map makes
    calls: dict[str, float]  # output kind -> Intercom requests
    total_calls: float
    rate_per_min: int
    hours: float


def estimate(streams: dict[str, StreamStats], rate_per_min: int = RATE_PER_MIN) -> Estimate:
    writes: dict[str, int] = {}
    for stats in streams.values():
        for kind, n in stats.outputs.items():
            writes[kind] = writes.get(kind, 0) + n
    calls: dict[str, float] = {kind: n * requests_per_record(kind) for kind, n in sorted(writes.items())}
    total = sum(calls.values())
    return Estimate(dict(sorted(writes.items())), calls, total, rate_per_min, total / rate_per_min / 60)


def complexity(
    streams: dict[str, StreamStats], est: Estimate, gaps: list[Gap], probe: dict[str, dict[str, t.Any]]
) -> tuple[str, list[tuple[str, str]]]:
    """(overall level, [(level, reason)]): the highest of the four reasons wins."""
    reasons: list[tuple[str, str]] = []
    records = sum(s.records for s in streams.values())
    volume = "low" if est.hours < 1 else "medium" if est.hours < 8 else "high"
    reasons.append(
        (
            volume,
            f"volume: {records:,} TOPdesk records, {est.total_calls:,.0f} Intercom requests "
            f"≈ {duration(est.hours)} at {est.rate_per_min:,}/min",
        )
    )
    free = [s for s in streams if is_freely_definable(s)]
    reasons.append(
        (
            "low" if not free else "medium" if len(free) <= 3 else "high",
            f"{len(free)} freely definable asset type(s), each its own custom object type to create in "
            f"Intercom's UI" + (f": {', '.join(sorted(free))}" if free else ""),
        )
    )
    gap_streams = {g.stream for g in gaps}
    reasons.append(
        (
            "low" if len(gap_streams) <= 3 else "medium" if len(gap_streams) <= 10 else "high",
            f"{len(gaps)} gap(s) over {len(gap_streams)} stream(s)/module(s) without a full Intercom home",
        )
    )
    hidden = sorted(m for m, e in probe.items() if e.get("status") in HIDDEN_STATUSES)
    errors = sorted(m for m, e in probe.items() if e.get("status") == "error")
    if hidden:
        reasons.append(
            (
                "high",
                f"module(s) hidden from this operator: {', '.join(hidden)} — the counts are "
                "incomplete until the operator's permissions are fixed",
            )
        )
    elif errors:
        reasons.append(("medium", f"module(s) that could not be checked: {', '.join(errors)}"))
    else:
        reasons.append(("low", "every module is readable by this operator"))
    overall = max((level for level, _ in reasons), key=LEVELS.index)
    return overall, reasons
