"""The TOPdesk -> Intercom map as data, applied by a Singer mapper (singer-sdk InlineMapper)."""

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import DEFAULT_MAP, MapInvalid, MapSpec, load_map

__all__ = ["DEFAULT_MAP", "Engine", "MapInvalid", "MapSpec", "load_map"]
