"""Help Center collections (knowledge folders, nested by parent) and articles (knowledge items, or known errors
with ``known_errors: article``).

Neither has an external id in Intercom: creates go through a ledger intent, settled after a crash by listing
(collections: name + parent; articles: title + author + parent). Intercom takes no ``created_at`` for either, so
every article's original date is reported as lost (``timestamp_lost``). Article authors must be teammates: the
operator's matched admin (``refs.author`` waits for it), else the fallback admin.

Languages: where the live check found the help center multilingual and holding translations
(``article_translations``), a version in another of its locales is written into the default-locale version's
``translated_content`` (one ``PUT`` of that article or collection, which it waits for); otherwise, and for an item
with no default-locale version, each language is an article (collection) of its own. An entity keeps the form it was
first written in, whatever later checks say, so a delta run never writes a version twice.

Requests: ``POST /help_center/collections`` / ``PUT /help_center/collections/{id}``; ``POST /articles`` /
``PUT /articles/{id}``; rollback ``DELETE`` of each (a translation goes with its article or collection)."""

from __future__ import annotations

from collections.abc import Sequence

from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, UPDATED, Outcome, Skip, WriteContext, Writer
from target_intercom.writers.previous import not_ours, update
from target_intercom.writers.support import forget_alias, record_alias, timestamp_lost


def _collection_id(ctx: WriteContext, parents: dict, record: dict, ref: str | None) -> str | None:
    """The collection ``ref`` (a folder's alias key, shared by its language versions) points to: the version in
    the record's own ``locale`` when there is one, else the version the alias stands for."""
    if not ref:
        return None
    locale = record.get("locale")
    if locale:
        own = ctx.ledger.lookup("collections", f"{ref}:{locale}")
        if own and own.status == "written" and own.intercom_id:
            return own.intercom_id
    return ctx.intercom_id(parents, "collections", ref)


def intercom_locale(language: str | None, locales: Sequence[str]) -> str | None:
    """The help center locale a TOPdesk language stands for: the same code, else the only locale of the same
    language (``en-GB`` -> ``en``, ``pt`` -> ``pt-BR``)."""
    if not language:
        return None
    wanted = str(language).replace("_", "-").lower()
    exact = [loc for loc in locales if loc.lower() == wanted]
    same = [loc for loc in locales if loc.lower().split("-")[0] == wanted.split("-")[0]]
    if exact:
        return exact[0]
    return same[0] if len(same) == 1 else None


def translation(ctx: WriteContext, record: dict, existing: Entity | None) -> tuple[str, str] | None:
    """(source key of the version it translates, Intercom locale) when ``record`` is written as a translation;
    None: as an article (collection) of its own. A written entity keeps its form; a new one is a translation when
    the workspace holds translations, its language is one of the help center's other locales and the TOPdesk item
    has a version in the default locale (``languages``, TOPdesk's ``availableTranslations``)."""
    if existing is not None and existing.status == "written":
        extra = existing.extra
        return (str(extra["translation_of"]), str(extra["locale"])) if extra.get("translation_of") else None
    locales = ctx.translation_locales()
    locale = intercom_locale(record.get("locale"), locales)
    if not record.get("alias_key") or locale is None or locale == locales[0]:
        return None
    default = next(
        (str(lang) for lang in record.get("languages") or [] if intercom_locale(str(lang), locales) == locales[0]), None
    )
    return (f"{record['alias_key']}:{default}", locale) if default else None


def _waits_as_translation(ctx: WriteContext, kind: str, record: dict) -> list[tuple[str, str]]:
    if not record.get("locale") or not record.get("alias_key"):
        return []
    found = translation(ctx, record, ctx.ledger.lookup(kind, record["source_key"]))
    return [(kind, found[0])] if found else []


