"""Calls (incidents) and their children: requests, actions (memos), emails, attachments and the progress trail,
shaped like incident-4.2.6 (`Incident`, `Request`, `Action`, `Attachment`, `ProgressTrail`) and general-1.2.0
(`Email`). Dates spread over ~3 years before the fixed anchor; numbers are `I YYMM NNN` by creation month."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import words
from .common import ANCHOR, DAY, EMPTY_OF, HISTORY_DAYS, HOUR, Context, Record, Rng, filled_optional_fields, td, ui_date

#: The 90-day-window boundary the "old calls" case is measured against.
OLD_LIMIT = ANCHOR - 270 * DAY
HISTORY_START = ANCHOR - HISTORY_DAYS * DAY
BIG = 10 * 1024 * 1024
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HTML_MEMO = (
    '<p>Screenshot of the error the caller sent:</p><p><img src="data:image/png;base64,' + PNG_1PX + '" '
    'alt="screenshot.png"></p><script>alert("pasted from a web page")</script><p>Investigating.</p>'
)


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    n = plan.calls
    old_n = plan.old_calls
    created = sorted(
        [rng.randint(HISTORY_START, OLD_LIMIT - HOUR) for _ in range(old_n)]
        + [rng.randint(OLD_LIMIT + HOUR, ANCHOR - HOUR) for _ in range(n - old_n)]
    )
    old_idx = range(old_n)  # sorted, so the oldest `old_n` calls are the old ones

    def pick(k: int, pool: range) -> set[int]:
        return set(rng.sample(pool, min(k, len(pool))))

    archived = pick(plan.archived_calls, old_idx if old_n >= plan.archived_calls else range(n))
    unregistered = pick(plan.unregistered_callers, range(n))
    empty_of = pick(plan.empty_optional_fields_calls, range(n))
    html = pick(plan.html_memos, range(n))
    big = pick(plan.big_attachments, range(n))

    out: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "incidents",
            "incident_requests",
            "incident_actions",
            "incident_attachments",
            "incident_progresstrail",
            "emails",
        )
    }
    planted: dict[str, list[str]] = {k: [] for k in ("html", "big", "old")}
    b = _Builder(ctx)
    for i, (t0, number) in enumerate(zip(created, call_numbers(created), strict=True)):
        limit = OLD_LIMIT - 60 if i < old_n else ANCHOR - 60
        inc = b.call(
            i,
            number,
            t0,
            limit,
            out,
            planted,
            archived=i in archived,
            unregistered=i in unregistered,
            empty_of=i in empty_of,
            html=i in html,
            big=i in big,
        )
        if i < old_n:
            planted["old"].append(inc["number"])
    ctx.records.update(out)
    ctx.calls = out["incidents"]
    ctx.call_created = created
    ctx.plant("archived_calls", [out["incidents"][i]["id"] for i in sorted(archived)])
    ctx.plant("unregistered_callers", [out["incidents"][i]["id"] for i in sorted(unregistered)])
    ctx.plant("calls_empty_optional_fields", [out["incidents"][i]["id"] for i in sorted(empty_of)])
    ctx.plant("html_memos_script_inline_image", planted["html"])
    ctx.plant("attachments_over_10mb", planted["big"])
    ctx.plant("calls_older_than_270_days", planted["old"], max_ids=50)


def call_numbers(created: list[int]) -> list[str]:
    """`I YYMM NNN` per call (timestamps sorted ascending): sequence per creation month, zero-padded to three
    digits and simply wider (`I 2401 1000`) when a month has more than 999 calls, as TOPdesk does."""
    seq: dict[str, int] = {}
    out = []
    for t0 in created:
        month = _yymm(t0)
        seq[month] = s = seq.get(month, 0) + 1
        out.append(f"I {month} {s:03d}")
    return out


_yymm_cache: dict[int, str] = {}


def _yymm(ts: int) -> str:
    d = ts // DAY
    s = _yymm_cache.get(d)
    if s is None:
        s = _yymm_cache[d] = td(ts)[2:7].replace("-", "")
    return s


@dataclass
class _Timeline:
    """A call's entry kinds (`r`equest, `a`ction, `m`ail, `f`ile attachment; the first is always a request), their
    times, and whether/when it closes and is archived, all squeezed into [t0, limit]."""

    kinds: list[str]
    times: list[int]
    will_close: bool
    end: int
    archive_at: int

    @classmethod
    def draw(
        cls, rng: Rng, t0: int, limit: int, *, html: bool, big: bool, archived: bool, caller_email: str
    ) -> _Timeline:
        n_req = 2 if rng.random() < 0.3 else 1
        n_act = rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4, 5))
        if html and n_act == 0:
            n_act = 1
        n_mail = 1 if caller_email and rng.random() < 0.4 else 0
        n_att = 1 if rng.random() < 0.25 else 0
        if big:
            n_att += 1
        kinds = ["r"] + ["a"] * n_act + ["m"] * n_mail + ["f"] * n_att
        tail = kinds[1:]
        rng.shuffle(tail)
        if n_req == 2:
            tail.insert(rng.randint(0, len(tail)), "r")
        kinds = ["r", *tail]
        times = [t0]
        t = t0
        for _ in kinds[1:]:
            t += rng.randint(300, 2 * DAY)
            times.append(t)
        will_close = rng.random() < (0.97 if t0 < ANCHOR - 20 * DAY else 0.4) or archived
        end = t + rng.randint(600, DAY) if will_close else t
        archive_at = end + rng.randint(DAY, 20 * DAY) if archived else end
        last = max(archive_at, end)
        if last > limit:
            span = last - t0
            room = max(0, limit - t0)
            times = [t0 + (x - t0) * room // span for x in times]
            end = t0 + (end - t0) * room // span
            archive_at = t0 + (archive_at - t0) * room // span
        return cls(kinds, times, will_close, end, archive_at)


@dataclass
class _Entries:
    """What one call's timeline entries share while they are drawn, and what they collect (requests, the texts of
    the call's `request` field, whether the planted HTML memo and big attachment were written)."""

    cid: str
    base: str
    number: str
    brief: str
    caller_name: str
    caller_email: str
    person_ref: Record | None
    creator: Record
    op_ref: Record
    html: bool
    big: bool
    out: dict[str, list[Record]]
    planted: dict[str, list[str]]
    requests: list[Record] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    html_done: bool = False
    atts_done: int = 0


