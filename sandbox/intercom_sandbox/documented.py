"""Only what the 2.16 description documents reaches a handler: the sandbox is as strict as Intercom.

A request body field that the operation's schema does not name (for the ``oneOf`` branch that fits the request:
``type: user`` vs ``admin``, ``message_type``, the contact reference a reply carries) is dropped before the handler
sees it, as Intercom ignores it: never stored, never echoed. Where the spec shows Intercom refusing unknown keys
(``POST /companies``: 400 ``bad_request`` "bad 'test' parameter"), the sandbox refuses them instead. Each dropped
field is counted on the workspace (``/__sandbox/stats`` → ``undocumented_fields``), so a test can prove a client
sends nothing Intercom would ignore.

Free-form objects (``custom_attributes``, ``ticket_attributes``: ``type: object`` without ``properties``) are kept
whole: their keys are the workspace's attributes, checked by the handlers. Requests in other versions than 2.16 are
left alone (the 2.16 description does not describe them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from intercom_sandbox.errors import bad_request
from intercom_sandbox.openapi import PREVIEW_VERSION, SPEC_VERSION, load_preview_spec, load_spec

#: body fields Intercom takes beyond the description, each with its entry in EVIDENCE.md ("Body fields kept beyond
#: the spec"): (method, spec path) -> {top-level field: evidence id}
EXTENSIONS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/conversations/search"): {"sort": "conversation-search-sort"},
    ("POST", "/tickets/search"): {"sort": "ticket-search-sort"},
}

#: operations whose spec shows a 400 for an unknown body key (the example's message, with the key named)
REFUSING = {("POST", "/companies"), ("PUT", "/companies/{company_id}")}


@dataclass
class Shape:
    """What a schema documents of a JSON value: object properties (``None``: free-form), array items, and for a
    ``oneOf``/``anyOf`` the branches to pick from by the value."""

    properties: dict[str, Shape] | None = None
    required: frozenset[str] = frozenset()
    enums: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    items: Shape | None = None
    branches: tuple[Shape, ...] = ()
    is_object: bool = False


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _resolve(schema: Any, components: dict[str, Any]) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema if isinstance(schema, dict) else {}


def _shape(schema: Any, components: dict[str, Any], depth: int = 0) -> Shape:
    schema = _resolve(schema, components)
    if depth > 12:  # recursive schemas: stop describing, keep the rest as it is
        return Shape()
    properties: dict[str, Shape] = {}
    required: set[str] = set(schema.get("required") or ())
    enums: dict[str, tuple[Any, ...]] = {}
    is_object = schema.get("type") == "object" or "properties" in schema
    free_form = is_object and ("properties" not in schema or schema.get("additionalProperties") not in (None, False))
    for name, sub in (schema.get("properties") or {}).items():
        resolved = _resolve(sub, components)
        properties[name] = _shape(resolved, components, depth + 1)
        if resolved.get("enum"):
            enums[name] = tuple(resolved["enum"])
    items = (
        _shape(schema["items"], components, depth + 1) if schema.get("type") == "array" and "items" in schema else None
    )
    branches: list[Shape] = [_shape(c, components, depth + 1) for c in schema.get("oneOf") or schema.get("anyOf") or ()]
    for part in schema.get("allOf") or ():
        sub = _shape(part, components, depth + 1)
        if sub.branches:
            branches += sub.branches
        elif sub.properties is None:
            free_form = free_form or sub.is_object
            is_object = is_object or sub.is_object
        else:
            properties.update(sub.properties)
            required |= sub.required
            enums.update(sub.enums)
            is_object = True
    if branches:
        own = Shape(properties, frozenset(required), enums, items, (), True)
        return Shape(properties, frozenset(required), enums, items, tuple(_merge(b, own) for b in branches), True)
    if free_form or not is_object:
        return Shape(None, frozenset(required), enums, items, (), is_object)
    return Shape(properties, frozenset(required), enums, items, (), True)


def _merge(branch: Shape, own: Shape) -> Shape:
    """A ``oneOf`` branch with the properties its parent schema declares beside the ``oneOf`` (down to the branch's
    own branches)."""
    if branch.branches:
        return Shape(
            branch.properties,
            branch.required,
            branch.enums,
            branch.items,
            tuple(_merge(b, own) for b in branch.branches),
            True,
        )
    if branch.properties is None and not branch.is_object and branch.items is None and own.properties is not None:
        return Shape(own.properties, branch.required | own.required, own.enums, own.items, (), True)  # a constraint
    if branch.properties is None or own.properties is None:
        return branch
    return Shape(
        {**own.properties, **branch.properties},
        branch.required | own.required,
        {**own.enums, **branch.enums},
        branch.items,
        (),
        True,
    )


def _fits(shape: Shape, value: dict[str, Any]) -> bool:
    if shape.branches:
        return any(_fits(b, value) for b in shape.branches)
    if not shape.required <= value.keys():
        return False
    return all(value[k] in allowed for k, allowed in shape.enums.items() if k in value)


def _pick(shape: Shape, value: Any) -> Shape:
    """The branch a value fits: Intercom's ``oneOf``s are told apart by ``type``, ``message_type`` or a required
    key; among several, the one naming most of the value's keys (the first on a tie). With none fitting, every
    branch's properties together (the handler refuses what is invalid)."""
    if not shape.branches:
        return shape
    arrays = [b.items for b in shape.branches if b.items is not None]
    if isinstance(value, list) and arrays:  # oneOf[array of A | array of B]: each item picks its own
        return Shape(items=Shape(branches=tuple(arrays), is_object=True))
    if isinstance(value, dict):
        fitting = [_pick(b, value) for b in shape.branches if _fits(b, value)]
        if fitting:  # the branch that documents most of the value (``name`` fits every tag request)
            return max(fitting, key=lambda b: len(value.keys() & (b.properties or {}).keys()))
    union: dict[str, Shape] = {}
    for branch in shape.branches:
        picked = _pick(branch, value)
        if picked.properties is None:
            return picked
        union.update(picked.properties)
    return Shape(union, frozenset(), {}, shape.items, (), True)


