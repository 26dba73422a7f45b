"""Variants a real TOPdesk tenant has that the default sandbox does not play: ``topdesk-sandbox serve --variant NAME``
(repeatable), ``SandboxSettings(variants={...})``. Each is read by the route that differs (``Context.variant``);
``EVIDENCE.md`` names where each was seen."""

from __future__ import annotations

#: name -> what the sandbox does differently with it on
VARIANTS: dict[str, str] = {}


def check_variants(names: frozenset[str]) -> frozenset[str]:
    """The ``variants`` setting, validated: known names only."""
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    return names
