"""Supporting files: branches, locations, departments, budget holders, suppliers, operators, operator groups
(+ memberships) and persons, shaped like supporting-files 2.7.11 (ExtendedBranchDto, ExtendedLocationDto,
SupplierDto, OperatorDto, OperatorGroupDto, PersonV2Dto)."""

from __future__ import annotations

from typing import Any

from . import words
from .common import ANCHOR, DAY, EMPTY_OF, HISTORY_DAYS, Context, filled_optional_fields, ref, td

TASKS = (
    "installer",
    "firstLineCallOperator",
    "secondLineCallOperator",
    "problemManager",
    "problemOperator",
    "changeCoordinator",
    "changeActivitiesOperator",
    "requestForChangeOperator",
    "extensiveChangeOperator",
    "simpleChangeOperator",
    "scenarioManager",
    "planningActivityManager",
    "projectCoordinator",
    "projectActiviesOperator",
    "stockManager",
    "reservationsOperator",
    "serviceOperator",
    "externalHelpDeskParty",
    "contractManager",
    "operationsOperator",
    "operationsManager",
    "knowledgeBaseManager",
    "accountManager",
)

COUNTRIES = {"NL": "Netherlands", "BE": "Belgium", "DE": "Germany", "FR": "France", "GB": "United Kingdom"}
LANGUAGES = (("NLD", "nl"), ("ENG", "en"), ("DEU", "de"), ("FRA", "fr"))
COUNTRY_LANGUAGE = {"NL": "NLD", "BE": "NLD", "DE": "DEU", "FR": "FRA", "GB": "ENG"}
#: Start of the data: supporting files exist before the first call.
SETUP_START = ANCHOR - (HISTORY_DAYS + 900) * DAY
SETUP_END = ANCHOR - (HISTORY_DAYS + 10) * DAY


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    ctx.countries = {code: {"id": rng.uuid(), "name": name} for code, name in COUNTRIES.items()}
    ctx.languages = {code: {"id": rng.uuid(), "name": code, "code": iso} for code, iso in LANGUAGES}
    # ``/tas/api/languages``: TOPdesk's language list (LanguageDto), the one knowledge-base translations must be in.
    ctx.records["languages"] = [
        {"id": lang["id"], "name": lang["name"], "languageCode": lang["code"]} for lang in ctx.languages.values()
    ]

    # Operator identities first: every other record names an operator as creator/modifier.
    ctx.op_ids = [{"id": rng.uuid(), "principalId": rng.uuid()} for _ in range(plan.operators)]
    _operator_names(ctx)
    ctx.admin = {"id": ctx.op_ids[1]["id"], "name": ctx.op_ids[1]["dynamicName"]}

    _departments(ctx)
    _branches(ctx)
    _locations(ctx)
    _suppliers(ctx)
    _operator_groups(ctx)
    _operators(ctx)
    _memberships(ctx)
    _persons(ctx)


def _stamp(ctx: Context, lo: int = SETUP_START, hi: int = SETUP_END, created: int | None = None) -> dict[str, Any]:
    rng = ctx.rng
    if created is None:
        created = rng.between(lo, hi)
    modified = rng.between(created, ANCHOR - DAY)
    return {
        "creator": ctx.admin,
        "creationDate": td(created),
        # ``op_refs`` exists once ``_operators`` ran (Context declares it without a value); before, the admin.
        "modifier": rng.choice(ctx.op_refs) if hasattr(ctx, "op_refs") else ctx.admin,
        "modificationDate": td(modified),
    }


def _operator_names(ctx: Context) -> None:
    rng = ctx.rng
    used: set[str] = set()
    for i, op in enumerate(ctx.op_ids):
        if i == 0:
            first, prefix, sur, login = "API", "", "Migration", "api_operator"
        else:
            first = rng.choice(words.FIRST_NAMES)
            prefix, sur = rng.choice(words.SURNAMES)
            login = base = f"{first[0]}{prefix.replace(' ', '')}{sur}".lower()
            n = 1
            while login in used:
                n += 1
                login = f"{base}{n}"
        used.add(login)
        op.update(
            firstName=first,
            prefixes=prefix,
            surName=sur,
            loginName=login,
            dynamicName=" ".join(p for p in (first, prefix, sur) if p),
        )


