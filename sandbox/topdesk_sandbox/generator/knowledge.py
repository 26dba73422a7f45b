"""Knowledge base (`/services/knowledge-base-v1`): folders and knowledge items, one line per item (or folder)
and language; the `translation` block is that language's. Some items exist in one language only, a few in French
only: a language no item with default-language content (English, or Dutch) names."""

from __future__ import annotations

from typing import TypedDict

from . import words
from .common import ANCHOR, DAY, HISTORY_DAYS, Context, Record, td

LANGS = ("en", "nl", "de")
FOLDERS = (
    ("Accounts & passwords", "Accounts en wachtwoorden", "Konten und Passwoerter"),
    ("Working remotely", "Thuiswerken", "Fernarbeit"),
    ("Devices", "Apparaten", "Geraete"),
    ("Facilities", "Faciliteiten", "Einrichtungen"),
)


class _Folder(TypedDict):
    id: str
    number: str
    titles: tuple[str, str, str]
    suffix: str


def build(ctx: Context) -> None:
    rng, plan = ctx.rng, ctx.plan
    ops = ctx.op_refs
    nf = max(3, plan.knowledge_items // 8)
    folder_lines: list[Record] = []
    folders: list[_Folder] = []
    for i in range(nf):
        fid = rng.uuid()
        titles = FOLDERS[i % len(FOLDERS)]
        suffix = f" {i // len(FOLDERS) + 1}" if i >= len(FOLDERS) else ""
        t0 = rng.randint(ANCHOR - HISTORY_DAYS * DAY, ANCHOR - 400 * DAY)
        langs = list(LANGS[:2]) if i % 3 else list(LANGS)
        parent = folders[0] if i >= len(FOLDERS) else None
        folders.append({"id": fid, "number": f"F {i + 1:04d}", "titles": titles, "suffix": suffix})
        folder_lines.extend(
            {
                "id": fid,
                "number": f"F {i + 1:04d}",
                "parent": {"id": parent["id"], "number": parent["number"]} if parent else None,
                "translation": {
                    "language": lang,
                    "content": {"title": titles[LANGS.index(lang)] + suffix, "description": ""},
                    "creator": rng.choice(ops),
                    "modifier": rng.choice(ops),
                    "creationDate": td(t0),
                    "modificationDate": td(t0 + DAY),
                },
                "visibility": {
                    "sspVisibility": "VISIBLE",
                    "sspVisibleFrom": None,
                    "sspVisibleUntil": None,
                    "sspVisibilityFilteredOnBranches": False,
                    "operatorVisibilityFilteredOnBranches": False,
                    "publicKnowledgeItem": False,
                    "branches": [],
                },
                "availableTranslations": langs,
                "archived": False,
                "creationDate": td(t0),
                "modificationDate": td(t0 + DAY),
            }
            for lang in langs
        )
    statuses = [{"id": rng.uuid(), "name": n} for n in ("Concept", "Published", "Outdated")]
    items: list[Record] = []
    for i in range(plan.knowledge_items):
        kid = rng.uuid()
        topic = words.KB_TOPICS[i % len(words.KB_TOPICS)]
        # Two in three items are bilingual (en+nl), some trilingual, the rest exist in one language only (one in
        # twelve in French: no item with English or Dutch content names French).
        r = i % 6
        single = "fr" if i % 12 == 10 else ("nl", "en")[r == 5]
        langs = ["en", "nl"] if r in (0, 1, 2) else (["en", "nl", "de"] if r == 3 else [single])
        folder = rng.choice(folders)
        t0 = rng.randint(ANCHOR - HISTORY_DAYS * DAY, ANCHOR - 2 * DAY)
        t1 = rng.randint(t0, ANCHOR - DAY)
        number = f"KI {i + 1:04d}"
        public = rng.random() < 0.3
        vis = rng.choice(("VISIBLE", "VISIBLE", "NOT_VISIBLE", "VISIBLE_IN_PERIOD"))
        status = statuses[1] if vis != "NOT_VISIBLE" else rng.choice(statuses)
        for lang in langs:
            title = _text(topic, lang) + (f" ({i // len(words.KB_TOPICS) + 1})" if i >= len(words.KB_TOPICS) else "")
            items.append(
                {
                    "id": kid,
                    "number": number,
                    "parent": {"id": folder["id"], "name": _text(folder["titles"], lang) + folder["suffix"]},
                    "translation": {
                        "language": lang,
                        "content": {
                            "title": title,
                            "description": f"<p>{title}.</p>",
                            "content": _body(title, lang),
                            "commentsForOperators": "",
                            "keywords": ", ".join(title.lower().split()[:3]),
                        },
                        "creator": rng.choice(ops),
                        "modifier": rng.choice(ops),
                        "creationDate": td(t0),
                        "modificationDate": td(t1),
                    },
                    "visibility": {
                        "sspVisibility": vis,
                        "sspVisibleFrom": td(t0) if vis == "VISIBLE_IN_PERIOD" else None,
                        "sspVisibleUntil": td(ANCHOR + 90 * DAY) if vis == "VISIBLE_IN_PERIOD" else None,
                        "sspVisibilityFilteredOnBranches": False,
                        "operatorVisibilityFilteredOnBranches": False,
                        "publicKnowledgeItem": public,
                        "branches": [],
                    },
                    "urls": {
                        "operator": f"/tas/secure/contained/knowledgeitem?unid={kid}",
                        "ssp": f"/tas/public/ssp/content/detail/knowledgeitem?unid={kid}",
                        "public": f"/tas/public/ssp/content/detail/knowledgeitem?unid={kid}" if public else None,
                    },
                    "status": status,
                    "manager": rng.choice(ops),
                    "standardSolution": None,
                    "externalLink": None,
                    "news": rng.random() < 0.05,
                    "archived": i % 25 == 24,
                    "availableTranslations": langs,
                    "creationDate": td(t0),
                    "modificationDate": td(t1),
                }
            )
    ctx.records["knowledge_folders"] = folder_lines
    ctx.records["knowledge_items"] = items


def _text(texts: tuple[str, ...], lang: str) -> str:
    """The text in ``lang``; English for a language without its own here (French)."""
    return texts[LANGS.index(lang) if lang in LANGS else 0]


def _body(title: str, lang: str) -> str:
    steps = {
        "en": ("Open the settings.", "Follow the instructions on screen.", "Contact the service desk if needed."),
        "nl": ("Open de instellingen.", "Volg de instructies op het scherm.", "Neem zo nodig contact op."),
        "de": ("Oeffnen Sie die Einstellungen.", "Folgen Sie den Anweisungen.", "Kontaktieren Sie uns."),
        "fr": ("Ouvrez les parametres.", "Suivez les instructions.", "Contactez le service desk."),
    }[lang]
    return f"<h2>{title}</h2><ol>" + "".join(f"<li>{s}</li>" for s in steps) + "</ol>"
