"""Module probe: which TOPdesk modules answer with data, answer empty, or are probably hidden from this operator.

TOPdesk hides data in two ways: a 403 on the module, or — more often — silently, by answering exactly as if
nothing matched (operator filters, unreadable asset types, missing KB permission). An empty answer is therefore
only trusted when nothing else proves data exists: a call referencing an asset while the asset list is empty
means the asset module is hidden, not empty. Never reported as "0 records, all good".
"""

from __future__ import annotations

import logging
import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests

from tap_topdesk.client import fiql_datetime
from tap_topdesk.concurrency import RequestPool, connections_for

if t.TYPE_CHECKING:
    from singer_sdk import Tap

LOGGER = logging.getLogger("tap-topdesk.probe")

DATA, EMPTY, HIDDEN, FORBIDDEN, ERROR, NOT_AVAILABLE = (
    "data",
    "empty",
    "probably hidden",
    "forbidden",
    "error",
    "not available",
)

PERSONS_V2 = "application/x.topdesk-collection-person-v2+json"
ASSETS_V2 = "application/x.topdesk-am-assets-v2+json"
OM = "application/x.topdesk-collection-om-activity-v1+json"

#: module → (path, params, Accept, envelope key or None for a bare array)
CHECKS: dict[str, tuple[str, dict[str, t.Any], str, str | None]] = {
    "persons": ("/tas/api/persons/count", {}, "application/json", "numberOfPersons"),
    "operators": (
        "/tas/api/operators",
        {"start": 0, "page_size": 1, "query": "archived==false,archived==true"},
        "",
        None,
    ),
    "operatorgroups": (
        "/tas/api/operatorgroups",
        {"start": 0, "page_size": 1, "query": "archived==false,archived==true"},
        "",
        None,
    ),
    "suppliers": (
        "/tas/api/suppliers",
        {"start": 0, "page_size": 1, "query": "archived==false,archived==true"},
        "",
        None,
    ),
    "branches": ("/tas/api/branches", {"query": "archived==false,archived==true"}, "", None),
    "locations": ("/tas/api/locations", {"pageSize": 1, "query": "archived==false,archived==true"}, "", None),
    "departments": ("/tas/api/departments", {}, "", None),
    "budgetholders": ("/tas/api/budgetholders", {}, "", None),
    "changes": ("/tas/api/operatorChanges", {"pageStart": 0, "pageSize": 1}, "", "results"),
    "assets": ("/tas/api/assetmgmt/assets", {"pageStart": 0, "pageSize": 1, "fetchCount": "true"}, ASSETS_V2, "count"),
    "operations": ("/tas/api/operationalActivities", {"pageStart": 0, "pageSize": 1}, OM, "item"),
    "knowledge": ("/services/knowledge-base-v1/knowledgeItems", {"start": 0, "page_size": 1}, "", "item"),
    "reservations": ("/tas/api/reservations", {"$top": 1}, "", "results"),
}

#: module → reference paths inside a sample of calls that prove the module has data.
EVIDENCE: dict[str, tuple[tuple[str, ...], ...]] = {
    "persons": (("caller", "id"),),
    "operators": (("operator", "id"),),
    "operatorgroups": (("operatorGroup", "id"),),
    "branches": (("callerBranch", "id"), ("branch", "id")),
    "locations": (("callerLocation", "id"), ("location", "id")),
    "departments": (("caller", "department", "id"),),
    "budgetholders": (("caller", "budgetHolder", "id"),),
    "suppliers": (("supplier", "id"),),
    "assets": (("asset", "id"), ("object", "id")),
}


class Prober:
    """Issues the probe requests with one attempt each (a probe must be quick, never hang a sync)."""

    def __init__(self, tap: Tap) -> None:
        self.base = str(tap.config["url"]).rstrip("/")
        self.session = requests.Session()
        self.session.auth = (tap.config["username"], tap.config["app_password"])
        pool = getattr(tap, "request_pool", None)
        if pool is not None:
            connections_for(self.session, pool.most)
        self.timeout = min(int(tap.config.get("request_timeout", 300)), 60)

    def get(self, path: str, params: dict[str, t.Any], accept: str = "") -> requests.Response:
        headers = {"Accept": accept or "application/json"}
        return self.session.get(self.base + path, params=params, headers=headers, timeout=self.timeout)


