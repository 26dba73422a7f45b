"""The live check of the user's Intercom workspace: what the map relies on that Intercom's 2.16 description does not
document (``sandbox/intercom_sandbox/EVIDENCE.md`` marks each **assumed**), tried by a reversible round trip.

No test here can reach a real workspace, and the strict sandbox agrees with our assumptions by construction; only
the workspace itself can say whether a relationship inside ``ticket_attributes`` is kept, refused or dropped in
silence. So the check writes a few throwaway records whose names say what they are, reads them back, judges each
capability (holds / refused with Intercom's message / ignored in silence), deletes what it wrote and lists what
Intercom cannot delete. Its requests go through the load's client (paced and retried the same way)."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import time
import typing as t
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from target_intercom.client import IntercomClient, IntercomError
from target_intercom.html_page import Page, Section, Table, Text, markdown
from target_intercom.ledger import Ledger
from target_intercom.preflight import PreflightReport, run_preflight
from target_intercom.preflight import relationships as preflight_relationships

HOLDS, REFUSED, IGNORED, NOT_CHECKED, NOT_NEEDED = "holds", "refused", "ignored", "not checked", "not needed"
FAILED = (REFUSED, IGNORED)
TAG = "topdesk2intercom-check"
PLACEHOLDER_DOMAIN = "@placeholder.invalid"  # the map's address for a person without one (topdesk_placeholder_email)
PAST = 1_500_000_000  # 2017-07-14: a created_at no request could stamp by accident
HOSTS = ("contact", "conversation", "ticket")  # relationship hosts that are not custom object types


class CapabilityBlocked(Exception):
    """The workspace lacks a capability the run needs and that has no fallback: nothing was written."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(
            "\n".join(
                [
                    f"Intercom cannot hold this migration as mapped: {len(reasons)} capability(ies) "
                    "missing (topdesk2intercom check intercom); nothing was written:",
                    *[f"  {n}. {r}" for n, r in enumerate(reasons, 1)],
                ]
            )
        )


@dataclass(frozen=True)
class Capability:
    name: str
    what: str  # what the load relies on, in one line
    writes: str  # what the check writes to find out (said before it writes; --dry-run lists it)
    fallback: str | None  # what the load does when the workspace says no (None: the load refuses to start)
    instead: str = ""  # with no fallback: what the user can do (the map rule or strategy to change)
    on_demand: bool = False  # needed only when the ledger says so (CheckResult.blocking's ``needed``)


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "placeholder_emails",
        "contacts of TOPdesk persons without an e-mail get an @placeholder.invalid address",
        "a contact with an @placeholder.invalid e-mail",
        "such persons are written without an e-mail (their TOPdesk id as external_id)",
    ),
    Capability(
        "created_at",
        "tickets, conversations and every kind of part keep their TOPdesk date (created_at)",
        "a ticket and a conversation dated 2017, each with an admin note and a caller's reply dated 2017",
        "records are dated at migration time; a conversation's and each part's TOPdesk date is written first "
        "in its text; reported",
    ),
    Capability(
        "ticket_relationships",
        "tickets link custom object instances in ticket_attributes (e.g. TOPdesk asset, TOPdesk known errors)",
        "one instance of the relationship's type, linked from the throwaway ticket",
        "the linked instances' numbers and names in a text ticket attribute `<relationship> (linked)`",
    ),
    Capability(
        "instance_links",
        "custom object instances link each other in custom_attributes (parent asset, a change's activities)",
        "two instances, one linking the other",
        "the other instances' numbers and names in a text attribute `<relationship> (linked)` of the "
        "instance's type (created in Intercom's UI with the type: provision lists it)",
    ),
    Capability(
        "created_with_links",
        "a contact or a ticket is created with the relationships waiting for it (custom_attributes of "
        "POST /contacts, ticket_attributes of POST /tickets): no request per link",
        "a contact and a ticket created linking one instance of the relationship's type",
        "each link is written after the create, one request per link",
    ),
    Capability(
        "relationship_listing",
        "relationship attributes are listed (data_type relationship, with their reference) by "
        "GET /data_attributes?model=contact and GET /conversations/attributes",
        "nothing more (reads the listings; a relationship is written on the throwaway contact or ticket)",
        "relationships are checked by writing one and reading it back instead of by the listing",
    ),
    Capability(
        "article_translations",
        "a knowledge item (folder) in several languages is one article (collection) with translated_content "
        "per help center locale",
        "a collection and a draft article in it, each with a translation in the help center's second locale",
        "one article per language, in a collection per language",
    ),
    Capability(
        "archived_company_upsert",
        "a company archived by a rollback comes back when a later load upserts its company_id",
        "a company, archived, then upserted again (Intercom keeps archived companies: it stays archived)",
        None,
        "companies a rollback archived cannot come back under their TOPdesk id: restore them in "
        "Intercom, or leave the rolled-back branches out of the map (rule branches -> companies)",
        on_demand=True,
    ),
    Capability(
        "bulk_contacts",
        "bulk_preview: new contacts are created 100 per POST /contacts/bulk (Intercom-Version: Preview) with their "
        "companies inline, the job polled, the contacts found by search",
        "a contact through a bulk job (with the check's company inline when there is one), found by search, deleted",
        "contacts are created one request each, and each company link with one more (as without bulk_preview)",
    ),
    Capability(
        "bulk_created_with_links",
        "bulk_preview: a contact created in bulk carries the relationships waiting for it (custom_attributes of its "
        "POST /contacts/bulk item): no request per link",
        "a contact through a bulk job linking one instance of the relationship's type, read back, deleted",
        "links of contacts created in bulk are written after the create, one request per link",
    ),
)
BY_NAME = {c.name: c for c in CAPABILITIES}


