"""The rebuild inventory: TOPdesk things with no Intercom home."""

from __future__ import annotations

from target_intercom.ledger import Entity
from target_intercom.writers.base import LISTED, Outcome, WriteContext, Writer


class InventoryWriter(Writer):
    """Something with no Intercom home (events and actions, activity templates, schedules, permission levels,
    asset templates and links when assets become companies, problems when known errors become articles): nothing
    is sent. Each item is kept in the ledger (kind ``inventory_items``, the record in ``extra``) for the handoff
    inventory, and listed in the run's report (category ``rebuild_inventory``)."""

    kind = "inventory_items"
    represented = LISTED  # nothing written: the record is kept for the handoff inventory
    requests_per_create = requests_per_update = 0

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        item = {key: record.get(key) for key in ("kind", "name", "module", "detail")}
        item["related"] = (record.get("refs") or {}).get("related")
        return Outcome(
            f"inventory:{record['source_key']}",
            LISTED,
            extra=item,
            issues=[
                {
                    "category": "rebuild_inventory",
                    "severity": "info",
                    "field": item["kind"],
                    "reason": f"no Intercom home: rebuild by hand ({item['kind']})",
                    "detail": {k: v for k, v in item.items() if k != "kind" and v not in (None, "")},
                }
            ],
        )

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        """Nothing was written."""
