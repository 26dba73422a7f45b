"""Operations management (operations-management-1.10.0): schemas, series and the activities planned from them
(`OperationalActivityWithAllFields`). Note `archived` is an object here, unlike other modules."""

from __future__ import annotations

from itertools import pairwise

from .common import ANCHOR, DAY, EMPTY_OF, HISTORY_DAYS, HOUR, Context, Record, td

SCHEMAS = ("Maintenance", "Security checks", "Facility rounds", "Backups")
GROUPINGS = {
    "Maintenance": ("Servers", "Printers"),
    "Security checks": ("Access control", "Patching"),
    "Facility rounds": ("Fire safety", "Climate"),
    "Backups": ("Restore tests",),
}
SERIES = (
    "Monthly server patching",
    "Quarterly restore test",
    "Weekly fire alarm test",
    "Yearly key card audit",
    "Monthly printer maintenance",
    "Daily backup check",
)
INTERVAL = {"Monthly": 30, "Quarterly": 91, "Weekly": 7, "Yearly": 365, "Daily": 1}


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    schemas: list[Record] = [{"id": rng.uuid(), "name": n, "archived": False} for n in SCHEMAS]
    groupings = [
        {"id": rng.uuid(), "name": g, "archived": False, "schema": {"id": s["id"], "name": s["name"]}}
        for s in schemas
        for g in GROUPINGS[s["name"]]
    ]
    nl = lambda names: [{"id": rng.uuid(), "name": n} for n in names]  # noqa: E731
    statuses, types = nl(("Planned", "In progress", "Done")), nl(("Preventive", "Inspection", "Check"))
    categories = nl(("Infrastructure", "Facilities", "Security"))
    skip_reasons, anomaly_reasons = nl(("Holiday", "Not needed")), nl(("Hardware fault", "Unexpected result"))
    archive_reasons = nl(("Obsolete",))
    series = []
    for i in range(plan.om_series):
        name = SERIES[i % len(SERIES)] + (f" ({i // len(SERIES) + 1})" if i >= len(SERIES) else "")
        series.append({"id": rng.uuid(), "briefDescription": name, "number": f"OS {i + 1:04d}"})
    ops = ctx.records["operators"]
    locs = ctx.records["locations"]
    acts: list[Record] = []
    per = max(1, plan.om_activities // len(series))
    k = 0
    for i, s in enumerate(series):
        count = per + (plan.om_activities - per * len(series) if i == len(series) - 1 else 0)
        step = INTERVAL[s["briefDescription"].split()[0]] * DAY
        start = ANCHOR - min(HISTORY_DAYS * DAY, step * max(1, count - 2)) + rng.randint(0, DAY)
        grouping = rng.choice(groupings)
        chain = []
        for j in range(count):
            k += 1
            ps = start + j * step
            pe = ps + rng.randint(HOUR, 4 * HOUR)
            past = pe < ANCHOR - DAY
            resolved = past and rng.random() < 0.9
            skipped = past and not resolved and rng.random() < 0.5
            op = rng.choice(ops)
            g = ctx.op_groups[op["id"]][0]
            loc = rng.choice(locs)
            asset = rng.choice(ctx.ci_assets) if ctx.ci_assets and rng.random() < 0.5 else None
            created = min(start - DAY, ANCHOR - DAY)
            aid = rng.uuid()
            old = past and ps < ANCHOR - 700 * DAY
            acts.append(
                {
                    "id": aid,
                    "number": f"OA {k:05d}",
                    "briefDescription": s["briefDescription"],
                    "plannedStartDate": td(ps),
                    "plannedEndDate": td(pe),
                    "creationDate": td(created),
                    "modificationDate": td(min(pe + HOUR, ANCHOR - 60) if past else created),
                    "category": rng.choice(categories),
                    "subcategory": None,
                    "type": rng.choice(types),
                    "operator": {"id": op["id"], "name": op["dynamicName"], "type": "operator"},
                    "operatorGroup": g,
                    "status": statuses[2] if resolved else statuses[0],
                    "resolved": {"value": resolved, "dateTime": td(pe) if resolved else None},
                    "skipped": {"value": skipped, "reason": rng.choice(skip_reasons) if skipped else None},
                    "anomaly": {"value": False, "reason": None}
                    if rng.random() < 0.95
                    else {"value": True, "reason": rng.choice(anomaly_reasons)},
                    "archived": {"value": old, "reason": archive_reasons[0] if old else None},
                    "supplier": None,
                    "series": s,
                    "grouping": {"id": grouping["id"], "name": grouping["name"]},
                    "schema": grouping["schema"],
                    "estimatedCosts": 0.0,
                    "costs": 0.0,
                    "estimatedTime": rng.choice((15, 30, 60, 120)),
                    "requests": f"/tas/api/operationalActivities/{aid}/requests",
                    "actions": f"/tas/api/operationalActivities/{aid}/actions",
                    "optionalFields1": EMPTY_OF,
                    "optionalFields2": EMPTY_OF,
                    "bookmarked": False,
                    "linkedLocations": [{"id": loc["id"], "name": loc["name"], "branch": loc["branch"]}],
                    "linkedAssets": [{"id": asset["id"]}] if asset else [],
                    "linkedBranches": [loc["branch"]],
                    "nextInSeries": None,
                }
            )
            chain.append(acts[-1])
        for a, nxt in pairwise(chain):
            a["nextInSeries"] = {
                "id": nxt["id"],
                "number": nxt["number"],
                "plannedStartDate": nxt["plannedStartDate"],
                "resolved": nxt["resolved"],
                "skipped": nxt["skipped"],
            }
    ctx.records["operational_schemas"] = schemas
    ctx.records["operational_series"] = series
    ctx.records["operational_activities"] = acts