def strip(shape: Shape, value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` without what ``shape`` does not document, and the dotted paths of what was dropped."""
    shape = _pick(shape, value)
    dropped: list[str] = []
    if isinstance(value, dict) and shape.is_object and shape.properties is not None:
        kept: dict[str, Any] = {}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else key
            if key not in shape.properties:
                dropped.append(where)
                continue
            kept[key], inner = strip(shape.properties[key], sub, where)
            dropped += inner
        return kept, dropped
    if isinstance(value, list) and shape.items is not None:
        out = []
        for item in value:
            kept_item, inner = strip(shape.items, item, f"{path}[]")
            out.append(kept_item)
            dropped += [d for d in inner if d not in dropped]
        return out, dropped
    return value, dropped


#: Preview-only operations whose items the handler checks whole, as the single endpoint it mirrors does (an unknown
#: key in a ``POST /companies/bulk`` item rejects that item, as ``POST /companies`` refuses it: EVIDENCE.md)
ITEMS_CHECKED_BY_HANDLER = {("POST", "/companies/bulk")}


@lru_cache(maxsize=1)
def _operations() -> dict[tuple[str, str], tuple[str, Shape | None]]:
    """(method, path template with ``{}``) -> (the 2.16 spec's path, the request body's shape or None)."""
    return _spec_operations(load_spec())


@lru_cache(maxsize=1)
def _preview_operations() -> dict[tuple[str, str], tuple[str, Shape | None]]:
    """The operations the Preview description has and 2.16 has not (``POST /contacts/bulk`` …)."""
    stable = _operations()
    return {k: v for k, v in _spec_operations(load_preview_spec()).items() if k not in stable}


@lru_cache(maxsize=1)
def preview_only_operations() -> tuple[tuple[str, str], ...]:
    """(method, path regex) of the operations only the Preview description has."""
    return tuple(
        (method, re.sub(r"\\\{\\\}", "[^/]+", re.escape(template))) for method, template in _preview_operations()
    )


def _spec_operations(spec: dict[str, Any]) -> dict[tuple[str, str], tuple[str, Shape | None]]:
    components = spec["components"]["schemas"]
    found: dict[tuple[str, str], tuple[str, Shape | None]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            shape = _shape(content["schema"], components) if "schema" in content else None
            found[(method.upper(), _template(path))] = (path, shape)
    return found


def operation(method: str, route_path: str) -> tuple[str, Shape | None] | None:
    """The spec's path and request shape of a sandbox route (its path parameters may be named differently)."""
    return _operations().get((method, _template(route_path)))


def documented_body(method: str, route_path: str, version: str, body: Any) -> tuple[Any, list[str]]:
    """The body as the handler may see it, and the fields dropped (``"POST /tickets/{ticket_id}/reply
    attachment_files"``). Raises Intercom's 400 where the spec shows unknown keys refused."""
    if not isinstance(body, (dict, list)):
        return body, []
    if version == PREVIEW_VERSION:
        found = _preview_operations().get((method, _template(route_path)))
        if found is None or found[1] is None or (method, found[0]) in ITEMS_CHECKED_BY_HANDLER:
            return body, []  # the 2.16 description says nothing of Preview bodies of the stable operations
        kept, dropped = strip(found[1], body)
        return kept, [f"{method} {found[0]} {d}" for d in dropped]
    if version != SPEC_VERSION:
        return body, []
    found = operation(method, route_path)
    if found is None:
        return body, []
    spec_path, shape = found
    if shape is None:
        return body, []
    kept, dropped = strip(shape, body)
    extensions = EXTENSIONS.get((method, spec_path), {})
    if extensions and isinstance(body, dict):
        kept.update({k: v for k, v in body.items() if k in extensions})
        dropped = [d for d in dropped if re.split(r"[.\[]", d, maxsplit=1)[0] not in extensions]
    if dropped and (method, spec_path) in REFUSING:
        raise bad_request(f"bad '{dropped[0]}' parameter", code="bad_request")
    return kept, [f"{method} {spec_path} {d}" for d in dropped]


def describe(method: str, spec_path: str) -> str:
    """A shape as YAML (debugging aid: ``python -m intercom_sandbox.documented POST /tickets``)."""
    found = _operations().get((method, _template(spec_path)))

    def plain(shape: Shape | None) -> Any:
        if shape is None:
            return None
        if shape.branches:
            return {"oneOf": [plain(b) for b in shape.branches]}
        if shape.properties is None:
            return "free-form" if shape.is_object else ({"items": plain(shape.items)} if shape.items else "value")
        return {k: plain(v) for k, v in shape.properties.items()}

    return yaml.safe_dump(plain(found[1]) if found else None, sort_keys=False)


if __name__ == "__main__":
    import sys

    print(describe(sys.argv[1].upper(), sys.argv[2]))
