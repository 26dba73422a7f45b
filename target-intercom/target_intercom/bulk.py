"""Intercom's Preview bulk jobs (``POST /contacts/bulk``, ``GET /contacts/bulk/{id}``): tasks appended to one open
job, its status read by one poll for every task waiting on it.

Why a shared job: a job answers all its tasks' states in one ``GET``, so the writer threads of a load append to the
job that is open (``job.id``) and wait on the same poll instead of each sending its own. A job reported finished
takes no more tasks (403; the sandbox's EVIDENCE.md ``bulk-job-closed``): the next request opens a new one. The
description returns no per-item results: the caller finds what a task created by search (``search_external_ids``).
"""

from __future__ import annotations

import math
import threading
import time
import typing as t
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from target_intercom.client import IntercomClient, IntercomError

PREVIEW = "Preview"  # the Intercom-Version the bulk endpoints answer
MAX_ITEMS = 100  # items per bulk request (the description's ``maxItems``)
SEARCH_PAGE = 150  # the largest ``per_page`` contact search takes (2.16)
FINISHED = frozenset({"completed", "completed_with_errors", "failed", "cancelled"})
JOB = ""  # the job's own state among its tasks' (no task id is empty)
POLL_FIRST_S, POLL_MAX_S = 0.25, 10.0  # backoff between two polls of a job
WAIT_S = 900.0  # a job not finished by then: its items are written one by one (their intents make that safe)
#: seconds a task's clock may be behind the contacts it created, beyond its request's duration (the sandbox stamps
#: a task after applying its items; Intercom's contacts are created after the task)
CLOCK_SLACK_S = 1


class JobTimeout(Exception):
    """A bulk job did not finish within ``WAIT_S``."""


@dataclass(frozen=True)
class Task:
    """One bulk request's task: its job, id, and the earliest server time a contact it created can carry."""

    job_id: str
    task_id: str
    since: int


