"""Preflight: everything that must hold in the Intercom workspace before the first record is written.

Intercom rejects records that use attributes, ticket types or custom object types it does not know, and some of
these (teammates, teams, custom object types) can only be created by a person in Intercom's UI. So before loading,
the preflight checks the token, creates what the API can create (data attributes, conversation attributes, ticket
types and their attributes), compares what already exists (a data type that differs cannot be changed by anyone,
so it stops the run), checks the UI-only objects (custom object types and the relationship attributes the map's
links need on contacts, conversations and tickets), and lists precisely what a person must do. It is idempotent: a
second run finds everything and creates nothing. ``run_preflight`` is also the ``provision`` step on its own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import typing as t
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from target_intercom.client import IntercomClient, IntercomError
from target_intercom.directory import Directory

__all__ = [
    "Entry",
    "Preflight",
    "PreflightBlocked",
    "PreflightError",
    "PreflightReport",
    "PreflightSettings",
    "Problem",
    "run_preflight",
]

#: where a person creates or fixes each kind of object in Intercom
PAGES = {
    "contact": "Settings > Data > People",
    "company": "Settings > Data > Companies",
    "conversation": "Settings > Data > Conversations",
    "ticket_type": "Settings > Helpdesk > Tickets",
    "custom_object": "Settings > Data > Custom Objects",
    "team": "Settings > Workspace > Teammates > Teams",
    "admin": "Settings > Workspace > Teammates",
}
DATA_MODELS = ("contact", "company")
#: the map's contact/company data types as Intercom reports them back (``options`` is a string with options)
DATA_TYPE_AS_READ = {"datetime": "date", "options": "string"}
#: custom object attribute formats as Intercom's UI names them
OBJECT_FORMATS = {
    "string": "Text",
    "integer": "Number",
    "decimal": "Decimal",
    "list": "List",
    "boolean": "Boolean",
    "date": "Date",
}
BUILTIN_TICKET_ATTRIBUTES = ("_default_title_", "_default_description_")
#: an external id no migration writes: looking it up tells "type missing" from "instance missing"
PROBE_EXTERNAL_ID = "topdesk2intercom-preflight-probe"
#: tries of one create whose answer was lost (each after checking that the previous one did not happen)
CREATE_ATTEMPTS = 4
_BEARER = re.compile(r"(?i)bearer\s+\S+")


class PreflightError(Exception):
    """The preflight could not run (token rejected, Intercom unreachable): nothing was checked or written."""


class PreflightBlocked(PreflightError):
    """The workspace is not ready: ``problems`` lists every blocking problem, each a sentence saying what to do."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [
            f"Intercom is not ready for this migration: {len(problems)} problem(s); nothing was written. "
            "Fix them, then run again:"
        ]
        lines += [f"  {n}. {p.message}" for n, p in enumerate(problems, 1)]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class PreflightSettings:
    """The settings the preflight reads (a target config mapping converts with :meth:`of`)."""

    fallback_admin_email: str | None = None
    #: UI-only objects (custom object types, teams) may be missing: records needing them are flagged instead
    skip_missing_ui_objects: bool = False
    #: check only: what would be created or updated goes to ``PreflightReport.planned``, nothing is sent
    dry_run: bool = False
    #: the workspace's live check found relationship attributes written and read back but not listed (or listed
    #: without their reference): a relationship the listing lacks is taken as there, not created again or reported
    relationships_unlisted: bool = False

    @classmethod
    def of(cls, value: PreflightSettings | Mapping[str, t.Any] | None) -> PreflightSettings:
        if isinstance(value, PreflightSettings):
            return value
        value = value or {}
        return cls(
            fallback_admin_email=(value.get("fallback_admin_email") or "").strip() or None,
            skip_missing_ui_objects=bool(value.get("skip_missing_ui_objects")),
            dry_run=bool(value.get("dry_run")),
            relationships_unlisted=bool(value.get("relationships_unlisted")),
        )


@dataclass
class Entry:
    """One object the preflight created, updated or found. ``scope`` is the model or the owning ticket type."""

    kind: str
    name: str
    id: str | None = None
    scope: str | None = None
    detail: str = ""


@dataclass
class Problem:
    """Something that stops the run. ``ui_only``: a missing object only a person can create in Intercom's UI, which
    ``skip_missing_ui_objects`` lets the run go on without."""

    kind: str
    name: str
    message: str
    scope: str | None = None
    ui_only: bool = False


