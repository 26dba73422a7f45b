"""The tap's own module probe (data / empty / probably hidden / forbidden) and the deployment model, asked of TOPdesk
with the tap's settings and its HTTP session, so the audit sees exactly what a sync would."""

from __future__ import annotations

import typing as t
from urllib.parse import urlparse

import requests

from tap_topdesk.api import Prober, TapTopdesk, run_probe

VERSION_PATHS = {"api_version": "/tas/api/version", "product_version": "/tas/api/productVersion"}


def tap_for(config: dict[str, t.Any]) -> TapTopdesk:
    """The tap object the probe expects (as ``tap-topdesk --probe`` builds it), without env parsing or mappers."""
    return TapTopdesk(config=config, parse_env_config=False, validate_config=True, setup_mapper=False)


def probe_modules(config: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return run_probe(tap_for(config), log=False)


def deployment(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """SaaS (``*.topdesk.net``) or on-premise (any other host: a Virtual Appliance), plus what the version endpoints
    answer (``/version`` is the REST API version, ``/productVersion`` TOPdesk's release)."""
    host = (urlparse(str(config["url"])).hostname or "").lower()
    saas = host.endswith(".topdesk.net")
    info: dict[str, t.Any] = {
        "host": host,
        "model": "SaaS (TOPdesk cloud)" if saas else "on-premise (Virtual Appliance or self-hosted)",
        "saas": saas,
    }
    prober = Prober(tap_for(config))
    for key, path in VERSION_PATHS.items():
        try:
            response = prober.get(path, {})
        except requests.RequestException as exc:
            info[key] = f"not reachable ({type(exc).__name__})"
            continue
        if not response.ok:
            info[key] = f"HTTP {response.status_code}"
            continue
        body = response.json() if response.content else {}
        if key == "product_version" and isinstance(body, dict) and "major" in body:
            info[key] = ".".join(str(body.get(part, "?")) for part in ("major", "minor", "patch"))
        else:
            info[key] = str(body.get("version") if isinstance(body, dict) else body)
    if not saas:
        info["note"] = (
            "on-premise: large unwindowed lists can time out (the tap reads in modificationDate windows, "
            "`window_days`); check the appliance's TLS certificate and that this machine can reach it"
        )
    return info
