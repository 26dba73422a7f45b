"""Changes (change-1.4.0): simple and extensive changes in the detail shape (`OperatorChangeDetails`), their
activities (`ChangeActivityDetails`) and progress trail (`OperatorProgressTrailEntry`, linked by `_changeId`)."""

from __future__ import annotations

from typing import Any

from . import words
from .common import ANCHOR, DAY, EMPTY_OF_CHANGE, HISTORY_DAYS, HOUR, Context, td

SUBJECTS = (
    "Upgrade {x} to the latest version",
    "Replace {x}",
    "Migrate {x} to the cloud",
    "Decommission {x}",
    "Install security patches on {x}",
    "Extend storage of {x}",
    "New firewall rule for {x}",
    "Roll out {x} to all branches",
    "Change backup schedule of {x}",
)
CHANGE_STATUSES = ("Draft", "Approved", "Scheduled", "Implemented", "Evaluated", "Rejected")
ACTIVITY_STATUSES = ("Not started", "In progress", "Done")
LEVELS = ("Low", "Medium", "High")


def _phase(planned_end: int, end: int | None, authorizer: dict[str, Any]) -> dict[str, Any]:
    return {"plannedEndDate": td(planned_end), "endDate": td(end), "authorizer": authorizer}


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    nl = lambda names: [{"id": rng.uuid(), "name": n} for n in names]  # noqa: E731
    statuses, act_statuses = nl(CHANGE_STATUSES), nl(ACTIVITY_STATUSES)
    impacts, benefits, priorities = nl(LEVELS), nl(LEVELS), nl(("P1", "P2", "P3", "P4"))
    types = nl(("Standard change", "Normal change", "Emergency change"))
    templates = [rng.uuid() for _ in range(4)]
    reject = nl(("Insufficient justification", "Too risky"))
    cats = ctx.cat_subs
    ops = [o for o in ctx.records["operators"] if o["changeActivitiesOperator"] or o["changeCoordinator"]]
    ops = ops or ctx.records["operators"]
    op_group = ctx.op_groups

    changes, activities, trail = [], [], []
    seq: dict[str, int] = {}
    act_seq: dict[str, int] = {}
    created_all = sorted(rng.randint(ANCHOR - HISTORY_DAYS * DAY, ANCHOR - DAY) for _ in range(plan.changes))
    for t0 in created_all:
        cid = rng.uuid()
        ym = td(t0)[2:7].replace("-", "")
        seq[ym] = s = seq.get(ym, 0) + 1
        number = f"C{ym}-{s:03d}"
        extensive = rng.random() < 0.35
        person = rng.choice(ctx.records["persons"])
        coord = rng.choice(ops)
        g = op_group[coord["id"]][0]
        assignee = {
            "id": coord["id"],
            "name": coord["dynamicName"],
            "groupId": g["id"],
            "groupName": g["name"],
            "type": "operator",
        }
        cat, sub, _ = rng.choice(cats)
        target = rng.choice(ctx.ci_assets)["name"] if ctx.ci_assets else "the mail server"
        done = t0 < ANCHOR - 30 * DAY and rng.random() < 0.85
        start = t0 + rng.randint(DAY, 10 * DAY)
        impl = start + rng.randint(HOUR, 5 * DAY)
        closed = impl + rng.randint(HOUR, 3 * DAY)
        last = min(closed if done else t0 + rng.randint(HOUR, 20 * DAY), ANCHOR - 60)
        archived = done and t0 < ANCHOR - 700 * DAY and rng.random() < 0.3
        if extensive:
            pstatus = (
                "extensive_closed" if done else rng.choice(("rfc", "extensive_inProgress", "extensive_notStarted"))
            )
            simple = None
            phases = {
                "prfc": None,
                "rfc": _phase(t0 + 3 * DAY, min(t0 + 2 * DAY, last) if done else None, assignee),
                "progress": _phase(impl, min(impl, last) if done else None, assignee),
                "evaluation": _phase(closed, min(closed, last) if done else None, assignee),
            }
        else:
            pstatus = "simple_closed" if done else rng.choice(("simple_notStarted", "simple_inProgress"))
            phases = None
            simple = {
                "plannedStartDate": td(start),
                "startDate": td(min(start, last)) if done else None,
                "plannedImplementationDate": td(impl),
                "implementationDate": td(min(impl, last)) if done else None,
                "closedDate": td(last) if done else None,
                "assignee": assignee,
                "possibleStatusValues": {
                    "notStarting": statuses[:2],
                    "starting": statuses[2:3],
                    "implementing": statuses[3:4],
                    "closing": statuses[4:5],
                },
            }
        changes.append(
            {
                "id": cid,
                "number": number,
                "briefDescription": rng.choice(SUBJECTS).format(x=target),
                "templateId": rng.choice(templates),
                "type": rng.choice(types),
                "requester": {
                    "id": person["id"],
                    "name": person["dynamicName"],
                    "branch": {"id": person["branch"]["id"], "name": person["branch"]["name"]},
                    "location": person["location"],
                },
                "archived": archived,
                "changeType": "extensive" if extensive else "simple",
                "requestDate": td(t0),
                "creationDate": td(t0),
                "lastModificationDate": td(last),
                "emergencyChange": rng.random() < 0.05,
                "processingStatus": pstatus,
                "costs": {"value": float(rng.randint(0, 50) * 100), "currencyPrefix": "\u20ac", "currencySuffix": ""},
                "possibleActions": [] if done else ["archive"],
                "coordinator": {"id": coord["id"], "name": coord["dynamicName"], "type": "operator"},
                "phases": phases,
                "simple": simple,
                "externalNumber": "",
                "object": None,
                "requests": f"/tas/api/operatorChanges/{cid}/requests",
                "progressTrail": f"/tas/api/operatorChanges/{cid}/progresstrail",
                "impact": rng.choice(impacts),
                "benefit": rng.choice(benefits),
                "priority": rng.choice(priorities),
                "category": cat,
                "subcategory": sub,
                "status": statuses[3 if done else rng.randint(0, 2)],
                "optionalFields1": EMPTY_OF_CHANGE,
                "optionalFields2": EMPTY_OF_CHANGE,
            }
        )
        for k in range(rng.randint(1, 4) if extensive else rng.randint(0, 2)):
            aid = rng.uuid()
            act_seq[ym] = a = act_seq.get(ym, 0) + 1
            op = rng.choice(ops)
            ag = op_group[op["id"]][0]
            auth = extensive and k == 0
            pstart = t0 + rng.randint(HOUR, 6 * DAY)
            pfinal = pstart + rng.randint(HOUR, 4 * DAY)
            fin = done or rng.random() < 0.3
            final = min(pfinal, last) if fin else None
            activities.append(
                {
                    "id": aid,
                    "number": f"A{ym}-{a:03d}",
                    "briefDescription": "Authorize change"
                    if auth
                    else rng.choice(
                        ("Prepare rollback plan", "Execute change", "Test after implementation", "Inform users")
                    ),
                    "plannedChangePhase": "rfc" if auth else "progress",
                    "status": act_statuses[2 if fin else rng.randint(0, 1)],
                    "activityType": "authorization" if auth else "normal",
                    "processingStatus": ("authorized" if auth else "finished") if fin else "ready_to_start",
                    "archived": archived,
                    "creationDate": td(t0),
                    "lastModificationDate": td(final or min(t0 + HOUR, last)),
                    "plannedStartDate": td(pstart),
                    "startDate": td(min(pstart, last)) if fin else None,
                    "resolvedDate": td(final) if fin and not auth else None,
                    "skippedDate": None,
                    "approvedDate": td(final) if fin and auth else None,
                    "rejectedDate": None,
                    "plannedFinalDate": td(pfinal),
                    "finalDate": td(final),
                    "rejectionReason": None if fin or not auth else (reject[0] if rng.random() < 0.1 else None),
                    "category": cat,
                    "subcategory": sub,
                    "assignee": {
                        "id": op["id"],
                        "name": op["dynamicName"],
                        "groupId": ag["id"],
                        "groupName": ag["name"],
                        "type": "operator",
                    },
                    "change": {"id": cid, "number": number},
                    "requests": f"/tas/api/operatorChangeActivities/{aid}/requests",
                    "progressTrail": f"/tas/api/operatorChangeActivities/{aid}/progresstrail",
                    "optionalFields1": EMPTY_OF_CHANGE,
                    "optionalFields2": EMPTY_OF_CHANGE,
                }
            )
        for _ in range(rng.randint(1, 3)):
            ts = rng.randint(t0, max(t0, last))
            text = rng.choice(words.MEMO_SENTENCES)
            trail.append(
                {
                    "id": rng.uuid(),
                    "entryDate": td(ts),
                    "operator": {"id": coord["id"], "name": coord["dynamicName"]},
                    "person": None,
                    "type": "memo",
                    "invisibleForCaller": rng.random() < 0.3,
                    "flag": 0,
                    "memoText": f"<p>{text}</p>",
                    "fileName": None,
                    "downloadUrl": None,
                    "linkUrl": None,
                    "size": None,
                    "title": None,
                    "sender": None,
                    "_changeId": cid,
                }
            )
    ctx.records["changes"] = changes
    ctx.records["change_activities"] = activities
    ctx.records["change_progresstrail"] = trail
