"""Custom object instances (assets, changes, known errors, reservations, process definitions) and their
relationships.

Instances: ``POST /custom_object_instances/{type}`` is an upsert by ``external_id``, so a retry never makes a
second copy. Types are created in Intercom's UI only; when the preflight found a type missing and the run was
allowed to go on (``skip_missing_ui_objects``), its instances are skipped with the reason.

Links: a relationship is an attribute of the entity it starts from, holding the instance ids it points to:
``PUT /contacts/{id}`` / ``PUT /conversations/{id}`` with ``custom_attributes: {<relationship>: [ids]}``,
``PUT /tickets/{id}`` with ``ticket_attributes`` (relationship attributes of the ticket type), and for an
instance the upsert ``POST /custom_object_instances/{type}`` with its ``external_id``. A host holds a list (a
contact can have many assets), extended by each link; a changed link replaces its old target.

No request more than needed: the tap syncs instances before the persons and calls that link them, so a host is
mostly created with the links already waiting for it, in its own create (:func:`links_for_create`; a host staged
with the instance its link points to waits for it: the planner's ``carried``); those links' records then send
nothing. A link written on its own reads its host's list only when the run does not know it: a host this run
created holds what this run wrote; a host written before (or adopted) is read once per run. Contacts and tickets
carry links in their create only where the live check found it holds (``created_with_links``).

Parent links within one type (asset parent-child, problem of a known error, series of an activity) can form
cycles in TOPdesk. Every written edge is kept in the ledger (kind ``custom_object_edges``, not rolled back by
itself); a link whose parent already descends from its child would close a cycle: it is not written, and it is
reported with the cycle's members. The acyclic part is written.
"""

from __future__ import annotations

import threading
import typing as t
from urllib.parse import quote

from target_intercom.capabilities import linked_attribute, relationship_ids
from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, UPDATED, Outcome, Skip, WriteContext, Writer
from target_intercom.writers.previous import not_ours, update
from target_intercom.writers.support import QUIET, KeyedLocks

#: a link's ``from_kind`` -> the ledger kind of its from-entity
FROM_KINDS = {
    "contact": "contacts",
    "ticket": "tickets",
    "conversation": "conversations",
    "custom_object": "custom_object_instances",
}
EDGES = "custom_object_edges"
LABEL_SEPARATOR = "; "  # between the labels of a text link attribute (the fallbacks below)
#: where a relationship starts -> the capability whose lack makes its links text (``<relationship> (linked)``)
TEXT_FALLBACK = {"tickets": "ticket_relationships", "custom_object_instances": "instance_links"}
MAX_DEPTH = 100_000


def _type_path(object_type: str) -> str:
    return f"/custom_object_instances/{quote(object_type, safe='')}"


def _instance_type(ctx: WriteContext, source_key: str) -> str | None:
    """The object type an instance was written as (a freely definable asset type is its own type)."""
    entity = ctx.ledger.lookup("custom_object_instances", source_key)
    return entity.extra.get("object_type") if entity else None


def _type_mismatch(source_key: str, actual: str, record: dict, side: str) -> str:
    expected = record.get("to_type") if side == "to" else record.get("from_type")
    return (
        f"{source_key} is a {actual} in Intercom, but the relationship {record.get('relationship')!r} "
        f"{'points to' if side == 'to' else 'lives on'} {expected}: Intercom cannot link them (add a "
        f"relationship for {actual} in Settings > Data > Custom Objects and a link for it in the map)"
    )


def _missing_type(ctx: WriteContext, object_type: str | None) -> str | None:
    if not object_type:
        return "the record names no custom object type"
    if not ctx.directory.has_custom_object_type(object_type):
        return (
            f"custom object type {object_type!r} does not exist in Intercom (the preflight listed it; create "
            "it in Settings > Data > Custom Objects and run again)"
        )
    return None


