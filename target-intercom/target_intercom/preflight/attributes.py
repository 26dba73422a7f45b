"""Contact, company and conversation attributes: created through the API where missing; a data type that
differs cannot be changed by anyone, so it stops the run."""

from __future__ import annotations

import functools
import typing as t

from target_intercom.client import IntercomError
from target_intercom.preflight.base import PreflightBase
from target_intercom.preflight.common import (
    DATA_TYPE_AS_READ,
    PAGES,
    backticked,
    describe,
    fold,
    id_of,
    listing,
    option_names,
)
from target_intercom.preflight.model import Entry, PreflightError


class AttributeChecks(PreflightBase):
    """Data attributes of contacts and companies, conversation attributes and their options."""

    # ------------------------------------------------------------------ 3a. contact and company data attributes

    def _data_attributes(self, model: str) -> None:
        page = PAGES[model]
        existing = self._get("/data_attributes", {"model": model, "include_archived": "true"})
        by_name = {a.get("name"): a for a in existing}
        by_fold = {fold(a.get("name")): a for a in existing}
        for definition in self.attributes[model]:
            name, want = definition["name"], definition["data_type"]
            options = option_names(definition.get("options"))
            found = by_name.get(name)
            if found is None and fold(name) in by_fold:
                other = by_fold[fold(name)]["name"]
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
                    self.report.created.append(Entry("data_attribute", name, id_of(created), model, want))
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
            have_options = option_names(found.get("options"))
            missing = [o for o in options if o not in have_options]
            entry = Entry("data_attribute", name, id_of(found), model, str(have))
            if want == "options" and missing and have_options:
                body = {"options": [{"value": o} for o in have_options + missing]}
                if self._create(
                    "PUT",
                    f"/data_attributes/{found['id']}",
                    body,
                    kind="data_attribute",
                    name=name,
                    scope=model,
                    what=f"add the options {backticked(missing)} to the {model} attribute `{name}`",
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
                    f"{backticked(have_options)}): values outside it may be rejected."
                )
            self.report.existing.append(entry)

    # ------------------------------------------------------------------ 3b. conversation attributes

    def _conversation_attributes(self) -> None:
        """2.16: ``/conversations/attributes`` (``GET /data_attributes?model=conversation`` answers 422 there)."""
        page = PAGES["conversation"]
        creatable = True
        try:
            existing = listing(
                self.client.request("GET", "/conversations/attributes", params={"include_archived": "true"})
            )
        except IntercomError as exc:
            if exc.status not in (400, 404):
                raise PreflightError(
                    f"Intercom preflight: GET /conversations/attributes failed ({describe(exc)})"
                ) from None
            # before 2.16: listed as data attributes, created in the UI only
            existing = self._get("/data_attributes", {"model": "conversation", "include_archived": "true"})
            creatable = False
        for definition in self.attributes["conversation"]:
            name, want = definition["name"], definition["data_type"]
            options = option_names(definition.get("options"))
            same = [a for a in existing if a.get("name") == name]
            active = next((a for a in same if not a.get("archived")), None)
            folded = next((a for a in existing if fold(a.get("name")) == fold(name) and not a.get("archived")), None)
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
                        Entry("conversation_attribute", name, id_of(created), "conversation", want)
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
            entry = Entry("conversation_attribute", name, id_of(active), "conversation", want)
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

    def _conversation_option(self, attr_id: t.Any, label: str) -> dict | None:
        try:
            attr = self.client.request("GET", f"/conversations/attributes/{attr_id}")
        except IntercomError as exc:
            raise PreflightError(
                f"Intercom preflight: GET /conversations/attributes/{attr_id} failed ({describe(exc)})"
            ) from None
        return attr if any(o.get("label") == label for o in attr.get("options") or []) else None
