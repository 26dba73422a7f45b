"""Asset management (`/tas/api/assetmgmt`): templates (asset types, incl. configuration-item templates and freely
definable types), one card type per template with its field definitions, assets as grid rows carrying every
field of their template, and parent-child links (a forest, plus exactly one planted A->B->C->A cycle).

Stock and bulk-item templates (``_resourceCategory`` stock / bulkItem) and their items come last, drawn from a
generator of their own, so every other record of a seed stays as it was before they existed; the API lists them
only when asked for their category (``resourceCategory``, default ``asset``)."""

from __future__ import annotations

from typing import Any

from .common import ANCHOR, DAY, HISTORY_DAYS, Context, Record, Rng, asset_date

S, N, D, B = "STRING", "NUMBER", "DATE", "BOOLEAN"
MAKES = {
    "Computer": (
        ("Dell", "Latitude 5440"),
        ("HP", "EliteBook 840"),
        ("Lenovo", "ThinkPad T14"),
        ("Apple", "MacBook Pro"),
    ),
    "Printer": (("Canon", "imageRUNNER C3226"), ("Ricoh", "IM C3000"), ("HP", "LaserJet M507")),
    "Mobile phone": (("Apple", "iPhone 15"), ("Samsung", "Galaxy S24"), ("Google", "Pixel 8")),
    "Network device": (("Cisco", "Catalyst 9300"), ("Fortinet", "FortiGate 100F"), ("Ubiquiti", "UniFi AP")),
    "Vehicle": (("Volkswagen", "Caddy"), ("Renault", "Kangoo E-Tech"), ("Toyota", "Proace")),
}

#: name -> (kind, icon, weight, person-assigned, extra fields)
TEMPLATES: dict[str, tuple[str, str, int, bool, tuple[tuple[str, str, str], ...]]] = {
    "Computer": (
        "hardware",
        "computer",
        30,
        True,
        (
            ("serialnumber", "Serial number", S),
            ("make", "Make", S),
            ("model", "Model", S),
            ("purchase-date", "Purchase date", D),
            ("purchase-price", "Purchase price", N),
            ("operating-system", "Operating system", S),
            ("ram-gb", "RAM (GB)", N),
        ),
    ),
    "Printer": (
        "hardware",
        "printer",
        5,
        False,
        (
            ("serialnumber", "Serial number", S),
            ("make", "Make", S),
            ("model", "Model", S),
            ("ip-address", "IP address", S),
            ("color", "Colour printing", B),
        ),
    ),
    "Mobile phone": (
        "hardware",
        "mobile_phone",
        12,
        True,
        (("imei", "IMEI", S), ("make", "Make", S), ("model", "Model", S), ("phone-number", "Phone number", S)),
    ),
    "Software": (
        "software",
        "software",
        12,
        False,
        (("vendor", "Vendor", S), ("version", "Version", S), ("install-date", "Installation date", D)),
    ),
    "Licence": (
        "licence",
        "license",
        8,
        False,
        (
            ("vendor", "Vendor", S),
            ("licence-key", "Licence key", S),
            ("seats", "Seats", N),
            ("expiry-date", "Expiry date", D),
        ),
    ),
    "Network device": (
        "network",
        "switch_router",
        6,
        False,
        (("ip-address", "IP address", S), ("make", "Make", S), ("model", "Model", S), ("firmware", "Firmware", S)),
    ),
    "Server (CI)": (
        "configurationItem",
        "server",
        6,
        False,
        (
            ("hostname", "Host name", S),
            ("ip-address", "IP address", S),
            ("operating-system", "Operating system", S),
            ("environment", "Environment", S),
            ("cpu-cores", "CPU cores", N),
        ),
    ),
    "Application (CI)": (
        "configurationItem",
        "application",
        6,
        False,
        (("owner", "Application owner", S), ("version", "Version", S), ("criticality", "Criticality", S)),
    ),
    "Business service (CI)": (
        "configurationItem",
        "service",
        3,
        False,
        (("service-owner", "Service owner", S), ("sla-level", "SLA level", S)),
    ),
    "Key card": (
        "freelyDefinable",
        "key",
        7,
        True,
        (
            ("card-number", "Card number", S),
            ("access-zones", "Access zones", S),
            ("valid-until", "Valid until", D),
            ("issued", "Issued", B),
        ),
    ),
    "Vehicle": (
        "freelyDefinable",
        "car",
        5,
        False,
        (
            ("license-plate", "License plate", S),
            ("make", "Make", S),
            ("model", "Model", S),
            ("mileage", "Mileage (km)", N),
            ("next-service", "Next service", D),
        ),
    ),
}