def _dig(record: dict, path: tuple[str, ...]) -> t.Any:
    value: t.Any = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _count(response: requests.Response, envelope: str | None) -> int:
    if response.status_code == 204 or not response.content:
        return 0
    body = response.json()
    if envelope is None:
        return len(body) if isinstance(body, list) else 1
    value = body.get(envelope) if isinstance(body, dict) else None
    if isinstance(value, int):
        return value
    return len(value or [])


def sample_calls(prober: Prober, pool: RequestPool) -> tuple[list[dict], str | None]:
    """Recent calls (a bounded window, so a Virtual Appliance export time-out cannot hit the probe): the last 30
    days, else the last year, else ten; the three asked side by side."""
    now = datetime.now(UTC)

    def ask(days: int) -> requests.Response:
        query = f"modificationDate=ge={fiql_datetime(now - timedelta(days=days))}"
        params = {"pageStart": 0, "pageSize": 100, "all": "true", "query": query, "sort": "modificationDate:desc"}
        with pool.slot():
            return prober.get("/tas/api/incidents", params)

    with ThreadPoolExecutor(min(3, pool.most)) as executor:
        for response in executor.map(ask, (30, 365, 3650)):
            if response.status_code == 401:
                return [], "401"
            if response.status_code == 403:
                return [], "403"
            if response.status_code >= 400:
                return [], f"{response.status_code}"
            calls = response.json() if response.status_code != 204 and response.content else []
            if calls:
                return calls, None
    return [], None


def run_probe(tap: Tap, *, log: bool = True) -> dict[str, dict[str, t.Any]]:
    """Check every module; returns ``{module: {"status", "detail"}}`` and logs hidden modules as warnings."""
    prober = Prober(tap)
    report: dict[str, dict[str, t.Any]] = {}
    pool = getattr(tap, "request_pool", None) or RequestPool(1)

    def ask(check: tuple[str, dict[str, t.Any], str, str | None]) -> requests.Response | requests.RequestException:
        path, params, accept, _envelope = check
        with pool.slot():
            try:
                return prober.get(path, params, accept)
            except requests.RequestException as exc:
                return exc

    # the modules' requests side by side (a real TOPdesk answers each in 100 ms or more), while calls are sampled
    with ThreadPoolExecutor(pool.most) as executor:
        answers = executor.map(ask, CHECKS.values())
        calls, failure = sample_calls(prober, pool)
        responses = dict(zip(CHECKS, answers, strict=True))
    if failure == "401":
        report["auth"] = {
            "status": ERROR,
            "detail": "401: check 'username' (operator login name) and 'app_password' (application password)",
        }
        if log:
            LOGGER.error("Probe: %s", report["auth"]["detail"])
        return report
    report["incidents"] = _incidents_entry(calls, failure)
    for module, (path, _params, _accept, envelope) in CHECKS.items():
        report[module] = _module_entry(module, path, envelope, responses[module], calls)
    _operators_evidence(prober, report)
    _asset_types_evidence(prober, report)
    _exports(tap, report)
    if log:
        _log_report(report)
    return report


def _incidents_entry(calls: list[dict], failure: str | None) -> dict[str, t.Any]:
    """The incidents module's entry, from the sampled calls (or the sample's failure, other than 401)."""
    if failure == "403":
        return {"status": FORBIDDEN, "detail": "403 on /tas/api/incidents"}
    if failure:
        return {"status": ERROR, "detail": f"HTTP {failure} on /tas/api/incidents"}
    if calls:
        return {"status": DATA, "detail": f"{len(calls)} recent calls sampled"}
    return {"status": EMPTY, "detail": "no calls modified in the last 10 years"}


