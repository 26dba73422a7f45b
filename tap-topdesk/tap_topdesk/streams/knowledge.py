"""Knowledge base (``/services/knowledge-base-v1``): items and folders, one record per item and language.

The API lists only the items (folders) with content in the requested ``language``, the default language when none
is given, and returns the translation's fields only when they are named in ``fields``. So the tap reads every
language a translation can be in: TOPdesk's language list (``/tas/api/languages``; the knowledge-base description:
"The language must be in TOPdesk's language list"), plus any language an item read names in
``availableTranslations``. A language present only on items without default-language content is read too.
"""

from __future__ import annotations

import typing as t
from collections import deque

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import FiqlIncrementalStream, ModuleUnavailableError
from tap_topdesk.disk_set import DiskSet
from tap_topdesk.request_check import CheckRequest

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

KB = "/services/knowledge-base-v1"
#: ``fields`` of ``/knowledgeItems``: only names TOPdesk's description lists (copied by PipedreamHQ/pipedream
#: components/topdesk/actions/get-knowledge-items/get-knowledge-items.mjs). ``archived`` and a bare ``translation``
#: are not among them: ``archived`` comes from the FIQL filter of each listing (see ``read``).
ITEM_FIELDS = (
    "parent,visibility,urls,news,manager,status,standardSolution,externalLink,availableTranslations,creationDate,"
    "modificationDate,language,title,description,content,commentsForOperators,keywords,translation.creator,"
    "translation.modifier,translation.creationDate,translation.modificationDate"
)
#: ``fields`` of ``/folders`` (no list was recovered): the item names a folder has; its description names "title,
#: description and the translation creator/modifier fields" as the translation's (assumed: as for items).
FOLDER_FIELDS = (
    "parent,visibility,availableTranslations,creationDate,modificationDate,language,title,description,"
    "translation.creator,translation.modifier,translation.creationDate,translation.modificationDate"
)


class _PerLanguageStream(FiqlIncrementalStream):
    module = "knowledge"
    primary_keys = ("id", "language")
    envelope = "item"
    offset_param = "start"
    size_param = "page_size"
    max_page_size = 1000
    fiql_archived = False
    fields = ITEM_FIELDS

    def language_list(self, context: Context | None) -> list[str]:
        """The codes of TOPdesk's language list (``languageCode``); empty (with a warning) when it is unreadable."""
        try:
            rows = self.body(self.get("/tas/api/languages", context=context)) or []  # a bare array
        except ModuleUnavailableError as exc:
            self.logger.warning(
                "Stream '%s': TOPdesk's language list is unreadable (%s): reading the default language and the "
                "languages items name; a language only items without default-language content have is missed",
                self.name,
                exc,
            )
            return []
        return sorted({str(r["languageCode"]) for r in rows if isinstance(r, dict) and r.get("languageCode")})

    def listing_params(self, language: str | None, query: str, start: int, size: int) -> dict[str, t.Any]:
        """One page of one language's listing (``None``: the default language, no ``language`` parameter)."""
        params: dict[str, t.Any] = {"start": start, "page_size": size, "fields": self.fields, "query": query}
        if language is not None:
            params["language"] = language
        return params

    def listing_query(self, since: str, archived: bool) -> str:
        return f"{since};archived=={str(archived).lower()}"

    def check_request(self, context: Context | None, size: int) -> CheckRequest:
        """Request check hook: the first listing ``read`` sends, the default language's active items (before it, only
        TOPdesk's language list is read, whose refusal the sync survives)."""
        query = self.listing_query(self.since_query(context), archived=False)
        return CheckRequest(self.path, self.listing_params(None, query, 0, size), self.accept)

    def listing(self, language: str | None, query: str, context: Context | None) -> t.Iterator[dict]:
        """Every page of one language's listing (``None``: the default language)."""
        start = 0
        size = self.page_size or 1000
        while True:  # (a page asked ahead is taken by ``stream_page``)
            page = self.stream_page(self.listing_params(language, query, start, size), context)  # parsed as read
            yield from page.records
            if not page.count or page.response.status_code != 206:
                return
            start += size

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The default language, each language of the list, then any other an item names; archived and active items
        apart, so that ``archived`` (a filter field, not a selectable one) is known. One record per (item, language).

        The default listing comes first in case the list's codes are spelt unlike the knowledge base's (assumed
        alike): its items name their languages. A listed language the knowledge base refuses (400) is skipped with a
        warning instead of ending the sync.
        """
        queue: deque[str | None] = deque([None, *self.language_list(context)])
        queued = set(queue)
        since = self.since_query(context)
        for_archived = (False, True) if self.include_archived else (False,)
        size = self.page_size or 1000
        for language in queue:  # their first pages side by side, read in this order
            for archived in for_archived:
                params = self.listing_params(language, self.listing_query(since, archived), 0, size)
                self.ask_ahead(self.page_request(params), context)
        with DiskSet() as emitted:  # (item, language) pairs: one per record, kept on disk
            while queue:
                yield from self.read_language(queue.popleft(), since, context, emitted, queue, queued)

    def read_language(
        self,
        language: str | None,
        since: str,
        context: Context | None,
        emitted: DiskSet,
        queue: deque[str | None],
        queued: set[str | None],
    ) -> t.Iterator[dict]:
        """One language's items (active, then archived), each (item, language) once; a language an item names that
        is not queued yet is queued."""
        count = 0
        try:
            for archived in (False, True) if self.include_archived else (False,):
                for item in self.listing(language, self.listing_query(since, archived), context):
                    code = (item.get("translation") or {}).get("language") or language
                    for other in item.get("availableTranslations") or []:
                        if other not in queued:
                            queued.add(other)
                            queue.append(other)
                    if not code or not emitted.add(f"{item.get('id')}\t{code}"):
                        continue
                    item["language"] = code
                    item["archived"] = archived
                    count += 1
                    yield item
        except FatalAPIError as exc:
            if language is None or not str(exc).startswith("400 "):
                raise
            self.logger.warning("Stream '%s': language '%s' refused, skipped (%s)", self.name, language, exc)
        self.logger.info("Stream '%s': %d records in language '%s'", self.name, count, language or "(default)")


class KnowledgeItemsStream(_PerLanguageStream):
    name = "knowledge_items"
    path = f"{KB}/knowledgeItems"
    fields = ITEM_FIELDS


class KnowledgeFoldersStream(_PerLanguageStream):
    name = "knowledge_folders"
    path = f"{KB}/folders"
    fields = FOLDER_FIELDS
