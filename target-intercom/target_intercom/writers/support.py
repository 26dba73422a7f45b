"""Helpers the conversation, custom object, help center and note writers share."""

from __future__ import annotations

import hashlib
import html
import re
import threading
import time
import typing as t
from collections import defaultdict
from datetime import UTC, datetime

from target_intercom.client import IntercomError
from target_intercom.writers.base import WriteContext

_TAGS = re.compile(r"<[^>]+>")
_EXISTING_ID = re.compile(r"id=([0-9a-zA-Z]+)")


class CannotDelete(NotImplementedError):
    """Rollback of an entity Intercom's API cannot delete: the rollback lists it (with this message) instead."""


def text_of(body: t.Any) -> str:
    """A body reduced to its words (markup removed, entities decoded, whitespace collapsed): for matching what
    Intercom stored (it re-renders bodies as HTML) against what was sent."""
    if not isinstance(body, str):
        return ""
    return " ".join(html.unescape(_TAGS.sub(" ", body)).split())


def body_digest(body: t.Any) -> str:
    """What a part said, comparable across Intercom's re-rendering: tells two parts of the same second apart."""
    return hashlib.sha1(text_of(body).encode()).hexdigest()


def find_part(ctx: WriteContext, kind: str, parts: t.Iterable[dict], wanted: dict) -> tuple[str | None, bool]:
    """The part a reply made among a ticket's or conversation's parts: (its id, whether its words are the ones sent).

    Matched on what Intercom keeps as sent: the part type, ``created_at`` and author. Intercom re-renders bodies
    (sanitised HTML, whitespace), so the words only tell apart parts of the same type, second and author; when no
    part has the words sent, the one candidate that no other entry of ``kind`` owns (in the ledger) is the part,
    re-rendered. Several such candidates: none (a duplicate is better than another entry's part)."""
    author = str(wanted.get("author_id") or "")
    candidates = [
        p
        for p in parts
        if p.get("part_type") == wanted["message_type"]
        and (wanted.get("created_at") is None or p.get("created_at") == wanted["created_at"])
        and (not author or str((p.get("author") or {}).get("id")) == author)
    ]
    same_words = [p for p in candidates if not wanted.get("body") or body_digest(p.get("body")) == wanted["body"]]
    if same_words:
        return str(same_words[-1]["id"]), True
    owned = ctx.ledger.known_ids(kind, [str(p["id"]) for p in candidates])
    free = [p for p in candidates if str(p["id"]) not in owned]
    return (str(free[0]["id"]), False) if len(free) == 1 else (None, False)


def body_changed(written_as_sent: bool) -> list[dict]:
    """The report's note on a part whose body Intercom stored in other words than sent (it was written once)."""
    return (
        []
        if written_as_sent
        else [
            {
                "category": "body_rerendered",
                "severity": "info",
                "field": "body",
                "reason": "Intercom stored the part's body in other words than were sent (its HTML re-rendering); the "
                "part "
                "was written once and matched by its type, time and author",
            }
        ]
    )


def after_customer_reply(ctx: WriteContext, kind: str, key: str) -> None:
    """A customer's reply reopens a closed ticket or conversation (EVIDENCE.md): the container's final state is
    written again at the end of the run, once, after its last part."""
    entity = ctx.ledger.lookup(kind, key)
    if entity is None:
        return
    final = entity.extra.get("final_state")
    if final and final != {"open": True} and not entity.extra.get("state_pending"):  # (pending already: no write)
        ctx.ledger.set_extra(kind, key, {"state_pending": True, "state_written": None})


def admin_or_fallback(ctx: WriteContext, parents: dict, key: str | None) -> str | None:
    """The admin a source operator matched (from the resolved parents or the ledger), else the fallback admin."""
    return ctx.intercom_id(parents, "admins", key) or ctx.directory.fallback_admin_id


