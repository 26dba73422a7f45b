"""What a run did over time: records written and API requests per 10-second bucket, kept in memory (one Counter
keyed by bucket, one cumulative request count per bucket), for the progress lines of a long load and the
reconciliation report's timeline. Cheap on purpose: one clock read and a dict update per write."""

from __future__ import annotations

import threading
import time
import typing as t
from collections import Counter
from datetime import UTC, datetime

BUCKET_S = 10  # Intercom counts requests per 10-second window: the same grain shows how close the run ran to it
#: the report's bucket for a run of this many seconds or more (fewer, wider points: a long run stays legible)
COARSER = ((12 * 3600, 600), (30 * 60, 60))
WRITTEN = frozenset({"created", "updated"})  # outcomes that sent a record to Intercom


class RunTimeline:
    """Records written (fed by the loader's counters) and requests sent (sampled from the client's pacer)."""

    def __init__(self, requests_sent: t.Callable[[], int], clock: t.Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._requests_sent = requests_sent
        self.written: Counter[int] = Counter()  # bucket (epoch seconds // BUCKET_S) -> records written in it
        self._sent: dict[int, int] = {}  # bucket -> requests sent since the client started, as last seen in it
        self.started = clock()
        self.sample()

    def wrote(self, n: int = 1) -> None:
        bucket = int(self._clock() // BUCKET_S)
        with self._lock:
            self.written[bucket] += n

    def sample(self) -> int:
        """Note the requests sent so far in the current bucket; returns that count."""
        sent = int(self._requests_sent())
        bucket = int(self._clock() // BUCKET_S)
        with self._lock:
            self._sent[bucket] = max(sent, self._sent.get(bucket, 0))
        return sent

    def points(self) -> tuple[int, list[dict[str, t.Any]]]:
        """``(bucket seconds, [{"t": ISO start of the bucket, "written": n, "requests": n}, ...])`` from the first
        to the last bucket with activity, gaps filled with zeros; 10-second buckets, or wider ones for long runs."""
        self.sample()
        with self._lock:
            written, sent = Counter(self.written), dict(self._sent)
        buckets = set(written) | set(sent)
        first, last = min(buckets), max(buckets)
        span = (last - first + 1) * BUCKET_S
        width = next((w for threshold, w in COARSER if span >= threshold), BUCKET_S)
        requests: Counter[int] = Counter()
        before = 0
        for bucket in sorted(sent):  # requests in a bucket: the count at its last sample minus the previous one
            requests[bucket] = sent[bucket] - before
            before = sent[bucket]
        merged: dict[int, dict[str, int]] = {}
        for bucket in range(first, last + 1):
            start = bucket * BUCKET_S // width * width
            point = merged.setdefault(start, {"written": 0, "requests": 0})
            point["written"] += written.get(bucket, 0)
            point["requests"] += requests.get(bucket, 0)
        return width, [
            {"t": datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds"), **counts}
            for start, counts in sorted(merged.items())
        ]


class ProgressLog:
    """One INFO line at most every ``every`` seconds while a load runs: records written so far per kind (of those
    received) and the request rate since the previous line."""

    def __init__(
        self,
        timeline: RunTimeline,
        log: t.Callable[..., None],
        *,
        every: float = 10.0,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeline = timeline
        self.log = log
        self.every = every
        self._clock = clock
        self._last_line = self._last_sample = clock()
        self._last_sent = timeline.sample()

    def tick(self, counts: t.Callable[[], dict[str, dict[str, int]]]) -> bool:
        """Called often by the writer (between tasks, while it waits): samples the request count twice a second at
        most, and logs when a line is due. ``counts`` (the loader's per-kind counters) is read only then."""
        now = self._clock()
        if now - self._last_sample < 0.5:
            return False
        self._last_sample = now
        sent = self.timeline.sample()
        elapsed = now - self._last_line
        if elapsed < self.every:
            return False
        per_minute = (sent - self._last_sent) * 60 / elapsed
        self._last_line, self._last_sent = now, sent
        self.log("progress: %s; %s requests/min", progress_text(counts()), f"{per_minute:,.0f}")
        return True


def progress_text(counts: dict[str, dict[str, int]]) -> str:
    """``contacts 900/1,000 written (40 unchanged), tickets 12/400 written (1 failed)`` for the kinds received."""
    parts = []
    for kind, c in sorted(counts.items()):
        written = sum(c.get(what, 0) for what in WRITTEN)
        extra = ", ".join(f"{c[what]:,} {what}" for what in ("unchanged", "skipped", "failed") if c.get(what))
        parts.append(f"{kind} {written:,}/{c.get('received', 0):,} written" + (f" ({extra})" if extra else ""))
    return ", ".join(parts) or "nothing received yet"