def _departments(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    nd = min(len(words.DEPARTMENTS), max(6, plan.scale // 300))
    nb = min(len(words.BUDGET_HOLDERS), max(4, plan.scale // 600))
    ctx.records["departments"] = [{"id": rng.uuid(), "name": n, "externalLinks": []} for n in words.DEPARTMENTS[:nd]]
    ctx.records["budgetholders"] = [
        {"id": rng.uuid(), "name": n, "externalLinks": []} for n in words.BUDGET_HOLDERS[:nb]
    ]
    ctx.dept_refs = [ref(d) for d in ctx.records["departments"]]
    ctx.bh_refs = [ref(b) for b in ctx.records["budgetholders"]]


def _address(ctx: Context, city: str, country: str) -> dict[str, Any]:
    rng = ctx.rng
    street, number = rng.choice(words.STREETS), str(rng.randint(1, 240))
    postcode = f"{rng.randint(1000, 9999)} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
    return {
        "country": ctx.countries[country],
        "street": street,
        "number": number,
        "county": "",
        "city": city,
        "postcode": postcode,
        "addressMemo": f"{street} {number}\n{postcode} {city.upper()}\n{COUNTRIES[country].upper()}",
        "addressType": "GB" if country == "GB" else "NL",
    }


def _branches(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    out = []
    head: dict[str, Any] | None = None
    for i in range(plan.branches):
        city, tz, country = words.BRANCH_CITIES[i % len(words.BRANCH_CITIES)]
        cycle = i // len(words.BRANCH_CITIES)
        name = f"{words.COMPANY} {city}" + (f" {cycle + 1}" if cycle else "")
        bid = rng.uuid()
        address = _address(ctx, city, country)
        rec = {
            "id": bid,
            "status": "branch",
            "name": name,
            "specification": "Head office" if i == 0 else "",
            "clientReferenceNumber": f"{1000 + i}",
            "timeZone": tz,
            "extraA": None,
            "extraB": None,
            "phone": f"+31 {rng.randint(10, 99)} {rng.randint(1000000, 9999999)}",
            "fax": "",
            "address": address,
            "email": f"{city.lower()}@{words.EMAIL_DOMAIN}",
            "website": f"https://www.{words.EMAIL_DOMAIN}/{city.lower()}",
            "postalAddress": address,
            "branchType": "headBranch" if i == 0 else "hasAHeadBranch",
            "headBranch": None if head is None else ref(head),
            "membershipNumber": "",
            "accountManager": None,
            "contact": None,
            "vatNumber": f"NL{rng.randint(100000000, 999999999)}B01",
            "surfaceArea": float(rng.randint(200, 9000)),
            "volume": float(rng.randint(600, 30000)),
            "attention": None,
            "attentionComment": "",
            "additionalInfo": "",
            "serviceWindowOption": "none",
            "serviceWindow": None,
            "realEstate": _real_estate(ctx),
            "optionalFields1": filled_optional_fields(rng, SETUP_START),
            "optionalFields2": EMPTY_OF,
            "notes": "",
            **_stamp(ctx),
            "hasAttention": False,
        }
        if head is None:
            head = rec
        out.append(rec)
    ctx.records["branches"] = out
    ctx.branch_country = {b["id"]: words.BRANCH_CITIES[i % len(words.BRANCH_CITIES)][2] for i, b in enumerate(out)}
    # What calls/persons embed (incident `Branch`, v1 person branch) and what persons v2 embed.
    ctx.branch_full = {
        b["id"]: {
            "id": b["id"],
            "name": b["name"],
            "clientReferenceNumber": b["clientReferenceNumber"],
            "timeZone": b["timeZone"],
            "extraA": None,
            "extraB": None,
        }
        for b in out
    }
    ctx.branch_v2 = {
        b["id"]: {
            "id": b["id"],
            "name": b["name"],
            "phoneNumber": b["phone"],
            "clientReferenceNumber": b["clientReferenceNumber"],
        }
        for b in out
    }


def _real_estate(ctx: Context) -> dict[str, Any]:
    rng = ctx.rng
    year = rng.randint(1960, 2018)
    return {
        "registryReference": "",
        "ownerName": "",
        "ownerMobile": "",
        "ownerTelephone": "",
        "ownerEmail": "",
        "designatedUse": None,
        "listedBuilding": None,
        "constructionYear": year,
        "acquisitionYear": year + 1,
        "acquisitionPrice": float(rng.randint(500, 9000) * 1000),
        "energyPerformance": None,
        "energyPerformanceMeasurementDate": None,
        "environmentalImpact": None,
        "environmentalImpactMeasurementDate": None,
        "buildingLevelEPC": None,
        "totalAcquisitionCost": 0.0,
        "propertyValuation": 0.0,
        "residualValue": 0.0,
        "annualDepreciation": 0.0,
        "depreciationPeriod": 0,
        "liquidationValue": 0.0,
        "liquidationValueSurveyDate": None,
        "landValue": 0.0,
        "landValueSurveyDate": None,
        "marketValue": 0.0,
        "marketValueSurveyDate": None,
        "rentalValue": 0.0,
        "rentalValueSurveyDate": None,
        "rebuildingValue": 0.0,
        "rebuildingValueSurveyDate": None,
    }


ROOMS = (("Reception", "Entrance"), ("Meeting room", "Meeting"), ("Office", "Workplace"), ("Server room", "Technical"))


def _locations(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    types = {name: {"id": rng.uuid(), "name": name} for _, name in ROOMS}
    out = []
    for b in ctx.records["branches"]:
        for j in range(plan.locations_per_branch):
            kind, use = ROOMS[j % len(ROOMS)]
            reservable = kind == "Meeting room"
            room = f"{rng.randint(0, 4)}.{rng.randint(1, 40):02d}"
            out.append(
                {
                    "id": rng.uuid(),
                    "status": "location",
                    "name": f"{kind} {room} {b['address']['city']}",
                    "roomNumber": room,
                    "functionalUse": types[use],
                    "type": types[use],
                    "capacity": rng.randint(4, 20) if reservable else 0,
                    "specification": "",
                    "budgetHolder": rng.choice(ctx.bh_refs),
                    "branch": ref(b),
                    "buildingZone": None,
                    "roomStatus": None,
                    "roomSetup": "",
                    "majorLocation": None,
                    "area": dict.fromkeys(
                        (
                            "length",
                            "width",
                            "height",
                            "grossFloorArea",
                            "netFloorArea",
                            "tareFloorArea",
                            "functionalArea",
                            "lettableArea",
                            "communalArea",
                            "horizontalCirculationArea",
                            "verticalCirculationArea",
                            "grossVolume",
                            "netVolume",
                        ),
                        0.0,
                    ),
                    "finishing": {
                        "ceilingArea": 0.0,
                        "ceilingCovering": None,
                        "floorArea": 0.0,
                        "floorCovering": None,
                        "glassArea": 0.0,
                        "glassMaterial": None,
                        "wallArea": 0.0,
                        "wallCovering": None,
                    },
                    "reservationManagement": {
                        "reservable": reservable,
                        "issuable": False,
                        "blockTime": 15 if reservable else 0,
                        "visibleInSsd": reservable,
                        "reservableInSsd": reservable,
                        "requiresApproval": False,
                        "reservableBy": "everyone",
                        "reservableByPersonGroup": None,
                        "serviceWindowAppliesTo": "none",
                        "serviceWindow": None,
                        "price": 0.0,
                        "highRate": 0.0,
                        "pricePer": "hour",
                        "deposit": 0.0,
                        "extraInformation": "",
                        "leaseText": "",
                    },
                    "optionalFields1": EMPTY_OF,
                    "optionalFields2": EMPTY_OF,
                    "notes": "",
                    **_stamp(ctx),
                }
            )
    ctx.records["locations"] = out
    ctx.locations_by_branch = {}
    for loc in out:
        ctx.locations_by_branch.setdefault(loc["branch"]["id"], []).append(loc)


def _suppliers(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    out = []
    for i in range(plan.suppliers):
        name = words.SUPPLIERS[i % len(words.SUPPLIERS)]
        if i >= len(words.SUPPLIERS):
            name = f"{name} {i // len(words.SUPPLIERS) + 1}"
        out.append(
            {
                "id": rng.uuid(),
                "name": name,
                "forFirstLine": rng.chance(0.5),
                "forSecondLine": True,
                "forService": rng.chance(0.3),
                "forOperationalActivity": rng.chance(0.4),
                "forChangeManagement": rng.chance(0.3),
            }
        )
    ctx.records["suppliers"] = out


def _operator_shape(ctx: Context, op: dict[str, Any], i: int) -> dict[str, Any]:
    rng = ctx.rng
    branch = rng.choice(ctx.records["branches"])
    loc = rng.choice(ctx.locations_by_branch[branch["id"]])
    api = i == 0
    tasks = {t: rng.chance(0.35) for t in TASKS}
    tasks["firstLineCallOperator"] = tasks["secondLineCallOperator"] = True
    if api:
        tasks = dict.fromkeys(TASKS, True)
    email = "" if op.get("noEmail") else f"{op['loginName']}@{words.EMAIL_DOMAIN}"
    return {
        "id": op["id"],
        "principalId": op["principalId"],
        "status": "operator",
        "accountType": "regular",
        "apiAccount": api,
        "hasApplicationPasswords": api,
        "surName": op["surName"],
        "firstName": op["firstName"],
        "dynamicName": op["dynamicName"],
        "initials": op["firstName"][0] + ".",
        "prefixes": op["prefixes"],
        "birthName": "",
        "title": "",
        "gender": rng.choice(("UNDEFINED", "MALE", "FEMALE")),
        "language": ref(ctx.languages[COUNTRY_LANGUAGE[ctx.branch_country[branch["id"]]]]),
        "branch": ctx.branch_full[branch["id"]],
        "location": {
            "id": loc["id"],
            "branch": ctx.branch_full[branch["id"]],
            "name": loc["name"],
            "room": loc["roomNumber"],
        },
        "telephone": f"+31 {rng.randint(10, 99)} {rng.randint(1000000, 9999999)}",
        "mobileNumber": f"+31 6 {rng.randint(10000000, 99999999)}",
        "faxNumber": "",
        "email": email,
        "exchangeAccount": email,
        "loginName": op["loginName"],
        "loginPermission": True,
        "linkedPerson": None,
        "jobTitle": "API account" if api else rng.choice(("Service desk employee", "IT specialist", "Team lead")),
        "department": ref(ctx.records["departments"][3 % len(ctx.records["departments"])]),
        "budgetHolder": rng.choice(ctx.bh_refs),
        "employeeNumber": f"E{10000 + i}",
        "hourlyRate": float(rng.choice((0, 45, 60, 75))),
        "networkLoginName": op["loginName"],
        "mainframeLoginName": "",
        "hasAttention": False,
        "attention": None,
        "comments": "",
        **tasks,
        **_stamp(ctx),
        "accessRoles": [],
        "optionalFields1": filled_optional_fields(rng, SETUP_START),
        "optionalFields2": EMPTY_OF,
    }


def _operators(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    no_email = sorted(rng.sample(range(1, len(ctx.op_ids)), plan.operators_without_email))
    for i in no_email:
        ctx.op_ids[i]["noEmail"] = True
    ctx.op_refs = [{"id": op["id"], "name": op["dynamicName"]} for op in ctx.op_ids]
    ctx.records["operators"] = [_operator_shape(ctx, op, i) for i, op in enumerate(ctx.op_ids)]
    ctx.plant("operators_without_email", [ctx.op_ids[i]["id"] for i in no_email])


def _operator_groups(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    out = []
    for i in range(plan.operator_groups):
        name = words.OPERATOR_GROUPS[i % len(words.OPERATOR_GROUPS)]
        if i >= len(words.OPERATOR_GROUPS):
            name = f"{name} {i // len(words.OPERATOR_GROUPS) + 1}"
        branch = ctx.records["branches"][i % len(ctx.records["branches"])]
        out.append(
            {
                "id": rng.uuid(),
                "status": "operatorGroup",
                "groupName": name,
                "branch": ctx.branch_full[branch["id"]],
                "location": None,
                "budgetHolder": None,
                "hourlyRate": 0.0,
                "contact": {
                    "dynamicName": name,
                    "telephone": "",
                    "email": f"{name.lower().replace(' ', '')}@{words.EMAIL_DOMAIN}".replace("&", "and"),
                    "department": None,
                },
                **{t: t in ("firstLineCallOperator", "secondLineCallOperator") or rng.chance(0.2) for t in TASKS},
                **_stamp(ctx),
                "accessRoles": [],
                "principalId": None,
                "hasAttention": False,
                "attention": None,
                "comments": "",
                "optionalFields1": EMPTY_OF,
                "optionalFields2": EMPTY_OF,
            }
        )
    ctx.records["operatorgroups"] = out
    ctx.group_refs = [{"id": g["id"], "name": g["groupName"]} for g in out]


def _memberships(ctx: Context) -> None:
    """Every operator is in the service desk group or 1-3 others; calls pick an operator from their group."""
    rng = ctx.rng
    groups = ctx.group_refs
    lines = []
    ctx.members = {g["id"]: [] for g in groups}
    ctx.op_groups = {}
    for i, op in enumerate(ctx.op_refs):
        mine = [groups[0]] if i % 3 == 0 else []
        mine.extend(rng.sample(groups[1:], min(len(groups) - 1, rng.randint(1, 2))))
        if i == 0:
            mine = list(groups)
        ctx.op_groups[op["id"]] = mine
        for g in mine:
            ctx.members[g["id"]].append(op)
            lines.append({"_operatorId": op["id"], "id": g["id"], "name": g["name"]})
    ctx.records["operator_operatorgroups"] = lines


def _persons(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    n = plan.persons
    special = rng.sample(
        range(n),
        plan.persons_without_email + 2 * plan.email_case_pairs + plan.non_ascii_persons + plan.archived_persons,
    )
    it = iter(special)
    no_email = {next(it) for _ in range(plan.persons_without_email)}
    pairs = [(next(it), next(it)) for _ in range(plan.email_case_pairs)]
    pair_of = {a: (k, 0) for k, (a, _) in enumerate(pairs)} | {b: (k, 1) for k, (_, b) in enumerate(pairs)}
    non_ascii = {next(it) for _ in range(plan.non_ascii_persons)}
    archived = {next(it) for _ in range(plan.archived_persons)}

    used_emails: set[str] = set()
    out = []
    # Most persons predate the call history; a third join during it (calls only name persons that exist by then).
    created_at = [
        rng.between(SETUP_START, SETUP_END) if rng.random() < 0.7 else rng.between(SETUP_END, ANCHOR - 30 * DAY)
        for _ in range(n)
    ]
    special_names = 0
    for i in range(n):
        if i in non_ascii:
            first, prefix, sur = words.NON_ASCII_NAMES[special_names % len(words.NON_ASCII_NAMES)]
            special_names += 1
        else:
            first = rng.choice(words.FIRST_NAMES)
            prefix, sur = rng.choice(words.SURNAMES)
        dyn = " ".join(p for p in (first, prefix, sur) if p)
        branch = rng.choice(ctx.records["branches"])
        loc = rng.choice(ctx.locations_by_branch[branch["id"]])
        login = f"{first[0]}{prefix.replace(' ', '')}{sur}".lower()
        if i in no_email:
            email = ""
        elif i in pair_of:
            k, side = pair_of[i]
            local = f"pair.{k}.contact"
            email = f"{local}@{words.EMAIL_DOMAIN}" if side == 0 else f"Pair.{k}.Contact@{words.EMAIL_DOMAIN}"
        else:
            local = f"{first}.{prefix.replace(' ', '')}{sur}".lower() if i not in non_ascii else f"person{i}"
            local = "".join(c for c in local if c.isascii() and (c.isalnum() or c == ".")) or f"person{i}"
            email = f"{local}@{words.EMAIL_DOMAIN}"
            k = 1
            while email in used_emails:
                k += 1
                email = f"{local}{k}@{words.EMAIL_DOMAIN}"
        used_emails.add(email)
        dept = rng.choice(ctx.dept_refs)
        lang = (
            ctx.languages[COUNTRY_LANGUAGE[ctx.branch_country[branch["id"]]]]
            if rng.chance(0.85)
            else ctx.languages["ENG"]
        )
        phone = f"+31 {rng.randint(10, 99)} {rng.randint(1000000, 9999999)}"
        rec = {
            "id": rng.uuid(),
            "principalId": rng.uuid(),
            "firstName": first,
            "surName": sur,
            "dynamicName": dyn,
            "archived": i in archived,
            **_stamp(ctx, created=created_at[i]),
            "firstInitials": first[0] + ".",
            "prefixes": prefix,
            "birthName": "",
            "title": "",
            "language": lang,
            "phoneNumber": phone,
            "mobileNumber": f"+31 6 {rng.randint(10000000, 99999999)}" if rng.chance(0.6) else "",
            "fax": "",
            "email": email,
            "jobTitle": rng.choice(words.JOB_TITLES),
            "department": dept,
            "budgetHolder": rng.choice(ctx.bh_refs),
            "employeeNumber": f"{100000 + i}",
            "networkLoginName": login,
            "mainframeLoginName": "",
            "city": branch["address"]["city"],
            "tasLoginName": login if rng.chance(0.5) else "",
            "hasSspAccess": rng.chance(0.7),
            "showAllBranches": False,
            "showBranch": True,
            "showBudgetholder": False,
            "showDepartment": False,
            "showSubsidiaries": False,
            "showObjectsOfBranch": False,
            "showObjectsOfSubsidiaries": False,
            "authorizeAll": False,
            "authorizeBranch": False,
            "authorizeBudgetHolder": False,
            "authorizeDepartment": False,
            "authorizeSubsidiaryBranches": False,
            "isCaller": True,
            "isManager": False,
            "manager": None,
            "hasAttention": False,
            "attention": None,
            "branch": ctx.branch_v2[branch["id"]],
            "location": ref(loc),
            "personExtraFieldA": None,
            "personExtraFieldB": None,
            "optionalFields1": filled_optional_fields(rng, SETUP_START),
            "optionalFields2": EMPTY_OF,
            # v1-only keys, so the server can also render the legacy shape from the same line.
            "status": "personArchived" if i in archived else "person",
            "gender": "UNDEFINED",
            "clientReferenceNumber": "",
            "departmentFree": None,
            "attentionComment": "",
        }
        out.append(rec)
    # A few managers, so `manager` references exist.
    managers = out[: max(2, n // 40)]
    for m in managers:
        m["isManager"] = True
    for p in out[len(managers) :]:
        if rng.chance(0.3):
            p["manager"] = ref(rng.choice(managers), "dynamicName")
    ctx.records["persons"] = out
    ctx.person_created = {p["id"]: t for p, t in zip(out, created_at, strict=True)}
    ctx.early_persons = [p for p, t in zip(out, created_at, strict=True) if t <= SETUP_END] or out
    ctx.person_caller = {p["id"]: _caller(ctx, p) for p in out}
    ctx.person_refs = [ref(p, "dynamicName") for p in out]
    ctx.plant("persons_without_email", [out[i]["id"] for i in sorted(no_email)])
    ctx.plant("persons_email_case_duplicates", [out[i]["id"] for pair in pairs for i in pair])
    ctx.plant("persons_non_ascii_names", [out[i]["id"] for i in sorted(non_ascii)])
    ctx.plant("archived_persons", [out[i]["id"] for i in sorted(archived)])


def _caller(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """The `caller` object a call embeds for a registered person (shared by all that person's calls)."""
    return {
        "id": p["id"],
        "dynamicName": p["dynamicName"],
        "email": p["email"],
        "mobileNumber": p["mobileNumber"],
        "phoneNumber": p["phoneNumber"],
        "branch": ctx.branch_full[p["branch"]["id"]],
        "department": p["department"],
        "budgetHolder": p["budgetHolder"],
    }