def _checked(ctx: WriteContext, record: dict) -> tuple[str, str | None, Entity | None]:
    """A link's host kind, (for an instance) host type and the ledger entity of the instance it points to, once the
    checks before any write hold, else Skip with the reason: both ends' object types exist and are the ones the
    relationship joins."""
    from_kind = FROM_KINDS.get(record.get("from_kind") or "")
    if from_kind is None:
        raise Skip(f"unknown from_kind {record.get('from_kind')!r}")
    refs = record["refs"]
    from_type = record.get("from_type")
    if from_kind == "custom_object_instances":
        actual = _instance_type(ctx, refs["from"])
        if from_type and actual and actual != from_type:
            raise Skip(_type_mismatch(refs["from"], actual, record, "from"))
        from_type = from_type or actual
    to = ctx.ledger.lookup("custom_object_instances", refs["to"])
    actual_to = to.extra.get("object_type") if to else None
    if actual_to and record.get("to_type") and actual_to != record["to_type"]:
        raise Skip(_type_mismatch(refs["to"], actual_to, record, "to"))
    for object_type in [record.get("to_type")] + ([from_type] if from_kind == "custom_object_instances" else []):
        reason = _missing_type(ctx, object_type)
        if reason:
            raise Skip(reason)
    return from_kind, from_type, to


def _check_relationship(ctx: WriteContext, record: dict, from_kind: str, from_type: str | None) -> None:
    host = from_type if from_kind == "custom_object_instances" else record.get("from_kind")
    if not ctx.directory.has_relationship(host, record["relationship"]):
        raise Skip(
            f"the relationship {record['relationship']!r} on {host} to {record.get('to_type')} does not exist in "
            "Intercom (the preflight listed it; add it in Settings > Data > Custom Objects and run again)"
        )


def links_for_create(ctx: WriteContext, kind: str, keys: t.Iterable[str], object_type: str | None = None) -> dict:
    """``{relationship: [instance ids]}`` the create of a host (``kind``, known under ``keys``) carries: the links
    this run staged for it whose instance is written, each list in the order the link writer keeps. Their records
    are then written at no cost (:func:`remember_links`). Not carried, written on their own: a parent link within
    one type (its cycle is judged per link), a text fallback, a link its checks refuse (its own write says why)."""
    if ctx.lacks(TEXT_FALLBACK.get(kind, "")) or (kind in ("contacts", "tickets") and ctx.lacks("created_with_links")):
        return {}  # the workspace keeps no such relationship, or drops / refuses one in a create: links on their own
    keys = [key for key in keys if (kind, key) in ctx.link_hosts]
    ctx.link_hosts.difference_update((kind, key) for key in keys)  # links staged later go on their own
    found: dict[str, set[tuple[str, str]]] = {}
    for record in ctx.ledger.held_for(CustomObjectLinkWriter.kind, kind, keys) if keys else ():
        from_type = record.get("from_type") or object_type
        if FROM_KINDS.get(record.get("from_kind") or "") != kind or from_type != object_type:
            continue  # another host's link
        if from_type == record.get("to_type"):
            continue  # a parent link within one type: its cycle is judged per link
        try:
            _, _, to = _checked(ctx, record)
            _check_relationship(ctx, record, kind, from_type)
        except Skip:
            continue
        if to is not None and to.status == "written" and to.intercom_id:
            found.setdefault(record["relationship"], set()).add((to.source_key, to.intercom_id))
    return {relationship: [i for _, i in sorted(pairs)] for relationship, pairs in found.items()}


def remember_links(ctx: WriteContext, kind: str, host_id: str, external_id: str | None, links: dict) -> None:
    """A host created with ``links`` (:func:`links_for_create`): its lists are known, so its links' own records
    find their instance there and send nothing."""
    for relationship, ids in links.items():
        ctx.host_values[(kind, host_id, relationship)] = (external_id, ids)