@dataclass
class PreflightReport:
    """What the preflight did and found; the writers use ``directory``; the reconciliation report embeds
    :meth:`as_dict` / :meth:`as_markdown`."""

    directory: Directory
    workspace: dict = field(default_factory=dict)
    created: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    existing: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skip_missing_ui_objects: bool = False
    planned: list[Entry] = field(default_factory=list)  # dry run: what a real run would create or update

    @property
    def ticket_type_ids(self) -> dict[str, str]:
        return self.directory.ticket_type_ids

    @property
    def ticket_attribute_ids(self) -> dict[tuple[str, str], str]:
        return self.directory.ticket_attribute_ids

    def blocking(self, skip_ui: bool | None = None) -> list[Problem]:
        skip = self.skip_missing_ui_objects if skip_ui is None else skip_ui
        return [p for p in self.problems if not (skip and p.ui_only)]

    def raise_if_blocking(self, skip_ui: bool | None = None) -> None:
        """Raise :class:`PreflightBlocked` listing every blocking problem at once (so one round of fixes is enough).
        ``skip_ui`` (default: the settings) lets missing UI-only objects through."""
        problems = self.blocking(skip_ui)
        if problems:
            raise PreflightBlocked(problems)
        skipped = [p for p in self.problems if p not in problems]
        if skipped:
            logging.getLogger(__name__).warning(
                "Going on without %d UI-only object(s) (skip_missing_ui_objects): records that need them are flagged",
                len(skipped),
            )

    def as_dict(self) -> dict:
        d = self.directory
        return {
            "workspace": self.workspace,
            "created": [asdict(e) for e in self.created],
            "updated": [asdict(e) for e in self.updated],
            "existing": [asdict(e) for e in self.existing],
            "planned": [asdict(e) for e in self.planned],
            "problems": [asdict(p) for p in self.problems],
            "warnings": list(self.warnings),
            "ticket_type_ids": dict(d.ticket_type_ids),
            "ticket_attribute_ids": [
                {"ticket_type": tt, "name": name, "id": attr_id}
                for (tt, name), attr_id in d.ticket_attribute_ids.items()
            ],
            "fallback_admin_id": d.fallback_admin_id,
            "unmatched_operators": d.unmatched_operators,
            "unmatched_groups": d.unmatched_groups,
            "missing_custom_object_types": sorted(d.missing_custom_object_types),
            "missing_relationships": [{"host": host, "name": name} for host, name in sorted(d.missing_relationships)],
        }

    def as_markdown(self) -> str:
        ws = self.workspace
        lines = ["## Preflight", ""]
        if ws:
            lines += [
                f"Workspace **{ws.get('name')}** (app `{ws.get('app_id')}`, region {ws.get('region')}); token of "
                f"admin {ws.get('admin_name')} <{ws.get('admin_email')}>.",
                "",
            ]
        if self.problems:
            lines += [f"### To do in Intercom before loading ({len(self.problems)})", ""]
            lines += [
                f"- {p.message}"
                + (" *(UI-only; skipped by setting)*" if p.ui_only and self.skip_missing_ui_objects else "")
                for p in self.problems
            ]
            lines.append("")
        for title, entries in (
            ("Created", self.created),
            ("Updated", self.updated),
            ("Would be created or updated (dry run)", self.planned),
            ("Already present", self.existing),
        ):
            if entries:
                lines += [
                    f"### {title} ({len(entries)})",
                    "",
                    "| kind | name | in | id | note |",
                    "|---|---|---|---|---|",
                ]
                lines += [
                    f"| {e.kind} | {_md(e.name)} | {_md(e.scope or '')} | {e.id or ''} | {_md(e.detail)} |"
                    for e in entries
                ]
                lines.append("")
        if self.warnings:
            lines += ["### Warnings", ""] + [f"- {w}" for w in self.warnings] + [""]
        operators, groups = self.directory.unmatched_operators, self.directory.unmatched_groups
        if operators:
            fallback = self.directory.fallback_admin_id
            lines += [
                f"### Operators without an Intercom teammate ({len(operators)})",
                "",
                f"Their work is attributed to the fallback admin ({fallback or 'none'}); invite them in "
                f"{PAGES['admin']} to keep authorship on a re-run.",
                "",
            ]
            lines += [f"- {e}" for e in operators] + [""]
        if groups:
            lines += (
                [
                    f"### Operator groups without an Intercom team ({len(groups)})",
                    "",
                    f"Create them in {PAGES['team']}.",
                    "",
                ]
                + [f"- {g}" for g in groups]
                + [""]
            )
        return "\n".join(lines)


#: conversations (the map defines conversation attributes: calls or changes written as conversations) cannot be
#: written quietly: 2.16 has no ``skip_notifications`` on ``POST /conversations`` nor on a contact's reply
CONVERSATIONS_NOTIFY = (
    "This map writes conversations. Intercom's API cannot create them quietly: each imported conversation and "
    "customer reply can start workflows, Fin, CSAT surveys, auto-replies and e-mails as if it were new. Before the "
    "load, pause the workflows, series and Fin profiles that react to new conversations and turn off CSAT surveys "
    "and conversation e-mails (Settings > Workflows, Fin, Messenger); or load into a workspace that is not live yet; "
    "or write calls as tickets (strategy calls: tickets), which are created quietly."
)


def run_preflight(
    client: IntercomClient,
    definitions: Mapping[str, Iterable[dict]],
    settings: PreflightSettings | Mapping[str, t.Any] | None = None,
    *,
    logger: logging.Logger | t.Any = None,
) -> PreflightReport:
    """Check and provision the workspace for ``definitions`` (the mapper's ``ticket_types``,
    ``attribute_definitions`` and ``custom_object_types`` records; optionally ``required_teams``: team names).
    Raises :class:`PreflightError` only when it cannot run at all; everything else is in the report."""
    return Preflight(client, definitions, settings, logger=logger).run()


# ---------------------------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _redact(text: str) -> str:
    return _BEARER.sub("Bearer [redacted]", text)


def _describe(exc: IntercomError) -> str:
    status = f"{exc.status} " if exc.status else ""
    code = f"{exc.code}: " if exc.code else ""
    return _redact(f"{status}{code}{exc.message}")


def _fold(name: t.Any) -> str:
    return " ".join(str(name).split()).casefold()


def _listing(body: t.Any, key: str = "data") -> list[dict]:
    items = body.get(key) if isinstance(body, dict) else body
    return [i for i in items or [] if isinstance(i, dict)]


def type_attributes(ticket_type: dict) -> list[dict]:
    """A ticket type's attributes in either documented shape: ``ticket_type_attributes.data`` (the 2.16 spec's
    response examples) or ``ticket_type_attributes.ticket_type_attributes`` (its ``ticket_type_attribute_list``
    schema). Reading one shape only would see no attribute in the other, and create them all again."""
    embedded = ticket_type.get("ticket_type_attributes")
    if isinstance(embedded, dict) and "data" not in embedded:
        return _listing(embedded, "ticket_type_attributes")
    return _listing(embedded)


def list_options(attribute: dict) -> list[dict]:
    """A ticket type list attribute's options, ``input_options.list_options`` (``[{id, label, archived}]``, as the
    sandbox and Intercom's UI show them; the 2.16 spec types ``input_options`` as a free object: EVIDENCE.md)."""
    return _listing((attribute.get("input_options") or {}).get("list_options"))