class _Builder:
    """Holds the per-dataset lookup tables so the per-call code stays a flat, fast sequence of draws."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rng: Rng = ctx.rng
        rl = ctx.ref_lists
        self.call_types, self.entry_types = rl["call_types"], rl["entry_types"]
        self.impacts, self.urgencies, self.priorities = rl["impacts"], rl["urgencies"], rl["priorities"]
        self.statuses, self.closure_codes = rl["statuses"], rl["closure_codes"]
        self.persons = ctx.records["persons"]
        self.suppliers = [
            {"id": s["id"], "name": s["name"], "forFirstLine": s["forFirstLine"], "forSecondLine": s["forSecondLine"]}
            for s in ctx.records["suppliers"]
        ]
        self.groups = ctx.group_refs
        self.group_weights = [6] + [1] * (len(self.groups) - 1)
        self.ops = {
            g["id"]: [{"id": o["id"], "status": "operator", "name": o["name"]} for o in ctx.members[g["id"]]]
            for g in self.groups
        }
        self.op_refs = ctx.op_refs
        self.branches = ctx.records["branches"]
        self.loc_refs = {
            b: [{"id": x["id"], "name": x["name"]} for x in locs] for b, locs in ctx.locations_by_branch.items()
        }
        self.objects: dict[str, dict[str, Any]] = {}
        self.tpl_ref = {name: {"id": tid, "name": name} for name, tid in ctx.asset_tpl.items()}
        self.searchlist = [{"id": self.rng.uuid(), "name": n} for n in ("Internal", "External", "Project")]

    def _person(self, t0: int) -> dict[str, Any]:
        """A caller that already existed at `t0` (a few tries, then one of the persons that predate all calls)."""
        created = self.ctx.person_created
        for _ in range(4):
            p = self.rng.choice(self.persons)
            if created[p["id"]] <= t0:
                return p
        return self.rng.choice(self.ctx.early_persons)

    def _object(self, a: dict[str, Any]) -> dict[str, Any]:
        """A call's `object` (old configuration-management shape) for a CI asset; shared per asset."""
        o = self.objects.get(a["id"])
        if o is None:
            branch, loc = self.ctx.branch_of_asset[a["id"]]
            make = a.get("make") or ""
            model = a.get("model") or ""
            mk = self.ctx.make_ids
            o = self.objects[a["id"]] = {
                "id": a["id"],
                "name": a["name"],
                "type": self.tpl_ref[a["@type"]["name"]],
                "make": {"id": mk.setdefault(make, self.rng.uuid()), "name": make} if make else None,
                "model": {"id": mk.setdefault(make + "|" + model, self.rng.uuid()), "name": model} if model else None,
                "branch": {"id": branch["id"], "name": branch["name"]},
                "location": {"id": loc["id"], "name": loc["name"]},
                "specification": a["@@summary"],
                "serialNumber": a.get("serialnumber", ""),
            }
        return o

    def _caller(self, i: int, t0: int, *, unregistered: bool) -> tuple[Record | None, Record, str, str]:
        """The call's person (None for an unregistered caller), its `caller` object, the caller's name and email."""
        rng = self.rng
        if unregistered:
            branch = rng.choice(self.branches)
            name = f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.SURNAMES)[1]} (guest)"
            email = f"guest{i}@visitor.example"
            caller: Record = {
                "id": None,
                "dynamicName": name,
                "email": email,
                "mobileNumber": "",
                "phoneNumber": "",
                "branch": self.ctx.branch_full[branch["id"]],
                "department": None,
                "budgetHolder": None,
            }
            return None, caller, name, email
        person = self._person(t0)
        return person, self.ctx.person_caller[person["id"]], person["dynamicName"], person["email"]

    def _request(self, e: _Entries, eid: str, ts: int, date: str) -> None:
        rng = self.rng
        text = " ".join(rng.sample(words.REQUEST_SENTENCES, 2))
        if not e.requests:
            text = f"{e.brief}. {text}"
        by_person = e.person_ref is not None
        req = {
            "id": eid,
            "memoText": text,
            "plainText": text,
            "flag": 0,
            "entryDate": date,
            "operator": None if by_person else e.creator,
            "person": e.person_ref,
            "creationDate": date,
            "_incidentId": e.cid,
        }
        e.requests.append(req)
        e.texts.append(f"{ui_date(ts)} [GMT +0:00] {e.caller_name if by_person else e.creator['name']}: \n{text}")

    def _action(self, e: _Entries, eid: str, ts: int, date: str) -> None:
        rng = self.rng
        person_ref = e.person_ref
        by_person = person_ref is not None and rng.random() < 0.2
        if e.html and not e.html_done:
            memo, plain, by_person = HTML_MEMO, "Screenshot of the error the caller sent: Investigating.", False
            e.html_done = True
            e.planted["html"].append(eid)
        else:
            s = rng.choice(words.MEMO_SENTENCES)
            memo, plain = f"<p>{s}</p>", s
        who_op = None if by_person else e.op_ref
        inv = (not by_person) and rng.random() < 0.3
        act = {
            "id": eid,
            "memoText": memo,
            "plainText": plain,
            "flag": 0,
            "invisibleForCaller": inv,
            "entryDate": date,
            "operator": who_op,
            "person": person_ref if by_person else None,
            "creationDate": date,
            "_incidentId": e.cid,
        }
        e.out["incident_actions"].append(act)
        e.out["incident_progresstrail"].append(
            {
                "id": eid,
                "memoText": memo,
                "flag": 0,
                "invisibleForCaller": inv,
                "entryDate": date,
                "operator": who_op,
                "person": act["person"],
                "user": who_op or person_ref,
                "plainText": plain,
                "creationDate": date,
                "_incidentId": e.cid,
            }
        )

    def _email(self, e: _Entries, eid: str, ts: int, date: str) -> None:
        rng = self.rng
        op_ref = e.op_ref
        subject = f"Your call {e.number}: {e.brief}"
        sender = f"servicedesk@{words.EMAIL_DOMAIN}"
        e.out["emails"].append(
            {
                "id": eid,
                "sendDate": date,
                "sender": sender,
                "subject": subject,
                "recipient": e.caller_email,
                "replyTo": sender,
                "content": f"<p>Dear {e.caller_name},</p><p>{rng.choice(words.MEMO_SENTENCES)}"
                f"</p><p>Kind regards,<br>{op_ref['name']}</p>",
                "attachments": "",
                "copyToSender": False,
                "deliveryReceipt": False,
                "readReceipt": False,
                "suppressAutoReply": True,
                "priority": "normal",
                "htmlFormat": True,
                "user": op_ref,
                "cc": "",
                "bcc": "",
                "isRemoved": False,
            }
        )
        e.out["incident_progresstrail"].append(
            {
                "id": eid,
                "entryDate": date,
                "operator": op_ref,
                "person": None,
                "user": op_ref,
                "title": subject,
                "sender": sender,
                "_incidentId": e.cid,
            }
        )

    def _attachment(self, e: _Entries, eid: str, ts: int, date: str) -> None:
        rng = self.rng
        person_ref = e.person_ref
        e.atts_done += 1
        if e.big and e.atts_done == 1:
            fname = rng.choice(words.BIG_ATTACHMENT_NAMES)
            size = rng.randint(BIG + 1, 60 * 1024 * 1024)
            e.planted["big"].append(eid)
        else:
            fname, lo, hi = rng.choice(words.ATTACHMENT_NAMES)
            size = rng.randint(lo, hi)
        by_person = person_ref is not None and rng.random() < 0.5
        who_op = None if by_person else e.op_ref
        url = f"{e.base}/attachments/{eid}/download"
        e.out["incident_attachments"].append(
            {
                "id": eid,
                "invisibleForCaller": False,
                "entryDate": date,
                "operator": who_op,
                "person": person_ref if by_person else None,
                "fileName": fname,
                "downloadUrl": url,
                "size": size,
                "description": None,
                "_incidentId": e.cid,
            }
        )
        e.out["incident_progresstrail"].append(
            {
                "id": eid,
                "entryDate": date,
                "operator": who_op,
                "person": person_ref if by_person else None,
                "user": who_op or person_ref,
                "fileName": fname,
                "downloadUrl": url,
                "size": size,
                "_incidentId": e.cid,
            }
        )

    def _processing_status(self, *, archived: bool, will_close: bool, responded: bool) -> Record:
        rng, st = self.rng, self.statuses
        if archived or will_close:
            return st[5]
        if rng.random() < 0.25:
            return st[rng.choice((2, 3))]
        return st[1] if responded else st[0]

    def _ci_asset(self, t0: int) -> Record | None:
        """Sometimes the configuration item the call is about (only one that existed when the call came in)."""
        rng, ctx = self.rng, self.ctx
        if rng.random() < 0.15 and ctx.ci_assets:
            a = rng.choice(ctx.ci_assets)
            if ctx.asset_created[a["id"]] > t0 * 1000:
                return None  # the CI did not exist yet when the call came in
            return a
        return None

    def call(
        self,
        i: int,
        number: str,
        t0: int,
        limit: int,
        out: dict[str, list[Record]],
        planted: dict[str, list[str]],
        *,
        archived: bool,
        unregistered: bool,
        empty_of: bool,
        html: bool,
        big: bool,
    ) -> Record:
        rng = self.rng
        ctx = self.ctx
        cid = rng.uuid()
        base = f"/tas/api/incidents/id/{cid}"
        person, caller, caller_name, caller_email = self._caller(i, t0, unregistered=unregistered)
        branch_full = caller["branch"]
        person_ref = {"id": person["id"], "name": person["dynamicName"]} if person else None
        cat, sub, templates = rng.choice(ctx.cat_subs)
        brief = rng.choice(templates).format(sub=sub["name"])
        group = rng.choices(self.groups, self.group_weights)[0]
        members = self.ops[group["id"]]
        if members and rng.random() < 0.85:
            operator = rng.choice(members)
        else:
            operator = {"id": group["id"], "status": "operatorGroup", "name": group["name"]}
        op_ref = (
            {"id": operator["id"], "name": operator["name"]}
            if operator["status"] == "operator"
            else (rng.choice(self.op_refs))
        )
        creator = rng.choice(self.op_refs)

        line = _Timeline.draw(rng, t0, limit, html=html, big=big, archived=archived, caller_email=caller_email)
        times, will_close, end, archive_at = line.times, line.will_close, line.end, line.archive_at
        entries = _Entries(
            cid=cid,
            base=base,
            number=number,
            brief=brief,
            caller_name=caller_name,
            caller_email=caller_email,
            person_ref=person_ref,
            creator=creator,
            op_ref=op_ref,
            html=html,
            big=big,
            out=out,
            planted=planted,
        )
        write = {"r": self._request, "a": self._action, "m": self._email, "f": self._attachment}
        for kind, ts in zip(line.kinds, times, strict=True):
            eid = rng.uuid()
            write[kind](entries, eid, ts, td(ts))
        out["incident_requests"].extend(entries.requests)

        duration, dur_secs = rng.choice(ctx.durations)
        responded = len(times) > 1 or will_close
        response_ts = times[1] if len(times) > 1 else (end if will_close else None)
        pstatus = self._processing_status(archived=archived, will_close=will_close, responded=responded)
        st = self.statuses
        on_hold = pstatus is st[2] or pstatus is st[3]
        second = (operator["status"] == "operator" and group is not self.groups[0]) or rng.random() < 0.2
        status = ("secondLine" if second else "firstLine") + ("Archived" if archived else "")
        closed_date = td(end) if will_close else None
        modified = archive_at if archived else (end if will_close else times[-1])
        a = self._ci_asset(t0)
        t1, t2 = rng.randint(0, 45), (rng.randint(0, 240) if second else 0)
        rating = rng.randint(1, 5) if will_close and rng.random() < 0.2 else None
        if person is not None:
            locs = self.loc_refs[person["branch"]["id"]]
            caller_location = person["location"] if rng.random() < 0.8 else rng.choice(locs)
        else:
            caller_location = None
        inc = {
            "id": cid,
            "status": status,
            "number": number,
            "request": "\n\n".join(reversed(entries.texts)),
            "requests": f"{base}/requests",
            "action": f"{base}/actions",
            "attachments": f"{base}/attachments",
            "caller": caller,
            "callerBranch": branch_full,
            "callerLocation": caller_location,
            "branchExtraFieldA": None,
            "branchExtraFieldB": None,
            "briefDescription": brief,
            "externalNumber": f"EXT-{rng.randint(10000, 99999)}" if rng.random() < 0.05 else "",
            "category": cat,
            "subcategory": sub,
            "callType": rng.choice(self.call_types),
            "entryType": rng.choice(self.entry_types),
            "object": self._object(a) if a else None,
            "asset": {"id": a["id"]} if a else None,
            "branch": None,
            "location": None,
            "impact": rng.choice(self.impacts),
            "urgency": rng.choice(self.urgencies),
            "priority": rng.choice(self.priorities),
            "duration": duration,
            "actualDuration": round((end - t0) / HOUR, 2) if will_close else 0.0,
            "targetDate": td(t0 + dur_secs),
            "sla": None,
            "responseDate": td(response_ts),
            "onHold": on_hold,
            "onHoldDate": td(times[-1]) if on_hold else None,
            "onHoldDuration": 0,
            "feedbackMessage": "Thanks for the quick help!" if rating and rating >= 4 else "",
            "feedbackRating": rating,
            "operator": operator,
            "operatorGroup": group,
            "supplier": rng.choice(self.suppliers) if rng.random() < 0.05 else None,
            "processingStatus": pstatus,
            "completed": will_close,
            "completedDate": closed_date,
            "closed": will_close,
            "closedDate": closed_date,
            "closureCode": rng.choice(self.closure_codes) if will_close else None,
            "timeSpent": t1 + t2,
            "timeSpentFirstLine": t1,
            "timeSpentSecondLine": t2,
            "timeSpentPartial": 0,
            "timeSpentLinkedPartials": 0,
            "timeSpentSecondLineAndPartials": t2,
            "itemCosts": 0.0,
            "objectCosts": 0.0,
            "costs": round((t1 + t2) * 1.25, 2),
            "escalationStatus": None,
            "escalationReason": None,
            "escalationOperator": None,
            "callDate": td(t0),
            "creator": creator,
            "creationDate": td(t0),
            "modifier": op_ref,
            "modificationDate": td(modified),
            "archivingReason": rng.choice(ctx.archiving_reasons) if archived else None,
            "majorCall": False,
            "majorCallObject": None,
            "publishToSsd": False,
            "monitored": False,
            "responded": responded,
            "expectedTimeSpent": 0,
            "mainIncident": None,
            "partialIncidents": [],
            "optionalFields1": EMPTY_OF if empty_of else filled_optional_fields(rng, t0, self.searchlist),
            "optionalFields2": EMPTY_OF,
            "externalLinks": [],
            "bookmarked": False,
        }
        out["incidents"].append(inc)
        return inc