class CustomObjectInstanceWriter(Writer):
    kind = "custom_object_instances"

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        object_type = record.get("object_type")
        reason = _missing_type(ctx, object_type)
        if reason:
            raise Skip(reason)
        body: dict = {"external_id": str(record["external_id"])}
        for key in ("external_created_at", "external_updated_at"):
            if record.get(key) is not None:
                body[key] = record[key]
        attributes = {k: v for k, v in (record.get("custom_attributes") or {}).items() if v is not None}
        created = not (existing and existing.intercom_id and existing.status == "written")
        links = links_for_create(ctx, self.kind, [record["source_key"]], object_type) if created else {}
        if attributes or links:
            body["custom_attributes"] = {**attributes, **links}
        # past _missing_type: the name of a type the directory has, so a str
        path = _type_path(str(object_type))
        if created or existing is None:
            instance = ctx.client.request("POST", path, json=body, idempotent=True)
        else:  # an earlier run's: what this one overwrites is kept for its rollback
            instance = update(
                ctx, self, record["source_key"], str(existing.intercom_id), "POST", path, body,
                keep=not_ours(ctx, existing), extra={"object_type": object_type}, idempotent=True,
            )  # fmt: skip
        remember_links(ctx, self.kind, str(instance["id"]), body["external_id"], links)
        label = " ".join(str(attributes[k]) for k in ("Number", "Name") if attributes.get(k)) or body["external_id"]
        return Outcome(
            str(instance["id"]),
            CREATED if created else UPDATED,
            extra={"object_type": object_type, "external_id": body["external_id"], "label": label},
        )

    def read_path(self, intercom_id: str, extra: dict | None = None) -> str:
        return f"{_type_path(str((extra or {})['object_type']))}/{intercom_id}"

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        body = {**values, "external_id": found.get("external_id") or extra.get("external_id")}
        ctx.client.request("POST", _type_path(str(extra["object_type"])), json=body, idempotent=True)
        return []

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        object_type = entity.extra["object_type"]  # written by write() above, with every instance
        try:
            ctx.client.request("DELETE", f"{_type_path(object_type)}/{entity.intercom_id}")
        except IntercomError as exc:
            if exc.status != 404:
                raise


