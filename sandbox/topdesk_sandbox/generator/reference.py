"""Incident reference lists (`/tas/api/incidents/{categories,subcategories,call_types,...}`): one line per list
in `incident_reference_lists.jsonl`, each `{"_list": name, "items": [...]}` with the spec's item shapes."""

from __future__ import annotations

from typing import Any

from . import words
from .common import Context

CALL_TYPES = ("Incident", "Service request", "Request for information", "Complaint", "Request for change")
ENTRY_TYPES = ("Telephone", "Email", "Self-Service Portal", "Walk-in", "Chat")
IMPACTS = ("Person", "Department", "Branch", "Organisation")
URGENCIES = ("Low", "Normal", "High", "Critical")
CLOSURE_CODES = ("Solved", "Workaround provided", "Not reproducible", "Duplicate", "Cancelled by caller")
#: (name, basicPeriods, timeSpanType)
DURATIONS = (
    ("1 hour", 1, "hours"),
    ("4 hours", 4, "hours"),
    ("8 hours", 8, "hours"),
    ("2 days", 2, "days"),
    ("1 week", 5, "days"),
)
#: (name, first line duration, second line duration)
PRIORITIES = (("P1 - Critical", 0, 1), ("P2 - High", 1, 2), ("P3 - Normal", 2, 3), ("P4 - Low", 3, 4))
#: (name, onHold, processingState, response, default)
STATUSES = (
    ("Registered", "no", "open", "notResponded", True),
    ("In progress", "no", "open", "responded", False),
    ("Waiting for caller", "yes", "open", "responded", False),
    ("Waiting for supplier", "yes", "open", "responded", False),
    ("Completed", "no", "completed", "responded", False),
    ("Closed", "no", "closed", "responded", False),
)
ARCHIVING_REASONS = ("Obsolete", "Merged into another call", "Retention period expired")
DURATION_SECONDS = {"hours": 3600, "days": 86400}


def build(ctx: Context) -> None:
    rng = ctx.rng

    def plain(names: tuple[str, ...]) -> list[dict[str, Any]]:
        return [{"id": rng.uuid(), "name": n} for n in names]

    categories, subcategories = [], []
    ctx.cat_subs = []
    for cname, subs, templates in words.CATEGORIES:
        cat = {"id": rng.uuid(), "name": cname}
        categories.append(cat)
        for s in subs:
            sub = {"id": rng.uuid(), "name": s, "category": cat}
            subcategories.append(sub)
            ctx.cat_subs.append((cat, {"id": sub["id"], "name": s}, templates))
    durations = [
        {
            "id": rng.uuid(),
            "name": n,
            "basicPeriods": float(p),
            "timeSpanType": t,
            "inFirstLine": True,
            "inSecondLine": True,
        }
        for n, p, t in DURATIONS
    ]
    duration_refs = [{"id": d["id"], "name": d["name"]} for d in durations]
    priorities = [
        {"id": rng.uuid(), "name": n, "firstLineDuration": duration_refs[a], "secondLineDuration": duration_refs[b]}
        for n, a, b in PRIORITIES
    ]
    statuses = [
        {"id": rng.uuid(), "name": n, "onHold": h, "processingState": s, "response": r, "default": d}
        for n, h, s, r, d in STATUSES
    ]
    lists = {
        "call_types": plain(CALL_TYPES),
        "categories": categories,
        "subcategories": subcategories,
        "closure_codes": plain(CLOSURE_CODES),
        "durations": durations,
        "entry_types": plain(ENTRY_TYPES),
        "impacts": plain(IMPACTS),
        "priorities": priorities,
        "urgencies": plain(URGENCIES),
        "statuses": statuses,
    }
    ctx.records["incident_reference_lists"] = [{"_list": k, "items": v} for k, v in sorted(lists.items())]
    ctx.ref_lists = {k: [{"id": i["id"], "name": i["name"]} for i in v] for k, v in lists.items()}
    ctx.durations = [(duration_refs[i], p * DURATION_SECONDS[t]) for i, (_, p, t) in enumerate(DURATIONS)]
    ctx.archiving_reasons = plain(ARCHIVING_REASONS)
