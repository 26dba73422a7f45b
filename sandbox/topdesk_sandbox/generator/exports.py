"""CSV exports of what TOPdesk has no REST API for (problems, known errors, events and actions, activity
templates), in the layout of the UI's "Export to CSV": UTF-8 with BOM, `;` delimiter, CRLF, `dd-MM-yyyy HH:mm`.
`exports/README.md` documents the layout; the tap implements exactly that."""

from __future__ import annotations

import csv
import io
from typing import TypedDict

from .common import ANCHOR, DAY, HOUR, Context, Record, ui_date

PROBLEM_COLUMNS = (
    "Number",
    "Brief description",
    "Problem type",
    "Status",
    "Category",
    "Subcategory",
    "Impact",
    "Urgency",
    "Priority",
    "Operator group",
    "Operator",
    "Cause",
    "Workaround",
    "Linked calls",
    "Known error",
    "Created",
    "Created by",
    "Modified",
    "Closed",
    "Closed date",
    "Archived",
)
KNOWN_ERROR_COLUMNS = (
    "Number",
    "Brief description",
    "Problem",
    "Status",
    "Category",
    "Subcategory",
    "Cause",
    "Workaround",
    "Solution",
    "Published in knowledge base",
    "Created",
    "Created by",
    "Modified",
    "Archived",
)
EVENT_COLUMNS = (
    "Name",
    "Module",
    "Event",
    "Conditions",
    "Action type",
    "Action",
    "Active",
    "Created",
    "Created by",
    "Modified",
)
TEMPLATE_COLUMNS = (
    "Name",
    "Module",
    "Brief description",
    "Activity type",
    "Category",
    "Subcategory",
    "Operator group",
    "Operator",
    "Planned duration (hours)",
    "Memo",
    "Created",
    "Created by",
    "Modified",
    "Archived",
)

CAUSES = (
    "Faulty driver update",
    "Expired certificate",
    "Misconfigured DNS",
    "Disk full on file server",
    "Memory leak in application",
    "Wrong group policy",
    "Defective batch of docking stations",
)
WORKAROUNDS = (
    "Roll back the driver",
    "Restart the service",
    "Use the web version",
    "Reconnect to the network",
    "Clear the browser cache",
    "Use a loan device",
)