class CustomObjectLinkWriter(Writer):
    kind = "custom_object_links"
    # one write per link on a host the run created (its list is known); a changed link's host is from an earlier
    # run: its list is read first
    requests_per_create, requests_per_update = 1, 2

    def __init__(self) -> None:
        self._locks = KeyedLocks()  # one read-extend-write at a time per from-entity
        self._edges = threading.Lock()  # cycle check + edge record, one parent link at a time

    def waits_for(self, record: dict) -> list[tuple[str, str]]:
        refs = record.get("refs") or {}
        out = []
        from_kind = FROM_KINDS.get(record.get("from_kind") or "")
        if from_kind and refs.get("from"):
            out.append((from_kind, refs["from"]))
        if refs.get("to"):
            out.append(("custom_object_instances", refs["to"]))
        return out

    def carried_by(self, record: dict) -> tuple[tuple[str, str], tuple[str, str]] | None:
        from_kind = FROM_KINDS.get(record.get("from_kind") or "")
        refs = record.get("refs") or {}
        if not from_kind or not refs.get("from") or not refs.get("to"):
            return None
        if from_kind == "custom_object_instances" and record.get("from_type") == record.get("to_type"):
            return None  # a parent link within one type: written on its own (its cycle is judged per link)
        return (from_kind, refs["from"]), ("custom_object_instances", refs["to"])

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        from_kind, from_type, _ = _checked(ctx, record)
        refs = record["refs"]
        relationship = record["relationship"]
        if ctx.lacks(TEXT_FALLBACK.get(from_kind, "")):
            return self._write_as_text(ctx, record, existing, parents, from_kind, from_type)
        _check_relationship(ctx, record, from_kind, from_type)
        from_id = parents[(from_kind, refs["from"])]
        to_id = parents[("custom_object_instances", refs["to"])]
        previous = existing.extra.get("to_id") if existing and existing.intercom_id else None
        extra = {
            "from_kind": from_kind,
            "from_id": from_id,
            "to_id": to_id,
            "relationship": relationship,
            "from_type": from_type,
            "from_key": refs["from"],
            "to_key": refs["to"],
        }
        edge = None
        if from_kind == "custom_object_instances" and from_type == record.get("to_type"):
            edge = self._claim_edge(ctx, record, str(from_type), to_id)  # to_type's name: passed _missing_type
        try:
            with self._locks(f"{from_kind}:{from_id}"):
                self._set(ctx, extra, add=to_id, remove=previous if previous != to_id else None)
        except BaseException as exc:
            if edge:
                ctx.ledger.mark_deleted(EDGES, edge, ctx.run_id)
            if isinstance(exc, IntercomError) and exc.status == 400 and not exc.ambiguous:
                host = record.get("from_kind") if from_kind != "custom_object_instances" else from_type
                raise IntercomError(
                    f"{exc.message} (the relationship {relationship!r} from {host} to {record.get('to_type')} is "
                    f"created with the object type in Settings > Data > Custom Objects; kept for the next run)",
                    status=exc.status,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
            raise
        return Outcome(
            f"{from_id}:{relationship}:{to_id}", UPDATED if existing and existing.intercom_id else CREATED, extra=extra
        )

    # ------------------------------------------------------------------ fallback: links as text

    def _write_as_text(
        self,
        ctx: WriteContext,
        record: dict,
        existing: Entity | None,
        parents: dict,
        from_kind: str,
        from_type: str | None,
    ) -> Outcome:
        """The workspace keeps no relationship on tickets, or between instances (check intercom:
        ticket_relationships, instance_links): the linked instance's number and name go in the text attribute
        ``<relationship> (linked)`` instead, one label per linked instance, sorted, so the same links give the same
        text whatever their order (no cycle can form in a text)."""
        refs = record["refs"]
        from_id = parents[(from_kind, refs["from"])]
        instance = ctx.ledger.lookup("custom_object_instances", refs["to"])
        label = str((instance.extra.get("label") if instance else None) or refs["to"])
        previous = existing.extra.get("label") if existing and existing.intercom_id else None
        extra = {
            "from_kind": from_kind,
            "from_id": from_id,
            "from_type": from_type,
            "relationship": record["relationship"],
            "from_key": refs["from"],
            "to_key": refs["to"],
            "as_text": True,
            "label": label,
        }
        with self._locks(f"{from_kind}:{from_id}"):
            self._set_text(ctx, extra, add=label, remove=previous if previous != label else None)
        capability = TEXT_FALLBACK[from_kind]
        return Outcome(
            f"{from_id}:{record['relationship']}:{label}",
            UPDATED if existing and existing.intercom_id else CREATED,
            extra=extra,
            issues=[
                {
                    "category": "fallback",
                    "severity": "info",
                    "field": linked_attribute(record["relationship"]),
                    "reason": f"linked as text (the workspace keeps no such relationship: check intercom, "
                    f"{capability})",
                }
            ],
        )

    @staticmethod
    def _set_text(ctx: WriteContext, link: dict, *, add: str | None, remove: str | None) -> None:
        name = linked_attribute(link["relationship"])
        labels = [v for v in str(_current(ctx, link, name) or "").split(LABEL_SEPARATOR) if v]
        wanted = sorted({*(v for v in labels if v != remove), *([add] if add else [])})
        if wanted != labels:
            _write_to(ctx, link, name, LABEL_SEPARATOR.join(wanted))

    # ------------------------------------------------------------------ cycles

    @staticmethod
    def _edge_key(object_type: str, relationship: str, child: str) -> str:
        return f"{object_type}|{relationship}|{child}"

    def _claim_edge(self, ctx: WriteContext, record: dict, object_type: str, to_id: str) -> str:
        """Record child -> parent unless the parent already descends from the child (then the link closes a
        cycle: Skip with its members)."""
        relationship = record["relationship"]
        child, parent = record["refs"]["from"], record["refs"]["to"]
        with self._edges:
            path = [child, parent]
            node = parent
            for _ in range(MAX_DEPTH):
                if node == child:
                    break
                up = ctx.ledger.lookup(EDGES, self._edge_key(object_type, relationship, node))
                if up is None or up.status != "written":
                    path = []
                    break
                node = self._parent_after_this_run(ctx, node, up)
                path.append(node)
            if path:
                members = " -> ".join(path)
                raise Skip(
                    f"{relationship!r} link {child} -> {parent} would close a cycle ({members}); the other "
                    "links of the cycle are written, this one is not"
                )
            key = self._edge_key(object_type, relationship, child)
            ctx.ledger.record_written(
                EDGES, key, to_id, "", ctx.run_id, created=False, extra={"parent": parent, "link": record["source_key"]}
            )
            return key

    def _parent_after_this_run(self, ctx: WriteContext, child: str, edge: Entity) -> str:
        """The parent ``child`` will have: a newer version of its link staged in this run (its parent changed in
        TOPdesk) wins over the written edge. Links are written concurrently, so a cycle this run breaks must not be
        found through an edge that is about to change."""
        staged = ctx.ledger.held_record(self.kind, edge.extra.get("link") or "")
        refs = (staged or {}).get("refs") or {}
        return refs["to"] if refs.get("from") == child and refs.get("to") else edge.extra["parent"]

    # ------------------------------------------------------------------ reading and writing relationship lists

    def _set(self, ctx: WriteContext, link: dict, *, add: str | None, remove: str | None) -> None:
        values = relationship_ids(_current(ctx, link, link["relationship"]))
        wanted = [v for v in values if v != remove]
        if add and add not in wanted:
            wanted.append(add)
        # in the order of the instances' source keys, not of arrival: the same input gives the same list whatever
        # order the links were written in (a crashed and resumed run included)
        if len(wanted) > 1:
            keys = ctx.ledger.known_ids("custom_object_instances", wanted)
            wanted.sort(key=lambda i: (keys.get(i, ""), i))
        if wanted != values:
            _write_to(ctx, link, link["relationship"], wanted)

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        link = entity.extra
        try:
            with self._locks(f"{link['from_kind']}:{link['from_id']}"):
                if link.get("as_text"):
                    self._set_text(ctx, link, add=None, remove=link["label"])
                else:
                    self._set(ctx, link, add=None, remove=link["to_id"])
        except IntercomError as exc:
            if exc.status != 404:  # either end went first
                raise
        if link.get("from_type") and link.get("from_kind") == "custom_object_instances":
            ctx.ledger.mark_deleted(
                EDGES, self._edge_key(link["from_type"], link["relationship"], link["from_key"]), ctx.run_id
            )


def _current(ctx: WriteContext, link: dict, name: str) -> t.Any:
    """The value of attribute ``name`` on the entity a link starts from (call with the host's lock held): what
    this run last wrote there; nothing when this run created the host (no link could reach it before its ledger
    entry); else read from Intercom (a host of an earlier run, an adopted contact, a write whose outcome is unknown).
    Remembers the host's external id (an instance's upsert key) with it."""
    from_kind, from_id = link["from_kind"], link["from_id"]
    key = (from_kind, from_id, name)
    known = ctx.host_values.get(key)
    if known is not None:
        return known[1]
    host = (
        None if key in ctx.host_values or not link.get("from_key") else ctx.ledger.lookup(from_kind, link["from_key"])
    )
    if host is not None and host.intercom_id == from_id and host.created_run_id != ctx.run_id:
        # an alias (a call's number) is never created: the entity it stands for may have been, in this run
        aliased = ctx.ledger.lookup_many(from_kind, ctx.ledger.keys_for_ids(from_kind, [from_id])).values()
        host = next((h for h in aliased if h.created_run_id == ctx.run_id), host)
    external_id = host.extra.get("external_id") if host else None
    if (
        host is not None
        and host.intercom_id == from_id
        and host.created_run_id == ctx.run_id
        and (external_id or from_kind != "custom_object_instances")
    ):
        ctx.host_values[key] = (external_id, None)
        return None
    if from_kind == "custom_object_instances":
        current = ctx.client.request("GET", f"{_type_path(link['from_type'])}/{from_id}")
    else:
        current = ctx.client.request("GET", f"/{from_kind}/{from_id}")
    attributes = current.get("ticket_attributes" if from_kind == "tickets" else "custom_attributes") or {}
    ctx.host_values[key] = (current.get("external_id"), attributes.get(name))
    return attributes.get(name)


def _write_to(ctx: WriteContext, link: dict, name: str, value: t.Any) -> None:
    """One attribute of the entity a link starts from: an instance's upsert by its external id, a ticket's
    ``ticket_attributes`` (quietly), a contact's or conversation's ``custom_attributes``. Remembered as the
    host's value once Intercom took it; unknown (read again) when the request failed."""
    from_kind, from_id = link["from_kind"], link["from_id"]
    key = (from_kind, from_id, name)
    known = ctx.host_values.get(key)
    external_id = known[0] if known else None  # _current just put it there (an instance's upsert key)
    ctx.host_values[key] = None  # until Intercom answers: read again if it never does
    if from_kind == "custom_object_instances":
        ctx.client.request(
            "POST",
            _type_path(link["from_type"]),
            idempotent=True,
            json={"external_id": external_id, "custom_attributes": {name: value}},
        )
    elif from_kind == "tickets":
        ctx.client.request("PUT", f"/tickets/{from_id}", json={"ticket_attributes": {name: value}, **QUIET})
    else:
        ctx.client.request("PUT", f"/{from_kind}/{from_id}", json={"custom_attributes": {name: value}})
    ctx.host_values[key] = (external_id, value)
