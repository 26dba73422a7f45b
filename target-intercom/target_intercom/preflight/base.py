"""The state of one preflight run and the requests every check makes: listings it cannot do without, and
creates whose refusal becomes a problem naming the object."""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from target_intercom.client import IntercomClient, IntercomError
from target_intercom.directory import Directory
from target_intercom.preflight.common import CREATE_ATTEMPTS, LOGGER_NAME, describe, listing
from target_intercom.preflight.model import Entry, PreflightError, PreflightReport, PreflightSettings, Problem


@dataclass
class ObjectType:
    """A custom object type the map needs: its own definition merged with the attribute definitions naming it."""

    name: str
    description: str | None = None
    attributes: list[dict] = field(default_factory=list)
    relationships: list[dict] = field(default_factory=list)


class PreflightBase:
    """One preflight run's state and shared requests; the checks of each family of objects are mixins of it
    (target_intercom.preflight.run.Preflight puts them together)."""

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
        self.log = logger or logging.getLogger(LOGGER_NAME)
        self.ticket_types: list[dict] = []
        self.attributes: dict[str, list[dict]] = {}  # model -> definitions (ticket_type ones keep their type)
        self.object_types: dict[str, ObjectType] = {}
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
            self.object_types[record["name"]] = ObjectType(
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
                object_type = self.object_types.setdefault(scope, ObjectType(scope))
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

    def _get(self, path: str, params: dict | None = None, *, key: str = "data") -> list[dict]:
        """A listing the preflight cannot do without: a failure means it cannot run."""
        try:
            return listing(self.client.request("GET", path, params=params), key)
        except IntercomError as exc:
            msg = f"Intercom preflight: GET {path} failed ({describe(exc)})"
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
                self._problem(kind, name, scope, f"Intercom refused to {what} ({describe(exc)}): {hint}.")
                return None
        return None

    def _named(self, path: str, name: str, params: dict | None = None, *, key: str = "data") -> dict | None:
        """The live (not archived) object called ``name`` in a listing: the ``find`` of a lost create."""
        return next(
            (o for o in self._get(path, params, key=key) if o.get("name") == name and not o.get("archived")), None
        )

    def _problem(self, kind: str, name: str, scope: str | None, message: str, ui_only: bool = False) -> None:
        self.report.problems.append(Problem(kind, name, message, scope, ui_only))