#: (child template, parent template): links only go "up" this list, so ordinary links never form a cycle.
LINK_RULES = (
    ("Application (CI)", "Business service (CI)"),
    ("Server (CI)", "Application (CI)"),
    ("Software", "Computer"),
    ("Licence", "Software"),
    ("Key card", "Vehicle"),
)
#: Stock and bulk-item templates: name -> (resource category, icon, weight, person-assigned, fields).
CATEGORY_TEMPLATES: dict[str, tuple[str, str, int, bool, tuple[tuple[str, str, str], ...]]] = {
    "Stock room": ("stock", "stock", 1, False, (("stock-code", "Stock code", S), ("manager", "Stock manager", S))),
    "Toner cartridge": (
        "bulkItem",
        "toner",
        3,
        False,
        (("colour", "Colour", S), ("printer-model", "Printer model", S), ("unit-price", "Unit price", N)),
    ),
    "Network cable": (
        "bulkItem",
        "cable",
        3,
        False,
        (("length-m", "Length (m)", N), ("cable-category", "Category", S)),
    ),
}
CI_TEMPLATES = ("Server (CI)", "Application (CI)", "Business service (CI)", "Computer", "Printer")
ASSET_START_MS = (ANCHOR - (HISTORY_DAYS + 600) * DAY) * 1000


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    templates, cardtypes = [], []
    tpl_ids: dict[str, str] = {}
    for name, (kind, icon, _w, person, fields) in TEMPLATES.items():
        tid = rng.upper_uuid()
        tpl_ids[name] = tid
        templates.append(
            {
                "archived": False,
                "functionalities": [],
                "icon": icon,
                "id": tid,
                "inheritance": {"location": not person, "person": person},
                "properties": {},
                "text": name,
            }
        )
        cardtypes.append(
            {
                "displayName": name,
                "fields": [_field("name", "Name", S, unique=True, required=True)]
                + [_field(k, label, t) for k, label, t in fields],
                "key": tid,
                "operations": {
                    "archive": f"/tas/api/assetmgmt/assets/{{id}}/archive?templateId={tid}",
                    "create": f"/tas/api/assetmgmt/assets?templateId={tid}",
                    "getList": f"/tas/api/assetmgmt/assets?templateId={tid}",
                    "modify": "/tas/api/assetmgmt/assets/{id}",
                    "open": "/tas/api/assetmgmt/assets/{id}",
                },
                "permissions": {"executeImports": True},
                "_kind": kind,
            }
        )
    for ct in cardtypes:
        del ct["_kind"]
    ctx.records["asset_templates"] = templates
    ctx.records["asset_cardtypes"] = cardtypes
    ctx.make_ids = {}
    ctx.branch_of_asset = {}
    ctx.asset_created = {}

    names = list(TEMPLATES)
    weights = [TEMPLATES[n][2] for n in names]
    assets: list[dict[str, Any]] = []
    by_tpl: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    counters: dict[str, int] = {}
    # Every template gets at least one asset, so freely definable types are never empty.
    picks = names + rng.choices(names, weights, k=max(0, plan.assets - len(names)))
    for tpl in picks:
        a = _asset(ctx, tpl, tpl_ids[tpl], counters)
        assets.append(a)
        by_tpl[tpl].append(a)

    links: list[Record] = []
    for child_tpl, parent_tpl in LINK_RULES:
        parents = by_tpl[parent_tpl]
        links.extend(
            _link(ctx, rng.choice(parents)["id"], a["id"]) for a in by_tpl[child_tpl] if parents and rng.chance(0.6)
        )
    # The planted cycle: three extra network devices linked A -> B -> C -> A (no other links touch them).
    cycle = [
        _asset(ctx, "Network device", tpl_ids["Network device"], counters, name=f"CORE-RING-0{i}") for i in (1, 2, 3)
    ]
    assets.extend(cycle)
    links.extend(_link(ctx, cycle[i]["id"], cycle[(i + 1) % 3]["id"]) for i in range(3))
    ctx.records["assets"] = assets
    ctx.records["asset_links"] = links
    ctx.plant("asset_link_cycle", [a["id"] for a in cycle])
    ctx.plant("freely_definable_asset_templates", [tpl_ids["Key card"], tpl_ids["Vehicle"]])
    ctx.ci_assets = [a for t in CI_TEMPLATES for a in by_tpl[t] if not a["archived"]]
    ctx.asset_tpl = tpl_ids
    ctx.assets_by_tpl = by_tpl
    _stock_and_bulk_items(ctx, counters)


