"""What other packages (the ``topdesk2intercom`` CLI) may use of the mapper: everything else is internal."""

from __future__ import annotations

from map_topdesk_intercom.commands import cli as topdesk_map
from map_topdesk_intercom.engine import FLAGGED, Engine
from map_topdesk_intercom.mapfile import DEFAULT_MAP, MapInvalid, MapSpec, OutputSpec, catalog_from_file, load_map
from map_topdesk_intercom.mapper import TopdeskIntercomMapper
from map_topdesk_intercom.propose import (
    ASSET_BUILTINS,
    OPTIONAL_GROUPS,
    OPTIONAL_TARGETS,
    is_filled,
    is_freely_definable,
)
from map_topdesk_intercom.propose import main as propose

__all__ = [
    "ASSET_BUILTINS",
    "DEFAULT_MAP",
    "FLAGGED",
    "OPTIONAL_GROUPS",
    "OPTIONAL_TARGETS",
    "Engine",
    "MapInvalid",
    "MapSpec",
    "OutputSpec",
    "TopdeskIntercomMapper",
    "catalog_from_file",
    "is_filled",
    "is_freely_definable",
    "load_map",
    "propose",
    "topdesk_map",
]
