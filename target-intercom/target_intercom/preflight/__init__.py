"""Preflight: everything that must hold in the Intercom workspace before the first record is written.

Intercom rejects records that use attributes, ticket types or custom object types it does not know, and some of
these (teammates, teams, custom object types) can only be created by a person in Intercom's UI. So before loading,
the preflight checks the token, creates what the API can create (data attributes, conversation attributes, ticket
types and their attributes), compares what already exists (a data type that differs cannot be changed by anyone,
so it stops the run), checks the UI-only objects (custom object types and the relationship attributes the map's
links need on contacts, conversations and tickets), and lists precisely what a person must do. It is idempotent: a
second run finds everything and creates nothing. ``run_preflight`` is also the ``provision`` step on its own.

One module per family of objects (workspace: token, teammates, teams; attributes; ticket_types; custom_objects),
their shared state and requests in base, the run in run, the report's sections in report; this package re-exports
what other modules import.
"""

from target_intercom.preflight.common import (
    BUILTIN_TICKET_ATTRIBUTES,
    CONVERSATIONS_NOTIFY,
    CREATE_ATTEMPTS,
    DATA_MODELS,
    DATA_TYPE_AS_READ,
    OBJECT_FORMATS,
    PAGES,
    PROBE_EXTERNAL_ID,
    list_options,
    relationships,
    type_attributes,
)
from target_intercom.preflight.model import (
    Entry,
    PreflightBlocked,
    PreflightError,
    PreflightReport,
    PreflightSettings,
    Problem,
)
from target_intercom.preflight.run import Preflight, run_preflight

__all__ = [
    "BUILTIN_TICKET_ATTRIBUTES",
    "CONVERSATIONS_NOTIFY",
    "CREATE_ATTEMPTS",
    "DATA_MODELS",
    "DATA_TYPE_AS_READ",
    "OBJECT_FORMATS",
    "PAGES",
    "PROBE_EXTERNAL_ID",
    "Entry",
    "Preflight",
    "PreflightBlocked",
    "PreflightError",
    "PreflightReport",
    "PreflightSettings",
    "Problem",
    "list_options",
    "relationships",
    "run_preflight",
    "type_attributes",
]