def _stock_and_bulk_items(ctx: Context, counters: dict[str, int]) -> None:
    """Templates of the other resource categories, with their card types and items, from a generator seeded by the
    main one's state (which it leaves untouched)."""
    rng = Rng(repr(ctx.rng.getstate()))
    per_weight = max(1, ctx.plan.assets // 120)
    items: list[dict[str, Any]] = []
    for name, (category, icon, weight, _person, fields) in CATEGORY_TEMPLATES.items():
        tid = rng.upper_uuid()
        ctx.records["asset_templates"].append(
            {
                "archived": False,
                "functionalities": [],
                "icon": icon,
                "id": tid,
                "inheritance": {"location": True, "person": False},
                "properties": {},
                "text": name,
                "_resourceCategory": category,
            }
        )
        ctx.records["asset_cardtypes"].append(
            {
                "displayName": name,
                "fields": [_field("name", "Name", S, unique=True, required=True)]
                + [_field(k, label, t) for k, label, t in fields],
                "key": tid,
                "operations": {"getList": f"/tas/api/assetmgmt/assets?templateId={tid}&resourceCategory={category}"},
                "permissions": {"executeImports": True},
            }
        )
        items += [_asset(ctx, name, tid, counters, rng=rng) for _ in range(weight * per_weight)]
    ctx.records["assets"].extend(items)
    ctx.plant("stock_and_bulk_items", [a["id"] for a in items], max_ids=20)


def _field(key: str, label: str, ftype: str, *, unique: bool = False, required: bool = False) -> dict[str, Any]:
    return {
        "defaultUniqueKey": unique,
        "displayName": label,
        "key": key,
        "operations": {"getCardType": None, "link": None},
        "readOnly": False,
        "required": required,
        "type": ftype,
    }


def _link(ctx: Context, source: str, target: str) -> dict[str, Any]:
    return {"linkId": ctx.rng.uuid(), "sourceId": source, "targetId": target, "capabilityId": None}


PREFIX = {
    "Computer": "PC",
    "Printer": "PRN",
    "Mobile phone": "MOB",
    "Software": "SW",
    "Licence": "LIC",
    "Network device": "NET",
    "Server (CI)": "SRV",
    "Application (CI)": "APP",
    "Business service (CI)": "BS",
    "Key card": "KEY",
    "Vehicle": "CAR",
    "Stock room": "STK",
    "Toner cartridge": "TON",
    "Network cable": "CBL",
}
APPS = ("HiX", "Exact Online", "AFAS Profit", "SAP S/4HANA", "TOPdesk", "Microsoft 365", "Nedap Ons", "Citrix")
SERVICES = ("E-mail", "Patient records", "Payroll", "Workplace", "Telephony", "Internet access", "Printing")


def _asset(
    ctx: Context, tpl: str, tid: str, counters: dict[str, int], name: str | None = None, rng: Rng | None = None
) -> dict[str, Any]:
    rng = rng or ctx.rng
    counters[tpl] = n = counters.get(tpl, 0) + 1
    created = rng.randint(ASSET_START_MS, (ANCHOR - DAY) * 1000)
    modified = rng.randint(created, (ANCHOR - 60) * 1000)
    _kind, icon, _w, person, fields = TEMPLATES.get(tpl) or CATEGORY_TEMPLATES[tpl]
    if name is None:
        if tpl == "Application (CI)":
            name = f"{APPS[n % len(APPS)]} {n}"
        elif tpl == "Business service (CI)":
            name = f"{SERVICES[n % len(SERVICES)]} service {n}"
        else:
            name = f"{PREFIX[tpl]}-{n:05d}"
    make, model = rng.choice(MAKES.get(tpl, (("", ""),)))
    archived = rng.chance(0.05)
    branch = rng.choice(ctx.records["branches"])
    loc = rng.choice(ctx.locations_by_branch[branch["id"]])
    if person:
        p = rng.choice(ctx.records["persons"])
        assignments = {
            "locations": [],
            "persons": [
                {
                    "linkId": rng.uuid(),
                    "linkedObjectType": "person",
                    "person": {"id": p["id"], "name": p["dynamicName"]},
                    "personGroup": None,
                    "inheritanceParentId": None,
                }
            ],
        }
    else:
        assignments = {
            "locations": [
                {
                    "linkId": rng.uuid(),
                    "linkedObjectType": "location",
                    "branch": {"id": branch["id"], "name": branch["name"]},
                    "location": {"id": loc["id"], "name": loc["name"]},
                    "inheritanceParentId": None,
                }
            ],
            "persons": [],
        }
    mod = asset_date(modified)
    a: dict[str, Any] = {
        "id": rng.uuid(),
        "name": name,
        "archived": archived,
        "creationDate": asset_date(created),
        "modificationDate": mod,
        "@etag": mod,
        "type_id": tid,
        "@type": {"name": tpl, "icon": icon},
        "@@summary": f"{make} {model}".strip() or tpl,
        "@status": "IMPACTED" if rng.chance(0.03) else "OPERATIONAL",
        "@assignments": assignments,
    }
    for key, _label, ftype in fields:
        a[key] = _value(ctx, rng, key, ftype, make, model, created)
    ctx.branch_of_asset[a["id"]] = (branch, loc)
    ctx.asset_created[a["id"]] = created
    return a


def _value(ctx: Context, rng: Rng, key: str, ftype: str, make: str, model: str, created_ms: int) -> Any:
    if key == "make":
        return make
    if key == "model":
        return model
    if ftype == D:
        return asset_date(created_ms + rng.randint(-200, 900) * DAY * 1000)[:10] + "T00:00:00.000"
    if key == "length-m":  # apart: every entry of the table below is drawn on each call
        return rng.choice((1, 2, 3, 5, 10))
    if ftype == N:
        return {
            "ram-gb": rng.choice((8, 16, 32)),
            "cpu-cores": rng.choice((2, 4, 8, 16)),
            "seats": rng.choice((5, 25, 100, 500)),
            "mileage": rng.randint(1000, 180000),
        }.get(key, round(rng.uniform(100, 2500), 2))
    if ftype == B:
        return rng.chance(0.6)
    text = {
        "serialnumber": lambda: f"SN{rng.getrandbits(40):010X}",
        "imei": lambda: "35" + "".join(str(rng.randint(0, 9)) for _ in range(13)),
        "ip-address": lambda: f"10.{rng.randint(0, 40)}.{rng.randint(0, 254)}.{rng.randint(1, 254)}",
        "operating-system": lambda: rng.choice(("Windows 11", "Windows Server 2022", "Ubuntu 22.04", "macOS 14")),
        "vendor": lambda: rng.choice(("Microsoft", "Adobe", "Atlassian", "SAP", "Citrix")),
        "version": lambda: f"{rng.randint(1, 24)}.{rng.randint(0, 9)}",
        "licence-key": lambda: "-".join(f"{rng.getrandbits(20):05X}" for _ in range(4)),
        "firmware": lambda: f"v{rng.randint(6, 7)}.{rng.randint(0, 4)}.{rng.randint(0, 20)}",
        "hostname": lambda: f"srv-{rng.getrandbits(16):04x}",
        "environment": lambda: rng.choice(("Production", "Acceptance", "Test")),
        "owner": lambda: rng.choice(ctx.records["persons"])["dynamicName"],
        "service-owner": lambda: rng.choice(ctx.records["persons"])["dynamicName"],
        "criticality": lambda: rng.choice(("Low", "Medium", "High")),
        "sla-level": lambda: rng.choice(("Bronze", "Silver", "Gold")),
        "phone-number": lambda: f"+31 6 {rng.randint(10000000, 99999999)}",
        "card-number": lambda: f"{rng.randint(100000, 999999)}",
        "access-zones": lambda: rng.choice(("Main entrance", "Main entrance, Server room", "All zones")),
        "stock-code": lambda: f"STK-{rng.randint(100, 999)}",
        "manager": lambda: rng.choice(ctx.records["persons"])["dynamicName"],
        "colour": lambda: rng.choice(("Black", "Cyan", "Magenta", "Yellow")),
        "printer-model": lambda: " ".join(rng.choice(MAKES["Printer"])),
        "cable-category": lambda: rng.choice(("Cat5e", "Cat6", "Cat6a")),
        "license-plate": lambda: (
            f"V-{rng.randint(100, 999)}-{rng.choice('BDFGHJKLNPRSTXZ')}{rng.choice('BDFGHJKLNPRSTXZ')}"
        ),
    }.get(key)
    return text() if text else ""