def _csv(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(columns)
    w.writerows(rows)
    return "\ufeff" + buf.getvalue()


def _yes(b: bool) -> str:
    return "Yes" if b else "No"


class _Problem(TypedDict):
    """A problem while its rows are drawn: the calls it groups, and the known error raised from it (or "")."""

    number: str
    t0: int
    linked: list[Record]
    closed: bool
    cause: str
    workaround: str
    ke: str


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    by_cat: dict[str, list[tuple[int, Record]]] = {}
    for c, t in zip(ctx.calls, ctx.call_created, strict=True):
        by_cat.setdefault(c["category"]["id"], []).append((t, c))
    cat_ids = sorted(by_cat, key=lambda k: by_cat[k][0][1]["number"])
    ops = ctx.op_refs
    groups = ctx.group_refs
    prio = ctx.ref_lists["priorities"]

    # A problem groups a run of similar calls (same category, consecutive in time) and is registered after the
    # first of them.
    picks = []
    for _ in range(plan.problems):
        pool = by_cat[rng.choice(cat_ids)]
        j = rng.randrange(len(pool))
        run = pool[j : j + rng.randint(1, 5)]
        t0 = min(run[0][0] + rng.randint(HOUR, 5 * DAY), ANCHOR - HOUR)
        picks.append((t0, [c for _, c in run]))
    picks.sort(key=lambda p: p[0])
    problems: list[_Problem] = []
    seq: dict[str, int] = {}
    for t0, linked in picks:
        ym = ui_date(t0)[8:10] + ui_date(t0)[3:5]
        seq[ym] = s = seq.get(ym, 0) + 1
        closed = t0 < ANCHOR - 60 * DAY and rng.random() < 0.7
        problems.append(
            {
                "number": f"P {ym} {s:03d}",
                "t0": t0,
                "linked": linked,
                "closed": closed,
                "cause": rng.choice(CAUSES),
                "workaround": rng.choice(WORKAROUNDS),
                "ke": "",
            }
        )
    kes = []
    for k, p in enumerate(sorted(rng.sample(problems, plan.known_errors), key=lambda p: p["number"])):
        number = f"KE {k + 1:04d}"
        p["ke"] = number
        kes.append((number, p))

    prow = []
    for p in problems:
        c = p["linked"][0]
        t0 = p["t0"]
        mod = min(t0 + rng.randint(HOUR, 40 * DAY), ANCHOR - HOUR)
        prow.append(
            [
                p["number"],
                f"Recurring: {c['briefDescription']}",
                rng.choice(("Problem", "Major problem")),
                "Closed" if p["closed"] else rng.choice(("Registered", "Under investigation", "Cause known")),
                c["category"]["name"],
                c["subcategory"]["name"],
                c["impact"]["name"],
                c["urgency"]["name"],
                rng.choice(prio)["name"],
                rng.choice(groups)["name"],
                rng.choice(ops)["name"],
                p["cause"],
                p["workaround"],
                ", ".join(x["number"] for x in p["linked"]),
                p["ke"],
                ui_date(t0),
                rng.choice(ops)["name"],
                ui_date(mod),
                _yes(p["closed"]),
                ui_date(mod) if p["closed"] else "",
                _yes(p["closed"] and t0 < ANCHOR - 700 * DAY),
            ]
        )
    kerow = []
    for number, p in kes:
        c = p["linked"][0]
        t0 = min(p["t0"] + rng.randint(HOUR, 10 * DAY), ANCHOR - HOUR)
        kerow.append(
            [
                number,
                f"Known error: {p['cause']}",
                p["number"],
                "Solved" if p["closed"] else "Workaround available",
                c["category"]["name"],
                c["subcategory"]["name"],
                p["cause"],
                p["workaround"],
                f"Permanent fix deployed for '{p['cause'].lower()}'" if p["closed"] else "",
                _yes(rng.random() < 0.4),
                ui_date(t0),
                rng.choice(ops)["name"],
                ui_date(min(t0 + rng.randint(HOUR, 20 * DAY), ANCHOR - HOUR)),
                "No",
            ]
        )

    events = []
    event_kinds = (
        ("Calls", "Card is created", "Entry type = Email", "Send email", "Confirmation to caller"),
        (
            "Calls",
            "Field changed: Processing status",
            "Processing status = Closed",
            "Send email",
            "Closing notification with satisfaction survey",
        ),
        ("Calls", "Field changed: Priority", "Priority = P1 - Critical", "Action sequence", "Notify on-call via SMS"),
        (
            "Calls",
            "Deadline exceeded: Target date",
            "Operator group = Servicedesk",
            "Send email",
            "Escalation mail to team lead",
        ),
        ("Changes", "Card is created", "Change type = Extensive", "Send email", "Inform change manager"),
        ("Operations management", "Activity is overdue", "", "Send email", "Reminder to operator"),
        ("Assets", "Field changed: Status", "Status = Impacted", "Action sequence", "Create call for impacted CI"),
        ("Knowledge items", "Card is modified", "Status = Published", "Webhook", "Sync to intranet"),
    )
    for i in range(plan.events_actions):
        module, ev, cond, atype, action = event_kinds[i % len(event_kinds)]
        t0 = rng.randint(ANCHOR - 1100 * DAY, ANCHOR - 10 * DAY)
        suffix = f" ({i // len(event_kinds) + 1})" if i >= len(event_kinds) else ""
        events.append(
            [
                f"{action}{suffix}",
                module,
                ev,
                cond,
                atype,
                action,
                _yes(rng.random() < 0.85),
                ui_date(t0),
                rng.choice(ops)["name"],
                ui_date(min(t0 + rng.randint(0, 200) * DAY, ANCHOR - HOUR)),
            ]
        )
    templates = []
    tpl_kinds = (
        ("Change", "Prepare rollback plan", "normal"),
        ("Change", "Authorize change", "authorization"),
        ("Change", "Test after implementation", "normal"),
        ("Operations management", "Restore test", "Check"),
        ("Operations management", "Patch servers", "Preventive"),
        ("Change", "Inform users", "normal"),
    )
    for i in range(plan.activity_templates):
        module, brief, atype = tpl_kinds[i % len(tpl_kinds)]
        cat, sub, _ = rng.choice(ctx.cat_subs)
        t0 = rng.randint(ANCHOR - 1100 * DAY, ANCHOR - 10 * DAY)
        suffix = f" ({i // len(tpl_kinds) + 1})" if i >= len(tpl_kinds) else ""
        templates.append(
            [
                f"Template: {brief}{suffix}",
                module,
                brief,
                atype,
                cat["name"],
                sub["name"],
                rng.choice(groups)["name"],
                "",
                str(rng.choice((1, 2, 4, 8))),
                f"Standard steps for '{brief.lower()}'.\nSee the runbook.",
                ui_date(t0),
                rng.choice(ops)["name"],
                ui_date(min(t0 + rng.randint(0, 100) * DAY, ANCHOR - HOUR)),
                _yes(i % 10 == 9),
            ]
        )

    ctx.exports = {
        "problems.csv": _csv(PROBLEM_COLUMNS, prow),
        "known_errors.csv": _csv(KNOWN_ERROR_COLUMNS, kerow),
        "events_actions.csv": _csv(EVENT_COLUMNS, events),
        "activity_templates.csv": _csv(TEMPLATE_COLUMNS, templates),
        "README.md": README,
    }
    ctx.export_counts = {
        "problems.csv": len(prow),
        "known_errors.csv": len(kerow),
        "events_actions.csv": len(events),
        "activity_templates.csv": len(templates),
    }


def _cols(cols: tuple[str, ...]) -> str:
    return "\n".join(f"{i + 1}. `{c}`" for i, c in enumerate(cols))


README = f"""# TOPdesk UI exports

TOPdesk has no REST API for problems, known errors, events and actions, or activity templates. Operators export
them from the UI (select the cards in an overview, *Export* > *CSV*). The files here follow that layout.

## Common format (all files)

| property | value |
|---|---|
| encoding | UTF-8 **with BOM** (`EF BB BF`), as Excel-friendly exports are |
| delimiter | `;` (semicolon) |
| quoting | `"` around a value only when it contains `;`, `"`, CR or LF; `"` inside is doubled (RFC 4180) |
| line ending | CRLF (`\\r\\n`); a quoted value may contain a bare LF (multi-line memo) |
| header | first row, the column names below, in this order |
| dates | `dd-MM-yyyy HH:mm` in UTC, e.g. `25-01-2024 11:14`; empty when not set |
| booleans | `Yes` / `No` |
| empty value | empty string |
| record order | by `Number` (problems, known errors), otherwise as in the UI list |

## problems.csv

One row per problem.

{_cols(PROBLEM_COLUMNS)}

- `Number`: `P YYMM NNN` (creation month, sequence per month, 3+ digits).
- `Linked calls`: the numbers of the calls (incidents) linked to the problem, joined by `, ` (comma + space), e.g.
  `I 2401 001, I 2403 017`. Every number exists in `incidents.jsonl`.
- `Known error`: the number of the known error raised from this problem (`KE NNNN`), or empty.

## known_errors.csv

One row per known error.

{_cols(KNOWN_ERROR_COLUMNS)}

- `Number`: `KE NNNN`.
- `Problem`: the number of the problem (`P YYMM NNN`) the known error belongs to; that problem's `Known error`
  column names this known error back. Calls reach known errors through their problem.

## events_actions.csv

One row per event/action rule (automation to rebuild; nothing to migrate).

{_cols(EVENT_COLUMNS)}

- `Module`: `Calls`, `Changes`, `Operations management`, `Assets`, `Knowledge items`.
- `Action type`: `Send email`, `Action sequence`, `Webhook`.

## activity_templates.csv

One row per activity template (change activity or operational activity templates).

{_cols(TEMPLATE_COLUMNS)}

- `Module`: `Change` or `Operations management`; `Memo` may span several lines (quoted).
"""
