"""What a preflight run is told (its settings) and what it finds (entries, problems, the report), and the errors
that stop it."""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from target_intercom.directory import Directory
from target_intercom.preflight import report
from target_intercom.preflight.common import LOGGER_NAME


class PreflightError(Exception):
    """The preflight could not run (token rejected, Intercom unreachable): nothing was checked or written."""


class PreflightBlocked(PreflightError):
    """The workspace is not ready: ``problems`` lists every blocking problem, each a sentence saying what to do."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [
            f"Intercom is not ready for this migration: {len(problems)} problem(s); nothing was written. "
            "Fix them, then run again:"
        ]
        lines += [f"  {n}. {p.message}" for n, p in enumerate(problems, 1)]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class PreflightSettings:
    """The settings the preflight reads (a target config mapping converts with :meth:`of`)."""

    fallback_admin_email: str | None = None
    #: UI-only objects (custom object types, teams) may be missing: records needing them are flagged instead
    skip_missing_ui_objects: bool = False
    #: check only: what would be created or updated goes to ``PreflightReport.planned``, nothing is sent
    dry_run: bool = False
    #: the workspace's live check found relationship attributes written and read back but not listed (or listed
    #: without their reference): a relationship the listing lacks is taken as there, not created again or reported
    relationships_unlisted: bool = False

    @classmethod
    def of(cls, value: PreflightSettings | Mapping[str, t.Any] | None) -> PreflightSettings:
        if isinstance(value, PreflightSettings):
            return value
        value = value or {}
        return cls(
            fallback_admin_email=(value.get("fallback_admin_email") or "").strip() or None,
            skip_missing_ui_objects=bool(value.get("skip_missing_ui_objects")),
            dry_run=bool(value.get("dry_run")),
            relationships_unlisted=bool(value.get("relationships_unlisted")),
        )


@dataclass
class Entry:
    """One object the preflight created, updated or found. ``scope`` is the model or the owning ticket type."""

    kind: str
    name: str
    id: str | None = None
    scope: str | None = None
    detail: str = ""


@dataclass
class Problem:
    """Something that stops the run. ``ui_only``: a missing object only a person can create in Intercom's UI, which
    ``skip_missing_ui_objects`` lets the run go on without."""

    kind: str
    name: str
    message: str
    scope: str | None = None
    ui_only: bool = False


@dataclass
class PreflightReport:
    """What the preflight did and found; the writers use ``directory``; the reconciliation report embeds
    :meth:`as_dict`; ``provision`` shows its sections (target_intercom.preflight.report)."""

    directory: Directory
    workspace: dict = field(default_factory=dict)
    created: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    existing: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skip_missing_ui_objects: bool = False
    planned: list[Entry] = field(default_factory=list)  # dry run: what a real run would create or update

    @property
    def ticket_type_ids(self) -> dict[str, str]:
        return self.directory.ticket_type_ids

    @property
    def ticket_attribute_ids(self) -> dict[tuple[str, str], str]:
        return self.directory.ticket_attribute_ids

    def blocking(self, skip_ui: bool | None = None) -> list[Problem]:
        skip = self.skip_missing_ui_objects if skip_ui is None else skip_ui
        return [p for p in self.problems if not (skip and p.ui_only)]

    def raise_if_blocking(self, skip_ui: bool | None = None) -> None:
        """Raise :class:`PreflightBlocked` listing every blocking problem at once (so one round of fixes is enough).
        ``skip_ui`` (default: the settings) lets missing UI-only objects through."""
        problems = self.blocking(skip_ui)
        if problems:
            raise PreflightBlocked(problems)
        skipped = [p for p in self.problems if p not in problems]
        if skipped:
            logging.getLogger(LOGGER_NAME).warning(
                "Going on without %d UI-only object(s) (skip_missing_ui_objects): records that need them are flagged",
                len(skipped),
            )

    def as_dict(self) -> dict:
        d = self.directory
        return {
            "workspace": self.workspace,
            "created": [asdict(e) for e in self.created],
            "updated": [asdict(e) for e in self.updated],
            "existing": [asdict(e) for e in self.existing],
            "planned": [asdict(e) for e in self.planned],
            "problems": [asdict(p) for p in self.problems],
            "warnings": list(self.warnings),
            "ticket_type_ids": dict(d.ticket_type_ids),
            "ticket_attribute_ids": [
                {"ticket_type": tt, "name": name, "id": attr_id}
                for (tt, name), attr_id in d.ticket_attribute_ids.items()
            ],
            "fallback_admin_id": d.fallback_admin_id,
            "unmatched_operators": d.unmatched_operators,
            "unmatched_groups": d.unmatched_groups,
            "missing_custom_object_types": sorted(d.missing_custom_object_types),
            "missing_relationships": [{"host": host, "name": name} for host, name in sorted(d.missing_relationships)],
        }

    def as_markdown(self) -> str:
        """The report as Markdown (its sections rendered by html_page), e.g. for a log or a test's message."""
        return report.markdown(self)
