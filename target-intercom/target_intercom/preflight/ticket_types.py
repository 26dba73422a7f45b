"""Ticket types and their attributes (list options included): created through the API where missing, their
states read for the writers."""

from __future__ import annotations

import functools

from target_intercom.client import IntercomError
from target_intercom.preflight.base import PreflightBase
from target_intercom.preflight.common import (
    BUILTIN_TICKET_ATTRIBUTES,
    PAGES,
    backticked,
    describe,
    fold,
    id_of,
    list_options,
    listing,
    option_names,
    type_attributes,
)
from target_intercom.preflight.model import Entry, PreflightError


class TicketTypeChecks(PreflightBase):
    """Ticket types, their attributes and their list options."""

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
                (tt for tt in existing if fold(tt.get("name")) == fold(name) and not tt.get("archived")), None
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
                self.report.created.append(Entry("ticket_type", name, id_of(found), None, found.get("category") or ""))
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
                self.report.existing.append(Entry("ticket_type", name, id_of(found), None, detail))
            type_id = id_of(found)
            directory.ticket_type_ids[name] = type_id
            states = directory.ticket_state_ids.setdefault(name, {})
            for state in listing(found.get("ticket_states")):
                if state.get("archived"):
                    continue
                if state.get("category") is not None:  # a state without a category is found by its label only
                    states.setdefault(state["category"], str(state["id"]))
                if state.get("internal_label"):
                    states.setdefault(fold(state["internal_label"]), str(state["id"]))
            self._ticket_type_attributes(name, found)

    def _ticket_type_attributes(self, type_name: str, ticket_type: dict) -> None:
        page, type_id = PAGES["ticket_type"], id_of(ticket_type)
        directory = self.report.directory
        existing = type_attributes(ticket_type)
        for attr in existing:
            if attr.get("name") in BUILTIN_TICKET_ATTRIBUTES:
                directory.ticket_attribute_ids[(type_name, attr["name"])] = id_of(attr)
        definitions = [d for d in self.attributes.get("ticket_type", []) if d.get("ticket_type") == type_name]
        for definition in definitions:
            name, want = definition["name"], definition["data_type"]
            options = option_names(definition.get("options"))
            where = f"of the ticket type `{type_name}`"
            same = [a for a in existing if a.get("name") == name]
            found = next((a for a in same if not a.get("archived")), None)
            folded = next((a for a in existing if fold(a.get("name")) == fold(name)), None)
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
                    f"options with commas ({backticked(commas)}), which the API cannot create: remove the "
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
                    directory.ticket_attribute_ids[(type_name, name)] = id_of(found)
                    self._remember_options(type_name, found, want, options)
                    self.report.created.append(Entry("ticket_type_attribute", name, id_of(found), type_name, want))
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
            directory.ticket_attribute_ids[(type_name, name)] = id_of(found)
            entry = Entry("ticket_type_attribute", name, id_of(found), type_name, want)
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
                    what=f"add the options {backticked(missing)} to the attribute `{name}` {where}",
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
                f"The ticket type `{type_name}` requires {backticked(required)} on create, which "
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
                f"shows no option id for {backticked(unseen)}; tickets with these values are written without it."
            )

    def _ticket_type_attribute(self, type_id: str, name: str) -> dict | None:
        try:
            ticket_type = self.client.request("GET", f"/ticket_types/{type_id}")
        except IntercomError as exc:
            raise PreflightError(f"Intercom preflight: GET /ticket_types/{type_id} failed ({describe(exc)})") from None
        return next((a for a in type_attributes(ticket_type) if a.get("name") == name and not a.get("archived")), None)
