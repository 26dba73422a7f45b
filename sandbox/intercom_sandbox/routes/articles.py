"""Help Center articles and collections, and the (seeded, read-only) help centers.

Article authors must be teammates (admins). There is no ``created_at`` input: knowledge dates cannot be kept.
The help center has the workspace's locales (``--help-center-locales``, the default first): an article's own fields
are its default-locale content, ``translated_content`` carries the others (the 2.16 ``article_translated_content``),
shown on reads of a multilingual help center with its ``default_locale``; a collection's likewise
(``group_translated_content``: a name and a description per locale).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from intercom_sandbox import pagination
from intercom_sandbox.capabilities import holds
from intercom_sandbox.errors import bad_request, not_found
from intercom_sandbox.openapi import load_spec
from intercom_sandbox.routes import Ctx, RouteTable
from intercom_sandbox.routes.contacts import as_html
from intercom_sandbox.store import WORKSPACE_ID, Workspace, now

routes = RouteTable()
HELP_CENTER_URL = "http://help-center.test/sandbox"
AUTHOR_MISSING = "author_id must be in the main body or default locale translated_content object"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=1)
def spec_locales() -> frozenset[str]:
    """The locales the 2.16 ``article_translated_content`` schema names (any other key is stripped from a request
    before the handler, see ``documented.py``): what a help center may have."""
    return frozenset(load_spec()["components"]["schemas"]["article_translated_content"]["properties"]) - {"type"}


def _url(locale: str, article_id: str, content: dict[str, Any]) -> str | None:
    if content["state"] != "published":
        return None
    return f"{HELP_CENTER_URL}/{locale}/articles/{article_id}-{_slug(content['title'])}"


def _content(locale: str, article_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """One locale's ``article_content`` (its ``url`` is a non-nullable string: left out for a draft)."""
    body: dict[str, Any] = {
        "type": "article_content", "title": content["title"], "description": content.get("description") or "",
        "body": content.get("body") or "", "author_id": int(content["author_id"]), "state": content["state"],
        "created_at": content["created_at"], "updated_at": content["updated_at"],
    }  # fmt: skip
    url = _url(locale, article_id, content)
    if url is not None:
        body["url"] = url
    return body


def render_article(
    article: dict[str, Any], new_shapes: bool, with_statistics: bool = True, locales: tuple[str, ...] = ("en",)
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": article["id"],
        "type": "article",
        "workspace_id": WORKSPACE_ID,
    }
    parent_id = article.get("parent_id")
    if new_shapes:
        body["parent_ids"] = [int(parent_id)] if parent_id is not None else []
    else:
        body["parent_id"] = int(parent_id) if parent_id is not None else None
        body["parent_type"] = article.get("parent_type") if parent_id is not None else None
    if with_statistics:
        body["statistics"] = {
            "type": "article_statistics", "views": 0, "conversations": 0, "reactions": 0,
            "happy_reaction_percentage": 0, "neutral_reaction_percentage": 0, "sad_reaction_percentage": 0,
        }  # fmt: skip
    body.update(
        {
            "tags": {"type": "tag.list", "tags": []},
            "title": article["title"],
            "description": article.get("description") or "",
            "body": article.get("body") or "",
            "author_id": int(article["author_id"]),
            "state": article["state"],
            "created_at": article["created_at"],
            "updated_at": article["updated_at"],
            "url": _url(locales[0], article["id"], article),
        }
    )
    if len(locales) > 1:  # a multilingual help center shows every locale's content (2.16 article schema)
        body["default_locale"] = locales[0]
        translations = article.get("translations") or {}
        body["translated_content"] = {
            "type": "article_translated_content",
            locales[0]: _content(locales[0], article["id"], article),
            **{loc: _content(loc, article["id"], translations[loc]) for loc in locales[1:] if loc in translations},
        }
    return body


def _require_article(ws: Workspace, article_id: str) -> dict[str, Any]:
    article = ws.articles.get(article_id)
    if article is None:
        raise not_found()
    return article