def _translate(
    ctx: WriteContext,
    writer: Writer,
    path: str,
    content: dict,
    parents: dict,
    found: tuple[str, str],
    existing: Entity | None,
) -> Outcome:
    """Write one version into its default-locale version's ``translated_content`` (``article_translated_content``
    or ``group_translated_content``, by kind); what it overwrites in a version this run did not create is kept for
    the run's rollback."""
    kind, (host_key, locale) = writer.kind, found
    host = ctx.intercom_id(parents, kind, host_key)
    if not host:
        raise Skip(f"the {locale} version of {host_key}, which it translates, is not in Intercom")
    schema = "article_translated_content" if kind == "articles" else "group_translated_content"
    body = {"translated_content": {"type": schema, locale: content}}
    keep = not_ours(ctx, ctx.ledger.lookup(kind, host_key))
    update(ctx, writer, host_key, host, "PUT", path.format(id=host), body, keep=keep)
    issues = (
        []
        if existing is not None or kind != "articles"
        else [
            timestamp_lost(
                "created_at", "Intercom articles take no creation date: the translation is dated at migration time"
            )
        ]
    )
    # an update of the article: a rollback of this run alone cannot remove the translation (gone with the article)
    return Outcome(host, UPDATED, extra={"translation_of": host_key, "locale": locale}, issues=issues)


def _restore(ctx: WriteContext, path: str, values: dict) -> list[str]:
    """An article's or collection's values back; a translation it had not before cannot be removed on its own."""
    content = dict(values.get("translated_content") or {})
    gone = sorted(k for k, v in content.items() if v is None and k != "type")
    body = {k: v for k, v in values.items() if k != "translated_content"}
    kept = {k: v for k, v in content.items() if v is not None}
    if set(kept) - {"type"}:
        body["translated_content"] = kept
    if body:
        ctx.client.request("PUT", path, json=body)
    return [f"its {locale} translation, added by the run: Intercom removes no single translation" for locale in gone]


def _delete(ctx: WriteContext, path: str) -> None:
    try:
        ctx.client.request("DELETE", path)
    except IntercomError as exc:
        if exc.status != 404:
            raise


class CollectionWriter(Writer):
    kind = "collections"
    read_template = "/help_center/collections/{id}"
    not_clearable = frozenset({"name", "description"})
    required_refs = {"parent": "collections"}
    localised_ref = "parent"
    needs_intent = True

    def _body(self, ctx: WriteContext, record: dict, parents: dict) -> dict:
        body: dict = {"name": record["name"], "description": record.get("description") or ""}
        body["parent_id"] = _collection_id(ctx, parents, record, (record.get("refs") or {}).get("parent"))
        return body

    def waits_in(self, ctx: WriteContext, record: dict) -> list[tuple[str, str]]:
        return _waits_as_translation(ctx, self.kind, record)

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        found = translation(ctx, record, existing)
        if found:
            content = {"name": record["name"], "description": record.get("description") or ""}
            return _translate(ctx, self, "/help_center/collections/{id}", content, parents, found, existing)
        body = self._body(ctx, record, parents)
        extra = {"alias_key": record.get("alias_key")}
        if existing and existing.intercom_id and existing.status == "written":
            path, keep = f"/help_center/collections/{existing.intercom_id}", not_ours(ctx, existing)
            update(ctx, self, record["source_key"], existing.intercom_id, "PUT", path, body, keep=keep)
            record_alias(ctx, self.kind, record, existing.intercom_id, unique=False)
            return Outcome(existing.intercom_id, UPDATED, extra=extra)
        ctx.ledger.record_intent(
            self.kind,
            record["source_key"],
            "",
            ctx.run_id,
            extra={"name": body["name"], "parent_id": body["parent_id"]},
        )
        collection_id = str(ctx.client.request("POST", "/help_center/collections", json=body)["id"])
        # the folder's key without its language, which articles and subfolders refer to
        record_alias(ctx, self.kind, record, collection_id, unique=False)
        return Outcome(collection_id, CREATED, extra=extra)

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        for collection in ctx.client.paginate("/help_center/collections", params={"per_page": 150}):
            if collection.get("name") == intent.extra.get("name") and str(collection.get("parent_id") or "") == str(
                intent.extra.get("parent_id") or ""
            ):
                return str(collection["id"])
        return None

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        return _restore(ctx, f"/help_center/collections/{intercom_id}", values)

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        _delete(ctx, f"/help_center/collections/{entity.intercom_id}")
        alias = ctx.ledger.lookup(self.kind, entity.extra.get("alias_key") or "")
        if alias and alias.intercom_id == entity.intercom_id:
            forget_alias(ctx, self.kind, alias.source_key)


