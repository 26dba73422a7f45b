"""Validation of the map's definitions: ticket types, custom object types (declared for the target to check, as
Intercom creates them in its UI only) and attribute definitions, each with Intercom's naming and data-type rules."""

from __future__ import annotations

import typing as t

from map_topdesk_intercom.definitions import (
    CARDINALITIES,
    DATA_MODELS,
    DATA_TYPES,
    OBJECT_DATA_TYPES,
    RELATIONSHIP_HOSTS,
    TICKET_CATEGORIES,
    WITH_OPTIONS,
    AttributeDef,
    CustomObjectTypeDef,
    ObjectAttributeDef,
    RelationshipDef,
    TicketTypeDef,
    attribute_name_problem,
)
from map_topdesk_intercom.rules import Condition
from map_topdesk_intercom.yamlines import LineDict


class DefinitionChecks:
    """Definition checks for the map checker (which provides ``add`` and ``check_when``)."""

    add: t.Callable[[int, str], None]
    check_when: t.Callable[[dict | None, t.Any, int], list[Condition]]

    def check_ticket_types(self, doc: LineDict) -> list[TicketTypeDef]:
        result: list[TicketTypeDef] = []
        raw = doc.get("ticket_types") or []
        if not isinstance(raw, list):
            self.add(doc.line_of("ticket_types"), "ticket_types must be a list")
            return result
        for item in raw:
            line = getattr(item, "line", doc.line_of("ticket_types"))
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.add(line, "a ticket type needs a name")
                continue
            unknown = set(item) - {"name", "category", "description", "icon", "when"}
            if unknown:
                self.add(line, f"ticket type {item['name']!r}: unknown keys {sorted(unknown)}")
            category = item.get("category", "Customer")
            if category not in TICKET_CATEGORIES:
                mapping = t.cast("LineDict", item)  # every mapping of a loaded map is a LineDict (``yamlines``)
                self.add(
                    mapping.line_of("category"), f"ticket type category must be one of {sorted(TICKET_CATEGORIES)}"
                )
            result.append(
                TicketTypeDef(
                    item["name"], category, item.get("description"), item.get("icon"), self.strategy_when(item)
                )
            )
        return result

    def check_custom_object_types(self, doc: LineDict) -> list[CustomObjectTypeDef]:
        """Custom object types are created in Intercom's UI only: the map declares them (name, attributes with
        Intercom's formats, relationships) so the target can check the workspace before any record moves."""
        result: list[CustomObjectTypeDef] = []
        raw = doc.get("custom_object_types") or []
        if not isinstance(raw, list):
            self.add(doc.line_of("custom_object_types"), "custom_object_types must be a list")
            return result
        names = {item.get("name") for item in raw if isinstance(item, dict)}
        for item in raw:
            line = getattr(item, "line", doc.line_of("custom_object_types"))
            if not isinstance(item, LineDict) or not isinstance(item.get("name"), str) or not item["name"].strip():
                self.add(line, "a custom object type needs a name")
                continue
            type_def = self._custom_object_type(item, line, result)
            for attribute in self._list(item, "attributes", type_def.name):
                self._object_attribute(type_def, attribute, line)
            for relationship in self._list(item, "relationships", type_def.name):
                self._relationship(type_def, relationship, line, names)
            result.append(type_def)
        return result

    def _custom_object_type(
        self, item: LineDict, line: int, declared: list[CustomObjectTypeDef]
    ) -> CustomObjectTypeDef:
        """A custom object type's name and keys (its attributes and relationships are checked apart)."""
        name = item["name"]
        unknown = set(item) - {"name", "description", "attributes", "relationships", "when"}
        if unknown:
            self.add(line, f"custom object type {name!r}: unknown keys {sorted(unknown)}")
        if any(o.name == name for o in declared):
            self.add(line, f"custom object type {name!r} is declared twice")
        if not name.replace(" ", "").replace("_", "").isalnum():
            self.add(
                item.line_of("name"),
                f"custom object type name {name!r}: letters, digits, spaces and underscores only",
            )
        return CustomObjectTypeDef(name, item.get("description"), when=self.strategy_when(item))

    def _object_attribute(self, type_def: CustomObjectTypeDef, attribute: t.Any, line: int) -> None:
        """One attribute of a custom object type, added to ``type_def`` unless its name is unusable."""
        name = type_def.name
        aline = getattr(attribute, "line", line)
        if not isinstance(attribute, LineDict):
            self.add(aline, f"{name}: an attribute is {{name, data_type, options?, description?}}")
            return
        extra = set(attribute) - {"name", "data_type", "options", "description"}
        if extra:
            self.add(aline, f"{name}: attribute: unknown keys {sorted(extra)}")
        problem = attribute_name_problem(attribute.get("name"))
        if problem:
            self.add(attribute.line_of("name"), problem)
            return
        data_type, options = attribute.get("data_type"), attribute.get("options")
        if data_type not in OBJECT_DATA_TYPES:
            self.add(
                attribute.line_of("data_type"),
                f"{name}.{attribute['name']}: data_type {data_type!r} is not a custom object format "
                f"(one of {sorted(OBJECT_DATA_TYPES)})",
            )
        if data_type in WITH_OPTIONS and (not isinstance(options, list) or len(options) < 2):
            self.add(attribute.line_of("options"), f"{name}.{attribute['name']}: list needs at least 2 options")
        if type_def.attribute(attribute["name"]):
            self.add(aline, f"{name}: attribute {attribute['name']!r} is declared twice")
        type_def.attributes.append(
            ObjectAttributeDef(
                attribute["name"],
                str(data_type),
                [str(o) for o in options] if isinstance(options, list) else None,
                attribute.get("description"),
            )
        )

    def _relationship(self, type_def: CustomObjectTypeDef, relationship: t.Any, line: int, names: set[t.Any]) -> None:
        """One relationship of a custom object type (``names``: the declared types), added to ``type_def`` unless
        its name is unusable."""
        name = type_def.name
        rline = getattr(relationship, "line", line)
        if not isinstance(relationship, LineDict) or set(relationship) - {"name", "from", "cardinality"}:
            self.add(rline, f"{name}: a relationship is {{name, from, cardinality: one|many}}")
            return
        problem = attribute_name_problem(relationship.get("name"))
        if problem:
            self.add(relationship.line_of("name"), problem)
            return
        hosts = relationship.get("from")
        hosts = [hosts] if isinstance(hosts, str) else hosts
        if not isinstance(hosts, list) or not hosts or any(h not in RELATIONSHIP_HOSTS | names for h in hosts):
            self.add(
                relationship.line_of("from"),
                f"{name}.{relationship['name']}: from must name contact, conversation, ticket or "
                f"declared custom object types (found {relationship.get('from')!r})",
            )
            hosts = []
        cardinality = relationship.get("cardinality", "many")
        if cardinality not in CARDINALITIES:
            self.add(
                relationship.line_of("cardinality"),
                f"{name}.{relationship['name']}: cardinality is one or many",
            )
        type_def.relationships.append(RelationshipDef(relationship["name"], [str(h) for h in hosts], str(cardinality)))

    def strategy_when(self, item: t.Any) -> list[Condition]:
        """A definition's ``when``: strategy conditions only (definitions have no record to test)."""
        if not isinstance(item, LineDict) or "when" not in item:
            return []
        conditions = self.check_when(None, item["when"], item.line_of("when"))
        if any(c.strategy is None for c in conditions):
            self.add(item.line_of("when"), "a definition's when can only test strategies ({strategy: S, equals: V})")
        return [c for c in conditions if c.strategy is not None]

    def _list(self, item: LineDict, key: str, owner: str) -> list:
        value = item.get(key) or []
        if not isinstance(value, list):
            self.add(item.line_of(key), f"{owner}: {key} must be a list")
            return []
        return value

    def check_attributes(self, doc: LineDict, ticket_types: set[str]) -> list[AttributeDef]:
        result: list[AttributeDef] = []
        raw = doc.get("attributes") or []
        if not isinstance(raw, list):
            self.add(doc.line_of("attributes"), "attributes must be a list")
            return result
        seen: dict[tuple, int] = {}
        for item in raw:
            line = getattr(item, "line", doc.line_of("attributes"))
            if not isinstance(item, LineDict):
                self.add(line, "an attribute is a mapping with name, model and data_type")
                continue
            unknown = set(item) - {"name", "model", "data_type", "options", "ticket_type", "description", "when"}
            if unknown:
                self.add(line, f"attribute: unknown keys {sorted(unknown)}")
            name, model, data_type = item.get("name"), item.get("model"), item.get("data_type")
            problem = attribute_name_problem(name)
            if problem:
                self.add(item.line_of("name"), problem)
            if model not in DATA_TYPES:
                self.add(item.line_of("model"), f"attribute {name!r}: model must be one of {sorted(DATA_TYPES)}")
                continue
            if data_type not in DATA_TYPES[model]:
                self.add(
                    item.line_of("data_type"),
                    f"attribute {name!r}: data_type {data_type!r} is not valid for model {model} "
                    f"(one of {sorted(DATA_TYPES[model])})",
                )
            options = item.get("options")
            if data_type in WITH_OPTIONS and (not isinstance(options, list) or len(options) < 2):
                self.add(item.line_of("options"), f"attribute {name!r}: data_type {data_type} needs at least 2 options")
            ticket_type = item.get("ticket_type")
            if model == "ticket_type" and ticket_type not in ticket_types:
                self.add(
                    item.line_of("ticket_type") if "ticket_type" in item else line,
                    f"attribute {name!r}: ticket_type must name one of the map's ticket_types ({sorted(ticket_types)})",
                )
            key = (model, ticket_type, name)
            if key in seen:
                self.add(line, f"attribute {name!r} is defined twice for {model} (first at line {seen[key]})")
            seen[key] = line
            if model in DATA_MODELS:  # Intercom keeps people and company data attribute names in one namespace
                other = next((m for m in DATA_MODELS if m != model and (m, None, name) in seen), None)
                if other:
                    self.add(
                        line,
                        f"attribute {name!r}: a {other} attribute has that name (line "
                        f"{seen[(other, None, name)]}); Intercom refuses a {model} attribute named like "
                        f"{other} data: rename one",
                    )
            result.append(
                AttributeDef(
                    str(name),
                    model,
                    str(data_type),
                    [str(o) for o in options] if isinstance(options, list) else None,
                    ticket_type,
                    item.get("description"),
                    self.strategy_when(item),
                )
            )
        return result

    # ---- streams and outputs
