"""Drives writers through the real loader against an in-process Intercom sandbox, without the Singer layer:
stage Intercom-shaped records, pump, read back the sandbox's workspace and the ledger."""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

from target_intercom.directory import Directory
from target_intercom.ledger import Ledger
from target_intercom.loader import Loader
from target_intercom.writers import WRITERS
from target_intercom.writers.base import WriteContext

ADMIN, FALLBACK = "991267459", "991267460"  # the sandbox's seeded admins
ADMINS = [{"id": ADMIN, "email": "admin@sandbox.example"}, {"id": FALLBACK, "email": "fallback@sandbox.example"}]


class Harness:
    """One ledger, many runs. ``run(kind=[records], ...)`` stages in the given order and pumps like the target."""

    def __init__(
        self,
        sandbox: t.Any,
        tmp_path: Path,
        *,
        object_types: t.Iterable[str] = (),
        teams: t.Iterable[dict] = (),
        settings: dict | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.client = sandbox.client()
        self.ledger = Ledger(Ledger.url_for_path(tmp_path / "ledger.db"))
        self.directory = Directory(ADMINS, list(teams), FALLBACK)
        self.directory.custom_object_types.update(object_types)
        self.settings = settings or {}
        self.run_id = ""
        self.capabilities: t.Any = None  # the live check's result the next runs go by (None: all assumed to hold)

    @property
    def ws(self) -> t.Any:
        return self.sandbox.workspace

    def context(self) -> WriteContext:
        self.run_id = self.ledger.start_run({"test": True})
        return WriteContext(
            self.client, self.ledger, self.run_id, self.directory, dict(self.settings), self.capabilities
        )

    def run(
        self, *batches: tuple[str, list[dict]], concurrency: int = 8, together: bool = False
    ) -> dict[str, dict[str, int]]:
        """Stage each (kind, records) batch and pump after each; ``together``: all batches staged at once, as the
        target stages what one TOPdesk record became. Returns this run's counts. ``concurrency=1``: records are
        written one at a time, in the order staged."""
        loader = Loader(
            self.context(), concurrency=concurrency, max_retries=3, logger=logging.getLogger("test-writers")
        )
        assert all(kind in WRITERS for kind, _ in batches), batches
        try:
            loader.settle_intents()
            for group in [list(batches)] if together else [[batch] for batch in batches]:
                loader.stage_together(group)
                loader.pump()
            loader.pump()
            loader.complete()  # as the target at the end of its input
            loader.flag_orphans()
        finally:
            loader.close()
        return loader.stats.snapshot()

    def issues(self, category: str | None = None) -> list[dict]:
        return self.ledger.issues(self.run_id, category)

    def id_of(self, kind: str, key: str) -> str | None:
        entity = self.ledger.lookup(kind, key)
        return entity.intercom_id if entity and entity.status == "written" else None

    def post(self, path: str, body: dict) -> dict:
        return self.client.request("POST", path, json=body)

    def close(self) -> None:
        self.client.close()
        self.ledger.close()


def contact(person: str, email: str | None = None) -> dict:
    return {
        "source_key": f"person:{person}",
        "role": "user",
        "external_id": person,
        "email": email or f"{person}@example.test",
        "name": f"Person {person}",
    }


def admin(operator: str, email: str) -> dict:
    return {"source_key": f"operator:{operator}", "email": email, "name": f"Operator {operator}"}