class ArticleWriter(Writer):
    kind = "articles"
    read_template = "/articles/{id}"
    not_clearable = frozenset({"title", "description", "body", "author_id", "state", "parent_id", "parent_type"})
    required_refs = {"collection": "collections", "author": "admins"}
    localised_ref = "collection"
    needs_intent = True

    def _body(self, ctx: WriteContext, record: dict, parents: dict) -> dict:
        refs = record.get("refs") or {}
        author = ctx.intercom_id(parents, "admins", refs.get("author")) or ctx.directory.fallback_admin_id
        if not author:
            raise Skip("an article needs a teammate as author: the operator matched none and no fallback admin is set")
        body: dict = {"title": record["title"], "author_id": int(author), "state": record.get("state") or "draft"}
        for key in ("description", "body"):
            if record.get(key) is not None:
                body[key] = record[key]
        collection = _collection_id(ctx, parents, record, refs.get("collection"))
        if collection:
            body["parent_id"] = int(collection)
            body["parent_type"] = "collection"
        return body

    def waits_in(self, ctx: WriteContext, record: dict) -> list[tuple[str, str]]:
        return _waits_as_translation(ctx, self.kind, record)

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        body = self._body(ctx, record, parents)
        found = translation(ctx, record, existing)
        if found:  # the article's place (its collection) is the default-locale version's
            content = {k: v for k, v in body.items() if k not in ("parent_id", "parent_type")}
            return _translate(ctx, self, "/articles/{id}", content, parents, found, existing)
        if existing and existing.intercom_id and existing.status == "written":
            path, keep = f"/articles/{existing.intercom_id}", not_ours(ctx, existing)
            update(ctx, self, record["source_key"], existing.intercom_id, "PUT", path, body, keep=keep)
            return Outcome(existing.intercom_id, UPDATED)
        ctx.ledger.record_intent(
            self.kind,
            record["source_key"],
            "",
            ctx.run_id,
            extra={"title": body["title"], "author_id": body["author_id"], "parent_id": body.get("parent_id")},
        )
        article = ctx.client.request("POST", "/articles", json=body)
        return Outcome(
            str(article["id"]),
            CREATED,
            issues=[
                timestamp_lost(
                    "created_at",
                    "Intercom articles take no creation date: the article is dated at migration time",
                    created_at=article.get("created_at"),
                )
            ],
        )

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        wanted = intent.extra
        for article in ctx.client.paginate("/articles", params={"per_page": 150}):
            parent_ids = article.get("parent_ids")
            parent = parent_ids[0] if parent_ids else article.get("parent_id")
            if (
                article.get("title") == wanted.get("title")
                and str(article.get("author_id")) == str(wanted.get("author_id"))
                and str(parent or "") == str(wanted.get("parent_id") or "")
            ):
                return str(article["id"])
        return None

    def request_shape(self, found: dict) -> dict:
        parent_ids = found.get("parent_ids")  # an article answers its collection in parent_ids (and parent_id)
        parent = parent_ids[0] if parent_ids else found.get("parent_id")
        return {**found, "parent_id": int(parent) if parent is not None and parent != "" else None}

    def restore(self, ctx: WriteContext, intercom_id: str, values: dict, found: dict, extra: dict) -> list[str]:
        return _restore(ctx, f"/articles/{intercom_id}", values)

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        _delete(ctx, f"/articles/{entity.intercom_id}")
