"""Issue 15 (sandbox side): the knowledge base lists what has content in the requested language (the default one when
none is given), TOPdesk's language list, whole-second timestamps, a 403 on ``/emails`` without the permission, and
any valid JSON a dataset holds is servable."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from topdesk_sandbox_testkit import SMALL, running

from topdesk_sandbox.app import SandboxSettings, create_app
from topdesk_sandbox.generator import build_dataset
from topdesk_sandbox.store import Store

KB = "/services/knowledge-base-v1"
_FRACTION = re.compile(r"T\d{2}:\d{2}:\d{2}\.(\d+)")


@pytest.fixture(scope="module")
def records() -> dict[str, list[dict]]:
    return build_dataset(300, 7).records


def _lines(records: dict, resource: str, language: str) -> set[tuple[str, str]]:
    lines = records[resource]
    return {(r["id"], language) for r in lines if r["translation"]["language"] == language}


@pytest.mark.parametrize(("variants", "default"), [(frozenset(), "en"), (frozenset({"kb-default-nl"}), "nl")])
def test_a_listing_without_language_holds_the_default_languages_items(
    records: dict, variants: frozenset[str], default: str
) -> None:
    with running(Store.from_records(records), variants=variants) as api:
        for resource, path in (("knowledge_items", "/knowledgeItems"), ("knowledge_folders", "/folders")):
            body = api.get(f"{KB}{path}?page_size=1000&fields=title,language").json()["item"]
            assert {(i["id"], i["translation"]["language"]) for i in body} == _lines(records, resource, default)
            french = api.get(f"{KB}{path}?page_size=1000&language=fr&fields=title,language").json()["item"]
            assert {(i["id"], i["translation"]["language"]) for i in french} == _lines(records, resource, "fr")
        only_french = next(r for r in records["knowledge_items"] if r["availableTranslations"] == ["fr"])
        number = quote(only_french["number"])
        assert api.get(f"{KB}/knowledgeItems/{number}").status_code == 404  # no content in the default language
        assert api.get(f"{KB}/knowledgeItems/{number}?language=fr").json()["id"] == only_french["id"]


def test_french_exists_only_on_items_without_english_or_dutch_content(records: dict) -> None:
    """The case a language discovered from default-language items misses."""
    french = [r for r in records["knowledge_items"] if r["translation"]["language"] == "fr"]
    assert french and all(r["availableTranslations"] == ["fr"] for r in french)
    assert not any("fr" in r["availableTranslations"] for r in records["knowledge_items"] if r not in french)


def test_a_folder_listing_naming_no_translation_field_ignores_language(records: dict) -> None:
    with running(Store.from_records(records)) as api:
        plain = api.get(f"{KB}/folders?page_size=1000&language=de&fields=parent").json()["item"]
        assert len(plain) == len(_lines(records, "knowledge_folders", "en"))
        titled = api.get(f"{KB}/folders?page_size=1000&language=de&fields=title").json()["item"]
        assert len(titled) == len(_lines(records, "knowledge_folders", "de"))


def test_the_language_list_holds_every_knowledge_base_language(records: dict) -> None:
    with running(Store.from_records(records)) as api:
        languages = api.get("/tas/api/languages").json()
    assert all(set(lang) == {"id", "name", "languageCode"} for lang in languages)
    codes = {lang["languageCode"] for lang in languages}
    assert {r["translation"]["language"] for r in records["knowledge_items"]} <= codes


def test_emails_answer_403_without_the_sent_email_permission() -> None:
    mail = orjson.loads((SMALL / "emails.jsonl").read_bytes().splitlines()[0])["id"]
    with running() as api:
        assert api.get(f"/tas/api/emails/id/{mail}").status_code == 200
    with running(variants=frozenset({"no-sent-email-permission"})) as api:
        r = api.get(f"/tas/api/emails/id/{mail}")
        assert r.status_code == 403 and r.json() == [{"message": "No permission on entity"}]
        assert api.get("/tas/api/incidents").status_code in (200, 206)  # the incidents module is readable


def test_every_timestamp_is_a_whole_second(records: dict) -> None:
    """TOPdesk stores whole seconds; only the asset API writes milliseconds (its own format)."""
    fractions = {
        resource
        for resource, rows in records.items()
        if not resource.startswith("asset")
        for row in rows
        for found in _FRACTION.findall(orjson.dumps(row).decode())
        if int(found)
    }
    assert not fractions


def test_an_admin_change_is_stamped_in_a_whole_second() -> None:
    with running() as api:
        call = orjson.loads((SMALL / "incidents.jsonl").read_bytes().splitlines()[0])["id"]
        patched = api.admin("PATCH", f"incidents/{call}", json={"briefDescription": "x"}).json()
        assert patched["modificationDate"].endswith(".000+0000")
        archived = api.admin("POST", f"incidents/{call}/archive").json()
        assert archived["modificationDate"].endswith(".000+0000")


def test_strict_refuses_undocumented_knowledge_fields() -> None:
    with running(strict=True) as api:
        assert api.get(f"{KB}/knowledgeItems?fields=title,availableTranslations&language=en").status_code == 200
        for name in ("archived", "translation"):
            r = api.get(f"{KB}/knowledgeItems?fields=title,{name}&language=en")
            assert r.status_code == 400 and r.json()["errors"], name


def test_a_hostile_dataset_is_served(tmp_path: Path) -> None:
    """Valid JSON that orjson refuses (a lone surrogate escape, an integer beyond 64 bits) is read and served;
    what is not JSON (``NaN``) still stops the load with the file and line."""
    line = (SMALL / "departments.jsonl").read_bytes().splitlines()[0]
    hostile = line[:-1] + b',"name":"Sales \\ud800 team","externalNumber":123456789012345678901234567890}'
    (tmp_path / "departments.jsonl").write_bytes(hostile + b"\n")
    with running(data_dir=tmp_path) as api:
        r = api.get("/tas/api/departments")
        assert r.status_code == 200
        assert b"\\ud800" in r.content and r.json()[0]["externalNumber"] == 123456789012345678901234567890
    (tmp_path / "departments.jsonl").write_bytes(line[:-1] + b',"n":NaN}\n')
    with pytest.raises(ValueError, match=r"departments\.jsonl:1"):
        create_app(SandboxSettings(data_dir=tmp_path))