def _module_entry(
    module: str,
    path: str,
    envelope: str | None,
    response: requests.Response | requests.RequestException,
    calls: list[dict],
) -> dict[str, t.Any]:
    """One checked module's entry: its answer, and for an empty answer the sampled calls' evidence of data."""
    if isinstance(response, requests.RequestException):
        return {"status": ERROR, "detail": f"{type(response).__name__}: {response}"}
    if response.status_code in (403, 404):
        return {"status": FORBIDDEN, "detail": f"HTTP {response.status_code} on {path}"}
    if response.status_code >= 400:
        return {"status": ERROR, "detail": f"HTTP {response.status_code} on {path}"}
    if _count(response, envelope):
        return {"status": DATA, "detail": f"{path} answered with data"}
    refs = [c for c in calls if any(_dig(c, p) for p in EVIDENCE.get(module, ()))]
    if refs:
        return {
            "status": HIDDEN,
            "detail": f"{path} answered empty but {len(refs)} of {len(calls)} sampled calls reference it",
        }
    return {"status": EMPTY, "detail": f"{path} answered empty (no evidence of hidden data)"}


def _log_report(report: dict[str, dict[str, t.Any]]) -> None:
    """Hidden, forbidden and failed modules as warnings, the others as info."""
    for module, entry in sorted(report.items()):
        if entry["status"] in (HIDDEN, FORBIDDEN, ERROR):
            LOGGER.warning(
                "Module '%s' is %s: %s — its streams will be incomplete or empty",
                module,
                entry["status"],
                entry["detail"],
            )
        else:
            LOGGER.info("Module '%s': %s (%s)", module, entry["status"], entry["detail"])


def _operators_evidence(prober: Prober, report: dict[str, dict[str, t.Any]]) -> None:
    """``/operators/current`` always answers: an empty operator list while we are an operator means hidden."""
    if report.get("operators", {}).get("status") != EMPTY:
        return
    response = prober.get("/tas/api/operators/current", {})
    if response.ok and response.content:
        report["operators"] = {
            "status": HIDDEN,
            "detail": "/tas/api/operators answered empty but /operators/current proves operators exist",
        }


def _asset_types_evidence(prober: Prober, report: dict[str, dict[str, t.Any]]) -> None:
    """``/templates`` lists only readable asset types; ``includeNonReadable=true`` lists them all."""
    try:
        readable = prober.get("/tas/api/assetmgmt/templates", {})
        every = prober.get("/tas/api/assetmgmt/templates", {"includeNonReadable": "true"})
    except requests.RequestException:
        return
    if not (readable.ok and every.ok and readable.content and every.content):
        return
    hidden = len(every.json().get("dataSet") or []) - len(readable.json().get("dataSet") or [])
    if hidden > 0:
        entry = report.setdefault("assets", {"status": DATA, "detail": ""})
        entry["status"] = HIDDEN
        entry["detail"] = f"{hidden} asset type(s) exist but are not readable by this operator; " + entry["detail"]


def _exports(tap: Tap, report: dict[str, dict[str, t.Any]]) -> None:
    from tap_topdesk.tap import export_stream_classes

    for cls in export_stream_classes():
        name = str(cls.name)
        if cls.available(tap.config):
            report[f"export:{name}"] = {"status": DATA, "detail": f"CSV export {cls.export_file} found"}
        else:
            where = tap.config.get("exports_dir")
            detail = f"{cls.export_file} not in exports_dir {where}" if where else "exports_dir is not set"
            report[f"export:{name}"] = {"status": NOT_AVAILABLE, "detail": f"no REST API; {detail}"}


def format_report(report: dict[str, dict[str, t.Any]]) -> str:
    """A readable table."""
    width = max((len(m) for m in report), default=10)
    lines = [f"{'module'.ljust(width)}  status           detail", "-" * (width + 60)]
    lines += [
        f"{module.ljust(width)}  {entry['status'].ljust(15)}  {entry['detail']}"
        for module, entry in sorted(report.items())
    ]
    hidden = [m for m, e in report.items() if e["status"] in (HIDDEN, FORBIDDEN)]
    if hidden:
        lines.append(f"WARNING: probably hidden from this operator: {', '.join(sorted(hidden))}")
    return "\n".join(lines)