@dataclass
class Verdict:
    name: str
    verdict: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILED


@dataclass
class CheckResult:
    workspace: dict
    map_digest: str
    checked_at: str
    verdicts: list[Verdict] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # what Intercom cannot delete
    requests: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    help_center_locales: list[str] = field(default_factory=list)  # the default first (as the check read them)

    def verdict(self, name: str) -> str | None:
        return next((v.verdict for v in self.verdicts if v.name == name), None)

    @property
    def complete(self) -> bool:
        """Every capability judged (none left unchecked: e.g. the map's ticket type did not exist yet)."""
        return not self.dry_run and all(v.verdict != NOT_CHECKED for v in self.verdicts)

    def lacks(self, name: str) -> bool:
        """The workspace refused or ignored ``name``: the load takes its fallback."""
        return self.verdict(name) in FAILED

    def translation_locales(self) -> list[str]:
        """The help center's locales, the default first, when knowledge in several languages is written as one
        article (or collection) with a translation per locale; empty: one per language (the fallback)."""
        holds = self.verdict("article_translations") == HOLDS and len(self.help_center_locales) > 1
        return list(self.help_center_locales) if holds else []

    def blocking(self, *, needed: Iterable[str] = ()) -> list[str]:
        """Why the load cannot start: a capability the workspace lacks, without a fallback, that the run needs
        (the check judges only what the map needs; ``needed`` adds what the ledger needs, e.g. archived
        companies to bring back). One sentence each, with what to change."""
        wanted = set(needed)
        out = []
        for v in self.verdicts:
            cap = BY_NAME[v.name]
            if v.failed and cap.fallback is None and (not cap.on_demand or v.name in wanted):
                out.append(f"Intercom {v.verdict} `{v.name}` ({cap.what}; it said/showed: {v.detail}): {cap.instead}.")
        return out

    def age_hours(self) -> float:
        return (time.time() - _epoch(self.checked_at)) / 3600

    def as_dict(self) -> dict:
        return {**asdict(self), "verdicts": [asdict(v) for v in self.verdicts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, t.Any]) -> CheckResult:
        return cls(**{**data, "verdicts": [Verdict(**v) for v in data.get("verdicts") or []]})

    def rows(self) -> list[list[str]]:
        """(capability, verdict, what Intercom said or showed, what the load does): the table people read."""
        out = []
        for v in self.verdicts:
            cap = BY_NAME[v.name]
            if v.failed:
                does = cap.fallback or "refuses to start (no fallback)"
            elif v.verdict == HOLDS:
                does = "as the map says"
            else:
                does = "as the map says (unproven)" if v.verdict == NOT_CHECKED else "-"
            out.append([v.name, v.verdict, v.detail, does])
        return out

    def summary(self) -> str:
        """One line: the workspace, the map, when, and what the check cost."""
        ws = self.workspace
        head = (
            "Planned (dry run): nothing was written."
            if self.dry_run
            else f"{self.requests} requests, {self.seconds:.1f} s."
        )
        return (
            f"Workspace **{ws.get('name')}** (app `{ws.get('app_id')}`), map `{self.map_digest}`, "
            f"{self.checked_at}. {head}"
        )

    def title(self) -> str:
        return "Intercom capability check" + (" (dry run)" if self.dry_run else "")

    def sections(self) -> list[Section]:
        """The check's report: its summary, the verdicts and what Intercom could not delete."""
        out: list[Section] = [
            Text("Summary", self.summary()),
            Table("Capabilities", ["capability", "verdict", "Intercom said / showed", "the load"], self.rows()),
        ]
        if self.leftovers:
            out.append(Text("Intercom cannot delete", "\n".join(self.leftovers)))
        return out

    def as_markdown(self) -> str:
        return markdown(Page(self.title(), sections=self.sections()))


