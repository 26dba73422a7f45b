"""One precompiled, single-pass walk over a record: date normalisation, deselection and type conformance.

Per record the tap used to walk every record three times: its own ``normalise_dates`` (every date-time string
rewritten to RFC 3339), then singer-sdk's ``pop_deselected_record_properties`` and ``conform_record_data_types``
(level ``RECURSIVE``), both re-deriving from the schema, for every value, what the schema says about it.
:class:`RecordConformer` compiles the schema and the selection mask once per stream into a nested plan (a dict
property name -> node per object schema) and then does the three in one walk, in place.

The result is the SDK pipeline's, value for value (``tests/test_conform.py`` compares them on generated records
of every stream schema); where the plan cannot decide from a value's exact type (a dict where the schema says
string, a ``datetime``, bytes, a ``Decimal``...) it falls back to the SDK's own helpers, so rare cases stay exact
without slowing the common ones. The SDK's predicates (``is_uniform_list``, ``is_object_type``,
``_is_exclusive_boolean_type``) are evaluated at compile time, so the plan decides as they do.
"""

from __future__ import annotations

import logging
import math
import typing as t

from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.singerlib import SelectionMask

Breadcrumb = tuple[str, ...]

#: Node kinds. A node is a tuple ``(kind, is_bool, schema, sub, deep)``:
#: ``is_bool`` the schema is an exclusive boolean (the SDK turns any non-float value but None into ``value != 0``);
#: ``schema`` the property schema (for the SDK fallback); ``sub`` the object plan (``OBJECT``) or list plan
#: (``LIST``); ``deep`` the breadcrumb under which the selection mask deselects something, for a dict met where the
#: schema expects no object with properties (the SDK's deselection still walks into it), else None.
PRIMITIVE = 0  # anything the SDK conforms as a primitive (string, number, boolean, object without properties...)
OBJECT = 1  # an object schema with properties: a dict value is conformed against the sub-plan
LIST = 2  # a uniform list: a list value is conformed item by item against the list plan
LIST_RAISES = 3  # the SDK's ``is_uniform_list`` raises on this schema (no type): it raises for a list value only

Node = tuple[int, bool, dict, t.Any, Breadcrumb | None]


class ObjectPlan:
    """What to do with each property of one object schema."""

    __slots__ = ("additional", "breadcrumb", "deselected", "path", "props")

    def __init__(
        self,
        props: dict[str, Node] | None,
        *,
        additional: bool,
        breadcrumb: Breadcrumb | None,
        path: str | None,
        deselected: frozenset[str],
    ) -> None:
        #: Property name -> node; None for an object schema without ``properties`` used as list items (the SDK
        #: then fails on any key, as ``schema["properties"]`` is missing).
        self.props = props
        #: ``additionalProperties``: unknown properties are kept (else dropped and warned about).
        self.additional = additional
        #: Mask breadcrumb of this object (``("properties", a, "properties", b)``); None inside lists, where the
        #: SDK deselects nothing.
        self.breadcrumb = breadcrumb
        #: Dotted path of this object for the unmapped-properties warning (None at the root).
        self.path = path
        #: Schema properties the mask deselects: dropped silently (absent from ``props``).
        self.deselected = deselected


class ListPlan:
    """What to do with each item of a uniform list."""

    __slots__ = ("is_bool", "object_plan", "schema")

    def __init__(self, schema: dict, object_plan: ObjectPlan | None, *, is_bool: bool) -> None:
        self.schema = schema
        #: The item plan when the item schema is an object type (a dict item is conformed against it).
        self.object_plan = object_plan
        self.is_bool = is_bool