class BulkJobs:
    """The open job of one kind (``contacts``, ``companies``) for one client; thread-safe."""

    def __init__(self, client: IntercomClient, kind: str) -> None:
        self.client = client
        self.kind = kind
        self._submit = threading.Lock()  # one request at a time: its answer's new task is this request's
        self._cond = threading.Condition()
        self._open: str | None = None
        self._known: dict[str, set[str]] = {}  # job -> task ids seen in answers
        self._states: dict[str, tuple[float, dict[str, str]]] = {}  # job -> (poll sent at, task states)
        self._polling: set[str] = set()
        self._schedule: dict[str, tuple[float, float]] = {}  # job -> (next poll at, backoff), every waiter's
        #: why Intercom refused a new bulk job in this run (no Preview access, ...): the writer stops using bulk
        self.refused: str | None = None

    def submit(self, items: Sequence[dict]) -> Task:
        """Append ``items`` (at most ``MAX_ITEMS``) as one task to the open job, or a new job when there is none or
        it closed; returns the task. Raises :class:`IntercomError` as the request does."""
        with self._submit:
            job_id = self._open
            started = time.time()
            try:
                answer = self._post(items, job_id)
            except IntercomError as exc:
                if job_id is None or exc.status not in (403, 404):
                    raise
                answer = self._post(items, None)  # closed or gone: a new job
            elapsed = time.time() - started
            job = str(answer["id"])
            tasks = answer.get("tasks") or []
            ids = [str(task["id"]) for task in tasks]
            new = [i for i in ids if i not in self._known.get(job, set())]
            self._known.setdefault(job, set()).update(ids)
            with self._cond:
                self._open = job if answer.get("state") not in FINISHED else None
            if len(new) != 1:
                raise IntercomError(
                    f"POST /{self.kind}/bulk: the answer shows {len(new)} new tasks in job {job}, not one", body=answer
                )
            mine = next(task for task in tasks if str(task["id"]) == new[0])
            since = int(mine.get("created_at") or started) - math.ceil(elapsed) - CLOCK_SLACK_S
            return Task(job, new[0], since)

    def _post(self, items: Sequence[dict], job_id: str | None) -> dict:
        body: dict[str, t.Any] = {self.kind: list(items)}
        if job_id is not None:
            body["job"] = {"id": job_id}
        return self.client.request("POST", f"/{self.kind}/bulk", json=body, version=PREVIEW)

    def wait(self, tasks: Iterable[Task], *, deadline_s: float = WAIT_S) -> dict[str, str]:
        """The final state of each task (by task id), polling each job with a backoff; one poll in flight per job
        answers every thread waiting on it. Raises :class:`JobTimeout` after ``deadline_s``."""
        tasks = list(tasks)
        states: dict[str, str] = {}
        by_job: dict[str, list[str]] = {}
        for task in tasks:
            by_job.setdefault(task.job_id, []).append(task.task_id)
        asked = time.monotonic()
        end = asked + deadline_s
        for job_id, ids in by_job.items():
            states.update(self._wait_job(job_id, ids, asked, end))
        return states

    def _wait_job(self, job_id: str, ids: list[str], asked: float, end: float) -> dict[str, str]:
        """Polls on the job's own backoff (every waiter's): the first ``POLL_FIRST_S`` after a task was sent (a job
        is not done the instant it is accepted), then twice as long each time, up to ``POLL_MAX_S``."""
        while True:
            with self._cond:
                polled_at, states = self._states.get(job_id, (0.0, {}))
                if polled_at >= asked and all(states.get(i) in FINISHED for i in ids):
                    return {i: states[i] for i in ids}
                if polled_at >= asked and states.get(JOB) in FINISHED:  # a finished job that lists no such task
                    return {i: states.get(i) or states[JOB] for i in ids}
                now = time.monotonic()
                if now > end:
                    raise JobTimeout(f"{self.kind} bulk job {job_id} not finished after {end - asked:.0f} s")
                next_at, delay = self._schedule.setdefault(job_id, (asked + POLL_FIRST_S, POLL_FIRST_S))
                if job_id in self._polling or now < next_at:  # another thread's poll may answer us first
                    self._cond.wait(max(0.01, min(next_at - now, 1.0)))
                    continue
                self._polling.add(job_id)
            try:
                sent = time.monotonic()
                answer = self.client.request("GET", f"/{self.kind}/bulk/{job_id}", version=PREVIEW)
                with self._cond:
                    states = {str(task["id"]): str(task.get("state")) for task in answer.get("tasks") or []}
                    self._states[job_id] = (sent, {**states, JOB: str(answer.get("state"))})
                    self._schedule[job_id] = (sent + min(delay * 2, POLL_MAX_S), min(delay * 2, POLL_MAX_S))
                    if answer.get("state") in FINISHED and self._open == job_id:
                        self._open = None  # reported finished: closed for new tasks
            finally:
                with self._cond:
                    self._polling.discard(job_id)
                    self._cond.notify_all()


_JOBS: weakref.WeakKeyDictionary[IntercomClient, dict[str, BulkJobs]] = weakref.WeakKeyDictionary()
_JOBS_LOCK = threading.Lock()


def jobs_for(client: IntercomClient, kind: str) -> BulkJobs:
    """The bulk jobs of ``kind`` sent through ``client`` (one per load: a run's client)."""
    with _JOBS_LOCK:
        return _JOBS.setdefault(client, {}).setdefault(kind, BulkJobs(client, kind))


def search_external_ids(client: IntercomClient, external_ids: Sequence[str]) -> Iterator[dict]:
    """Contacts whose ``external_id`` is one of these, ``SEARCH_PAGE`` ids per search (one page each when each
    id names one contact)."""
    for start in range(0, len(external_ids), SEARCH_PAGE):
        chunk = list(external_ids[start : start + SEARCH_PAGE])
        yield from client.search(
            "/contacts/search", {"field": "external_id", "operator": "IN", "value": chunk}, per_page=SEARCH_PAGE
        )
