"""Custom object instances, upserted by ``external_id``. Types exist only when seeded (``--custom-object-types`` by
name, ``--custom-objects`` with attributes and relationships): Intercom defines them in the UI only.

Relationships (reference §6.8): a relationship is an attribute of the model it starts from (a contact data
attribute, a conversation attribute, or an attribute of another object type) with data type ``relationship`` and
``reference: {type: one|many, object_type_id: <target type>}`` (the shape ``GET /conversations/attributes`` shows in
the 2.16 spec). A value is written as a list of instance ids of the target type and read back as
``{"type": "<Target>.list", "instances": [<instance>…]}`` (the spec's contact/conversation association examples).
"""

from __future__ import annotations

from typing import Any

from intercom_sandbox import pagination
from intercom_sandbox.capabilities import holds
from intercom_sandbox.errors import bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.store import Workspace, now

routes = RouteTable()


def _require_type(ws: Workspace, type_name: str) -> dict[str, dict[str, Any]]:
    instances = ws.custom_objects.get(type_name)
    if instances is None:
        raise not_found(f"Custom object type `{type_name}` not found")
    return instances


def check_relationship(ws: Workspace, name: str, reference: dict[str, Any], value: Any) -> list[str] | None:
    """A relationship value: a list of ids (a single id is taken as a list of one) of existing instances of the
    target type, at most one for ``reference.type == "one"``. None or an empty list clears it (None returned)."""
    if value is None:
        return None
    target = reference.get("object_type_id") or ""
    ids = value if isinstance(value, list) else [value]
    if any(isinstance(v, bool) or not isinstance(v, str | int) for v in ids):
        raise bad_request(f"{name} must be a list of {target} instance ids", field=name)
    ids = list(dict.fromkeys(str(v) for v in ids))
    if reference.get("type") == "one" and len(ids) > 1:
        raise bad_request(f"{name} references one {target}: {len(ids)} instance ids given", field=name)
    instances = ws.custom_objects.get(target) or {}
    unknown = [i for i in ids if i not in instances]
    if unknown:
        raise bad_request(f"Custom object instance {unknown[0]} of type `{target}` not found for {name}", field=name)
    return ids or None


def render_relationship(ws: Workspace, reference: dict[str, Any], ids: Any) -> dict[str, Any]:
    target = reference.get("object_type_id") or ""
    instances = ws.custom_objects.get(target) or {}
    shown = [instances[i] for i in (ids if isinstance(ids, list) else []) if i in instances]  # deleted ones drop out
    return {"type": f"{target}.list", "instances": [_render_nested(ws, target, i) for i in shown]}


def _render_nested(ws: Workspace, type_name: str, instance: dict[str, Any]) -> dict[str, Any]:
    """An instance inside a relationship value, as in the spec's association examples (its own relationships as
    plain id lists: no recursion)."""
    return {
        "id": instance["id"],
        "external_id": instance["external_id"],
        "external_created_at": instance.get("external_created_at"),
        "external_updated_at": instance.get("external_updated_at"),
        "custom_attributes": dict(instance.get("custom_attributes") or {}),
        "type": type_name,
    }