def _epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def map_digest(definitions: Mapping[str, Iterable[dict]], *, bulk_preview: bool = False) -> str:
    """What the check's result depends on in the map: its definition records (ticket types, attributes, custom
    object types with their relationships), as a short digest: a result is reused only for the same map. With
    ``bulk_preview`` the check also judges bulk contacts: a result without that verdict is not reused."""
    wanted = {k: list(v) for k, v in definitions.items()}
    if bulk_preview:  # only then: the digests of checks without it stay as they were
        wanted["__bulk_preview__"] = [{"bulk_preview": True}]
    blob = json.dumps(dict(sorted(wanted.items())), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def relationships(definitions: Mapping[str, Iterable[dict]]) -> list[dict]:
    """Every relationship of the map's custom object type records, as the preflight reads them."""
    return preflight_relationships(
        (d["name"], d.get("relationships") or []) for d in definitions.get("custom_object_types") or []
    )


def linked_attribute(relationship: str) -> str:
    """The text attribute that holds a relationship's links where the workspace keeps no such relationship (the
    ticket_relationships and instance_links fallbacks)."""
    return f"{relationship} (linked)"


def with_fallbacks(definitions: Mapping[str, Iterable[dict]], result: CheckResult | None) -> dict[str, list[dict]]:
    """The map's definitions plus what the fallbacks need: a text attribute ``<relationship> (linked)`` on each
    ticket type where tickets cannot hold a relationship (the preflight creates it), and on each custom object type
    whose instances cannot link each other (created in Intercom's UI, as the type: the preflight lists it)."""
    out = {k: [dict(d) for d in v] for k, v in definitions.items()}
    if result is None:
        return out
    rels = relationships(out)
    if result.lacks("ticket_relationships"):
        names = sorted({r["name"] for r in rels if r["host"] == "ticket"})
        out.setdefault("attribute_definitions", [])
        for ticket_type in out.get("ticket_types") or []:
            for name in names:
                attribute = linked_attribute(name)
                out["attribute_definitions"].append(
                    {
                        "source_key": f"attribute:ticket_type:{ticket_type['name']}:{attribute}",
                        "name": attribute,
                        "model": "ticket_type",
                        "data_type": "string",
                        "ticket_type": ticket_type["name"],
                        "description": f"TOPdesk links of `{name}` as text: the workspace keeps no relationship on "
                        "tickets",
                    }
                )
    if result.lacks("instance_links"):
        for object_type in out.get("custom_object_types") or []:
            names = sorted({r["name"] for r in rels if r["host"] == object_type["name"]})
            object_type["attributes"] = [
                *(object_type.get("attributes") or []),
                *({"name": linked_attribute(n), "data_type": "string"} for n in names),
            ]
    return out


def relationship_ids(value: t.Any) -> list[str]:
    """A relationship attribute as read back: a list of ids, or Intercom's ``{"type": "X.list", "instances"|"data":
    [{"id": ...}]}``."""
    if isinstance(value, dict):
        value = value.get("instances") or value.get("data") or []
    if not isinstance(value, list):
        return [] if value in (None, "") else [str(value)]
    return [str(v.get("id")) if isinstance(v, dict) else str(v) for v in value]


def _said(exc: IntercomError) -> str:
    return f"{exc.status} {exc.code + ': ' if exc.code else ''}{exc.message}".strip()


class Check:
    """One round trip. ``directory`` is the preflight's (ticket type ids, which custom object types exist);
    ``definitions`` the map's definition records; ``admin_id`` the admin that authors notes and articles."""

    def __init__(
        self,
        client: IntercomClient,
        definitions: Mapping[str, Iterable[dict]],
        *,
        workspace: dict,
        ticket_type_id: str | None,
        object_types: Iterable[str],
        admin_id: str | None,
        logger: logging.Logger | None = None,
        bulk_preview: bool = False,
    ) -> None:
        self.client = client
        self.bulk_preview = bulk_preview
        self.definitions = {k: list(v) for k, v in definitions.items()}
        self.workspace = workspace
        self.ticket_type_id = ticket_type_id
        self.object_types = set(object_types)
        self.admin_id = admin_id
        self.log = logger or logging.getLogger(__name__)
        # never the same twice: Intercom keeps the archived company of every check under its company_id
        self.stamp = f"{TAG}-{int(time.time())}-{uuid.uuid4().hex[:8]}"
        self.label = f"{TAG}: throwaway record, safe to delete"
        self._undo: list[tuple[str, Callable[[], None]]] = []  # (what, delete), undone newest first
        self.leftovers: list[str] = []
        self.judged: dict[str, Verdict] = {}  # this check's verdicts so far (a later probe may depend on one)
        self.contact: dict | None = None
        self.ticket: dict | None = None
        self.conversation: dict | None = None
        self.instances: dict[str, str] = {}  # object type -> throwaway instance id
        self.locales: list[str] = []  # the help center's, the default first (read by the translations probe)
        self.live_company: dict | None = None  # the archived company probe's, restored (the bulk probe's inline)

    # ------------------------------------------------------------------ running

    def run(self, *, dry_run: bool = False) -> CheckResult:
        started, sent = time.monotonic(), self.client.pacer.requests_sent
        result = CheckResult(
            self.workspace,
            map_digest(self.definitions, bulk_preview=self.bulk_preview),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            dry_run=dry_run,
        )
        try:
            for capability in CAPABILITIES:  # each judged by the method of its name, in this order
                name = capability.name
                if dry_run:
                    result.verdicts.append(Verdict(name, NOT_CHECKED, f"would write {capability.writes}"))
                    continue
                try:
                    verdict = getattr(self, f"_{name}")()
                except IntercomError as exc:  # not an answer about the capability (5xx after retries, 401...)
                    verdict = Verdict(name, NOT_CHECKED, f"Intercom did not answer the check ({_said(exc)})")
                self.log.info(
                    "capability %s: %s%s", name, verdict.verdict, f" ({verdict.detail})" if verdict.detail else ""
                )
                result.verdicts.append(verdict)
                self.judged[name] = verdict
        finally:
            self._clean_up()
        result.leftovers = list(self.leftovers)
        result.help_center_locales = list(self.locales)
        result.requests = self.client.pacer.requests_sent - sent
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _write(self, what: str, method: str, path: str, body: dict, undo: str | None = None) -> dict:
        """A throwaway write; ``undo`` is the path DELETE removes it by (``{id}`` is the answer's id)."""
        try:
            answer = self.client.request(method, path, json=body)
        except IntercomError as exc:
            if exc.ambiguous:  # it may exist, with no id to delete it by
                self.leftovers.append(f"{what}: its answer was lost; if it exists, delete it by hand (named {TAG})")
            raise
        if undo is not None:
            target = undo.format(id=quote(str(answer.get("id")), safe=""))
            self._undo.append((what, lambda: self._delete(target, what, None)))
        return answer

    def _delete(self, path: str, what: str, leftover: str | None) -> None:
        try:
            self.client.request("DELETE", path)
        except IntercomError as exc:
            if exc.status != 404:
                self.leftovers.append(f"{what}: could not be deleted ({_said(exc)})")
                return
        if leftover:
            self.leftovers.append(leftover)

    def _clean_up(self) -> None:
        while self._undo:
            _what, undo = self._undo.pop()
            undo()

    # ------------------------------------------------------------------ the throwaway records others need

    def _ensure_contact(self) -> dict:
        if self.contact is None:
            self.contact = self._write(
                "the check's contact",
                "POST",
                "/contacts",
                {"role": "user", "external_id": self.stamp, "name": self.label},
                undo="/contacts/{id}",
            )
        return self.contact

    def _ensure_ticket(self, created_at: int | None = None) -> dict | None:
        if self.ticket is None and self.ticket_type_id:
            body: dict = {
                "ticket_type_id": self.ticket_type_id,
                "contacts": [{"id": self._ensure_contact()["id"]}],
                "ticket_attributes": {"_default_title_": self.label, "_default_description_": self.label},
                "skip_notifications": True,
            }
            if created_at is not None:
                body["created_at"] = created_at
            self.ticket = self._write("the check's ticket", "POST", "/tickets", body, undo="/tickets/{id}")
        return self.ticket

    def _ensure_instance(self, object_type: str, links: dict | None = None, suffix: str = "") -> dict:
        """A throwaway instance (an upsert by external_id: written again with ``links``, it is the same one)."""
        body: dict = {"external_id": f"{self.stamp}{suffix}", "custom_attributes": dict(links or {})}
        path = f"/custom_object_instances/{quote(object_type, safe='')}"
        instance = self._write(
            f"the check's {object_type} instance",
            "POST",
            path,
            body,
            undo=path + "/{id}" if object_type + suffix not in self.instances else None,
        )
        self.instances[object_type + suffix] = str(instance["id"])
        return instance

    # ------------------------------------------------------------------ the probes

    @staticmethod
    def _or_refusal(name: str, write: Callable[[], t.Any]) -> t.Any:
        """The write's answer, or the verdict ``refused`` with Intercom's words when it answers 4xx (a 5xx after
        the client's retries is no answer about the capability: raised)."""
        try:
            return write()
        except IntercomError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            return Verdict(name, REFUSED, _said(exc))

    def _placeholder_emails(self) -> Verdict:
        email = f"{self.stamp}{PLACEHOLDER_DOMAIN}"
        body = {"role": "user", "external_id": self.stamp, "email": email, "name": self.label}
        contact = self._or_refusal(
            "placeholder_emails",
            lambda: self._write("the check's contact", "POST", "/contacts", body, undo="/contacts/{id}"),
        )
        if isinstance(contact, Verdict):
            return contact
        self.contact = contact
        read = self.client.request("GET", f"/contacts/{self.contact['id']}")
        if str(read.get("email") or "").lower() == email:
            return Verdict("placeholder_emails", HOLDS)
        return Verdict("placeholder_emails", IGNORED, f"the contact reads e-mail {read.get('email')!r}")

    def _created_at(self) -> Verdict:
        """Each kind of record the load dates (ticket, conversation, an admin note and a caller's reply on each):
        kept exactly, refused, or stamped with another time."""
        refused: dict[str, str] = {}
        sent: dict[str, int] = {}

        def attempt(kind: str, at: int, write: Callable[[int | None], t.Any]) -> t.Any:
            sent[kind] = at
            try:
                return write(at)
            except IntercomError as exc:
                if exc.status is None or exc.status >= 500:
                    raise
                refused[kind] = _said(exc)
                return write(None)  # without the date, so the records the other probes need exist

        contact = self._ensure_contact()
        containers = {}
        if self.ticket_type_id:
            containers["ticket"] = attempt("ticket", PAST, self._ensure_ticket)
        containers["conversation"] = attempt("conversation", PAST, lambda at: self._conversation(contact, at))
        for name, container in containers.items():
            for n, (kind, body) in enumerate(
                (
                    (
                        f"{name} note",
                        {"message_type": "note", "type": "admin", "admin_id": self.admin_id, "body": self.label},
                    ),
                    (
                        f"{name} reply",
                        {
                            "message_type": "comment",
                            "type": "user",
                            "intercom_user_id": contact["id"],
                            "body": self.label,
                        },
                    ),
                ),
                start=1,
            ):
                path = f"/{name}s/{container['id']}/reply"

                def reply(at: int | None, b: dict[str, t.Any] = body, p: str = path) -> t.Any:
                    return self.client.request("POST", p, json={**b, **({} if at is None else {"created_at": at})})

                attempt(kind, PAST + 60 * n, reply)
        found: dict[str, t.Any] = {}
        for name, container in containers.items():
            read = self.client.request("GET", f"/{name}s/{container['id']}")
            found[name] = read.get("created_at")
            parts = (read.get(f"{name}_parts") or {}).get(f"{name}_parts") or []
            for kind, part_type in ((f"{name} note", "note"), (f"{name} reply", "comment")):
                dates = [p.get("created_at") for p in parts if p.get("part_type") == part_type]
                found[kind] = sent[kind] if sent[kind] in dates else (dates or [None])[-1]
        if refused:
            return Verdict("created_at", REFUSED, "; ".join(f"{kind}: {said}" for kind, said in refused.items()))
        lost = [f"{kind} reads {found[kind]} (sent {at})" for kind, at in sent.items() if found.get(kind) != at]
        if lost:
            return Verdict("created_at", IGNORED, "; ".join(lost))
        return Verdict("created_at", HOLDS, "kept on " + ", ".join(sent))

    def _conversation(self, contact: dict, created_at: int | None) -> dict:
        body: dict = {"from": {"type": "user", "id": contact["id"]}, "body": self.label}
        if created_at is not None:
            body["created_at"] = created_at
        answer = self.client.request("POST", "/conversations", json=body)
        conversation_id = str(answer.get("conversation_id") or answer.get("id"))
        self._undo.append(
            (
                "the check's conversation",
                lambda: self._delete(
                    f"/conversations/{conversation_id}",
                    "the check's conversation",
                    "the check's conversation: deleted, but Intercom keeps its reporting data",
                ),
            )
        )
        self.conversation = {**answer, "id": conversation_id}
        return self.conversation

    def _relationship(self, name: str, hosts: Callable[[str], bool]) -> dict | Verdict:
        """The map's first relationship from a host ``hosts`` accepts whose types exist in the workspace, or the
        verdict when there is none: not needed (the map has none), not checked (its types do not exist yet)."""
        wanted = [r for r in relationships(self.definitions) if hosts(r["host"])]
        if not wanted:
            return Verdict(name, NOT_NEEDED, "the map has no such relationship")
        usable = [
            r
            for r in wanted
            if r["target"] in self.object_types and (r["host"] in HOSTS or r["host"] in self.object_types)
        ]
        if not usable:
            return Verdict(
                name,
                NOT_CHECKED,
                f"the custom object types of `{wanted[0]['name']}` do not exist in "
                "Intercom yet: create them (provision lists them), then check again",
            )
        return usable[0]

    def _linked(
        self, relationship: dict, host_read: Callable[[], dict], key: str, write: Callable[[dict], t.Any], name: str
    ) -> Verdict:
        target = self._ensure_instance(relationship["target"])
        value = [str(target["id"])] if relationship["cardinality"] == "many" else str(target["id"])
        refused = self._or_refusal(name, lambda: write({relationship["name"]: value}))
        if isinstance(refused, Verdict):
            return refused
        read = (host_read().get(key) or {}).get(relationship["name"])
        if str(target["id"]) in relationship_ids(read):
            return Verdict(name, HOLDS, f"`{relationship['name']}` kept")
        return Verdict(name, IGNORED, f"`{relationship['name']}` reads {read!r} after the write")

    def _ticket_relationships(self) -> Verdict:
        rel = self._relationship("ticket_relationships", lambda host: host == "ticket")
        if isinstance(rel, Verdict):
            return rel
        ticket = self._ensure_ticket()
        if ticket is None:
            return Verdict(
                "ticket_relationships",
                NOT_CHECKED,
                "the map's ticket type does not exist yet: run provision, then the check again",
            )
        return self._linked(
            rel,
            lambda: self.client.request("GET", f"/tickets/{ticket['id']}"),
            "ticket_attributes",
            lambda value: self.client.request(
                "PUT", f"/tickets/{ticket['id']}", json={"ticket_attributes": value, "skip_notifications": True}
            ),
            "ticket_relationships",
        )

    def _instance_links(self) -> Verdict:
        rel = self._relationship("instance_links", lambda host: host not in HOSTS)
        if isinstance(rel, Verdict):
            return rel
        path = f"/custom_object_instances/{quote(rel['host'], safe='')}"
        host: dict = {}

        def write(value: dict) -> None:
            host.update(self._ensure_instance(rel["host"], value, suffix="-host"))

        return self._linked(
            rel,
            lambda: self.client.request("GET", f"{path}/{host['id']}"),
            "custom_attributes",
            write,
            "instance_links",
        )

    def _created_with_links(self) -> Verdict:
        """A throwaway contact and ticket created with a relationship of the map (each host the map links from),
        read back: the relationship must be there."""
        name = "created_with_links"
        verdicts = []
        for host in ("contact", "ticket"):
            if host == "ticket" and self.judged.get("ticket_relationships", Verdict("", HOLDS)).failed:
                continue  # tickets hold no relationship at all here: they link as text, after the create
            rel = self._relationship(name, lambda h, host=host: h == host)  # type: ignore[misc]
            if isinstance(rel, Verdict):
                if rel.verdict != NOT_NEEDED:
                    return rel
                continue
            if host == "ticket" and not self.ticket_type_id:
                return Verdict(name, NOT_CHECKED, "the map's ticket type does not exist yet: run provision, then check")
            verdicts.append(self._created_linked(rel, host))
        failed = [v for v in verdicts if v.failed]
        if failed or not verdicts:
            return failed[0] if failed else Verdict(name, NOT_NEEDED, "the map links no contact or ticket")
        return Verdict(name, HOLDS, "; ".join(v.detail for v in verdicts))

    def _created_linked(self, relationship: dict, host: str) -> Verdict:
        target = self._ensure_instance(relationship["target"])
        value = [str(target["id"])] if relationship["cardinality"] == "many" else str(target["id"])
        links = {relationship["name"]: value}
        if host == "contact":
            body: dict = {"role": "user", "external_id": f"{self.stamp}-linked", "name": self.label}
            path, key, body["custom_attributes"] = "/contacts", "custom_attributes", links
        else:
            body = {
                "ticket_type_id": self.ticket_type_id,
                "contacts": [{"id": self._ensure_contact()["id"]}],
                "ticket_attributes": {"_default_title_": self.label, "_default_description_": self.label, **links},
                "skip_notifications": True,
            }
            path, key = "/tickets", "ticket_attributes"
        created = self._or_refusal(
            "created_with_links",
            lambda: self._write(f"the check's linked {host}", "POST", path, body, undo=path + "/{id}"),
        )
        if isinstance(created, Verdict):
            return created
        read = (self.client.request("GET", f"{path}/{created['id']}").get(key) or {}).get(relationship["name"])
        if str(target["id"]) in relationship_ids(read):
            return Verdict("created_with_links", HOLDS, f"a {host} created with `{relationship['name']}` keeps it")
        return Verdict("created_with_links", IGNORED, f"a {host} created with `{relationship['name']}` reads {read!r}")

    def _relationship_listing(self) -> Verdict:
        rel = self._relationship("relationship_listing", lambda host: host in HOSTS)
        if isinstance(rel, Verdict):
            return rel
        listing = (
            self.client.request("GET", "/data_attributes", params={"model": "contact"})
            if rel["host"] == "contact"
            else self.client.request("GET", "/conversations/attributes")
        )
        found = next((a for a in listing.get("data") or [] if a.get("name") == rel["name"]), None)
        if found is not None and found.get("data_type") == "relationship" and found.get("reference"):
            return Verdict("relationship_listing", HOLDS, f"`{rel['name']}` listed with its reference")
        if found is not None:
            return Verdict(
                "relationship_listing",
                IGNORED,
                f"`{rel['name']}` is listed as data type {found.get('data_type')!r} without its reference",
            )
        contact = self._ensure_contact()
        ticket = self.ticket
        if rel["host"] == "contact":
            written = self._linked(
                rel,
                lambda: self.client.request("GET", f"/contacts/{contact['id']}"),
                "custom_attributes",
                lambda value: self.client.request(
                    "PUT", f"/contacts/{contact['id']}", json={"custom_attributes": value}
                ),
                "relationship_listing",
            )
        elif ticket is not None and rel["host"] == "ticket":
            written = self._linked(
                rel,
                lambda: self.client.request("GET", f"/tickets/{ticket['id']}"),
                "ticket_attributes",
                lambda value: self.client.request("PUT", f"/tickets/{ticket['id']}", json={"ticket_attributes": value}),
                "relationship_listing",
            )
        else:
            return Verdict(
                "relationship_listing",
                NOT_CHECKED,
                f"`{rel['name']}` is not listed, and could not be written to tell a missing one from an unlisted one",
            )
        if written.verdict == HOLDS:
            return Verdict("relationship_listing", REFUSED, f"`{rel['name']}` works when written but is not listed")
        return Verdict(
            "relationship_listing",
            NOT_CHECKED,
            f"`{rel['name']}` is neither listed nor kept when written: create it in Intercom (provision says how)",
        )

    def _article_translations(self) -> Verdict:
        """A collection and an article in it, each with a translation in the help center's second locale: the
        load writes a knowledge folder's and a knowledge item's other languages the same way."""
        centers = self.client.request("GET", "/help_center/help_centers").get("data") or []
        center = next((c for c in centers if c.get("default")), centers[0] if centers else None)
        self.locales = [str(loc) for loc in (center or {}).get("locales") or []]
        if len(self.locales) < 2:
            return Verdict(
                "article_translations",
                NOT_NEEDED,
                "the help center has one locale: one article per language is what Intercom can hold",
            )
        if not self.admin_id:
            return Verdict("article_translations", NOT_CHECKED, "no admin to author the check's article")
        second = self.locales[1]
        title = f"{self.label} ({second})"
        collection = self._or_refusal(
            "article_translations",
            lambda: self._write(
                "the check's collection",
                "POST",
                "/help_center/collections",
                {
                    "name": self.label,
                    "translated_content": {"type": "group_translated_content", second: {"name": title}},
                },
                undo="/help_center/collections/{id}",
            ),
        )
        if isinstance(collection, Verdict):
            return collection
        author_id = int(self.admin_id)
        translation = {
            "title": title,
            "body": f"<p>{self.label}</p>",
            "author_id": author_id,
            "state": "draft",
        }
        article = self._or_refusal(
            "article_translations",
            lambda: self._write(
                "the check's article",
                "POST",
                "/articles",
                {
                    "title": self.label,
                    "author_id": author_id,
                    "state": "draft",
                    "parent_id": int(collection["id"]),
                    "parent_type": "collection",
                    "translated_content": {"type": "article_translated_content", second: translation},
                },
                undo="/articles/{id}",
            ),
        )
        if isinstance(article, Verdict):
            return article
        kept = {
            "collection": self.client.request("GET", f"/help_center/collections/{collection['id']}"),
            "article": self.client.request("GET", f"/articles/{article['id']}"),
        }
        lost = [
            f"the {what}'s {second} translation reads {found!r}"
            for what, read in kept.items()
            if (
                found := ((read.get("translated_content") or {}).get(second) or {}).get(
                    "name" if what == "collection" else "title"
                )
            )
            != title
        ]
        if lost:
            return Verdict("article_translations", IGNORED, "; ".join(lost))
        return Verdict("article_translations", HOLDS, f"{second} translations kept (collection and article)")

    def _archived_company_upsert(self) -> Verdict:
        body = {"company_id": self.stamp, "name": self.label}
        company = self.client.request("POST", "/companies", json=body)
        archived = f"the check's company (company_id {self.stamp}): archived, Intercom keeps archived companies"
        self.client.request("DELETE", f"/companies/{company['id']}")
        again = self._or_refusal(
            "archived_company_upsert", lambda: self.client.request("POST", "/companies", json=body)
        )
        if isinstance(again, Verdict):
            self.leftovers.append(archived)
            return again
        self._undo.append(
            ("the check's company", lambda: self._delete(f"/companies/{again['id']}", "the check's company", archived))
        )
        try:
            read = self.client.request("GET", f"/companies/{again['id']}")
        except IntercomError as exc:
            if exc.status != 404:
                raise
            return Verdict("archived_company_upsert", IGNORED, "the upsert answered, but the company stays archived")
        self.live_company = read  # the bulk probe names it inline (company_id: the stamp)
        if str(read.get("id")) == str(company["id"]):
            return Verdict("archived_company_upsert", HOLDS, "restored with its id")
        return Verdict("archived_company_upsert", HOLDS, "a new company with the same company_id")

    def _bulk_contacts(self) -> Verdict:
        from target_intercom.bulk_check import bulk_contacts  # the bulk probes live apart (they import this module)

        return bulk_contacts(self)

    def _bulk_created_with_links(self) -> Verdict:
        from target_intercom.bulk_check import bulk_created_with_links

        return bulk_created_with_links(self)


def check_workspace(
    client: IntercomClient,
    definitions: Mapping[str, Iterable[dict]],
    preflight: PreflightReport,
    *,
    dry_run: bool = False,
    logger: logging.Logger | None = None,
    bulk_preview: bool = False,
) -> CheckResult:
    """The check in the workspace the preflight (``PreflightReport``) looked at, with what it found: the map's
    first ticket type, the custom object types that exist, the fallback admin (or the token's) as author;
    ``bulk_preview``: bulk contacts are judged too (else not needed)."""
    directory, workspace = preflight.directory, dict(preflight.workspace or {})
    names = [str(d.get("name")) for d in definitions.get("ticket_types") or []]
    ticket_type_id = next((directory.ticket_type_ids[n] for n in names if n in directory.ticket_type_ids), None)
    check = Check(
        client,
        definitions,
        workspace=workspace,
        ticket_type_id=ticket_type_id,
        object_types=directory.custom_object_types,
        admin_id=directory.fallback_admin_id or workspace.get("admin_id"),
        logger=logger,
        bulk_preview=bulk_preview,
    )
    return check.run(dry_run=dry_run)


def needed_by_ledger(ledger: Ledger | None) -> list[str]:
    """Capabilities a run needs because of earlier runs (``on_demand``): companies a rollback archived come back."""
    deleted = ledger.counts().get("companies", {}).get("deleted") if ledger is not None else 0
    return ["archived_company_upsert"] if deleted else []


def preflight_for(
    client: IntercomClient,
    definitions: Mapping[str, Iterable[dict]],
    settings: Mapping[str, t.Any],
    preflight: PreflightReport,
    result: CheckResult | None,
) -> PreflightReport:
    """The preflight the load (and provision) go by once the check is known: ``preflight`` itself, or a new one with
    what the fallbacks need (their text attributes; relationships taken as there when the listing cannot tell)."""
    fallbacks = with_fallbacks(definitions, result)
    unlisted = result is not None and result.lacks("relationship_listing")
    if not unlisted and fallbacks == {k: list(v) for k, v in definitions.items()}:
        return preflight
    return run_preflight(client, fallbacks, {**settings, "relationships_unlisted": unlisted})
