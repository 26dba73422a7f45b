"""One writer per Intercom entity kind; ``WRITERS`` holds them in the dependency order the loader writes them in."""

from __future__ import annotations

import typing as t

from target_intercom.writers.base import Writer
from target_intercom.writers.conversations import ConversationPartWriter, ConversationWriter
from target_intercom.writers.custom_objects import CustomObjectInstanceWriter, CustomObjectLinkWriter
from target_intercom.writers.help_center import ArticleWriter, CollectionWriter
from target_intercom.writers.inventory import InventoryWriter
from target_intercom.writers.notes import ContactNoteWriter, TeamMembershipWriter
from target_intercom.writers.people import CompanyWriter, ContactCompanyWriter, ContactWriter
from target_intercom.writers.teammates import AdminWriter, TeamWriter
from target_intercom.writers.tickets import TicketPartWriter, TicketWriter


class Writers:
    """The writers of a load, in dependency order (parents before children); a loader, a plan or a rollback takes
    them as given, so a test can hand in its own."""

    def __init__(self, writers: t.Iterable[Writer]) -> None:
        self.order: tuple[Writer, ...] = tuple(writers)
        self.by_kind: dict[str, Writer] = {w.kind: w for w in self.order}
        self.kinds: tuple[str, ...] = tuple(self.by_kind)

    def __getitem__(self, kind: str) -> Writer:
        return self.by_kind[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self.by_kind

    def __iter__(self) -> t.Iterator[Writer]:
        return iter(self.order)

    def get(self, kind: str) -> Writer | None:
        return self.by_kind.get(kind)


#: parents before children (contacts before conversations, custom object data before links, collections before
#: articles); rollback walks it backwards
WRITERS = Writers(
    (
        AdminWriter(),
        TeamWriter(),
        TeamMembershipWriter(),
        CompanyWriter(),
        ContactWriter(),
        ContactCompanyWriter(),
        ContactNoteWriter(),
        TicketWriter(),
        TicketPartWriter(),
        ConversationWriter(),
        ConversationPartWriter(),
        CustomObjectInstanceWriter(),
        CustomObjectLinkWriter(),
        CollectionWriter(),
        ArticleWriter(),
        InventoryWriter(),
    )
)