def render_values(ws: Workspace, values: dict[str, Any], references: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Custom attribute values with relationship values rendered as Intercom reads them back."""
    out = dict(values)
    for name, reference in references.items():
        if name in out:
            out[name] = render_relationship(ws, reference, out[name])
    return out


def _instance_attributes(ws: Workspace, type_name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Relationship values checked (dropped or refused where the workspace lacks ``instance_links``); other names
    must be attributes of the type when it was defined with attributes (a name-only type accepts any)."""
    known = ws.object_types[type_name]["attributes"]
    relationships = ws.object_relationships.get(type_name) or {}
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        if name in relationships:
            if holds(ws, "instance_links", f"Custom attribute '{name}' does not exist on {type_name}", name):
                out[name] = check_relationship(ws, name, relationships[name], value)
        elif known is not None and name not in known:
            raise bad_request(f"Custom attribute '{name}' does not exist on {type_name}", code="parameter_not_found")
        else:
            out[name] = value
    return out


def render_instance(type_name: str, instance: dict[str, Any], ws: Workspace | None = None) -> dict[str, Any]:
    values = dict(instance.get("custom_attributes") or {})
    if ws is not None:
        values = render_values(ws, values, ws.object_relationships.get(type_name) or {})
    return {
        "id": instance["id"],
        "type": type_name,
        "custom_attributes": values,
        "external_id": instance["external_id"],
        "external_created_at": instance.get("external_created_at"),
        "external_updated_at": instance.get("external_updated_at"),
        "created_at": instance["created_at"],
        "updated_at": instance["updated_at"],
    }


def relationship_references(ws: Workspace, model: str) -> dict[str, dict[str, Any]]:
    """Relationship attribute name -> reference, for ``contact`` (data attributes) or ``conversation`` (conversation
    attributes, which tickets carry too)."""
    if model == "contact":
        attrs = [a for a in ws.data_attributes.values() if a["model"] == "contact" and not a.get("archived")]
        return {a["name"]: a["reference"] for a in attrs if a["data_type"] == "relationship"}
    return {
        a["name"]: a.get("reference") or {}
        for a in ws.conversation_attributes.values()
        if a["data_type"] == "relationship" and not a.get("archived")
    }


def _timestamp(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{key} must be a unix timestamp", field=key)
    return int(value)


@routes.post("/custom_object_instances/{type_name}")
def upsert_instance(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    type_name = ctx.path["type_name"]
    instances = _require_type(ws, type_name)
    external_id = body.get("external_id")
    if external_id in (None, ""):
        raise bad_request("external_id is a required parameter.", code="parameter_not_found", field="external_id")
    attributes = body.get("custom_attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_request("custom_attributes must be an object", field="custom_attributes")
    attributes = _instance_attributes(ws, type_name, attributes)
    index = ws.custom_object_by_external_id[type_name]
    stamp = now()
    existing_id = index.get(str(external_id))
    if existing_id is not None:
        instance = instances[existing_id]
        merged = dict(instance.get("custom_attributes") or {})
        merged.update(attributes)
        instance["custom_attributes"] = {k: v for k, v in merged.items() if v is not None}
    else:
        instance = {
            "id": ws.next_id("custom_object_instance", start=1),
            "external_id": str(external_id),
            "created_at": stamp,
        }
        instance["custom_attributes"] = {k: v for k, v in attributes.items() if v is not None}
        instances[instance["id"]] = instance
        index[instance["external_id"]] = instance["id"]
    for key in ("external_created_at", "external_updated_at"):
        if key in body:
            instance[key] = _timestamp(body, key)
    instance["updated_at"] = stamp
    ws.touch()
    return render_instance(type_name, instance, ws)


@routes.get("/custom_object_instances/{type_name}")
def list_or_find_instances(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    type_name = ctx.path["type_name"]
    instances = _require_type(ws, type_name)
    external_id = ctx.query.get("external_id")
    if external_id is not None:
        instance_id = ws.custom_object_by_external_id[type_name].get(external_id)
        if instance_id is None:
            raise not_found("Custom object instance not found")
        return render_instance(type_name, instances[instance_id], ws)
    if not ctx.new_shapes:  # 2.14: this GET only finds by external_id
        raise bad_request("external_id is a required parameter.", code="parameter_not_found", field="external_id")
    records = sorted(instances.values(), key=lambda i: int(i["id"]), reverse=True)
    for ref_key, attr_kind in (("references_contact_id", "contacts"), ("references_conversation_id", "conversations")):
        ref = ctx.query.get(ref_key)
        if ref is not None:
            owner = getattr(ws, attr_kind).get(ref)
            if owner is None and attr_kind == "conversations":
                owner = ws.tickets.get(ref)  # a ticket is a conversation
            references = relationship_references(ws, "contact" if attr_kind == "contacts" else "conversation")
            values = dict((owner or {}).get("custom_attributes") or {})
            values.update((owner or {}).get("attributes") or {})  # a ticket's relationship values
            linked = {
                str(v)
                for name, value in values.items()
                if isinstance(value, list) and references.get(name, {}).get("object_type_id") == type_name
                for v in value
            }
            records = [r for r in records if r["id"] in linked]
    page, per_page = pagination.offset_params(ctx.query, 20)
    chunk, pages = pagination.offset_page(
        records, page, per_page, next_url=f"{ctx.base_url}/custom_object_instances/{type_name}"
    )
    return {
        "type": "list",
        "pages": pages,
        "total_count": len(records),
        "data": [render_instance(type_name, r, ws) for r in chunk],
    }


def _find(ws: Workspace, type_name: str, key: str) -> dict[str, Any]:
    instances = _require_type(ws, type_name)
    instance = instances.get(key)
    if instance is None:
        instance_id = ws.custom_object_by_external_id[type_name].get(key)
        instance = instances.get(instance_id) if instance_id else None
    if instance is None:
        raise not_found("Custom object instance not found")
    return instance


@routes.get("/custom_object_instances/{type_name}/{instance_id}")
def get_instance(ctx: Ctx) -> dict[str, Any]:
    type_name = ctx.path["type_name"]
    return render_instance(type_name, _find(ctx.ws, type_name, ctx.path["instance_id"]), ctx.ws)


def _delete(ws: Workspace, type_name: str, instance: dict[str, Any]) -> dict[str, Any]:
    del ws.custom_objects[type_name][instance["id"]]
    ws.custom_object_by_external_id[type_name].pop(instance["external_id"], None)
    ws.touch()
    return {"id": instance["id"], "object": type_name, "deleted": True}


@routes.delete("/custom_object_instances/{type_name}")
def delete_by_external_id(ctx: Ctx) -> dict[str, Any]:
    type_name = ctx.path["type_name"]
    instances = _require_type(ctx.ws, type_name)
    external_id = ctx.query.get("external_id")
    if not external_id:
        raise bad_request("external_id is a required parameter.", code="parameter_not_found", field="external_id")
    instance_id = ctx.ws.custom_object_by_external_id[type_name].get(external_id)
    if instance_id is None:
        raise not_found("Custom object instance not found")
    return _delete(ctx.ws, type_name, instances[instance_id])


@routes.delete("/custom_object_instances/{type_name}/{instance_id}")
def delete_by_id(ctx: Ctx) -> dict[str, Any]:
    type_name = ctx.path["type_name"]
    instances = _require_type(ctx.ws, type_name)
    instance = instances.get(ctx.path["instance_id"])
    if instance is None:
        raise not_found("Custom object instance not found")
    return _delete(ctx.ws, type_name, instance)
