"""The TOPdesk dataset generator: determinism, planted hard cases (counted independently from the written
files), referential integrity, record shapes and realistic proportions."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from topdesk_sandbox.cli import main
from topdesk_sandbox.generator import build_dataset
from topdesk_sandbox.generator.calls import call_numbers
from topdesk_sandbox.generator.common import ANCHOR
from topdesk_sandbox.generator.plan import Plan

SCALE, SEED = 1000, 7
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$")
TD_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
ASSET_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")
LOOKS_LIKE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T")
CALL_NUMBER = re.compile(r"^I \d{4} \d{3,}$")
BIG = 10 * 1024 * 1024


def _run(out: Path, scale: int = SCALE, seed: int = SEED) -> None:
    result = CliRunner().invoke(main, ["generate", "--scale", str(scale), "--seed", str(seed), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "records" in result.output


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("topdesk-dataset")
    _run(out)
    return out


@pytest.fixture(scope="module")
def generator_data(generator_dir: Path) -> dict[str, list[dict[str, Any]]]:
    data = {}
    for f in sorted(generator_dir.glob("*.jsonl")):
        data[f.stem] = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
    return data


@pytest.fixture(scope="module")
def generator_manifest(generator_dir: Path) -> dict[str, Any]:
    return json.loads((generator_dir / "manifest.json").read_text(encoding="utf-8"))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ts(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")


# --- determinism ---------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(generator_dir: Path, tmp_path: Path) -> None:
    _run(tmp_path / "again")
    first, second = _files(generator_dir), _files(tmp_path / "again")
    assert sorted(first) == sorted(second)
    assert "manifest.json" in first and "exports/problems.csv" in first and "exports/README.md" in first
    for name in first:
        assert first[name] == second[name], name


def test_other_seed_gives_other_data(generator_dir: Path, tmp_path: Path) -> None:
    _run(tmp_path / "other", seed=SEED + 1)
    for name in ("incidents.jsonl", "persons.jsonl", "assets.jsonl", "exports/problems.csv"):
        assert (generator_dir / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name


def test_build_dataset_matches_written_files(generator_dir: Path, generator_manifest: dict[str, Any]) -> None:
    ds = build_dataset(SCALE, SEED)
    assert ds.manifest == generator_manifest
    assert sorted(f"{k}.jsonl" for k in ds.records) == sorted(p.name for p in generator_dir.glob("*.jsonl"))
    assert {k: len(v) for k, v in ds.records.items()} == generator_manifest["counts"]
    for name, text in ds.exports.items():
        assert (generator_dir / "exports" / name).read_bytes() == text.encode("utf-8")


# --- planted hard cases, counted independently -----------------------------------------------------------------


def _empty_tab(of: dict[str, Any]) -> bool:
    return all(v in ("", None, False) or (isinstance(v, int | float) and v == 0) for v in of.values())


def test_planted_cases_exact_counts(generator_data: dict[str, list[dict[str, Any]]], generator_manifest: dict) -> None:
    plan = Plan(SCALE)
    planted = generator_manifest["planted"]
    persons, operators, calls = generator_data["persons"], generator_data["operators"], generator_data["incidents"]
    anchor = datetime.fromtimestamp(ANCHOR, tz=UTC)

    found: dict[str, set[str]] = {
        "persons_without_email": {p["id"] for p in persons if not p["email"]},
        "operators_without_email": {o["id"] for o in operators if not o["email"]},
        "archived_persons": {p["id"] for p in persons if p["archived"]},
        "archived_calls": {
            c["id"] for c in calls if c["status"].endswith("Archived") and c["archivingReason"] is not None
        },
        "unregistered_callers": {c["id"] for c in calls if c["caller"]["id"] is None},
        "calls_empty_optional_fields": {
            c["id"] for c in calls if _empty_tab(c["optionalFields1"]) and _empty_tab(c["optionalFields2"])
        },
        "html_memos_script_inline_image": {
            a["id"] for a in generator_data["incident_actions"]
            if "<script" in a["memoText"] and 'src="data:image/png;base64,' in a["memoText"]
        },
        "attachments_over_10mb": {a["id"] for a in generator_data["incident_attachments"] if a["size"] > BIG},
        "persons_non_ascii_names": {p["id"] for p in persons if not p["dynamicName"].isascii()},
    }  # fmt: skip
    by_lower: dict[str, set[str]] = {}
    for p in persons:
        if p["email"]:
            by_lower.setdefault(p["email"].lower(), set()).add(p["email"])
    dup_emails = {e for variants in by_lower.values() if len(variants) > 1 for e in variants}
    found["persons_email_case_duplicates"] = {p["id"] for p in persons if p["email"] in dup_emails}
    expected = {
        "persons_without_email": plan.persons_without_email,
        "operators_without_email": plan.operators_without_email,
        "archived_persons": plan.archived_persons,
        "archived_calls": plan.archived_calls,
        "unregistered_callers": plan.unregistered_callers,
        "calls_empty_optional_fields": plan.empty_optional_fields_calls,
        "html_memos_script_inline_image": plan.html_memos,
        "attachments_over_10mb": plan.big_attachments,
        "persons_non_ascii_names": plan.non_ascii_persons,
        "persons_email_case_duplicates": 2 * plan.email_case_pairs,
    }
    for case, ids in found.items():
        assert len(ids) == expected[case] == planted[case]["count"], case
        assert ids == set(planted[case]["ids"]), case

    old = [c for c in calls if _ts(c["modificationDate"]) < anchor - timedelta(days=270)]
    assert len(old) == plan.old_calls == planted["calls_older_than_270_days"]["count"]
    assert len(old) >= 0.5 * SCALE
    assert all(c["number"] in {o["number"] for o in old} for c in calls if c["number"] in
               planted["calls_older_than_270_days"]["ids"])  # fmt: skip


def test_planted_details(generator_data: dict[str, list[dict[str, Any]]]) -> None:
    names = "".join(p["dynamicName"] for p in generator_data["persons"])
    for needle in ("é", "ø", "ß", "Ł", "日本", "🚀"):
        assert needle in names, needle
    # Inline-image memos show up in the progress trail too; nothing else carries <script>.
    trail_html = {e["id"] for e in generator_data["incident_progresstrail"] if "<script" in (e.get("memoText") or "")}
    action_html = {a["id"] for a in generator_data["incident_actions"] if "<script" in a["memoText"]}
    assert trail_html == action_html
    big = [a for a in generator_data["incident_attachments"] if a["size"] > BIG]
    assert all("_body" not in a for a in generator_data["incident_attachments"])
    assert all(e["size"] > BIG for e in generator_data["incident_progresstrail"] if e["id"] in {a["id"] for a in big})
    archived = [c for c in generator_data["incidents"] if c["status"].endswith("Archived")]
    assert {c["status"] for c in archived} <= {"firstLineArchived", "secondLineArchived"}
    assert all(c["closed"] for c in archived)
    unregistered = [c for c in generator_data["incidents"] if c["caller"]["id"] is None]
    assert all(c["caller"]["dynamicName"] for c in unregistered)


def test_exactly_one_asset_link_cycle(generator_data: dict[str, list[dict[str, Any]]], generator_manifest) -> None:
    children: dict[str, list[str]] = {}
    for link in generator_data["asset_links"]:
        children.setdefault(link["sourceId"], []).append(link["targetId"])
    cycles = []
    state: dict[str, int] = {}  # 1 = on stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in children.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(children):
        if node not in state:
            visit(node, [])
    assert len(cycles) == 1
    assert len(cycles[0]) == 3
    assert set(cycles[0]) == set(generator_manifest["planted"]["asset_link_cycle"]["ids"])


# --- referential integrity -----------------------------------------------------------------------------------------


def test_referential_integrity(generator_data: dict[str, list[dict[str, Any]]]) -> None:
    d = generator_data
    ids = {k: {r["id"] for r in v if "id" in r} for k, v in d.items()}
    lists = {line["_list"]: {i["id"] for i in line["items"]} for line in d["incident_reference_lists"]}
    assert set(lists) == {
        "call_types", "categories", "subcategories", "closure_codes", "durations", "entry_types", "impacts",
        "priorities", "urgencies", "statuses",
    }  # fmt: skip
    ops_and_groups = ids["operators"] | ids["operatorgroups"]
    for c in d["incidents"]:
        caller = c["caller"]
        assert caller["id"] is None or caller["id"] in ids["persons"]
        assert caller["branch"]["id"] in ids["branches"] and c["callerBranch"]["id"] in ids["branches"]
        assert c["callerLocation"] is None or c["callerLocation"]["id"] in ids["locations"]
        assert c["operator"]["id"] in ops_and_groups
        assert c["operator"]["id"] in (ids["operators"] if c["operator"]["status"] == "operator"
                                       else ids["operatorgroups"])  # fmt: skip
        assert c["operatorGroup"]["id"] in ids["operatorgroups"]
        assert c["creator"]["id"] in ids["operators"] and c["modifier"]["id"] in ids["operators"]
        for key, lst in (("category", "categories"), ("subcategory", "subcategories"), ("callType", "call_types"),
                         ("entryType", "entry_types"), ("impact", "impacts"), ("urgency", "urgencies"),
                         ("priority", "priorities"), ("duration", "durations"), ("processingStatus", "statuses"),
                         ("closureCode", "closure_codes")):  # fmt: skip
            assert c[key] is None or c[key]["id"] in lists[lst], key
        assert c["supplier"] is None or c["supplier"]["id"] in ids["suppliers"]
        if c["object"] is not None:
            assert c["object"]["id"] == c["asset"]["id"] and c["asset"]["id"] in ids["assets"]
    assert sum(c["asset"] is not None for c in d["incidents"]) > 0
    call_ids = ids["incidents"]
    for stem in ("incident_progresstrail", "incident_actions", "incident_requests", "incident_attachments"):
        assert d[stem] and all(r["_incidentId"] in call_ids for r in d[stem]), stem
    email_entries = {e["id"] for e in d["incident_progresstrail"] if "sender" in e}
    assert email_entries == ids["emails"]
    memberships = d["operator_operatorgroups"]
    assert all(m["_operatorId"] in ids["operators"] and m["id"] in ids["operatorgroups"] for m in memberships)
    assert {m["_operatorId"] for m in memberships} == ids["operators"]
    for p in d["persons"]:
        assert p["branch"]["id"] in ids["branches"] and p["location"]["id"] in ids["locations"]
        assert p["department"]["id"] in ids["departments"] and p["budgetHolder"]["id"] in ids["budgetholders"]
        assert p["manager"] is None or p["manager"]["id"] in ids["persons"]
    changes = {c["id"]: c["number"] for c in d["changes"]}
    assert all(a["change"]["id"] in changes and changes[a["change"]["id"]] == a["change"]["number"]
               for a in d["change_activities"])  # fmt: skip
    assert all(e["_changeId"] in changes for e in d["change_progresstrail"])
    assets, templates = ids["assets"], {t["id"] for t in d["asset_templates"]}
    assert all(lk["sourceId"] in assets and lk["targetId"] in assets for lk in d["asset_links"])
    assert all(a["type_id"] in templates for a in d["assets"])
    assert templates == {c["key"] for c in d["asset_cardtypes"]}
    fields = {c["key"]: [f["key"] for f in c["fields"]] for c in d["asset_cardtypes"]}
    assert all(all(k in a for k in fields[a["type_id"]]) for a in d["assets"])
    series, schemas = ids["operational_series"], ids["operational_schemas"]
    for act in d["operational_activities"]:
        assert act["series"]["id"] in series and act["schema"]["id"] in schemas
        assert all(a["id"] in assets for a in act["linkedAssets"])
    folders = {f["id"] for f in d["knowledge_folders"]}
    assert all(k["parent"]["id"] in folders for k in d["knowledge_items"])
    for r in d["reservations"]:
        assert r["requester"]["id"] in ids["persons"]
        fac = r["reservedFacilities"][0]
        assert (fac["location"] or fac["asset"])["id"] in ids["locations"] | assets


def test_knowledge_languages(generator_data: dict[str, list[dict[str, Any]]]) -> None:
    langs: dict[str, list[str]] = {}
    for line in generator_data["knowledge_items"]:
        langs.setdefault(line["id"], []).append(line["translation"]["language"])
        assert line["translation"]["language"] in line["availableTranslations"]
    for item_id, seen in langs.items():
        first = next(k for k in generator_data["knowledge_items"] if k["id"] == item_id)
        assert sorted(seen) == sorted(first["availableTranslations"]) and len(set(seen)) == len(seen)
    assert len({lang for seen in langs.values() for lang in seen}) >= 2
    assert any(len(v) == 1 for v in langs.values()) and any(len(v) >= 2 for v in langs.values())


def test_exports_layout_and_links(generator_dir: Path, generator_data: dict[str, list[dict[str, Any]]]) -> None:
    readme = (generator_dir / "exports" / "README.md").read_text(encoding="utf-8")
    rows = {}
    for name in ("problems.csv", "known_errors.csv", "events_actions.csv", "activity_templates.csv"):
        raw = (generator_dir / "exports" / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";")
        header, *body = list(reader)
        assert f"## {name}" in readme
        assert all(f"`{col}`" in readme for col in header)
        assert body and all(len(r) == len(header) for r in body)
        rows[name] = [dict(zip(header, r, strict=True)) for r in body]
    numbers = {c["number"] for c in generator_data["incidents"]}
    problems = {p["Number"]: p for p in rows["problems.csv"]}
    assert len(problems) == Plan(SCALE).problems
    for p in problems.values():
        assert p["Linked calls"] and all(n in numbers for n in p["Linked calls"].split(", "))
        datetime.strptime(p["Created"], "%d-%m-%Y %H:%M")
    assert len(rows["known_errors.csv"]) == Plan(SCALE).known_errors
    for ke in rows["known_errors.csv"]:
        assert problems[ke["Problem"]]["Known error"] == ke["Number"]


# --- shapes ----------------------------------------------------------------------------------------------------


def _strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return [(key, value)] if isinstance(value, str) else []


def test_dates_ids_and_numbers(generator_data: dict[str, list[dict[str, Any]]]) -> None:
    for stem, recs in generator_data.items():
        pattern = ASSET_DATE if stem == "assets" else TD_DATE
        for r in recs:
            for key, s in _strings(r):
                if LOOKS_LIKE_DATE.match(s):
                    assert pattern.match(s), (stem, key, s)
            if "id" in r and stem != "incident_reference_lists":
                assert UUID.match(r["id"]), (stem, r["id"])
    anchor = datetime.fromtimestamp(ANCHOR, tz=UTC)
    calls = generator_data["incidents"]
    assert len({c["id"] for c in calls}) == len(calls) and len({c["number"] for c in calls}) == len(calls)
    for c in calls:
        assert CALL_NUMBER.match(c["number"]), c["number"]
        created = _ts(c["creationDate"])
        assert c["number"][2:6] == created.strftime("%y%m")
        assert created <= _ts(c["modificationDate"]) <= anchor
        assert c["optionalFields1"].keys() == c["optionalFields2"].keys() and len(c["optionalFields1"]) == 30
    created = sorted(_ts(c["creationDate"]) for c in calls)
    assert (created[-1] - created[0]).days > 3 * 365 - 60


def test_call_numbers_widen_past_999() -> None:
    jan = int(datetime(2024, 1, 15, tzinfo=UTC).timestamp())
    feb = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp())
    numbers = call_numbers([jan] * 1001 + [feb])
    assert numbers[0] == "I 2401 001" and numbers[998] == "I 2401 999" and numbers[999] == "I 2401 1000"
    assert numbers[-1] == "I 2402 001"
    assert all(CALL_NUMBER.match(n) for n in numbers)


def test_proportions_scale_with_n(generator_manifest: dict[str, Any]) -> None:
    big = build_dataset(4 * SCALE, SEED).manifest["counts"]
    small = generator_manifest["counts"]
    assert small["incidents"] == SCALE and big["incidents"] == 4 * SCALE
    for stem in ("persons", "changes", "assets", "incident_actions", "incident_progresstrail",
                 "reservations", "operational_activities", "knowledge_items"):  # fmt: skip
        assert 3 <= big[stem] / small[stem] <= 5, stem
    assert small["persons"] > small["operators"] > small["operatorgroups"]


# --- realistic data ----------------------------------------------------------------------------------------------


def test_realistic_sanity(generator_data: dict[str, list[dict[str, Any]]], generator_manifest: dict) -> None:
    d = generator_data
    free_ids = set(generator_manifest["planted"]["freely_definable_asset_templates"]["ids"])
    names = {t["id"]: t["text"] for t in d["asset_templates"]}
    assert len(free_ids) >= 2 and {names[i] for i in free_ids} >= {"Key card", "Vehicle"}
    for tid in free_ids:
        assert sum(a["type_id"] == tid for a in d["assets"]) >= 1
    assert {"Server (CI)", "Application (CI)", "Computer", "Software", "Licence", "Network device"} <= set(
        names.values()
    )
    anchor = datetime.fromtimestamp(ANCHOR, tz=UTC)
    assert any(_ts(c["creationDate"]) < anchor - timedelta(days=270) for c in d["incidents"])
    assert any(_ts(c["creationDate"]) > anchor - timedelta(days=90) for c in d["incidents"])
    assert {c["changeType"] for c in d["changes"]} == {"simple", "extensive"}
    assert any(c["phases"] for c in d["changes"]) and any(c["simple"] for c in d["changes"])
    assert {op["loginName"] for op in d["operators"]} >= {"api_operator"}
    assert sum(c["closed"] for c in d["incidents"]) > SCALE / 2
    assert any(c["status"].startswith("secondLine") for c in d["incidents"])
    assert all(c["request"] for c in d["incidents"])
