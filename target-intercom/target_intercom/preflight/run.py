"""One preflight run: the checks of each family of objects, in the order their objects depend on each other."""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Iterable, Mapping

from target_intercom.client import IntercomClient
from target_intercom.directory import Directory
from target_intercom.preflight.attributes import AttributeChecks
from target_intercom.preflight.common import CONVERSATIONS_NOTIFY, DATA_MODELS
from target_intercom.preflight.custom_objects import CustomObjectChecks
from target_intercom.preflight.model import PreflightReport, PreflightSettings
from target_intercom.preflight.ticket_types import TicketTypeChecks
from target_intercom.preflight.workspace import WorkspaceChecks


class Preflight(WorkspaceChecks, AttributeChecks, TicketTypeChecks, CustomObjectChecks):
    """One preflight run. Requests are few and sequential: one listing per kind, one create per missing object."""

    def run(self) -> PreflightReport:
        me = self._auth()
        self.report = PreflightReport(
            directory=Directory([], [], None),
            workspace=me,
            skip_missing_ui_objects=self.settings.skip_missing_ui_objects,
        )
        self.report.problems.extend(self.invalid)
        self._admins_and_teams(me)
        for model in DATA_MODELS:
            if self.attributes.get(model):
                self._data_attributes(model)
        if self.attributes.get("conversation"):
            self._conversation_attributes()
            self.report.warnings.append(CONVERSATIONS_NOTIFY)
        if self.ticket_types or self.attributes.get("ticket_type"):
            self._ticket_types()
        if self.object_types:
            self._custom_object_types()
            self._relationships()
        r = self.report
        r.problems.sort(key=lambda p: p.ui_only)  # what only the map or a data fix can solve first
        self.log.info(
            "Preflight: %d created, %d updated, %d already present, %d problem(s), %d warning(s)",
            len(r.created),
            len(r.updated),
            len(r.existing),
            len(r.problems),
            len(r.warnings),
        )
        for problem in r.problems:
            self.log.warning("Preflight problem: %s", problem.message)
        if CONVERSATIONS_NOTIFY in r.warnings:
            self.log.warning(CONVERSATIONS_NOTIFY)
        return r


def run_preflight(
    client: IntercomClient,
    definitions: Mapping[str, Iterable[dict]],
    settings: PreflightSettings | Mapping[str, t.Any] | None = None,
    *,
    logger: logging.Logger | t.Any = None,
) -> PreflightReport:
    """Check and provision the workspace for ``definitions`` (the mapper's ``ticket_types``,
    ``attribute_definitions`` and ``custom_object_types`` records; optionally ``required_teams``: team names).
    Raises :class:`PreflightError` only when it cannot run at all; everything else is in the report."""
    return Preflight(client, definitions, settings, logger=logger).run()
