"""The generic REST tap a user might pick instead of tap-topdesk: ``tap-rest-api-msdk`` from PyPI (pinned), in its
own venv (.venv-bench/, so its singer-sdk never constrains the project's), configured for the same TOPdesk endpoints.

Why three configurations: the generic tap has one pagination setting for all its streams, and TOPdesk names its offset
parameters two ways (``pageStart``/``pageSize`` on incidents, persons v2, changes, assets; ``start``/``page_size`` on
operators, operator groups, suppliers, the knowledge base) and pages some lists not at all (branches, locations,
departments, budget holders, asset templates: a paging parameter there is undocumented, and the strict sandbox refuses
it as TOPdesk does). A user would declare three plugins (Meltano ``inherit_from``); the bench runs them one after the
other and sums them: records, wall time; the largest peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tap_extract import Run, StreamStats, run_tap

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench"
PACKAGE, VERSION = "tap-rest-api-msdk", "1.4.2"
EXECUTABLE = VENV / "bin" / PACKAGE
USERNAME, PASSWORD = "api_operator", "sandbox-app-password"  # the TOPdesk sandbox's fixed credentials

#: Streams tap-topdesk reads that the generic tap cannot read the same way, and why (reported with the numbers).
NOT_READ = {
    "incident_progress_trail": "one request per incident (/incidents/id/{id}/progresstrail): no parent-child streams",
    "incident_emails": "one request per incident (progress trail entries of type email): no parent-child streams",
    "incident_attachments": "one request per incident: no parent-child streams",
    "change_progress_trail": "one request per change: no parent-child streams",
    "operator_group_members": "one request per operator group: no parent-child streams",
    "asset_links": "/assetmgmt/assetLinks needs sourceId (one request per asset)",
    "asset_templates": "read (/assetmgmt/templates), but the per-template asset streams (assets_<template>) of "
    "tap-topdesk become one untyped `assets` stream with only the list columns",
    "knowledge_items": "(and knowledge_folders) read, but one language only: the list holds only items with "
    "content in the requested language; tap-topdesk collects every language first and reads "
    "each (one record per item and language)",
    "(stock and bulk items)": "/assetmgmt/assets lists resourceCategory=asset unless asked: stock and bulk items "
    "need a stream per category (tap-topdesk reads every category's templates)",
    "reservations": "no offset paging: $top then a seek on plannedStartDate while 206",
    "operational_series": "not a list endpoint of its own in the sandbox's API surface",
    "(CSV exports)": "problems, known errors... come from UI CSV exports, not the REST API",
}


def ensure_installed() -> Path:
    """Create .venv-bench with the pinned generic tap once (uv, as the Makefile installs the project)."""
    if EXECUTABLE.exists():
        return EXECUTABLE
    print(f"installing {PACKAGE}=={VERSION} into {VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    uv = Path(sys.executable).parent / "uv"
    installer = (
        [str(uv), "pip", "install", "--quiet", "--python", str(VENV / "bin" / "python")]
        if uv.exists()
        else [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    )
    subprocess.run([*installer, f"{PACKAGE}=={VERSION}"], check=True)
    return EXECUTABLE


def _stream(name: str, path: str, records: str, page: str | None = None, **extra: object) -> dict:
    """One stream: ``records`` is where the list is in the answer; ``page`` the list the paginator counts (a full
    page = more to read)."""
    return {
        "name": name,
        "path": path,
        "primary_keys": ["id"],
        "records_path": records,
        "offset_records_jsonpath": page or records.removesuffix("[*]"),
        **extra,
    }


def configs(url: str) -> list[dict]:
    """The three configurations (``pageStart``/``pageSize``, ``start``/``page_size``, unpaged endpoints), basic auth
    with the application password, TOPdesk's offset paging: offset from 0, more while a page is full. An endpoint in
    the wrong configuration pages forever (its offset parameter is ignored, every page is full): the generic tap has
    no guard."""
    common = {
        "api_url": url,
        "auth_method": "basic",
        "username": USERNAME,
        "password": PASSWORD,
        "pagination_request_style": "simple_offset_paginator",
        "pagination_response_style": "offset",
        "pagination_initial_offset": 0,
    }
    page_start = {
        **common,
        "pagination_next_page_param": "pageStart",
        "pagination_limit_per_page_param": "pageSize",
        "pagination_page_size": 1000,
        "streams": [
            _stream("incidents", "/tas/api/incidents", "$[*]", "$", params={"all": "true", "sort": "id:asc"}),
            _stream(
                "persons",
                "/tas/api/persons",
                "$.item[*]",
                params={"fields": "*"},
                headers={"Accept": "application/x.topdesk-collection-person-v2+json"},
            ),
            _stream("changes", "/tas/api/operatorChanges", "$.results[*]"),
            _stream("change_activities", "/tas/api/operatorChangeActivities", "$.results[*]"),
            _stream("operational_activities", "/tas/api/operationalActivities", "$.item[*]", params={"fields": "all"}),
            _stream(
                "assets",
                "/tas/api/assetmgmt/assets",
                "$.dataSet[*]",
                params={"fields": "name,modificationDate,creationDate,@type"},
            ),
        ],
    }
    start = {
        **common,
        "pagination_next_page_param": "start",
        "pagination_limit_per_page_param": "page_size",
        "pagination_page_size": 100,
        "streams": [
            _stream("operators", "/tas/api/operators", "$[*]", "$"),
            _stream("operator_groups", "/tas/api/operatorgroups", "$[*]", "$"),
            _stream("suppliers", "/tas/api/suppliers", "$[*]", "$"),
            _stream("knowledge_folders", "/services/knowledge-base-v1/folders", "$.item[*]"),
            _stream(
                "knowledge_items",
                "/services/knowledge-base-v1/knowledgeItems",
                "$.item[*]",
                params={"fields": "title,description,content,keywords,parent,status,visibility"},
            ),
        ],
    }
    # no paging on these (one answer holds every row): the paginator that sends no parameter and stops after a page
    # without a next-page token
    unpaged = {
        "api_url": url,
        "auth_method": "basic",
        "username": USERNAME,
        "password": PASSWORD,
        "pagination_request_style": "default",
        "pagination_response_style": "default",
        "streams": [
            _stream("branches", "/tas/api/branches", "$[*]", "$", params={"$fields": "id,name,clientReferenceNumber"}),
            _stream("locations", "/tas/api/locations", "$[*]", "$"),
            _stream("departments", "/tas/api/departments", "$[*]", "$"),
            _stream("budget_holders", "/tas/api/budgetholders", "$[*]", "$"),
            _stream("asset_templates", "/tas/api/assetmgmt/templates", "$.dataSet[*]"),
        ],
    }
    return [page_start, start, unpaged]


def run(url: str, tmp: Path) -> Run:
    """The configurations one after the other (stdout counted like tap-topdesk's); their sum as one run."""
    exe = ensure_installed()
    runs = []
    for i, config in enumerate(configs(url)):
        (cfg := tmp / f"rest-api-msdk-{i}.json").write_text(json.dumps(config))
        runs.append(part := run_tap(cfg, log := tmp / f"rest-api-msdk-{i}.log", command=(exe,)))
        if part.returncode != 0:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    streams: dict[str, StreamStats] = {}
    offset = 0.0
    for part in runs:  # shift each later run's times so spans stay on one clock
        for name, s in part.streams.items():
            streams[name] = StreamStats(s.records, s.first + offset, s.last + offset)
        offset += part.wall_s
    first = runs[0].first_record_s
    return Run(
        sum(r.wall_s for r in runs),
        first,
        max(r.peak_rss_kb for r in runs),
        max(r.returncode for r in runs),
        sum(r.state_messages for r in runs),
        sum(r.stdout_bytes for r in runs),
        sum(r.state_bytes for r in runs),
        streams,
    )