class RecordConformer:
    """``normalise_dates`` + ``pop_deselected_record_properties`` + ``conform_record_data_types(RECURSIVE)``.

    Built once per stream; ``conformer(record)`` updates ``record`` in place and returns it.

    Args:
        stream_name: Stream name, for the unmapped-properties warning.
        schema: The schema records are conformed to (the stream's ``effective_schema``).
        mask: The stream's selection mask (breadcrumb -> selected). A plain dict is read as a ``SelectionMask``
            (missing breadcrumbs inherit their parent's selection).
        logger: Where the unmapped-properties warning goes (the stream's logger).
        normalise: Date-time string -> its normalised spelling, or None to leave the string alone
            (``tap_topdesk.client.normalise_datetime``). Applied to every string anywhere in the record.
    """

    def __init__(
        self,
        stream_name: str,
        schema: dict,
        mask: t.Mapping[Breadcrumb, bool],
        logger: logging.Logger,
        normalise: t.Callable[[str], str | None],
    ) -> None:
        self.stream_name = stream_name
        self.logger = logger
        self.normalise = normalise
        self.mask = mask if isinstance(mask, SelectionMask) else SelectionMask(mask)
        self._deselected_crumbs = [crumb for crumb, selected in self.mask.items() if not selected]
        self.plan = self._compile_object(schema, breadcrumb=(), path=None)

    # --- compilation ------------------------------------------------------------------------------------------

    def _deselects_below(self, breadcrumb: Breadcrumb) -> bool:
        """Whether the mask names a deselected breadcrumb strictly below ``breadcrumb``."""
        size = len(breadcrumb)
        return any(len(crumb) > size and crumb[:size] == breadcrumb for crumb in self._deselected_crumbs)

    def _compile_object(self, schema: dict, *, breadcrumb: Breadcrumb | None, path: str | None) -> ObjectPlan:
        additional = bool(schema.get("additionalProperties"))
        if "properties" not in schema:
            return ObjectPlan(None, additional=additional, breadcrumb=breadcrumb, path=path, deselected=frozenset())
        props: dict[str, Node] = {}
        deselected: set[str] = set()
        for name, prop in schema["properties"].items():
            crumb = None if breadcrumb is None else (*breadcrumb, "properties", name)
            if crumb is not None and not self.mask[crumb]:
                deselected.add(name)
                continue
            props[name] = self._compile_property(prop, crumb, name if path is None else f"{path}.{name}")
        return ObjectPlan(
            props, additional=additional, breadcrumb=breadcrumb, path=path, deselected=frozenset(deselected)
        )

    def _compile_property(self, prop: dict, crumb: Breadcrumb | None, path: str) -> Node:
        is_bool = _is_exclusive_boolean_type(prop)
        deep = crumb if crumb is not None and self._deselects_below(crumb) else None
        try:
            uniform = is_uniform_list(prop)
        except Exception:  # noqa: BLE001  whatever the SDK's predicate raises, it raises again for a list value only
            return (LIST_RAISES, is_bool, prop, None, deep)
        if uniform:
            items = prop["items"]
            item_plan = None
            if is_object_type(items):
                item_plan = self._compile_object(items, breadcrumb=None, path=path)
            return (LIST, is_bool, prop, ListPlan(items, item_plan, is_bool=_is_exclusive_boolean_type(items)), deep)
        if is_object_type(prop) and "properties" in prop:
            return (OBJECT, is_bool, prop, self._compile_object(prop, breadcrumb=crumb, path=path), deep)
        return (PRIMITIVE, is_bool, prop, None, deep)

    # --- the walk ---------------------------------------------------------------------------------------------

    def __call__(self, record: dict) -> dict:
        """Conform ``record`` in place (see the class) and return it."""
        unmapped: list[str] = []
        self._object(record, self.plan, unmapped)
        if unmapped:
            _warn_unmapped_properties(self.stream_name, tuple(unmapped), self.logger)
        return record

    def _object(self, obj: dict, plan: ObjectPlan, unmapped: list[str]) -> None:
        props = plan.props
        if props is None:
            _no_properties(obj)
            return
        normalise = self.normalise
        isfinite = math.isfinite
        gone: list[t.Any] | None = None
        for key, value in obj.items():
            node = props.get(key)
            if node is None:
                gone = self._unknown(obj, key, value, plan, unmapped, gone)
                continue
            kind = type(value)
            if kind is str:
                if node[1]:
                    obj[key] = True
                else:
                    fixed = normalise(value)
                    if fixed is not None:
                        obj[key] = fixed
            elif value is None or kind is bool:
                pass
            elif kind is int:
                if node[1]:
                    obj[key] = value != 0
            elif kind is dict and node[0] == OBJECT:
                self._object(value, node[3], unmapped)
            elif kind is float:
                if not isfinite(value):
                    obj[key] = None
            elif kind is list and node[0] == LIST:
                self._list(value, node[3], unmapped)
            else:
                obj[key] = self._other(value, node, unmapped)
        if gone is not None:
            _delete(obj, gone)

    def _unknown(
        self, obj: dict, key: t.Any, value: t.Any, plan: ObjectPlan, unmapped: list[str], gone: list[t.Any] | None
    ) -> list[t.Any] | None:
        """A property the plan does not hold: deselected (dropped), kept (``additionalProperties``: only its
        dates normalised and its deselected parts dropped) or unmapped (dropped, warned about). Returns ``gone``
        (the keys to drop after the walk), with ``key`` added when it is dropped."""
        crumb = plan.breadcrumb
        if crumb is not None:
            if key in plan.deselected:
                return _with(gone, key)
            crumb = (*crumb, "properties", key)
            if not self.mask[crumb]:
                return _with(gone, key)
        if not plan.additional:
            unmapped.append(key if plan.path is None else f"{plan.path}.{key}")
            return _with(gone, key)
        if isinstance(value, str):
            fixed = self.normalise(value)
            if fixed is not None:
                obj[key] = fixed
        elif isinstance(value, dict | list):
            self._normalise_deep(value)
            if crumb is not None and isinstance(value, dict) and self._deselects_below(crumb):
                pop_deselected_record_properties(value, {}, self.mask, crumb)
        return gone

    def _list(self, items: list, plan: ListPlan, unmapped: list[str]) -> None:
        object_plan = plan.object_plan
        is_bool = plan.is_bool
        normalise = self.normalise
        for index, item in enumerate(items):
            kind = type(item)
            if kind is dict and object_plan is not None:
                self._object(item, object_plan, unmapped)
            elif kind is str:
                if is_bool:
                    items[index] = True
                else:
                    fixed = normalise(item)
                    if fixed is not None:
                        items[index] = fixed
            elif item is None or kind is bool:
                pass
            elif kind is int:
                if is_bool:
                    items[index] = item != 0
            elif kind is float:
                if not math.isfinite(item):
                    items[index] = None
            elif object_plan is not None and isinstance(item, dict):
                self._object(item, object_plan, unmapped)
            else:
                items[index] = self._primitive(item, plan.schema, None)

    def _other(self, value: t.Any, node: Node, unmapped: list[str]) -> t.Any:
        """A value the fast path does not decide (subclasses, containers the schema does not expect here,
        datetimes, bytes, decimals...): the SDK's order of tests, its own primitive conformance."""
        kind = node[0]
        if isinstance(value, list):
            if kind == LIST:
                self._list(value, node[3], unmapped)
                return value
            if kind == LIST_RAISES:
                is_uniform_list(node[2])  # raises as the SDK does
        elif isinstance(value, dict) and kind == OBJECT:
            self._object(value, node[3], unmapped)
            return value
        return self._primitive(value, node[2], node[4])

    def _primitive(self, value: t.Any, schema: dict, deep: Breadcrumb | None) -> t.Any:
        """``normalise_dates`` and deselection inside a value the schema does not describe, then the SDK's
        primitive conformance."""
        if isinstance(value, str):
            value = self.normalise(value) or value
        elif isinstance(value, dict | list):
            self._normalise_deep(value)
            if deep is not None and isinstance(value, dict):
                pop_deselected_record_properties(value, {}, self.mask, deep)
        return _conform_primitive_property(value, schema)

    def _normalise_deep(self, value: dict | list) -> None:
        """Every date-time string inside ``value`` normalised, in place (the tap's ``normalise_dates``)."""
        slots: t.Iterable[tuple[t.Any, t.Any]] = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in slots:
            if isinstance(item, str):
                fixed = self.normalise(item)
                if fixed is not None:
                    value[key] = fixed
            elif isinstance(item, dict | list):
                self._normalise_deep(item)


# --- rarely taken steps of ``RecordConformer._object`` (kept out of its loop) -------------------------------------


def _no_properties(obj: dict) -> None:
    """An object schema without ``properties`` (list items): the SDK fails on any key, accepts an empty dict."""
    if obj:
        raise KeyError("properties")  # what the SDK raises for such an item schema


def _with(gone: list[t.Any] | None, key: t.Any) -> list[t.Any]:
    """``gone`` (the keys to drop once the walk over the object is done) with ``key`` added; created on first use."""
    if gone is None:
        return [key]
    gone.append(key)
    return gone


def _delete(obj: dict, gone: list[t.Any]) -> None:
    """Drop the ``gone`` keys from ``obj`` (after the walk: a dict cannot shrink while iterated)."""
    for key in gone:
        del obj[key]
