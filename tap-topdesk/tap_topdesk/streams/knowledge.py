"""Knowledge base (``/services/knowledge-base-v1``): items and folders, one record per item and language.

The API lists only the items with content in the requested ``language`` and returns the HTML ``content`` only
when asked for, so the tap first collects every language the instance uses (``availableTranslations``), then
reads each language with the content fields named explicitly.
"""

from __future__ import annotations

import typing as t

from tap_topdesk.client import FiqlIncrementalStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

KB = "/services/knowledge-base-v1"
ITEM_FIELDS = (
    "parent,visibility,urls,news,manager,status,standardSolution,externalLink,archived,availableTranslations,"
    "creationDate,modificationDate,translation,language,title,description,content,commentsForOperators,keywords,"
    "creator,modifier"
)
FOLDER_FIELDS = "parent,visibility,archived,availableTranslations,creationDate,modificationDate,translation"


class _PerLanguageStream(FiqlIncrementalStream):
    module = "knowledge"
    primary_keys = ("id", "language")
    envelope = "item"
    offset_param = "start"
    size_param = "page_size"
    max_page_size = 1000
    fiql_archived = False
    fields = ITEM_FIELDS

    def languages(self, context: Context | None) -> list[str]:
        """Every language any item (or folder) has a translation in."""
        found: set[str] = set()
        start = 0
        size = self.page_size or 1000
        while True:
            response = self.get(
                self.path,
                {"start": start, "page_size": size, "fields": "availableTranslations,language"},
                context=context,
            )
            items = self.extract(self.body(response))
            for item in items:
                found.update(item.get("availableTranslations") or [])
                language = (item.get("translation") or {}).get("language")
                if language:
                    found.add(language)
            if not items or response.status_code != 206:
                return sorted(found)
            start += size

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        languages = self.languages(context)
        self.logger.info("Stream '%s': languages %s", self.name, ", ".join(languages) or "(none)")
        query = self.since_query(context)
        for language in languages:
            start = 0
            size = self.page_size or 1000
            count = 0
            while True:
                params = {"start": start, "page_size": size, "language": language, "fields": self.fields}
                params["query"] = query if self.include_archived else f"{query};archived==false"
                response = self.get(self.path, params, context=context)
                items = self.extract(self.body(response))
                for item in items:
                    item["language"] = (item.get("translation") or {}).get("language") or language
                    count += 1
                    yield item
                if not items or response.status_code != 206:
                    break
                start += size
            self.logger.info("Stream '%s': %d records in language '%s'", self.name, count, language)


class KnowledgeItemsStream(_PerLanguageStream):
    name = "knowledge_items"
    path = f"{KB}/knowledgeItems"
    fields = ITEM_FIELDS


class KnowledgeFoldersStream(_PerLanguageStream):
    name = "knowledge_folders"
    path = f"{KB}/folders"
    fields = FOLDER_FIELDS