def _options(raw: t.Any) -> list[str]:
    return [str(o) for o in raw] if isinstance(raw, list) else []


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def relationships(object_types: Iterable[tuple[str, Iterable[dict]]]) -> list[dict]:
    """Every relationship of these custom object types ((type name, its relationship definitions)), one per host it
    starts from: ``{"name", "host", "target", "cardinality"}`` (many unless the map says one)."""
    out: list[dict] = []
    for target, rels in object_types:
        for rel in rels:
            hosts = rel.get("from") or []
            out.extend(
                {
                    "name": str(rel.get("name")),
                    "host": str(host),
                    "target": str(target),
                    "cardinality": rel.get("cardinality") or "many",
                }
                for host in ([hosts] if isinstance(hosts, str) else hosts)
            )
    return out


@dataclass
class _ObjectType:
    name: str
    description: str | None = None
    attributes: list[dict] = field(default_factory=list)
    relationships: list[dict] = field(default_factory=list)


class Preflight:
    """One preflight run. Requests are few and sequential: one listing per kind, one create per missing object."""

    def __init__(
        self,
        client: IntercomClient,
        definitions: Mapping[str, Iterable[dict]],
        settings: PreflightSettings | Mapping[str, t.Any] | None = None,
        *,
        logger: logging.Logger | t.Any = None,
    ) -> None:
        self.client = client
        self.settings = PreflightSettings.of(settings)
        self.log = logger or logging.getLogger(__name__)
        self.ticket_types: list[dict] = []
        self.attributes: dict[str, list[dict]] = {}  # model -> definitions (ticket_type ones keep their type)
        self.object_types: dict[str, _ObjectType] = {}
        self.required_teams: list[str] = []
        self.invalid: list[Problem] = []
        self._read_definitions(definitions)
        self.report = PreflightReport(directory=Directory([], [], None))

    # ------------------------------------------------------------------ definitions

    def _read_definitions(self, definitions: Mapping[str, Iterable[dict]]) -> None:
        """Deduplicate (the same definition may arrive twice) and sort the attribute definitions by model."""
        ticket_types: dict[str, dict] = {}
        for record in definitions.get("ticket_types") or []:
            ticket_types[record["name"]] = record
        self.ticket_types = list(ticket_types.values())
        for record in definitions.get("custom_object_types") or []:
            self.object_types[record["name"]] = _ObjectType(
                record["name"],
                record.get("description"),
                [dict(a) for a in record.get("attributes") or []],
                [dict(r) for r in record.get("relationships") or []],
            )
        seen: dict[tuple, dict] = {}
        for record in definitions.get("attribute_definitions") or []:
            model = record.get("model")
            scope = record.get("ticket_type") if model == "ticket_type" else record.get("object_type")
            seen[(model, scope, record.get("name"))] = record
        for (model, scope, name), record in seen.items():
            if model == "custom_object":
                if not scope:
                    self.invalid.append(
                        Problem(
                            "custom_object_attribute",
                            str(name),
                            f"The attribute definition `{name}` (model custom_object) names no `object_type`.",
                            None,
                        )
                    )
                    continue
                object_type = self.object_types.setdefault(scope, _ObjectType(scope))
                if not any(a.get("name") == name for a in object_type.attributes):
                    object_type.attributes.append(dict(record))
            elif model in ("contact", "company", "conversation", "ticket_type"):
                self.attributes.setdefault(model, []).append(record)
            else:
                self.invalid.append(
                    Problem(
                        "attribute",
                        str(name),
                        f"The attribute definition `{name}` has the "
                        f"unknown model {model!r} (contact, company, conversation, ticket_type "
                        "or custom_object).",
                    )
                )
        for item in list(definitions.get("required_teams") or []):
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name.strip() and name not in self.required_teams:
                self.required_teams.append(name)

    # ------------------------------------------------------------------ the run

    def run(self) -> PreflightReport:
        me = self._auth()
        self.report = PreflightReport(
            directory=Directory([], [], None),
            workspace=me,
            skip_missing_ui_objects=self.settings.skip_missing_ui_objects,
        )
        self.report.problems.extend(self.invalid)
        self._admins_and_teams(me)
        for model in DATA_MODELS:
            if self.attributes.get(model):
                self._data_attributes(model)
        if self.attributes.get("conversation"):
            self._conversation_attributes()
            self.report.warnings.append(CONVERSATIONS_NOTIFY)
        if self.ticket_types or self.attributes.get("ticket_type"):
            self._ticket_types()
        if self.object_types:
            self._custom_object_types()
            self._relationships()
        r = self.report
        r.problems.sort(key=lambda p: p.ui_only)  # what only the map or a data fix can solve first
        self.log.info(
            "Preflight: %d created, %d updated, %d already present, %d problem(s), %d warning(s)",
            len(r.created),
            len(r.updated),
            len(r.existing),
            len(r.problems),
            len(r.warnings),
        )
        for problem in r.problems:
            self.log.warning("Preflight problem: %s", problem.message)
        if CONVERSATIONS_NOTIFY in r.warnings:
            self.log.warning(CONVERSATIONS_NOTIFY)
        return r

    def _get(self, path: str, params: dict | None = None, *, key: str = "data") -> list[dict]:
        """A listing the preflight cannot do without: a failure means it cannot run."""
        try:
            return _listing(self.client.request("GET", path, params=params), key)
        except IntercomError as exc:
            msg = f"Intercom preflight: GET {path} failed ({_describe(exc)})"
            raise PreflightError(msg) from None

    def _create(
        self,
        method: str,
        path: str,
        body: dict,
        *,
        kind: str,
        name: str,
        scope: str | None,
        what: str,
        page: str,
        find: t.Callable[[], dict | None] | None = None,
    ) -> dict | None:
        """A create or update; Intercom's refusal (an invalid name, a name taken by another model) becomes a
        problem naming the object, so that all such problems are reported together. A create whose answer was
        lost (5xx, broken connection) is looked up with ``find`` and sent again only if it did not happen.
        A dry run sends nothing: the change is listed in ``planned`` and None returned."""
        if self.settings.dry_run:
            self.report.planned.append(Entry(kind, name, None, scope, what))
            return None
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return self.client.request(method, path, json=body)
            except IntercomError as exc:
                lost = exc.ambiguous or exc.status is None or exc.status >= 500
                if find is not None and lost:
                    found = find()
                    if found is not None:
                        return found
                    if attempt + 1 < CREATE_ATTEMPTS:
                        continue
                if exc.status in (401, 403):
                    hint = "the access token may not write these objects (check the app's permissions in Developer Hub)"
                elif lost:
                    hint = "Intercom did not answer; run again"
                else:
                    hint = f"fix it in {page} or in the map"
                self._problem(kind, name, scope, f"Intercom refused to {what} ({_describe(exc)}): {hint}.")
                return None
        return None

    def _named(self, path: str, name: str, params: dict | None = None, *, key: str = "data") -> dict | None:
        """The live (not archived) object called ``name`` in a listing: the ``find`` of a lost create."""
        return next(
            (o for o in self._get(path, params, key=key) if o.get("name") == name and not o.get("archived")), None
        )

    # ------------------------------------------------------------------ 1. auth

    def _auth(self) -> dict:
        """``GET /me``: proves the token and says which workspace the run is about to change."""
        try:
            me = self.client.request("GET", "/me")
        except IntercomError as exc:
            if exc.status == 401:
                msg = (
                    f"Intercom rejected the access token ({_describe(exc)}). Check the `access_token` setting "
                    "(Developer Hub > your app > Authentication) and `api_url` (US, EU or AU region)."
                )
            elif exc.status == 403:
                msg = f"The access token may not read the workspace ({_describe(exc)}): check the app's permissions."
            else:
                msg = f"Intercom did not answer GET /me ({_describe(exc)}); nothing was checked or written."
            raise PreflightError(msg) from None
        app = me.get("app") or {}
        workspace = {
            "name": app.get("name"),
            "app_id": app.get("id_code"),
            "region": app.get("region"),
            "admin_id": str(me.get("id")) if me.get("id") is not None else None,
            "admin_name": me.get("name"),
            "admin_email": me.get("email"),
        }
        self.log.info(
            "Intercom workspace %r (app %s, region %s), token of admin %s <%s>",
            workspace["name"],
            workspace["app_id"],
            workspace["region"],
            workspace["admin_name"],
            workspace["admin_email"],
        )
        return workspace

    # ------------------------------------------------------------------ 2. admins and teams

    def _admins_and_teams(self, me: dict) -> None:
        admins = self._get("/admins", key="admins")
        teams = self._get("/teams", key="teams")
        directory = Directory(admins, teams, None)
        wanted = self.settings.fallback_admin_email
        if wanted:
            fallback = directory.admin_id_by_email(wanted)
            if fallback is None:
                emails = sorted(a["email"] for a in admins if a.get("email"))
                more = f" (and {len(emails) - 10} more)" if len(emails) > 10 else ""
                self.report.problems.append(
                    Problem(
                        "admin",
                        wanted,
                        f"The fallback admin `{wanted}` (setting `fallback_admin_email`) is not a "
                        f"teammate of this workspace: invite them in {PAGES['admin']}, or set `fallback_admin_email` "
                        "to "
                        f"a teammate's e-mail, e.g. {_code(emails[:10])}{more}.",
                    )
                )
            else:
                self.report.existing.append(Entry("admin", wanted, fallback, detail="fallback admin"))
        else:
            fallback = me.get("admin_id")
            self.report.warnings.append(
                f"`fallback_admin_email` is not set: the token's admin {me.get('admin_name')} "
                f"<{me.get('admin_email')}> stands in for operators without an Intercom teammate."
            )
        directory.fallback_admin_id = fallback
        self.report.directory = directory
        for name in self.required_teams:
            team_id = directory.team_id_by_name(name)
            if team_id is None:
                self.report.problems.append(
                    Problem(
                        "team",
                        name,
                        f"Create the team `{name}` in {PAGES['team']} (teams cannot be created through the API).",
                        ui_only=True,
                    )
                )
            else:
                self.report.existing.append(Entry("team", name, team_id))

    # ------------------------------------------------------------------ 3a. contact and company data attributes

    def _data_attributes(self, model: str) -> None:
        page = PAGES[model]
        existing = self._get("/data_attributes", {"model": model, "include_archived": "true"})
        by_name = {a.get("name"): a for a in existing}
        by_fold = {_fold(a.get("name")): a for a in existing}
        for definition in self.attributes[model]:
            name, want = definition["name"], definition["data_type"]
            options = _options(definition.get("options"))
            found = by_name.get(name)
            if found is None and _fold(name) in by_fold:
                other = by_fold[_fold(name)]["name"]
                self._problem(
                    "data_attribute",
                    name,
                    model,
                    f"The {model} attribute `{name}` exists in Intercom as "
                    f"`{other}` (names differ only in case): use `{other}` in the map.",
                )
                continue
            if found is None:
                body: dict = {"name": name, "model": model, "data_type": want}
                if definition.get("description"):
                    body["description"] = definition["description"]
                if want == "options":
                    body["options"] = [{"value": o} for o in options]
                created = self._create(
                    "POST",
                    "/data_attributes",
                    body,
                    kind="data_attribute",
                    name=name,
                    scope=model,
                    what=f"create the {model} attribute `{name}`",
                    page=page,
                    find=functools.partial(self._named, "/data_attributes", name, {"model": model}),
                )
                if created is not None:
                    self.report.created.append(Entry("data_attribute", name, _id(created), model, want))
                continue
            if not found.get("custom", True):
                self._problem(
                    "data_attribute",
                    name,
                    model,
                    f"`{name}` is a standard Intercom {model} attribute, "
                    "not a custom one: rename the attribute in the map.",
                )
                continue
            if found.get("archived"):
                self._problem(
                    "data_attribute",
                    name,
                    model,
                    f"The {model} attribute `{name}` is archived in "
                    f"Intercom: unarchive it in {page}, or rename the attribute in the map.",
                )
                continue
            have, need = found.get("data_type"), DATA_TYPE_AS_READ.get(want, want)
            if have != need:
                self._problem(
                    "data_attribute",
                    name,
                    model,
                    f"The {model} attribute `{name}` exists in Intercom "
                    f"with data type `{have}`, the map needs `{want}`: Intercom cannot change a data type; "
                    "rename the attribute in the map.",
                )
                continue
            have_options = _options(found.get("options"))
            missing = [o for o in options if o not in have_options]
            entry = Entry("data_attribute", name, _id(found), model, str(have))
            if want == "options" and missing and have_options:
                body = {"options": [{"value": o} for o in have_options + missing]}
                if self._create(
                    "PUT",
                    f"/data_attributes/{found['id']}",
                    body,
                    kind="data_attribute",
                    name=name,
                    scope=model,
                    what=f"add the options {_code(missing)} to the {model} attribute `{name}`",
                    page=page,
                ):
                    entry.detail = f"options added: {', '.join(missing)}"
                    self.report.updated.append(entry)
                continue
            if want == "options" and not have_options:
                self.report.warnings.append(
                    f"The {model} attribute `{name}` is plain text in Intercom, not a list: "
                    "values load, without the map's options to pick from."
                )
            elif want != "options" and have == "string" and have_options:
                self.report.warnings.append(
                    f"The {model} attribute `{name}` is a list in Intercom (options "
                    f"{_code(have_options)}): values outside it may be rejected."
                )
            self.report.existing.append(entry)

    def _problem(self, kind: str, name: str, scope: str | None, message: str, ui_only: bool = False) -> None:
        self.report.problems.append(Problem(kind, name, message, scope, ui_only))

    # ------------------------------------------------------------------ 3b. conversation attributes

    def _conversation_attributes(self) -> None:
        """2.16: ``/conversations/attributes`` (``GET /data_attributes?model=conversation`` answers 422 there)."""
        page = PAGES["conversation"]
        creatable = True
        try:
            existing = _listing(
                self.client.request("GET", "/conversations/attributes", params={"include_archived": "true"})
            )
        except IntercomError as exc:
            if exc.status not in (400, 404):
                raise PreflightError(
                    f"Intercom preflight: GET /conversations/attributes failed ({_describe(exc)})"
                ) from None
            # before 2.16: listed as data attributes, created in the UI only
            existing = self._get("/data_attributes", {"model": "conversation", "include_archived": "true"})
            creatable = False
        for definition in self.attributes["conversation"]:
            name, want = definition["name"], definition["data_type"]
            options = _options(definition.get("options"))
            same = [a for a in existing if a.get("name") == name]
            active = next((a for a in same if not a.get("archived")), None)
            folded = next((a for a in existing if _fold(a.get("name")) == _fold(name) and not a.get("archived")), None)
            if active is None and folded is not None:
                self._problem(
                    "conversation_attribute",
                    name,
                    "conversation",
                    f"The conversation attribute `{name}` "
                    f"exists in Intercom as `{folded['name']}` (names differ only in case): use "
                    f"`{folded['name']}` in the map.",
                )
                continue
            if active is None and same:
                self._problem(
                    "conversation_attribute",
                    name,
                    "conversation",
                    f"The conversation attribute `{name}` "
                    f"is archived in Intercom: unarchive it in {page}, or rename the attribute in the map.",
                )
                continue
            if active is None and not creatable:
                self._problem(
                    "conversation_attribute",
                    name,
                    "conversation",
                    f"Create the conversation attribute "
                    f"`{name}` ({want}{': ' + ', '.join(options) if options else ''}) in {page} (this "
                    "Intercom-Version cannot create conversation attributes; 2.16 can).",
                    ui_only=True,
                )
                continue
            if active is None:
                body: dict = {"name": name, "data_type": want}
                if definition.get("description"):
                    body["description"] = definition["description"]
                if want == "list":
                    body["options"] = [{"label": o} for o in options]
                created = self._create(
                    "POST",
                    "/conversations/attributes",
                    body,
                    kind="conversation_attribute",
                    name=name,
                    scope="conversation",
                    what=f"create the conversation attribute `{name}`",
                    page=page,
                    find=functools.partial(self._named, "/conversations/attributes", name),
                )
                if created is not None:
                    self.report.created.append(
                        Entry("conversation_attribute", name, _id(created), "conversation", want)
                    )
                continue
            if active.get("data_type") != want:
                self._problem(
                    "conversation_attribute",
                    name,
                    "conversation",
                    f"The conversation attribute `{name}` "
                    f"exists in Intercom with data type `{active.get('data_type')}`, the map needs "
                    f"`{want}`: rename the attribute in the map.",
                )
                continue
            entry = Entry("conversation_attribute", name, _id(active), "conversation", want)
            have = [str(o.get("label")) for o in active.get("options") or [] if not o.get("archived")]
            missing = [o for o in options if o not in have]
            if want == "list" and missing:
                added = [
                    o
                    for o in missing
                    if self._create(
                        "POST",
                        f"/conversations/attributes/{active['id']}/options",
                        {"label": o},
                        kind="conversation_attribute",
                        name=name,
                        scope="conversation",
                        what=f"add the option `{o}` to the conversation attribute `{name}`",
                        page=page,
                        find=functools.partial(self._conversation_option, active["id"], o),
                    )
                    is not None
                ]
                if added:
                    entry.detail = f"options added: {', '.join(added)}"
                    self.report.updated.append(entry)
                continue
            self.report.existing.append(entry)

    # ------------------------------------------------------------------ 3c. ticket types and their attributes

    def _ticket_types(self) -> None:
        page = PAGES["ticket_type"]
        existing = self._get("/ticket_types")
        directory = self.report.directory
        wanted = {tt["name"]: tt for tt in self.ticket_types}
        for name in {d.get("ticket_type") for d in self.attributes.get("ticket_type", [])} - set(wanted) - {None}:
            wanted[name] = {"name": name, "category": None}  # an attribute on a type the map did not declare
        for name, definition in wanted.items():
            same = [tt for tt in existing if tt.get("name") == name]
            found = next((tt for tt in same if not tt.get("archived")), None)
            found = found or next(
                (tt for tt in existing if _fold(tt.get("name")) == _fold(name) and not tt.get("archived")), None
            )
            if found is None and same:
                self._problem(
                    "ticket_type",
                    name,
                    None,
                    f"The ticket type `{name}` is archived in Intercom: "
                    f"unarchive it in {page}, or rename the ticket type in the map.",
                )
                continue
            if found is None and definition.get("category") is None:
                self._problem(
                    "ticket_type",
                    name,
                    None,
                    f"The ticket type `{name}` (named by ticket attributes) "
                    f"exists neither in the map's ticket_types nor in Intercom: declare it in the map.",
                )
                continue
            if found is None:
                body = {k: definition[k] for k in ("name", "category", "description", "icon") if definition.get(k)}
                found = self._create(
                    "POST",
                    "/ticket_types",
                    body,
                    kind="ticket_type",
                    name=name,
                    scope=None,
                    what=f"create the ticket type `{name}`",
                    page=page,
                    find=functools.partial(self._named, "/ticket_types", name),
                )
                if found is None:
                    if self.settings.dry_run:  # its attributes would be created with it
                        self.report.planned += [
                            Entry("ticket_type_attribute", d["name"], None, name, f"create the attribute `{d['name']}`")
                            for d in self.attributes.get("ticket_type", [])
                            if d.get("ticket_type") == name
                        ]
                    continue
                self.report.created.append(Entry("ticket_type", name, _id(found), None, found.get("category") or ""))
            else:
                category = definition.get("category")
                if category and found.get("category") != category:
                    self._problem(
                        "ticket_type",
                        name,
                        None,
                        f"The ticket type `{name}` exists in Intercom with "
                        f"category `{found.get('category')}`, the map needs `{category}` (Back-office types "
                        f"refuse the callers' own replies): change it in {page}, or name another ticket "
                        "type in the map.",
                    )
                    continue
                detail = found.get("category") or ""
                if found.get("name") != name:
                    detail += f"; named `{found.get('name')}` in Intercom"
                self.report.existing.append(Entry("ticket_type", name, _id(found), None, detail))
            type_id = _id(found)
            directory.ticket_type_ids[name] = type_id
            states = directory.ticket_state_ids.setdefault(name, {})
            for state in _listing(found.get("ticket_states")):
                if state.get("archived"):
                    continue
                if state.get("category") is not None:  # a state without a category is found by its label only
                    states.setdefault(state["category"], str(state["id"]))
                if state.get("internal_label"):
                    states.setdefault(_fold(state["internal_label"]), str(state["id"]))
            self._ticket_type_attributes(name, found)

    def _ticket_type_attributes(self, type_name: str, ticket_type: dict) -> None:
        page, type_id = PAGES["ticket_type"], _id(ticket_type)
        directory = self.report.directory
        existing = type_attributes(ticket_type)
        for attr in existing:
            if attr.get("name") in BUILTIN_TICKET_ATTRIBUTES:
                directory.ticket_attribute_ids[(type_name, attr["name"])] = _id(attr)
        definitions = [d for d in self.attributes.get("ticket_type", []) if d.get("ticket_type") == type_name]
        for definition in definitions:
            name, want = definition["name"], definition["data_type"]
            options = _options(definition.get("options"))
            where = f"of the ticket type `{type_name}`"
            same = [a for a in existing if a.get("name") == name]
            found = next((a for a in same if not a.get("archived")), None)
            folded = next((a for a in existing if _fold(a.get("name")) == _fold(name)), None)
            if found is None and same:
                self._problem(
                    "ticket_type_attribute",
                    name,
                    type_name,
                    f"The attribute `{name}` {where} is archived "
                    f"in Intercom: unarchive it in {page}, or rename the attribute in the map.",
                )
                continue
            if found is None and folded is not None:
                self._problem(
                    "ticket_type_attribute",
                    name,
                    type_name,
                    f"The attribute `{name}` {where} exists as "
                    f"`{folded['name']}` (names differ only in case): use `{folded['name']}` in the map.",
                )
                continue
            commas = [o for o in options if "," in o]
            if want == "list" and commas:
                self._problem(
                    "ticket_type_attribute",
                    name,
                    type_name,
                    f"The list attribute `{name}` {where} has "
                    f"options with commas ({_code(commas)}), which the API cannot create: remove the "
                    "commas in the map.",
                )
                continue
            if found is None:
                body: dict = {"name": name, "description": definition.get("description") or name, "data_type": want}
                if want == "list":
                    body["list_items"] = ",".join(options)
                found = self._create(
                    "POST",
                    f"/ticket_types/{type_id}/attributes",
                    body,
                    kind="ticket_type_attribute",
                    name=name,
                    scope=type_name,
                    what=f"create the attribute `{name}` {where}",
                    page=page,
                    find=functools.partial(self._ticket_type_attribute, type_id, name),
                )
                if found is not None:
                    directory.ticket_attribute_ids[(type_name, name)] = _id(found)
                    self._remember_options(type_name, found, want, options)
                    self.report.created.append(Entry("ticket_type_attribute", name, _id(found), type_name, want))
                continue
            if found.get("data_type") != want:
                self._problem(
                    "ticket_type_attribute",
                    name,
                    type_name,
                    f"The attribute `{name}` {where} exists in "
                    f"Intercom with data type `{found.get('data_type')}`, the map needs `{want}`: Intercom "
                    "cannot change a data type; rename the attribute in the map.",
                )
                continue
            directory.ticket_attribute_ids[(type_name, name)] = _id(found)
            entry = Entry("ticket_type_attribute", name, _id(found), type_name, want)
            have = [str(o.get("label")) for o in list_options(found) if not o.get("archived")]
            missing = [o for o in options if o not in have]
            if want == "list" and missing:
                body = {"list_items": ",".join(have + missing)}
                updated = self._create(
                    "PUT",
                    f"/ticket_types/{type_id}/attributes/{found['id']}",
                    body,
                    kind="ticket_type_attribute",
                    name=name,
                    scope=type_name,
                    what=f"add the options {_code(missing)} to the attribute `{name}` {where}",
                    page=page,
                )
                if updated:
                    self._remember_options(type_name, updated, want, options)
                    entry.detail = f"options added: {', '.join(missing)}"
                    self.report.updated.append(entry)
                continue
            self._remember_options(type_name, found, want, options)
            self.report.existing.append(entry)
        mapped = {d["name"] for d in definitions} | set(BUILTIN_TICKET_ATTRIBUTES)
        required = [
            a["name"]
            for a in existing
            if a.get("required_to_create") and not a.get("archived") and a.get("name") not in mapped
        ]
        if required:
            self.report.warnings.append(
                f"The ticket type `{type_name}` requires {_code(required)} on create, which "
                f"the map does not fill: make them optional in {page} if creates fail."
            )

    def _remember_options(self, type_name: str, attribute: dict, data_type: str, wanted: list[str]) -> None:
        """A list attribute's option ids by label, for the writer (Intercom takes a list value as an option id);
        options the answer does not show are a warning: their values would be left out."""
        if data_type != "list":
            return
        ids = {
            str(o.get("label")): str(o.get("id"))
            for o in list_options(attribute)
            if not o.get("archived") and o.get("id") is not None
        }
        self.report.directory.ticket_list_options[(type_name, str(attribute.get("name")))] = ids
        unseen = [o for o in wanted if o not in ids]
        if unseen:
            self.report.warnings.append(
                f"The list attribute `{attribute.get('name')}` of the ticket type `{type_name}`: Intercom's answer "
                f"shows no option id for {_code(unseen)}; tickets with these values are written without it."
            )

    def _conversation_option(self, attr_id: t.Any, label: str) -> dict | None:
        try:
            attr = self.client.request("GET", f"/conversations/attributes/{attr_id}")
        except IntercomError as exc:
            raise PreflightError(
                f"Intercom preflight: GET /conversations/attributes/{attr_id} failed ({_describe(exc)})"
            ) from None
        return attr if any(o.get("label") == label for o in attr.get("options") or []) else None

    def _ticket_type_attribute(self, type_id: str, name: str) -> dict | None:
        try:
            ticket_type = self.client.request("GET", f"/ticket_types/{type_id}")
        except IntercomError as exc:
            raise PreflightError(f"Intercom preflight: GET /ticket_types/{type_id} failed ({_describe(exc)})") from None
        return next((a for a in type_attributes(ticket_type) if a.get("name") == name and not a.get("archived")), None)

    # ------------------------------------------------------------------ 4. custom object types (UI-only)

    def _custom_object_types(self) -> None:
        """There is no API listing custom object types: looking up an instance by an external id no migration
        writes answers 404 "Custom object type `X` not found" when the type is missing, and 404 "Custom object
        instance not found" (or the instance) when it exists."""
        directory = self.report.directory
        for object_type in self.object_types.values():
            name = object_type.name
            try:
                self.client.request(
                    "GET", f"/custom_object_instances/{quote(name, safe='')}", params={"external_id": PROBE_EXTERNAL_ID}
                )
                exists = True
            except IntercomError as exc:
                message = (exc.message or "").lower()
                if exc.status == 404 and ("type" in message or "type" in (exc.code or "")):
                    exists = False
                elif exc.status == 404:
                    exists = True
                else:
                    self._problem(
                        "custom_object_type",
                        name,
                        None,
                        f"Could not check the custom object type "
                        f"`{name}` ({_describe(exc)}): the app needs the custom objects permission in "
                        "Developer Hub.",
                    )
                    continue
            if exists:
                directory.custom_object_types.add(name)
                self.report.existing.append(Entry("custom_object_type", name, name))
                wanted = _object_type_spec(object_type)
                if wanted:
                    self.report.warnings.append(
                        f"The API cannot read a custom object type's attributes: check that "
                        f"`{name}` has {wanted} ({PAGES['custom_object']})."
                    )
                continue
            directory.missing_custom_object_types.add(name)
            spec = _object_type_spec(object_type)
            self._problem(
                "custom_object_type",
                name,
                None,
                f"Create the custom object type `{name}` in "
                f"{PAGES['custom_object']}"
                + (f" with {spec}" if spec else "")
                + " (custom object types cannot be created through the API).",
                ui_only=True,
            )

    # ------------------------------------------------------------------ 5. relationship attributes

    def _relationships(self) -> None:
        """Each relationship of the map is an attribute of the model it starts from, with data type ``relationship``
        and ``reference: {type: one|many, object_type_id: <target type>}``. On contacts it is created with the
        object type in the UI and listed by ``GET /data_attributes?model=contact``; on conversations and tickets
        (a ticket is a conversation) it is a conversation attribute, which 2.16 can create
        (``POST /conversations/attributes``); on another object type the API cannot read it (a warning)."""
        directory = self.report.directory
        needed = [
            (r["host"], r["name"], r["target"], r["cardinality"])
            for r in relationships((o.name, o.relationships) for o in self.object_types.values())
        ]
        listings: dict[str, list[dict] | None] = {}
        unreadable: dict[str, list[str]] = {}
        unlisted: dict[str, list[str]] = {}
        for host, name, target, cardinality in needed:
            if target in directory.missing_custom_object_types or host in directory.missing_custom_object_types:
                directory.missing_relationships.add((host, name))  # the missing type's problem lists it
                continue
            if host not in ("contact", "conversation", "ticket"):
                unreadable.setdefault(host, []).append(f"`{name}` (references {cardinality} `{target}`)")
                directory.relationships[(host, name)] = {"target": target, "cardinality": cardinality, "checked": False}
                continue
            model = "contact" if host == "contact" else "conversation"
            if model not in listings:
                listings[model] = self._relationship_listing(model)
            existing = listings[model]
            if existing is None:  # this Intercom-Version cannot list them (a warning says so)
                continue
            where = f"{PAGES['custom_object']} > {target}"
            label = _HOST_LABELS[host]
            found = next((a for a in existing if a.get("name") == name and not a.get("archived")), None)
            if self.settings.relationships_unlisted and (found is None or not found.get("reference")):
                # the listing cannot tell (check intercom: relationship_listing): created if it can be (a refusal
                # says it exists), else taken as there; the link writer reports a link Intercom refuses
                if found is None and model == "conversation" and not self.settings.dry_run:
                    with contextlib.suppress(IntercomError):
                        created = self.client.request(
                            "POST",
                            "/conversations/attributes",
                            json={
                                "name": name,
                                "data_type": "relationship",
                                "reference": {"type": cardinality, "object_type_id": target},
                            },
                        )
                        existing.append(created)
                        self.report.created.append(
                            Entry("relationship", name, _id(created), host, f"references {cardinality} {target}")
                        )
                directory.relationships[(host, name)] = {"target": target, "cardinality": cardinality, "checked": False}
                unlisted.setdefault(host, []).append(f"`{name}` (references {cardinality} `{target}`)")
                continue
            if found is None and model == "conversation":
                body = {
                    "name": name,
                    "data_type": "relationship",
                    "reference": {"type": cardinality, "object_type_id": target},
                }
                found = self._create(
                    "POST",
                    "/conversations/attributes",
                    body,
                    kind="relationship",
                    name=name,
                    scope=host,
                    what=f"create the relationship `{name}` on {label} to `{target}`",
                    page=where,
                    find=functools.partial(self._named, "/conversations/attributes", name),
                )
                if found is None:
                    directory.missing_relationships.add((host, name))
                    continue
                existing.append(found)  # the same attribute serves `from: [ticket, conversation]`
                self.report.created.append(
                    Entry("relationship", name, _id(found), host, f"references {cardinality} {target}")
                )
                directory.relationships[(host, name)] = {"target": target, "cardinality": cardinality, "checked": True}
                continue
            if found is None:
                directory.missing_relationships.add((host, name))
                self._problem(
                    "relationship",
                    name,
                    host,
                    f"In {where}, add the relationship `{name}` to {label} "
                    f"({cardinality}) (relationships are created with the object type in the UI only).",
                    ui_only=True,
                )
                continue
            reference = found.get("reference") or {}
            if found.get("data_type") != "relationship" or reference.get("object_type_id") != target:
                directory.missing_relationships.add((host, name))
                what = (
                    f"a relationship to `{reference.get('object_type_id')}`"
                    if found.get("data_type") == "relationship"
                    else f"a `{found.get('data_type')}` attribute"
                )
                self._problem(
                    "relationship",
                    name,
                    host,
                    f"`{name}` on {label} is {what} in Intercom, the map needs "
                    f"a relationship to `{target}`: a name cannot be reused; rename the relationship in "
                    "the map.",
                )
                continue
            if cardinality == "many" and reference.get("type") == "one":
                directory.missing_relationships.add((host, name))
                self._problem(
                    "relationship",
                    name,
                    host,
                    f"In {where}, the relationship `{name}` on {label} "
                    f"references one `{target}`, the map needs many: turn on 'Allow referencing to "
                    "multiple' for it.",
                    ui_only=True,
                )
                continue
            directory.relationships[(host, name)] = {
                "target": target,
                "cardinality": reference.get("type"),
                "checked": True,
            }
            self.report.existing.append(
                Entry("relationship", name, _id(found), host, f"references {reference.get('type')} {target}")
            )
        for host, items in unlisted.items():
            self.report.warnings.append(
                f"Intercom does not list relationships with their reference (check intercom: "
                f"relationship_listing): on {_HOST_LABELS.get(host, host)}, "
                f"{', '.join(items)} taken as there; a link Intercom refuses is reported."
            )
        for host, items in unreadable.items():
            self.report.warnings.append(
                f"The API cannot read a custom object type's relationships: check that "
                f"`{host}` has the relationships {', '.join(items)} ({PAGES['custom_object']} "
                f"> {host})."
            )

    def _relationship_listing(self, model: str) -> list[dict] | None:
        """Contact data attributes or conversation attributes (relationship ones included); None when this
        Intercom-Version has no conversation attribute listing (then nothing is checked there)."""
        if model == "contact":
            return self._get("/data_attributes", {"model": "contact", "include_archived": "true"})
        try:
            return _listing(
                self.client.request("GET", "/conversations/attributes", params={"include_archived": "true"})
            )
        except IntercomError as exc:
            if exc.status in (400, 404):
                self.report.warnings.append(
                    "This Intercom-Version cannot list conversation attributes: the "
                    "relationships on conversations and tickets were not checked."
                )
                return None
            raise PreflightError(
                f"Intercom preflight: GET /conversations/attributes failed ({_describe(exc)})"
            ) from None