def _author(ws: Workspace, body: dict[str, Any]) -> Any:
    author_id = body.get("author_id")
    if author_id in (None, ""):
        translated = body.get("translated_content") or {}
        default = translated.get(ws.help_center_locales[0]) if isinstance(translated, dict) else None
        author_id = (default or {}).get("author_id") if isinstance(default, dict) else None
    return author_id


def _apply_article(ws: Workspace, article: dict[str, Any], body: dict[str, Any]) -> None:
    if "title" in body and body["title"] is not None:
        article["title"] = str(body["title"])
    if "description" in body:
        article["description"] = body["description"]
    if body.get("body") is not None and body.get("body_markdown") is not None:
        raise bad_request("body and body_markdown are mutually exclusive", field="body_markdown")
    if body.get("body") is not None:
        article["body"] = as_html(str(body["body"])) if str(body["body"]).strip() else ""
    if body.get("body_markdown") is not None:
        paragraphs = [p.strip() for p in str(body["body_markdown"]).split("\n\n") if p.strip()]
        article["body"] = "".join(f"<p>{p}</p>" for p in paragraphs)
    if body.get("state") is not None:
        if body["state"] not in ("published", "draft"):
            raise bad_request("state must be published or draft", field="state")
        article["state"] = body["state"]
    if "parent_id" in body:
        parent = body["parent_id"]
        if parent not in (None, "") and str(parent) not in ws.collections:
            raise bad_request("parent_id is not a valid collection", field="parent_id")
        article["parent_id"] = str(parent) if parent not in (None, "") else None
        article["parent_type"] = body.get("parent_type") or "collection"


def _translations(
    ws: Workspace, article: dict[str, Any], body: dict[str, Any], *, group: bool = False
) -> dict[str, dict[str, Any]]:
    """The article's (``group``: the collection's) translations after this request: each non-default locale of
    ``translated_content`` merged into its earlier content. A locale the help center lacks is 400 naming it; where
    the workspace lacks ``article_translations`` (articles and collections alike) they are refused (400) or dropped.
    Checked whole before the caller changes anything."""
    translated = body.get("translated_content")
    current: dict[str, dict[str, Any]] = dict(article.get("translations") or {})
    if translated is None:
        return current
    if not isinstance(translated, dict):
        raise bad_request("translated_content must be an object", field="translated_content")
    default = ws.help_center_locales[0]
    requested = {k: v for k, v in translated.items() if k not in ("type", default) and v is not None}
    for locale, content in requested.items():
        where = f"translated_content.{locale}"
        if locale not in ws.help_center_locales:
            raise bad_request(f"Locale '{locale}' is not enabled in the help center", field=where)
        if not isinstance(content, dict):
            raise bad_request(f"{where} must be an object", field=where)
    first = next(iter(requested), None)
    message = f"translated_content for '{first}': the help center has no translations"
    if first is None or not holds(ws, "article_translations", message, f"translated_content.{first}"):
        return current
    stamp = now()
    for locale, content in requested.items():
        if group:  # the 2.16 group_content: a name and a description
            translation = dict(current.get(locale) or {"name": article["name"]})
            _apply_collection(ws, translation, {k: content[k] for k in ("name", "description") if k in content})
            current[locale] = translation
            continue
        translation = dict(
            current.get(locale)
            or {
                "author_id": article["author_id"],
                "state": "draft",
                "title": article.get("title", ""),
                "created_at": stamp,
            }
        )
        if content.get("author_id") not in (None, ""):
            if str(content["author_id"]) not in ws.admins:
                raise bad_request(
                    f"author_id of translated_content.{locale} must be a teammate",
                    field=f"translated_content.{locale}.author_id",
                )
            translation["author_id"] = str(content["author_id"])
        _apply_article(ws, translation, content)
        translation["updated_at"] = stamp
        current[locale] = translation
    return current


