"""One writer per Intercom entity kind; ``ORDER`` is the dependency order the loader writes them in."""

from __future__ import annotations

from target_intercom.writers.base import Writer
from target_intercom.writers.conversations import ConversationPartWriter, ConversationWriter
from target_intercom.writers.custom_objects import CustomObjectInstanceWriter, CustomObjectLinkWriter
from target_intercom.writers.help_center import ArticleWriter, CollectionWriter
from target_intercom.writers.inventory import InventoryWriter
from target_intercom.writers.notes import ContactNoteWriter, TeamMembershipWriter
from target_intercom.writers.people import CompanyWriter, ContactCompanyWriter, ContactWriter
from target_intercom.writers.teammates import AdminWriter, TeamWriter
from target_intercom.writers.tickets import TicketPartWriter, TicketWriter

#: parents before children (contacts before conversations, custom object data before links, collections before
#: articles); rollback walks it backwards
WRITERS: tuple[Writer, ...] = (
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
BY_KIND: dict[str, Writer] = {w.kind: w for w in WRITERS}
ORDER: tuple[str, ...] = tuple(w.kind for w in WRITERS)
