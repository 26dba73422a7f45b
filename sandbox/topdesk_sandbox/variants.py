"""Variants a real TOPdesk tenant has that the default sandbox does not play: ``topdesk-sandbox serve --variant NAME``
(repeatable), ``SandboxSettings(variants={...})``. Each is read by the route that differs (``Context.variant``);
``EVIDENCE.md`` names where each was seen."""

from __future__ import annotations

#: name -> what the sandbox does differently with it on
VARIANTS: dict[str, str] = {
    "asset-grids-unid": "asset grids (`/assetmgmt/assets` with `fields=`) key each row `unid`, not `id`",
    "assets-old-filters": "asset `$filter` as before API 1.80: `and` only (no `or`, no parentheses), dates `gt`/`lt` "
    "only",
    "change-1.4": "change API 1.4.0: `/operatorChanges` refuses `query` and `fields`, sorts only on `simple.closedDate`"
    " or `simple.plannedImplementationDate`, answers 200 on every page",
    "kb-default-nl": "the knowledge base's default language is `nl`: a listing without `language` lists the items "
    "(folders) with Dutch content",
    "no-sent-email-permission": "the operator lacks the read permission on 'Sent email messages': "
    "`/tas/api/emails/id/{id}` answers 403",
}


def check_variants(names: frozenset[str]) -> frozenset[str]:
    """The ``variants`` setting, validated: known names only."""
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    return names