def record_alias(ctx: WriteContext, kind: str, record: dict, intercom_id: str, *, unique: bool = True) -> list[dict]:
    """A second source key for the same entity (``alias_key``, e.g. ``call-number:I 2401 001``: known errors link
    calls by number). Recorded as not created by this run, so a rollback never deletes through it.

    Two records with one alias (two calls with the same number; a folder's language versions) resolve it the same
    way whatever order they are written in, crash or not: to the oldest record (``created_at``, then source key).
    With ``unique``, the record that shares it gets a ``duplicate_key`` issue naming the one it resolves to."""
    alias = record.get("alias_key")
    if not alias or alias == record.get("source_key"):
        return []
    mine = (record.get("created_at") or 0, record["source_key"])
    known = ctx.ledger.lookup(kind, alias)
    theirs = (
        (known.extra.get("created_at") or 0, known.extra.get("alias_of") or "")
        if known and known.status == "written" and known.intercom_id
        else None
    )
    if theirs is None or theirs[1] == mine[1] or mine < theirs:
        ctx.ledger.record_written(
            kind,
            alias,
            intercom_id,
            "",
            ctx.run_id,
            created=False,
            extra={"alias_of": record["source_key"], "created_at": record.get("created_at")},
        )
    if not unique or theirs is None or theirs[1] == mine[1]:
        return []
    winner = min(mine, theirs)[1]
    other = theirs[1]
    return [
        {
            "category": "duplicate_key",
            "severity": "warning",
            "field": "alias_key",
            "reason": f"{alias.split(':', 1)[-1]} is also the number of {other}: links by this number go to "
            f"{winner} (the older one)",
            "detail": {"alias": alias, "also": other, "resolves_to": winner},
        }
    ]


def forget_alias(ctx: WriteContext, kind: str, alias: str | None) -> None:
    if alias:
        ctx.ledger.mark_deleted(kind, alias, ctx.run_id)


def is_missing(exc: IntercomError) -> bool:
    return exc.status == 404


class KeyedLocks:
    """One lock per key (an Intercom entity whose relationship list is read, extended and written back)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]


def timestamp_lost(field: str, reason: str, **detail: t.Any) -> dict:
    return {
        "category": "timestamp_lost",
        "severity": "warning",
        "field": field,
        "reason": reason,
        "detail": {k: v for k, v in detail.items() if v is not None},
    }


#: Intercom sends no notifications for these when asked (2.16), and imported history must not notify anyone
QUIET = {"skip_notifications": True}
DATED_PREFIX = "Written in TOPdesk on"  # a part's TOPdesk date, first in its text where created_at is not kept


def split_attachments(files: list[dict], settings: dict) -> tuple[list[dict], list[dict]]:
    """Files within ``max_attachment_mb`` (their decoded size, the limit inclusive) go up with the part; larger ones
    are named in its body."""
    limit = float(settings.get("max_attachment_mb") or 10) * 1024 * 1024
    small = [f for f in files if decoded_size(f.get("data")) <= limit]
    return small, [f for f in files if f not in small]


def decoded_size(data: str | None) -> int:
    """Bytes a base64 text decodes to (its padding is not data)."""
    text = "".join((data or "").split())
    return len(text) * 3 // 4 - (len(text) - len(text.rstrip("=")))


def caller_files_as_note(kind: str, record: dict) -> bool:
    """A caller's entry with files on a ticket. The 2.16 contact reply to a ticket takes ``attachment_urls`` only
    (``attachment_files`` is on the admin branch of ``POST /tickets/{id}/reply``; Intercom ignores what a branch does
    not document), so it is written as an admin note that names the caller and carries the files, dated like the
    entry. Conversations take files on contact replies too."""
    return (
        kind == "ticket_parts"
        and record.get("author_type") == "user"
        and record.get("message_type") == "comment"
        and bool(record.get("attachment_files"))
    )


def caller_note_body(record: dict) -> str:
    """The body of a caller's entry re-authored as a note: who wrote it first, then what they wrote."""
    name = html.escape(record.get("author_name") or "the caller")
    return f"<p><b>From {name}</b> (caller; written as a note to keep the files):</p>{record.get('body') or ''}"