@routes.post("/articles")
def create_article(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        raise bad_request("title is a required parameter.", code="parameter_not_found", field="title")
    author_id = _author(ws, body)
    if author_id in (None, ""):
        raise bad_request(AUTHOR_MISSING, code="parameter_not_found")
    if str(author_id) not in ws.admins:
        raise bad_request(AUTHOR_MISSING, code="parameter_not_found")
    stamp = now()
    article: dict[str, Any] = {
        "id": ws.next_id("article", start=1),
        "author_id": str(author_id),
        "state": "draft",
        "created_at": stamp,
        "updated_at": stamp,
    }
    _apply_article(ws, article, body)
    translations = _translations(ws, article, body)
    if translations:
        article["translations"] = translations
    ws.articles[article["id"]] = article
    ws.touch()
    return render_article(article, ctx.new_shapes, locales=ws.help_center_locales)


@routes.get("/articles")
def list_articles(ctx: Ctx) -> dict[str, Any]:
    articles = sorted(ctx.ws.articles.values(), key=lambda a: (a["updated_at"], int(a["id"])), reverse=True)
    locales = ctx.ws.help_center_locales
    return pagination.offset_list(ctx.query, articles, lambda a: render_article(a, ctx.new_shapes, False, locales), 25)


@routes.get("/articles/{article_id}")
def get_article(ctx: Ctx) -> dict[str, Any]:
    article = _require_article(ctx.ws, ctx.path["article_id"])
    return render_article(article, ctx.new_shapes, locales=ctx.ws.help_center_locales)


@routes.put("/articles/{article_id}")
def update_article(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    article = _require_article(ws, ctx.path["article_id"])
    translations = _translations(ws, article, body)
    if body.get("author_id") not in (None, ""):
        if str(body["author_id"]) not in ws.admins:
            raise bad_request(AUTHOR_MISSING, code="parameter_not_found")
        article["author_id"] = str(body["author_id"])
    _apply_article(ws, article, body)
    if translations:
        article["translations"] = translations
    article["updated_at"] = now()
    ws.touch()
    return render_article(article, ctx.new_shapes, locales=ws.help_center_locales)


@routes.delete("/articles/{article_id}")
def delete_article(ctx: Ctx) -> dict[str, Any]:
    article = _require_article(ctx.ws, ctx.path["article_id"])
    del ctx.ws.articles[article["id"]]
    ctx.ws.touch()
    return {"id": article["id"], "object": "article", "deleted": True}


# --- collections and help centers -----------------------------------------------------------------------------


def render_collection(collection: dict[str, Any], locales: tuple[str, ...] = ("en",)) -> dict[str, Any]:
    body = {
        "id": collection["id"],
        "workspace_id": WORKSPACE_ID,
        "name": collection["name"],
        "url": f"{HELP_CENTER_URL}/collection-{collection['id']}",
        "order": collection["order"],
        "created_at": collection["created_at"],
        "updated_at": collection["updated_at"],
        "description": collection.get("description") or "",
        "icon": "book-bookmark",
        "parent_id": collection.get("parent_id"),
        "help_center_id": int(collection["help_center_id"]) if collection.get("help_center_id") else None,
    }
    if len(locales) > 1:  # a multilingual help center shows every locale's content (2.16 collection schema)
        translations = collection.get("translations") or {}
        body["default_locale"] = locales[0]
        body["translated_content"] = {
            "type": "group_translated_content",
            **{
                loc: {"type": "group_content", "name": content["name"], "description": content.get("description") or ""}
                for loc, content in [(locales[0], collection)]
                + [(loc, translations[loc]) for loc in locales[1:] if loc in translations]
            },
        }
    return body


def _require_collection(ws: Workspace, collection_id: str) -> dict[str, Any]:
    collection = ws.collections.get(collection_id)
    if collection is None:
        raise not_found()
    return collection


def _apply_collection(ws: Workspace, collection: dict[str, Any], body: dict[str, Any]) -> None:
    if body.get("name") is not None:
        collection["name"] = str(body["name"])
    if "description" in body:
        collection["description"] = body["description"]
    if "parent_id" in body:
        parent = body["parent_id"]
        if parent not in (None, "") and (str(parent) not in ws.collections or str(parent) == collection.get("id")):
            raise bad_request("parent_id is not a valid collection", field="parent_id")
        collection["parent_id"] = str(parent) if parent not in (None, "") else None


@routes.post("/help_center/collections")
def create_collection(ctx: Ctx) -> dict[str, Any]:
    ws, body = ctx.ws, ctx.json()
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise bad_request("Name is a required parameter.", code="parameter_not_found")
    help_center_id = body.get("help_center_id")
    if help_center_id is not None and str(help_center_id) not in ws.help_centers:
        raise not_found()
    stamp = now()
    collection: dict[str, Any] = {
        "id": ws.next_id("collection", start=1),
        "order": len(ws.collections) + 1,
        "created_at": stamp,
        "updated_at": stamp,
        "help_center_id": str(help_center_id) if help_center_id is not None else next(iter(ws.help_centers)),
    }
    _apply_collection(ws, collection, body)
    translations = _translations(ws, collection, body, group=True)
    if translations:
        collection["translations"] = translations
    ws.collections[collection["id"]] = collection
    ws.touch()
    return render_collection(collection, ws.help_center_locales)


@routes.get("/help_center/collections")
def list_collections(ctx: Ctx) -> dict[str, Any]:
    collections = sorted(ctx.ws.collections.values(), key=lambda c: int(c["id"]))
    locales = ctx.ws.help_center_locales
    return pagination.offset_list(ctx.query, collections, lambda c: render_collection(c, locales), 20)


@routes.get("/help_center/collections/{collection_id}")
def get_collection(ctx: Ctx) -> dict[str, Any]:
    return render_collection(_require_collection(ctx.ws, ctx.path["collection_id"]), ctx.ws.help_center_locales)


@routes.put("/help_center/collections/{collection_id}")
def update_collection(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    collection = _require_collection(ws, ctx.path["collection_id"])
    body = ctx.json()
    translations = _translations(ws, collection, body, group=True)
    _apply_collection(ws, collection, body)
    if translations:
        collection["translations"] = translations
    collection["updated_at"] = now()
    ws.touch()
    return render_collection(collection, ws.help_center_locales)


@routes.delete("/help_center/collections/{collection_id}")
def delete_collection(ctx: Ctx) -> dict[str, Any]:
    ws = ctx.ws
    collection = _require_collection(ws, ctx.path["collection_id"])
    del ws.collections[collection["id"]]
    for child in ws.collections.values():
        if child.get("parent_id") == collection["id"]:
            child["parent_id"] = None
    for article in ws.articles.values():
        if article.get("parent_id") == collection["id"]:
            article["parent_id"] = None
    ws.touch()
    return {"id": collection["id"], "object": "collection", "deleted": True}


def render_help_center(ws: Workspace, center: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": center["id"],
        "workspace_id": WORKSPACE_ID,
        "created_at": center["created_at"],
        "updated_at": center["created_at"],
        "identifier": center["identifier"],
        "website_turned_on": False,
        "display_name": center["display_name"],
        "url": HELP_CENTER_URL,
        "custom_domain": None,
        "default": center["id"] == next(iter(ws.help_centers)),
        "locales": list(ws.help_center_locales),
    }


@routes.get("/help_center/help_centers")
def list_help_centers(ctx: Ctx) -> dict[str, Any]:
    """Honours page/per_page (clients page until an empty page) though the response carries no ``pages``."""
    page, per_page = pagination.offset_params(ctx.query, 20)
    chunk, _pages = pagination.offset_page(list(ctx.ws.help_centers.values()), page, per_page)
    return {"type": "list", "data": [render_help_center(ctx.ws, c) for c in chunk]}


@routes.get("/help_center/help_centers/{help_center_id}")
def get_help_center(ctx: Ctx) -> dict[str, Any]:
    center = ctx.ws.help_centers.get(ctx.path["help_center_id"])
    if center is None:
        raise not_found()
    return render_help_center(ctx.ws, center)
