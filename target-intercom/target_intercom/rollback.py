"""Rollback: put back what a run (or every run) changed in Intercom records it did not create, then delete what
it created, as the ledger records both.

Restore first. A run that changed a record it did not create (a contact adopted after a 409, a company matched by
``company_id``, an earlier run's ticket, conversation, instance, article) kept the values it overwrote
(:mod:`target_intercom.ledger_changes`); the rollback sends them back, kind by kind in reverse dependency order,
newest first, each record's changes newest run first. It reads the record first: already back (an interrupted
rollback) is settled without a request; a record changed since by someone else (its fields differ from what the
run's requests left) or by a later run that is not rolled back is not overwritten but listed, with that run's id
(``force`` restores anyway). What Intercom keeps of a change (a ticket's state-change parts, a conversation's
assignment parts, a translation it cannot remove, a field its API cannot clear) is listed as not restorable, with
the reason.

Order. Kind by kind in *reverse dependency order* (``reversed(writers.WRITERS.kinds)``: children before parents, e.g.
ticket parts, tickets, contact-company links, contacts, companies), newest first within a kind. ``seq`` (creation
order) alone would usually put children first too, since a record waits for its required parents; but that is a
property of how the loader happened to assign ``seq`` (re-assigned when an intent is settled, concurrent workers,
writers that record an entity of another kind), whereas the kind walk makes "no parent is deleted before a child
the rollback still has to delete" structural, settles contained kinds with their container (no request per ticket
part) and reports a failure at the child rather than as an obscure parent failure.
Newest first within a kind keeps a partial rollback a clean "undo of the latest work" and matches the ledger's
index. Entities that cannot be deleted on their own (ticket parts: Intercom has no delete for one part) are
settled right after their container: gone with it when the container was deleted (or is gone), otherwise listed
for manual removal.

What is not deleted: entities the run did not create (``created_run_id`` is another run or None: adopted
contacts, merged case-duplicates, matched teammates and teams, records created earlier and only updated by this
run). They are listed; their values from before the run are restored as above, and their ledger rows are what they
were before it (so the next load writes TOPdesk's values again). Workspace definitions the preflight created (data
attributes, ticket types and their attributes) are outside the ledger and stay.

Intents (creates that may or may not have reached Intercom) of the rolled-back run are settled first, the same
way a resumed load settles them (the writer's search): found means deleted like any other entity, not found
means nothing to delete; either way the row is marked deleted. Held records staged by the rolled-back run
(``--all``: every held record) are dropped, with their open manual-review/orphan issues: they belong to the input
that is being undone, and a later load would otherwise write them. They are listed in the report; re-send them
by running the tap again from the state before that run.

Ledger entries that stand for an entity the rollback deleted without having been created by the run (a person
merged into another person's contact, a second key of a conversation) are marked deleted with it, so that a re-run
writes them again instead of pointing at a deleted id. Runs go newest first too: rolling back a run while a later
run still has what it created is refused unless ``force`` (the later run's tickets may point at its contacts).

Resumable: every delete is followed by ``mark_deleted``; a second rollback only sees what is still "written" or
"intent", and a 404 on delete (deleted by the interrupted attempt, or by hand) counts as already gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import sys
import threading
import typing as t
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from target_intercom import rollback_report
from target_intercom.client import IntercomClient, IntercomError
from target_intercom.ledger import Entity, Ledger
from target_intercom.ledger_changes import Change
from target_intercom.writers import WRITERS
from target_intercom.writers.base import WriteContext, Writer, error_text

LOGGER = logging.getLogger("target_intercom.rollback")
PAGE = 500

#: kinds Intercom cannot delete on their own: (entity.extra field with the container's Intercom id, container kind,
#: container path). A writer may declare its own ``contained_in`` with the same shape.
CONTAINED: dict[str, tuple[str, str, str]] = {
    "ticket_parts": ("ticket_id", "tickets", "/tickets/{}"),
    "conversation_parts": ("conversation_id", "conversations", "/conversations/{}"),
    "contact_notes": ("contact_id", "contacts", "/contacts/{}"),
}


@dataclasses.dataclass
class Outcomes:
    """What happened to each selected entity; thread-safe."""

    deleted: Counter = dataclasses.field(default_factory=Counter)
    already_gone: Counter = dataclasses.field(default_factory=Counter)
    with_container: Counter = dataclasses.field(default_factory=Counter)
    not_created: Counter = dataclasses.field(default_factory=Counter)  # intents whose create never happened
    aliases: Counter = dataclasses.field(default_factory=Counter)  # merged into an entity that was deleted
    manual: list[dict] = dataclasses.field(default_factory=list)  # cannot be deleted through the API
    restored: Counter = dataclasses.field(default_factory=Counter)  # changes put back (or found back already)
    not_restored: list[dict] = dataclasses.field(default_factory=list)  # changed since, or by a later run
    not_restorable: list[dict] = dataclasses.field(default_factory=list)  # what Intercom keeps of a change
    failed: list[dict] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def count(self, what: str, kind: str) -> None:
        with self.lock:
            getattr(self, what)[kind] += 1

    def add(self, what: str, item: dict) -> None:
        with self.lock:
            getattr(self, what).append(item)


# ---------------------------------------------------------------------------------------------------- entry points


@contextlib.contextmanager
def open_ledger(config: dict) -> Iterator[Ledger]:
    ledger = Ledger(Ledger.url_from_config(config))
    try:
        yield ledger
    finally:
        ledger.close()


def rollback_from_config(
    config: dict,
    ledger: Ledger,
    *,
    run_id: str | None,
    dry_run: bool,
    progress: bool | None = None,
    force: bool = False,
) -> dict:
    """The CLI's rollback: a client from the target's settings (same pacing and retries as a load)."""
    client = IntercomClient.from_config(config, concurrency=int(config.get("concurrency", 32)), logger=LOGGER)
    try:
        return rollback(
            ledger,
            client,
            run_id=run_id,
            dry_run=dry_run,
            settings=config,
            report_dir=Path(config.get("report_dir") or "reports"),
            progress=progress,
            force=force,
        )
    finally:
        client.close()


def rollback(
    ledger: Ledger,
    client: IntercomClient,
    *,
    run_id: str | None,
    dry_run: bool = False,
    settings: dict | None = None,
    report_dir: Path | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> dict:
    """Roll back ``run_id`` (None: every run). Returns the summary (also written to ``report_dir``).

    Runs are rolled back newest first too: a run whose later runs still have what they created in Intercom is
    refused (their tickets may point at its contacts) unless ``force``."""
    settings = dict(settings or {})
    if run_id is not None:
        run = ledger.get_run(run_id)
        if run is None:
            raise ValueError(f"no run {run_id!r} in the ledger (target-intercom rollback --list-runs lists them)")
        if (run.get("info") or {}).get("command") == "rollback":
            raise ValueError(f"{run_id} is a rollback, not a load: there is nothing it created")
        later = [
            r["run_id"]
            for r in ledger.runs()
            if r["started_at"] > run["started_at"]
            and (r.get("info") or {}).get("command") != "rollback"
            and r["status"] != "rolled_back"
            and ledger.created_by(r["run_id"], limit=1)
        ]
        if later and not force:
            raise ValueError(
                f"later runs still have what they created in Intercom ({', '.join(later)}); roll them "
                f"back first (newest first), or pass --force to roll back {run_id} alone"
            )
        if run["status"] == "running":
            LOGGER.warning(
                "Run %s never finished (crashed, or still running: a rollback must not run while it "
                "loads); its creates are rolled back as far as the ledger knows them",
                run_id,
            )
    rb = _Rollback(ledger, client, run_id, settings, dry_run, progress, force)
    return rb.run(report_dir)


# ---------------------------------------------------------------------------------------------------- the work


class _Rollback:
    def __init__(
        self,
        ledger: Ledger,
        client: IntercomClient,
        run_id: str | None,
        settings: dict,
        dry_run: bool,
        progress: bool | None,
        force: bool = False,
    ) -> None:
        self.ledger, self.client, self.target_run, self.dry_run = ledger, client, run_id, dry_run
        self.settings, self.force = settings, force
        self.progress = progress
        self.out = Outcomes()
        self.gone_ids: dict[str, set[str]] = defaultdict(set)  # container kind -> Intercom ids deleted or gone
        self._container_exists: dict[tuple[str, str], bool] = {}
        self._cache_lock = threading.Lock()
        self.rb_run = ""
        self.ctx: WriteContext  # made by run(), before anything is deleted

    # ------------------------------------------------------------------ plan

    def walk_order(self, kinds: t.Iterable[str]) -> list[str]:
        """reversed(WRITERS.kinds), each contained kind moved right after its container; kinds the ledger has but no
        writer knows any more come first (nothing depends on them that this version could delete)."""
        order = [k for k in reversed(WRITERS.kinds) if k not in self._contained_kinds()]
        for kind in reversed(WRITERS.kinds):
            spec = self.contained_in(kind)
            if spec:
                at = order.index(spec[1]) + 1 if spec[1] in order else 0
                order.insert(at, kind)
        unknown = sorted(set(kinds) - set(order))
        return unknown + order

    def _contained_kinds(self) -> set[str]:
        return {k for k in WRITERS.kinds if self.contained_in(k)}

    @staticmethod
    def contained_in(kind: str) -> tuple[str, str, str] | None:
        writer = WRITERS.get(kind)
        return getattr(writer, "contained_in", None) or CONTAINED.get(kind)

    def selected(self, kind: str | None = None) -> Iterator[list[Entity]]:
        """Pages (newest first) of the entities the target run(s) created that are not deleted yet."""
        before: int | None = None
        while True:
            page = self.ledger.created_by(self.target_run, limit=PAGE, before_seq=before)
            if not page:
                return
            before = page[-1].seq
            chosen = [e for e in page if kind is None or e.kind == kind]
            if chosen:
                yield chosen

    def plan_counts(self) -> Counter:
        counts: Counter = Counter()
        for page in self.selected():
            counts.update(e.kind for e in page)
        return counts

    # ------------------------------------------------------------------ run

    def run(self, report_dir: Path | None) -> dict:
        started = _now()
        counts = self.plan_counts()
        changes = self.ledger.changes.counts(self.target_run)
        order = self.walk_order(set(counts) | set(changes))
        if not self.dry_run:
            self.rb_run = self.ledger.start_run({"command": "rollback", "of": self.target_run or "all"})
        else:
            self.rb_run = f"dry-run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        self.ctx = WriteContext(self.client, self.ledger, self.rb_run, None, self.settings)
        LOGGER.info(
            "Rollback %s of %s: %s entities to restore (%s), %s to remove (%s)",
            "plan" if self.dry_run else self.rb_run,
            self.target_run or "every run",
            sum(changes.values()),
            ", ".join(f"{k} {changes[k]:,}" for k in order if changes[k]) or "none",
            sum(counts.values()),
            ", ".join(f"{k} {counts[k]:,}" for k in order if counts[k]) or "none",
        )
        held: list[dict] = []
        kept: list[dict] = []
        try:
            held = self.drop_held()
            planned = self.dry_run_plan(order) if self.dry_run else None
            if not self.dry_run:
                self.restore_all(order, changes)
                self.delete_all(order, counts)
            kept = self.kept()
        except BaseException:
            if not self.dry_run:  # what was done so far is in the ledger; the report says where it stopped
                try:
                    summary = self.summary(order, counts, changes, started, True, held, kept, None)
                    self.finish(summary, report_dir)
                except Exception:
                    LOGGER.exception("could not write the report of the interrupted rollback")
            raise
        summary = self.summary(order, counts, changes, started, False, held, kept, planned)
        self.finish(summary, report_dir)
        return summary

    @contextlib.contextmanager
    def _workers(self, total: int, desc: str) -> Iterator[t.Callable[[list[t.Callable[[], None]]], None]]:
        """A progress bar and a pool (the client paces its requests); yields ``run(tasks)``: one page of tasks, in
        parallel, until all are done or one raises (the others are let finish, the rest cancelled)."""
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        workers = max(1, int(self.settings.get("concurrency") or 32))
        with (
            tqdm(total=total, unit="entity", desc=desc, disable=not show, file=sys.stderr) as bar,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rollback") as pool,
        ):

            def run(tasks: list[t.Callable[[], None]]) -> None:
                futures = [pool.submit(task) for task in tasks]
                for future in futures:
                    future.add_done_callback(lambda _f: bar.update(1))
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in futures:
                    if future in done and (exc := future.exception()) is not None:
                        raise exc

            try:
                yield run
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def delete_all(self, order: list[str], counts: Counter) -> None:
        with self._workers(sum(counts.values()), "rollback: remove") as run:
            for kind in order:
                if not counts.get(kind):
                    continue
                for page in self.selected(kind):
                    run([functools.partial(self.remove, entity) for entity in page])
                self.forget_aliases(kind)
                LOGGER.info("%s: %s", kind, self.kind_line(kind))

    # ------------------------------------------------------------------ restore

    def restore_all(self, order: list[str], changes: Counter) -> None:
        """Every change of the target run(s) still to restore, kind by kind in ``order``, newest first; the changes
        of one record (several runs, with --all) one after another, newest run first."""
        with self._workers(sum(changes.values()), "rollback: restore") as run:
            for kind in order:
                if not changes.get(kind):
                    continue
                before: int | None = None
                while page := self.ledger.changes.of_run(self.target_run, kind, limit=PAGE, before_id=before):
                    before = page[-1].id
                    by_record: dict[str, list[Change]] = defaultdict(list)
                    for change in page:
                        by_record[change.source_key].append(change)
                    run([functools.partial(self.restore_record, group) for group in by_record.values()])
                LOGGER.info(
                    "%s: restored %s, not restored %s",
                    kind,
                    f"{self.out.restored[kind]:,}",
                    f"{sum(1 for n in self.out.not_restored if n['kind'] == kind):,}",
                )

    def restore_record(self, changes: list[Change]) -> None:
        for change in changes:  # newest first: each puts back what the one before it found
            try:
                self.restore(change)
            except IntercomError as exc:
                self.out.add("failed", {**_change_item(change), "reason": error_text(exc), "status": exc.status})
                return
            except Exception as exc:  # an unexpected answer: listed, the rollback goes on; a re-run retries it
                LOGGER.exception("%s %s: restore failed", change.kind, change.source_key)
                self.out.add("failed", {**_change_item(change), "reason": f"{type(exc).__name__}: {exc}"})
                return

    def restore(self, change: Change) -> None:
        """Put back what ``change`` overwrote, unless a later run or someone else changed the record since."""
        item = _change_item(change)
        writer = WRITERS.get(change.kind)
        if writer is None:
            self.out.add("not_restored", {**item, "reason": f"no writer for {change.kind} in this version"})
            return
        later = self.ledger.changes.later(change) if self.target_run is not None else []
        if later and not self.force:
            self.out.add(
                "not_restored",
                {
                    **item,
                    "reason": f"changed again by run {later[-1]}, which is not rolled back: roll that run back first "
                    "(or --force)",
                },
            )
            return
        entity = self.ledger.lookup(change.kind, change.source_key)
        if entity is None or entity.status != "written" or str(entity.intercom_id) != change.intercom_id:
            self.out.add("not_restored", {**item, "reason": "no longer this Intercom record in the ledger"})
            return
        try:
            found = writer.request_shape(self.client.request("GET", writer.read_path(change.intercom_id, entity.extra)))
        except IntercomError as exc:
            if exc.status != 404:
                raise
            self.out.add("not_restored", {**item, "reason": "gone from Intercom (deleted since the run)"})
            return
        values = differing(change.before, found)
        if not values:  # back already (an interrupted rollback's request went through)
            self.ledger.changes.restored(change, self.rb_run)
            self.out.count("restored", change.kind)
            return
        since = differing(change.after, found) if change.after is not None else {}
        if since and not self.force:
            self.out.add(
                "not_restored",
                {
                    **item,
                    "fields": ", ".join(_paths(since)),
                    "reason": "changed in Intercom after the run (fields: "
                    + ", ".join(_paths(since))
                    + "): not overwritten (--force puts the values from before the run back anyway)",
                },
            )
            return
        residues = []
        for name in sorted(values):
            if values[name] is None and name in writer.not_clearable:
                del values[name]
                residues.append(f"{name}: unset before the run, and Intercom's API cannot clear a {name}")
        residues += writer.restore(self.ctx, change.intercom_id, values, found, entity.extra) if values else []
        self.ledger.changes.restored(change, self.rb_run)
        self.out.count("restored", change.kind)
        for reason in residues:
            self.out.add("not_restorable", {**item, "reason": reason})

    def remove(self, entity: Entity) -> None:
        """Delete one entity (or settle it), then mark it deleted in the ledger."""
        kind = entity.kind
        writer = WRITERS.get(kind)
        item = {
            "kind": kind,
            "source_key": entity.source_key,
            "intercom_id": entity.intercom_id,
            "created_run_id": entity.created_run_id,
        }
        if writer is None:
            self.out.add("manual", {**item, "reason": f"no writer for {kind} in this version: delete it by hand"})
            return
        try:
            spec = self.contained_in(kind)
            if entity.status == "intent":
                found = self.settle(writer, entity)
                if found is None:
                    self.done(entity, "not_created")
                    return
                entity = dataclasses.replace(entity, intercom_id=found)
                item["intercom_id"] = found
            if spec:
                self.remove_contained(entity, item, spec)
                return
            writer.delete(self.ctx, entity)
        except NotImplementedError as exc:  # writers.support.CannotDelete is one, with the reason
            self.out.add(
                "manual", {**item, "reason": str(exc) or f"Intercom has no API delete for {kind}: remove it by hand"}
            )
            return
        except IntercomError as exc:
            if exc.status == 404:
                self.done(entity, "already_gone")
                return
            self.out.add(
                "failed", {**item, "reason": error_text(exc), "status": exc.status, "request_id": exc.request_id}
            )
            return
        except Exception as exc:  # an unexpected answer: listed, the rollback goes on; a re-run retries it
            LOGGER.exception("%s %s: rollback failed", kind, entity.source_key)
            self.out.add("failed", {**item, "reason": f"{type(exc).__name__}: {exc}"})
            return
        self.done(entity, "deleted")

    def forget_aliases(self, kind: str) -> None:
        """Ledger entries the rollback did not select but that stand for an entity it just deleted (a contact
        merged into another person's contact created by the run): gone too, so a re-run writes them again."""
        for key in self.ledger.keys_for_ids(kind, self.gone_ids.get(kind, ())):
            self.ledger.mark_deleted(kind, key, self.rb_run)
            self.out.count("aliases", kind)

    def settle(self, writer: Writer, intent: Entity) -> str | None:
        """An intent's create may have reached Intercom: the writer's search decides (as on a resumed load)."""
        spec = self.contained_in(intent.kind)
        if spec and not self.container_exists(intent, spec):
            return None  # the container is gone, and with it whatever the create made
        return writer.settle(self.ctx, intent)  # the base class answers None: nothing to find

    def remove_contained(self, entity: Entity, item: dict, spec: tuple[str, str, str]) -> None:
        if not self.container_exists(entity, spec):
            self.done(entity, "with_container")
            return
        field, container_kind, _path = spec
        self.out.add(
            "manual",
            {
                **item,
                "container": f"{container_kind} {entity.extra.get(field)}",
                "reason": (
                    f"Intercom cannot delete it on its own (only with its {container_kind[:-1]}), and that "
                    f"{container_kind[:-1]} stays: the rolled-back run did not create it"
                ),
            },
        )

    def container_exists(self, entity: Entity, spec: tuple[str, str, str]) -> bool:
        field, container_kind, path = spec
        container_id = entity.extra.get(field)
        if not container_id:
            return True  # unknown container: assume it stays (listed, never silently marked)
        container_id = str(container_id)
        if container_id in self.gone_ids[container_kind]:
            return False
        key = (container_kind, container_id)
        with self._cache_lock:
            if key in self._container_exists:
                return self._container_exists[key]
        try:
            self.client.request("GET", path.format(container_id))
            exists = True
        except IntercomError as exc:
            if exc.status != 404:
                raise
            exists = False
        with self._cache_lock:
            self._container_exists[key] = exists
        return exists

    def done(self, entity: Entity, what: str) -> None:
        self.ledger.mark_deleted(entity.kind, entity.source_key, self.rb_run)
        if entity.intercom_id and what in ("deleted", "already_gone"):
            with self._cache_lock:
                self.gone_ids[entity.kind].add(str(entity.intercom_id))
        self.out.count(what, entity.kind)

    # ------------------------------------------------------------------ held records, kept entities, dry run

    def drop_held(self) -> list[dict]:
        """Held records staged by the rolled-back run (all with --all): dropped (not in dry-run), and listed. One the
        run staged again but that was held before it (an earlier run reported it, as an orphan or for review) stays
        held: it belongs to the input before the run."""
        dropped: list[dict] = []
        by_kind: dict[str, list[str]] = defaultdict(list)
        earlier = {
            (issue["kind"], issue["source_key"])
            for category in ("orphan", "manual_review")
            for issue in (self.ledger.issues(category=category) if self.target_run is not None else [])
            if issue["first_run_id"] != self.target_run
        }
        for held in self.ledger.iter_held():
            if self.target_run is None or (
                held.run_id == self.target_run and (held.kind, held.source_key) not in earlier
            ):
                dropped.append(
                    {"kind": held.kind, "source_key": held.source_key, "run_id": held.run_id, "attempts": held.attempts}
                )
                by_kind[held.kind].append(held.source_key)
        if not self.dry_run:
            for kind, keys in by_kind.items():
                for i in range(0, len(keys), PAGE):
                    self.ledger.release(kind, keys[i : i + PAGE])
                for key in keys:
                    for category in ("manual_review", "orphan"):
                        self.ledger.resolve_issues(kind, key, category)
        return dropped

    def kept(self) -> list[dict]:
        """Entities the run(s) wrote but did not create: they existed before, or an earlier run created them."""
        out = []
        for entity in self.ledger.written_not_created(self.target_run):
            kind, key, extra, created_run = entity.kind, entity.source_key, entity.extra, entity.created_run_id
            if extra.get("merged_into"):
                why = f"merged into the contact of {extra['merged_into']} (an existing contact, not created)"
            elif extra.get("alias_of"):
                why = f"a second key of {extra['alias_of']}"
            elif extra.get("translation_of"):
                why = (
                    f"the {extra.get('locale')} translation of {extra['translation_of']}: Intercom's API removes "
                    "no single translation (it goes with its article or collection)"
                )
            elif kind not in WRITERS:
                why = "the writers' bookkeeping, not an Intercom entity of its own"
            elif created_run is None:
                why = "not created by the migration: it existed in Intercom (adopted or matched)"
            else:
                why = f"created by run {created_run}, written again by this run: what it changed is under Restored"
            out.append({"kind": kind, "source_key": key, "intercom_id": entity.intercom_id, "reason": why})
        return out

    def dry_run_plan(self, order: list[str]) -> list[dict]:
        """What a rollback would do, per kind in its order: the changes to restore, then the entities to remove."""
        plan = []
        for kind in order:
            before: int | None = None
            while changes := self.ledger.changes.of_run(self.target_run, kind, limit=PAGE, before_id=before):
                before = changes[-1].id
                plan += [
                    {
                        **_change_item(c),
                        "status": "changed",
                        "action": f"restore {', '.join(_paths(_changed_by(c))) or 'nothing'} "
                        f"(as before run {c.run_id})",
                    }
                    for c in changes
                ]
        for kind in order:
            writer, spec = WRITERS.get(kind), self.contained_in(kind)
            for page in self.selected(kind):
                for e in page:
                    if writer is None:
                        action = "manual: no writer for this kind"
                    elif spec:
                        action = f"goes with its {spec[1][:-1]} if that is deleted, else manual"
                    elif e.status == "intent":
                        action = "settle (search), delete if found"
                    else:
                        action = "delete"
                    plan.append(
                        {
                            "kind": kind,
                            "source_key": e.source_key,
                            "intercom_id": e.intercom_id,
                            "status": e.status,
                            "created_run_id": e.created_run_id,
                            "action": action,
                        }
                    )
        return plan

    # ------------------------------------------------------------------ report

    def kind_line(self, kind: str) -> str:
        o = self.out
        parts = [
            (o.deleted[kind], "deleted"),
            (o.with_container[kind], "gone with their container"),
            (o.already_gone[kind], "already gone"),
            (o.not_created[kind], "intents never created"),
            (o.aliases[kind], "second keys (aliases, merged e-mails) gone with their entity"),
            (o.restored[kind], "restored"),
            (sum(1 for m in o.manual if m["kind"] == kind), "manual"),
            (sum(1 for f in o.failed if f["kind"] == kind), "failed"),
        ]
        return ", ".join(f"{what} {n:,}" for n, what in parts if n) or "nothing"

    def summary(
        self,
        order: list[str],
        counts: Counter,
        changes: Counter,
        started: str,
        interrupted: bool,
        held: list[dict],
        kept: list[dict],
        planned: list[dict] | None,
    ) -> dict:
        o = self.out
        manual = Counter(m["kind"] for m in o.manual)
        failed = Counter(f["kind"] for f in o.failed)
        not_restored = Counter(n["kind"] for n in o.not_restored)
        kinds = {
            k: {
                "to_restore": changes.get(k, 0),
                "restored": o.restored[k],
                "not_restored": not_restored[k],
                "selected": counts.get(k, 0),
                "deleted": o.deleted[k],
                "with_container": o.with_container[k],
                "already_gone": o.already_gone[k],
                "not_created": o.not_created[k],
                "aliases": o.aliases[k],
                "manual": manual[k],
                "failed": failed[k],
            }
            for k in order
            if counts.get(k) or changes.get(k)
        }
        totals = {c: sum(r[c] for r in kinds.values()) for c in rollback_report.ROLLBACK_COLUMNS}
        totals["kept"] = len(kept)
        totals["not_restorable"] = len(o.not_restorable)
        totals["held_dropped"] = len(held)
        complete = not interrupted and not self.dry_run and not totals["failed"]
        return {
            "rollback_run_id": self.rb_run,
            "of": self.target_run or "all",
            "dry_run": self.dry_run,
            "started_at": started,
            "finished_at": _now(),
            "status": (
                "dry-run"
                if self.dry_run
                else "interrupted"
                if interrupted
                else "completed"
                if complete
                else "incomplete"
            ),
            "order": [k for k in order if counts.get(k) or changes.get(k)],
            "entities": kinds,
            "totals": totals,
            "not_restored": o.not_restored,
            "not_restorable": o.not_restorable,
            "manual": o.manual,
            "failed": o.failed,
            "kept": kept,
            "held_dropped": held,
            "plan": planned,
            "requests": self.client.stats,
            "what_deleting_does": {k: DELETE_EFFECTS[k] for k in kinds if k in DELETE_EFFECTS},
            "not_rolled_back": [
                "workspace definitions the preflight created (data attributes, ticket types and their attributes): "
                "not in the ledger; Intercom only archives them",
                "what Intercom keeps of a change it cannot undo (history parts, a translation, a field its API "
                "cannot clear): listed under Not restorable",
            ],
        }

    def finish(self, summary: dict, report_dir: Path | None) -> None:
        if report_dir is not None:
            directory = Path(report_dir) / self.rb_run
            summary["report"] = str(rollback_report.write(directory, summary))
            LOGGER.info("Rollback report: %s", directory)
        if self.dry_run:
            return
        self.ledger.finish_run(self.rb_run, summary["status"], summary["totals"])
        if summary["status"] != "completed":
            return
        targets = (
            [self.target_run]
            if self.target_run
            else [r["run_id"] for r in self.ledger.runs() if (r.get("info") or {}).get("command") != "rollback"]
        )
        for rid in targets:
            run = self.ledger.get_run(rid)
            if run and run["status"] != "rolled_back":
                kept_summary = {
                    **(run.get("summary") or {}),
                    "finished_at": run.get("finished_at"),
                    "status_before_rollback": run["status"],
                    "rolled_back_by": self.rb_run,
                }
                self.ledger.finish_run(rid, "rolled_back", kept_summary)


# ---------------------------------------------------------------------------------------------------- console


#: what a DELETE does in Intercom 2.16 (its operation descriptions), per kind whose wording is not plain "deleted"
DELETE_EFFECTS = {
    "companies": "archived, not deleted: Intercom archives the company asynchronously after the DELETE answers and "
    "detaches its contacts; a later load with the same company_id finds it again (EVIDENCE.md)",
    "conversations": "deleted for good, but Intercom keeps their reporting data (retain_metrics defaults to true; "
    "removing it too needs the delete_conversations_and_metrics OAuth scope)",
    "tickets": "deleted for good; Intercom's reporting may keep their data as for conversations",
    "contacts": "deleted for good (with their notes, tags and company links)",
}


def console_summary(summary: dict) -> str:
    t_ = summary["totals"]
    head = (
        "Dry run: nothing was deleted."
        if summary["dry_run"]
        else f"Rollback {summary['rollback_run_id']} {summary['status']}."
    )
    scope = "every run" if summary["of"] == "all" else summary["of"]
    lines = [head]
    restoring = {k: r for k, r in summary["entities"].items() if r["to_restore"]}
    if restoring:
        lines.append(f"{'Would restore' if summary['dry_run'] else 'Restored'} in Intercom ({scope}):")
        for kind, row in restoring.items():
            n = row["to_restore"] if summary["dry_run"] else row["restored"]
            lines.append(
                f"  {kind:<20} {n:>8,}" + (f"  (not restored {row['not_restored']:,})" if row["not_restored"] else "")
            )
    lines.append(f"{'Would remove' if summary['dry_run'] else 'Removed'} from Intercom ({scope}):")
    for kind, row in summary["entities"].items():
        if not row["selected"]:
            continue
        n = row["selected"] if summary["dry_run"] else row["deleted"] + row["with_container"] + row["already_gone"]
        lines.append(
            f"  {kind:<20} {n:>8,}"
            + (f"  (manual {row['manual']:,})" if row["manual"] else "")
            + (f"  (failed {row['failed']:,})" if row["failed"] else "")
        )
    lines.append(
        f"Kept (not created by it): {t_['kept']:,}; held records dropped: {t_['held_dropped']:,}; "
        f"to remove by hand: {t_['manual']:,}; not restored: {t_['not_restored']:,}; "
        f"not restorable: {t_['not_restorable']:,}; failed: {t_['failed']:,}"
    )
    if summary["dry_run"] and summary.get("plan"):
        lines.append("First entities, in deletion order:")
        lines += [
            f"  {p['kind']:<20} {p['source_key']:<40} {p['intercom_id'] or '-':<26} {p['action']}"
            for p in summary["plan"][:40]
        ]
    if summary.get("report"):
        lines.append(f"Report: {summary['report']}")
    return "\n".join(lines)


def differing(wanted: dict, found: dict) -> dict:
    """The part of ``wanted`` (request-shaped values) that ``found`` does not hold, attribute maps key by key."""
    out: dict = {}
    for key, value in wanted.items():
        have = found.get(key)
        if isinstance(value, dict):
            inner = differing(value, have if isinstance(have, dict) else {})
            if inner:
                out[key] = inner
        elif not _same(value, have):
            out[key] = value
    return out


def _same(a: t.Any, b: t.Any) -> bool:
    """Equal as Intercom answers them twice: ids as text or numbers, lists in any order."""
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return a == b or str(a) == str(b)


def _paths(values: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        out += _paths(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


def _changed_by(change: Change) -> dict:
    """The fields ``change``'s run gave another value (all it sent when its answer never came)."""
    return differing(change.after, change.before) if change.after is not None else change.before


def _change_item(change: Change) -> dict:
    return {
        "kind": change.kind,
        "source_key": change.source_key,
        "intercom_id": change.intercom_id,
        "run_id": change.run_id,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
