"""Custom object instances, upserted by ``external_id``. Types exist only when seeded (``--custom-object-types``):
Intercom defines them in the UI only."""

from __future__ import annotations

from typing import Any

from intercom_sandbox import pagination
from intercom_sandbox.errors import bad_request, not_found
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.store import Workspace, now

routes = RouteTable()


def _require_type(ws: Workspace, type_name: str) -> dict[str, dict[str, Any]]:
    instances = ws.custom_objects.get(type_name)
    if instances is None:
        raise not_found(f"Custom object type `{type_name}` not found")
    return instances


def render_instance(type_name: str, instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": instance["id"],
        "type": type_name,
        "custom_attributes": dict(instance.get("custom_attributes") or {}),
        "external_id": instance["external_id"],
        "external_created_at": instance.get("external_created_at"),
        "external_updated_at": instance.get("external_updated_at"),
        "created_at": instance["created_at"],
        "updated_at": instance["updated_at"],
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
    return render_instance(type_name, instance)


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
        return render_instance(type_name, instances[instance_id])
    if not ctx.new_shapes:  # 2.14: this GET only finds by external_id
        raise bad_request("external_id is a required parameter.", code="parameter_not_found", field="external_id")
    records = sorted(instances.values(), key=lambda i: int(i["id"]), reverse=True)
    for ref_key, attr_kind in (("references_contact_id", "contacts"), ("references_conversation_id", "conversations")):
        ref = ctx.query.get(ref_key)
        if ref is not None:
            owner = getattr(ws, attr_kind).get(ref)
            linked = {
                str(v)
                for value in (owner or {}).get("custom_attributes", {}).values()
                if isinstance(value, list)
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
        "data": [render_instance(type_name, r) for r in chunk],
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
    return render_instance(type_name, _find(ctx.ws, type_name, ctx.path["instance_id"]))


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
