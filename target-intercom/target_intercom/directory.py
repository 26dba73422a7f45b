"""Lookups the writers make while loading: operator e-mail -> admin, operator group -> team, ticket type name ->
id, (ticket type, state) -> state id. Built once by the preflight from what Intercom answered, so that writing a
record never costs a request to resolve a teammate, and every operator that matched no teammate is collected for
the reconciliation queue instead of being silently reassigned."""

from __future__ import annotations

import threading
import typing as t


def _email_key(email: t.Any) -> str:
    return email.strip().lower() if isinstance(email, str) else ""


def _name_key(name: t.Any) -> str:
    return " ".join(name.split()).casefold() if isinstance(name, str) else ""


class AdminDirectory:
    """Teammates and teams of the workspace (both UI-only in Intercom, so matched, never created).

    Thread-safe: writers call it from the loader's worker threads; the unmatched lists are appended under a lock.
    """

    def __init__(self, admins: t.Iterable[dict], teams: t.Iterable[dict], fallback_admin_id: str | None) -> None:
        self.admins: dict[str, dict] = {}
        self._admin_by_email: dict[str, str] = {}
        for admin in admins:
            admin_id = str(admin["id"])
            self.admins[admin_id] = admin
            key = _email_key(admin.get("email"))
            if key:
                self._admin_by_email.setdefault(key, admin_id)
        self.teams: dict[str, dict] = {}
        self._team_by_name: dict[str, str] = {}
        for team in teams:
            team_id = str(team["id"])
            self.teams[team_id] = team
            key = _name_key(team.get("name"))
            if key:
                self._team_by_name.setdefault(key, team_id)
        self.fallback_admin_id = fallback_admin_id
        self._lock = threading.Lock()
        self._unmatched_operators: dict[str, None] = {}  # insertion-ordered set
        self._unmatched_groups: dict[str, None] = {}

    def admin_id_by_email(self, email: t.Any) -> str | None:
        """The admin with this e-mail (case-insensitive, trimmed), without fallback or bookkeeping."""
        return self._admin_by_email.get(_email_key(email))

    def team_id_by_name(self, name: t.Any) -> str | None:
        """The team with this name, without bookkeeping (the preflight's own check of the teams the map needs)."""
        return self._team_by_name.get(_name_key(name))

    def admin_for(self, email: t.Any) -> tuple[str | None, bool]:
        """``(admin id, matched)``: the teammate with this e-mail, else the fallback admin (``matched`` False, and
        the e-mail joins :attr:`unmatched_operators`); ``(None, False)`` when there is no fallback either."""
        admin_id = self.admin_id_by_email(email)
        if admin_id is not None:
            return admin_id, True
        with self._lock:
            self._unmatched_operators[_email_key(email) or "(no e-mail)"] = None
        return self.fallback_admin_id, False

    def team_for(self, name: t.Any) -> str | None:
        """The team with this name (case-insensitive, whitespace-normalised), else None (the name joins
        :attr:`unmatched_groups`)."""
        team_id = self._team_by_name.get(_name_key(name))
        if team_id is None and _name_key(name):
            with self._lock:
                self._unmatched_groups[" ".join(name.split())] = None
        return team_id

    @property
    def unmatched_operators(self) -> list[str]:
        """E-mails (lower-cased; ``(no e-mail)`` for operators without one) that matched no teammate."""
        with self._lock:
            return list(self._unmatched_operators)

    @property
    def unmatched_groups(self) -> list[str]:
        """Operator group names that matched no team."""
        with self._lock:
            return list(self._unmatched_groups)


class Directory(AdminDirectory):
    """:class:`AdminDirectory` plus the ids the preflight provisioned or found: ticket types, their attributes and
    states, and which custom object types exist."""

    def __init__(self, admins: t.Iterable[dict], teams: t.Iterable[dict], fallback_admin_id: str | None) -> None:
        super().__init__(admins, teams, fallback_admin_id)
        self.ticket_type_ids: dict[str, str] = {}
        self.ticket_attribute_ids: dict[tuple[str, str], str] = {}
        #: (ticket type, list attribute) -> option label -> option id (Intercom takes a list value as its id)
        self.ticket_list_options: dict[tuple[str, str], dict[str, str]] = {}
        #: ticket type name -> state category / lower-cased internal label -> state id
        self.ticket_state_ids: dict[str, dict[str, str]] = {}
        self.custom_object_types: set[str] = set()
        self.missing_custom_object_types: set[str] = set()
        #: (host model, relationship name) -> {"target", "cardinality", "checked"}; host model is ``contact``,
        #: ``conversation``, ``ticket`` or a custom object type name (those the API cannot read: ``checked`` False)
        self.relationships: dict[tuple[str, str], dict] = {}
        self.missing_relationships: set[tuple[str, str]] = set()

    def ticket_type_id(self, name: str) -> str:
        """The id of the map's ticket type ``name``; a name the preflight did not provision is a bug, so it raises."""
        try:
            return self.ticket_type_ids[name]
        except KeyError:
            msg = f"ticket type {name!r} was not provisioned (known: {sorted(self.ticket_type_ids)})"
            raise LookupError(msg) from None

    def ticket_attribute_id(self, ticket_type: str, name: str) -> str:
        """The id of a ticket type attribute, for searching tickets by ``ticket_attribute.{id}``."""
        try:
            return self.ticket_attribute_ids[(ticket_type, name)]
        except KeyError:
            msg = f"attribute {name!r} of ticket type {ticket_type!r} was not provisioned"
            raise LookupError(msg) from None

    def ticket_attributes(self, ticket_type: str, values: dict) -> tuple[dict, list[str]]:
        """A ticket's attributes as Intercom takes them: a list attribute's value (an option's label, as the map
        writes it) becomes the option's id. Returns them and the attributes left out (a label that is no option)."""
        out, unknown = dict(values), []
        for name, value in values.items():
            options = self.ticket_list_options.get((ticket_type, name))
            if options is None or value is None:
                continue
            labels = value if isinstance(value, list) else [value]
            ids = [options.get(str(label)) for label in labels]
            if None in ids:
                unknown.append(name)
                del out[name]
            else:
                out[name] = ids if isinstance(value, list) else ids[0]
        return out, unknown

    def ticket_state_id(self, ticket_type: str, state: str) -> str:
        """The id of the ticket type's state with this category (``submitted``, ``in_progress``,
        ``waiting_on_customer``, ``resolved``) or internal label (case-insensitive)."""
        states = self.ticket_state_ids.get(ticket_type) or {}
        state_id = states.get(state) or states.get(_name_key(state))
        if state_id is None:
            msg = f"ticket type {ticket_type!r} has no state {state!r} (known: {sorted(states)})"
            raise LookupError(msg)
        return state_id

    def has_custom_object_type(self, name: str) -> bool:
        """False for a type the preflight found missing (with ``skip_missing_ui_objects`` the run goes on, and the
        writers flag the instances of such a type instead of sending them)."""
        return name in self.custom_object_types

    def has_relationship(self, host_model: str, name: str) -> bool:
        """False for a relationship the preflight found missing or wrong on ``host_model`` (``contact``,
        ``conversation``, ``ticket`` or a custom object type name): with ``skip_missing_ui_objects`` the run goes
        on, and the link writer skips such links with the reason. True otherwise (including relationships on
        custom object types, which the API cannot read: a write that Intercom refuses is reported then)."""
        return (host_model, name) not in self.missing_relationships
