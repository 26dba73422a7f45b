"""Reservations (reservations-2.0.0 `ReservationDto`): meeting rooms and reservable assets (vehicles) booked
by persons, some handled by an operator."""

from __future__ import annotations

from .common import ANCHOR, DAY, EMPTY_OF, HISTORY_DAYS, HOUR, Context, Record, td


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    rooms = [loc for loc in ctx.records["locations"] if loc["reservationManagement"]["reservable"]]
    vehicles = [a for a in ctx.assets_by_tpl.get("Vehicle", []) if not a["archived"]]
    ops = ctx.op_refs
    groups = ctx.group_refs
    processing = [{"id": rng.uuid(), "name": n} for n in ("Requested", "Planned", "Cancelled")]
    out: list[Record] = []
    starts = sorted(rng.randint(ANCHOR - HISTORY_DAYS * DAY, ANCHOR + 60 * DAY) for _ in range(plan.reservations))
    for i, t0 in enumerate(starts):
        rid = rng.uuid()
        p = rng.choice(ctx.records["persons"])
        start = t0 - t0 % (15 * 60)
        end = start + rng.choice((1, 2, 4, 8)) * HOUR
        status = rng.choice(("planned", "planned", "planned", "request", "cancelled"))
        requester = {
            "id": p["id"],
            "branch": {"id": p["branch"]["id"], "name": p["branch"]["name"]},
            "name": p["dynamicName"],
            "email": p["email"],
            "telephone": p["phoneNumber"],
        }
        if vehicles and rng.random() < 0.25:
            v = rng.choice(vehicles)
            fac = {"location": None, "object": None, "asset": {"id": v["id"], "name": v["name"]}}
        else:
            loc = rng.choice(rooms)
            fac = {
                "location": {
                    "id": loc["id"],
                    "name": loc["name"],
                    "roomNumber": loc["roomNumber"],
                    "branch": loc["branch"],
                    "roomType": loc["type"],
                },
                "object": None,
                "asset": None,
            }
        out.append(
            {
                "id": rid,
                "status": status,
                "number": f"R {td(min(t0, ANCHOR))[2:7].replace('-', '')} {i + 1:04d}",
                "briefDescription": rng.choice(
                    ("Team meeting", "Client visit", "Training", "Project kick-off", "Site visit", "Interview")
                ),
                "notes": "",
                "archived": end < ANCHOR - 600 * DAY,
                "requester": requester,
                "reservedForOther": None,
                "operator": rng.choice(ops) if rng.random() < 0.5 else None,
                "operatorGroup": rng.choice(groups) if rng.random() < 0.3 else None,
                "participants": {"persons": [], "visitors": []},
                "numberOfPersons": rng.randint(1, 12),
                "plannedStartDate": td(start),
                "plannedEndDate": td(end),
                "reservedFacilities": [
                    {
                        "id": rng.uuid(),
                        "plannedStartDate": td(start),
                        "plannedEndDate": td(end),
                        "startDateBlock": td(start - 15 * 60),
                        "endDateBlock": td(end + 15 * 60),
                        "issueDate": None,
                        "returnDate": None,
                        **fac,
                        "reservedServices": [],
                    }
                ],
                "event": None,
                "processingStatus": processing[{"request": 0, "planned": 1, "cancelled": 2}[status]],
                "series": None,
                "externalLinks": [],
                "optionalFields1": EMPTY_OF,
                "optionalFields2": EMPTY_OF,
                "modificationDate": td(min(t0 - rng.randint(HOUR, 20 * DAY), ANCHOR - HOUR)),
            }
        )
    ctx.records["reservations"] = out