_HOST_LABELS = {"contact": "Contact", "conversation": "Conversation", "ticket": "Ticket"}


def _object_type_spec(object_type: _ObjectType) -> str:
    """'attributes `a` (Text), `b` (List: x, y); relationships `r` on Contact (references many `T`)': what a person
    creates in the UI."""
    parts = []
    attributes = []
    for attr in object_type.attributes:
        fmt = OBJECT_FORMATS.get(str(attr.get("data_type")), str(attr.get("data_type")))
        options = _options(attr.get("options"))
        attributes.append(f"`{attr.get('name')}` ({fmt}{': ' + ', '.join(options) if options else ''})")
    if attributes:
        parts.append("attributes " + ", ".join(attributes))
    relationships = []
    for rel in object_type.relationships:
        hosts = rel.get("from") or []
        hosts = [hosts] if isinstance(hosts, str) else hosts
        hosts = [h.capitalize() if h in ("contact", "conversation", "ticket") else str(h) for h in hosts]
        relationships.append(
            f"`{rel.get('name')}` on {' and '.join(hosts)} (references "
            f"{rel.get('cardinality') or 'many'} `{object_type.name}`)"
        )
    if relationships:
        parts.append("relationships " + ", ".join(relationships))
    return "; ".join(parts)


def _id(obj: dict) -> str:
    return str(obj.get("id"))
