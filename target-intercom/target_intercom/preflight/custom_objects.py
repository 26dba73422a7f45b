"""Custom object types and the relationship attributes the map's links need on contacts, conversations and
tickets: only a person can create these in Intercom's UI, so the preflight checks them and says what to create."""

from __future__ import annotations

import contextlib
import functools
from urllib.parse import quote

from target_intercom.client import IntercomError
from target_intercom.preflight.base import ObjectType, PreflightBase
from target_intercom.preflight.common import (
    OBJECT_FORMATS,
    PAGES,
    PROBE_EXTERNAL_ID,
    describe,
    id_of,
    listing,
    option_names,
    relationships,
)
from target_intercom.preflight.model import Entry, PreflightError


class CustomObjectChecks(PreflightBase):
    """Custom object types and relationship attributes (UI-only)."""

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
                        f"`{name}` ({describe(exc)}): the app needs the custom objects permission in "
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
                            Entry("relationship", name, id_of(created), host, f"references {cardinality} {target}")
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
                    Entry("relationship", name, id_of(found), host, f"references {cardinality} {target}")
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
                Entry("relationship", name, id_of(found), host, f"references {reference.get('type')} {target}")
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
            return listing(self.client.request("GET", "/conversations/attributes", params={"include_archived": "true"}))
        except IntercomError as exc:
            if exc.status in (400, 404):
                self.report.warnings.append(
                    "This Intercom-Version cannot list conversation attributes: the "
                    "relationships on conversations and tickets were not checked."
                )
                return None
            raise PreflightError(
                f"Intercom preflight: GET /conversations/attributes failed ({describe(exc)})"
            ) from None


_HOST_LABELS = {"contact": "Contact", "conversation": "Conversation", "ticket": "Ticket"}


def _object_type_spec(object_type: ObjectType) -> str:
    """'attributes `a` (Text), `b` (List: x, y); relationships `r` on Contact (references many `T`)': what a person
    creates in the UI."""
    parts = []
    attributes = []
    for attr in object_type.attributes:
        fmt = OBJECT_FORMATS.get(str(attr.get("data_type")), str(attr.get("data_type")))
        options = option_names(attr.get("options"))
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
