"""What other packages (the ``topdesk2intercom`` CLI) may use of the target: everything else is internal and may
change without notice. The CLI imports only from here (``cli/tests/test_cli_boundaries.py`` keeps it so)."""

from __future__ import annotations

from target_intercom.capabilities import (
    BY_NAME,
    FAILED,
    CheckResult,
    check_workspace,
    linked_attribute,
    needed_by_ledger,
    preflight_for,
    relationship_ids,
    with_fallbacks,
)
from target_intercom.cli import rollback_command
from target_intercom.client import IntercomClient, IntercomError, access_tokens
from target_intercom.html_page import Bars, Page, Section, Table, Text, write
from target_intercom.ledger import Entity, Ledger, as_held, content_hash
from target_intercom.ledger_changes import RESTORED_BY, Change
from target_intercom.pacer import DOCUMENTED_WINDOW_S
from target_intercom.preflight import PreflightError, PreflightReport, list_options, run_preflight, type_attributes
from target_intercom.preflight.report import sections as preflight_sections
from target_intercom.rollback import open_ledger
from target_intercom.target import TargetIntercom
from target_intercom.writers import WRITERS
from target_intercom.writers.base import CREATE, LISTED, MATCHED, NOT_UPDATABLE, UNCHANGED, UPDATE, WRITTEN, decide
from target_intercom.writers.custom_objects import LABEL_SEPARATOR
from target_intercom.writers.people import COMPANY_FIELDS, CONTACT_FIELDS
from target_intercom.writers.people import body_of as people_body
from target_intercom.writers.support import DATED_PREFIX, caller_files_as_note, caller_note_body, text_of

__all__ = [  # noqa: RUF022  grouped by what they are for, not sorted
    # the target and its ledger
    "TargetIntercom",
    "Ledger",
    "Entity",
    "as_held",
    "content_hash",
    "open_ledger",
    "rollback_command",
    "Change",
    "RESTORED_BY",
    # Intercom: the client, its documented rate window, the preflight and the workspace's live check
    "IntercomClient",
    "IntercomError",
    "access_tokens",
    "DOCUMENTED_WINDOW_S",
    "PreflightError",
    "PreflightReport",
    "run_preflight",
    "preflight_sections",
    "list_options",
    "type_attributes",
    "BY_NAME",
    "FAILED",
    "CheckResult",
    "check_workspace",
    "needed_by_ledger",
    "preflight_for",
    "with_fallbacks",
    # the writers' facts and the one create/update decision (plan, verify, audit)
    "WRITERS",
    "decide",
    "CREATE",
    "UPDATE",
    "UNCHANGED",
    "NOT_UPDATABLE",
    "WRITTEN",
    "MATCHED",
    "LISTED",
    # what the writers send for a record (verify compares Intercom with it)
    "COMPANY_FIELDS",
    "CONTACT_FIELDS",
    "people_body",
    "DATED_PREFIX",
    "caller_files_as_note",
    "caller_note_body",
    "text_of",
    "LABEL_SEPARATOR",
    "linked_attribute",
    "relationship_ids",
    # reports
    "Page",
    "Section",
    "Text",
    "Table",
    "Bars",
    "write",
]
