"""Help Center collections (knowledge folders, nested by parent) and articles (knowledge items, or known errors
with ``known_errors: article``).

Neither has an external id in Intercom: creates go through a ledger intent, settled after a crash by listing
(collections: name + parent; articles: title + author + parent). Intercom takes no ``created_at`` for either, so
every article's original date is reported as lost (``timestamp_lost``). Article authors must be teammates: the
operator's matched admin (``refs.author`` waits for it), else the fallback admin.

Requests: ``POST /help_center/collections`` / ``PUT /help_center/collections/{id}``; ``POST /articles`` /
``PUT /articles/{id}``; rollback ``DELETE`` of each."""

from __future__ import annotations

from target_intercom.client import IntercomError
from target_intercom.ledger import Entity
from target_intercom.writers.base import CREATED, UPDATED, Outcome, Skip, WriteContext, Writer
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


def _delete(ctx: WriteContext, path: str) -> None:
    try:
        ctx.client.request("DELETE", path)
    except IntercomError as exc:
        if exc.status != 404:
            raise


class CollectionWriter(Writer):
    kind = "collections"
    required_refs = {"parent": "collections"}
    needs_intent = True

    def _body(self, ctx: WriteContext, record: dict, parents: dict) -> dict:
        body: dict = {"name": record["name"], "description": record.get("description") or ""}
        body["parent_id"] = _collection_id(ctx, parents, record, (record.get("refs") or {}).get("parent"))
        return body

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        body = self._body(ctx, record, parents)
        extra = {"alias_key": record.get("alias_key")}
        if existing and existing.intercom_id and existing.status == "written":
            ctx.client.request("PUT", f"/help_center/collections/{existing.intercom_id}", json=body)
            record_alias(ctx, self.kind, record, existing.intercom_id, unique=False)
            return Outcome(existing.intercom_id, UPDATED, extra=extra)
        ctx.ledger.record_intent(self.kind, record["source_key"], "", ctx.run_id,
                                 extra={"name": body["name"], "parent_id": body["parent_id"]})
        collection_id = str(ctx.client.request("POST", "/help_center/collections", json=body)["id"])
        # the folder's key without its language, which articles and subfolders refer to
        record_alias(ctx, self.kind, record, collection_id, unique=False)
        return Outcome(collection_id, CREATED, extra=extra)

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        for collection in ctx.client.paginate("/help_center/collections", params={"per_page": 150}):
            if collection.get("name") == intent.extra.get("name") and \
                    str(collection.get("parent_id") or "") == str(intent.extra.get("parent_id") or ""):
                return str(collection["id"])
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        _delete(ctx, f"/help_center/collections/{entity.intercom_id}")
        alias = ctx.ledger.lookup(self.kind, entity.extra.get("alias_key") or "")
        if alias and alias.intercom_id == entity.intercom_id:
            forget_alias(ctx, self.kind, alias.source_key)


class ArticleWriter(Writer):
    kind = "articles"
    required_refs = {"collection": "collections", "author": "admins"}
    needs_intent = True

    def _body(self, ctx: WriteContext, record: dict, parents: dict) -> dict:
        refs = record.get("refs") or {}
        author = ctx.intercom_id(parents, "admins", refs.get("author")) or ctx.directory.fallback_admin_id
        if not author:
            raise Skip("an article needs a teammate as author: the operator matched none and no fallback admin "
                       "is set")
        body: dict = {"title": record["title"], "author_id": int(author),
                      "state": record.get("state") or "draft"}
        for key in ("description", "body"):
            if record.get(key) is not None:
                body[key] = record[key]
        collection = _collection_id(ctx, parents, record, refs.get("collection"))
        if collection:
            body["parent_id"] = int(collection)
            body["parent_type"] = "collection"
        return body

    def write(self, ctx: WriteContext, record: dict, existing: Entity | None, parents: dict) -> Outcome:
        body = self._body(ctx, record, parents)
        if existing and existing.intercom_id and existing.status == "written":
            ctx.client.request("PUT", f"/articles/{existing.intercom_id}", json=body)
            return Outcome(existing.intercom_id, UPDATED)
        ctx.ledger.record_intent(self.kind, record["source_key"], "", ctx.run_id, extra={
            "title": body["title"], "author_id": body["author_id"], "parent_id": body.get("parent_id")})
        article = ctx.client.request("POST", "/articles", json=body)
        return Outcome(str(article["id"]), CREATED, issues=[timestamp_lost(
            "created_at", "Intercom articles take no creation date: the article is dated at migration time",
            created_at=article.get("created_at"))])

    def settle(self, ctx: WriteContext, intent: Entity | None) -> str | None:
        if intent is None or intent.status != "intent":
            return None
        wanted = intent.extra
        for article in ctx.client.paginate("/articles", params={"per_page": 150}):
            parent_ids = article.get("parent_ids")
            parent = parent_ids[0] if parent_ids else article.get("parent_id")
            if article.get("title") == wanted.get("title") and \
                    str(article.get("author_id")) == str(wanted.get("author_id")) and \
                    str(parent or "") == str(wanted.get("parent_id") or ""):
                return str(article["id"])
        return None

    def delete(self, ctx: WriteContext, entity: Entity) -> None:
        _delete(ctx, f"/articles/{entity.intercom_id}")