def undated(ctx: WriteContext, record: dict, body: dict, *, in_text: str | None = None) -> list[dict]:
    """Where the workspace does not keep ``created_at`` (check intercom: created_at), the record goes out without
    it (Intercom dates it now: refused or ignored alike) and, for a message, its TOPdesk date is written first in
    its text (``in_text``: the body key); reported. A search finds it after a crash by the time it was sent
    (``sent_after``, kept with the intent)."""
    if not ctx.lacks("created_at") or record.get("created_at") is None:
        return []
    body.pop("created_at", None)
    stamp = datetime.fromtimestamp(int(record["created_at"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
    if in_text:
        body[in_text] = f"<p><i>{DATED_PREFIX} {stamp}</i></p>{body.get(in_text) or ''}"
    return [
        {
            "category": "fallback",
            "severity": "info",
            "field": "created_at",
            "reason": "dated at migration time"
            + (", its TOPdesk date first in its text" if in_text else "")
            + " (the workspace does not keep created_at: check intercom)",
            "detail": {"created_at": record["created_at"], "topdesk_date": stamp},
        }
    ]


def created_when(wanted: dict) -> dict | None:
    """The search condition on ``created_at`` that finds a create recorded as an intent: the date sent, or (sent
    undated) after the time it was sent; None when neither is known."""
    if wanted.get("created_at") is not None:
        return {"field": "created_at", "operator": "=", "value": wanted["created_at"]}
    if wanted.get("sent_after") is not None:  # Intercom dated it when it arrived
        return {"field": "created_at", "operator": ">", "value": wanted["sent_after"]}
    return None


def sent_after() -> int:
    """A lower bound of the ``created_at`` Intercom gives a record sent from now on (the settle of an undated one)."""
    return int(time.time()) - 5


def reply_body(ctx: WriteContext, kind: str, record: dict, parents: dict) -> tuple[dict, list[dict]]:
    """The body of a ticket or conversation reply: a contact's comment when its author is a known contact, else an
    admin's comment or note (a caller's entry without a contact, or with files on a ticket, is kept as a note);
    files within the size limit."""
    refs = record.get("refs") or {}
    author = refs.get("author")
    reauthored = caller_files_as_note(kind, record)
    body: dict = {"body": caller_note_body(record) if reauthored else record.get("body") or ""}
    if record.get("created_at") is not None:
        body["created_at"] = record["created_at"]
    issues = undated(ctx, record, body, in_text="body")
    files, too_big = split_attachments(record.get("attachment_files") or [], ctx.settings)
    if files:
        body["attachment_files"] = files
    if too_big:
        limit = ctx.settings.get("max_attachment_mb") or 10
        names = ", ".join(f["name"] for f in too_big)
        body["body"] += f"<p>Not uploaded (over {limit} MB): {names}</p>"
        issues += [
            {
                "category": "attachment_not_uploaded",
                "severity": "warning",
                "field": "attachment_files",
                "reason": f"file over {limit} MB: named in the part's body, it stays in TOPdesk",
                "detail": {"file": f["name"], "bytes": decoded_size(f.get("data"))},
            }
            for f in too_big
        ]
    if reauthored:
        issues.append(
            {
                "category": "reauthored_as_note",
                "severity": "info",
                "field": "attachment_files",
                "reason": "a caller's entry with files on a ticket is an admin note naming the caller (Intercom "
                "takes files on a contact's ticket reply only as public URLs)",
                "detail": {
                    "caller": record.get("author_name") or author,
                    "files": [f["name"] for f in record.get("attachment_files") or []],
                },
            }
        )
    elif record.get("author_type") == "user" and record.get("message_type") == "comment":
        contact_id = ctx.intercom_id(parents, "contacts", author)
        if contact_id:
            return {**body, "type": "user", "message_type": "comment", "intercom_user_id": contact_id}, issues
    admin_id = admin_or_fallback(ctx, parents, author)
    if not admin_id:
        raise ValueError("an admin part needs an admin: the author matched none and no fallback admin is set")
    message_type = record.get("message_type") or "comment"
    if record.get("author_type") == "user":  # a caller's entry without a contact, or with files: kept as a note
        message_type = "note"
    return {**body, "type": "admin", "admin_id": admin_id, "message_type": message_type, **QUIET}, issues


def existing_id(exc: IntercomError) -> str | None:
    """The id in a 409's message ("... already exists with id=<id>"): the contact Intercom already has."""
    found = _EXISTING_ID.search(exc.message or "") if exc.status == 409 else None
    return found.group(1) if found else None


def contact_for(ctx: WriteContext, record: dict, parents: dict) -> str:
    """The contact a ticket or conversation belongs to: the person's contact, or for an unregistered caller (an
    e-mail, no TOPdesk person) a user contact with that e-mail, created once (ledger key ``email:<address>``, so a
    rollback removes it) or adopted when Intercom already has it (409)."""
    contact_id = ctx.intercom_id(parents, "contacts", (record.get("refs") or {}).get("contact"))
    if contact_id:
        return contact_id
    email = (record.get("contact_email") or "").strip().lower()
    if not email:
        raise ValueError("neither a contact nor a contact e-mail")
    key = f"email:{email}"
    known = ctx.ledger.lookup("contacts", key)
    if known and known.status == "written" and known.intercom_id:
        return known.intercom_id
    try:
        created = ctx.client.request("POST", "/contacts", json={"role": "user", "email": email}, idempotent=True)
        contact_id, was_created = str(created["id"]), True
    except IntercomError as exc:
        contact_id, was_created = existing_id(exc), False
        if not contact_id:
            raise
    ctx.ledger.record_written(
        "contacts", key, contact_id, "", ctx.run_id, created=was_created, extra={"email_only": True}
    )
    return contact_id
