"""A call's ``/attachments`` is read only when its progress trail lists an attachment, once a live check on the
sync's first calls showed that this TOPdesk's trails list every attachment (``AttachmentGate``): the same records,
fewer requests, the same requests at any ``max_concurrency``; a trail that leaves an attachment out makes the sync
read every call's attachments, as before."""

from __future__ import annotations

import logging
import re
from collections import Counter

import pytest

from tap_topdesk.streams import incidents
from tap_topdesk.streams.incidents import CHECK_CALLS, AttachmentGate
from topdesk2intercom_testing.tap import config, recording, shared_sandbox, sync

SCALE, SEED = 300, 16
STREAMS = ["incidents", "incident_progress_trail", "incident_attachments"]
ATTACHMENTS = re.compile(r"/tas/api/incidents/id/([^/]+)/attachments$")


def _records(messages: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages if m["type"] == "RECORD"]


def _attachment_reads(sent: list) -> Counter:
    """Reads of a call's attachments by the sync (the request check's page-size-1 read left out)."""
    return Counter(
        match.group(1) for s in sent if (match := ATTACHMENTS.search(s.path)) and "page_size=1&" not in s.query + "&"
    )


def _sync(concurrency: int) -> tuple[list[dict], Counter]:
    url = shared_sandbox(scale=SCALE, seed=SEED, latency_ms=5)
    with recording() as sent:
        run = sync(config(url, max_concurrency=concurrency, start_date="2001-01-01T00:00:00Z"), streams=STREAMS)
    return run.messages, _attachment_reads(sent)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_attachments_are_read_for_the_checked_calls_and_those_whose_trail_lists_one(
    concurrency: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tap-topdesk"):
        messages, reads = _sync(concurrency)
    calls = [m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == "incidents"]
    listed = {
        m["record"]["incident_id"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "incident_progress_trail" and m["record"].get("fileName")
    }
    assert len(calls) > 2 * CHECK_CALLS and len(listed) > 10
    expected = set(calls[:CHECK_CALLS]) | listed
    assert set(reads) == expected and set(reads.values()) == {1}  # each once, none beyond
    assert len(reads) < len(calls)
    assert "attachments are read only for calls whose trail lists one" in caplog.text

    monkeypatch.setattr(incidents, "CHECK_CALLS", 10**9)  # no verdict: every call read, as before the gate
    unchecked, every = _sync(concurrency)
    assert set(every) == set(calls)
    assert _records(messages) == _records(unchecked)


def test_a_trail_that_leaves_attachments_out_makes_every_call_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A TOPdesk whose trail lists no attachment entry (simulated): the check sees counts differ, warns, and the sync
    reads each call's attachments, writing every attachment."""
    monkeypatch.setattr(incidents, "is_attachment_entry", lambda entry: False)
    with caplog.at_level(logging.INFO, logger="tap-topdesk"):
        messages, reads = _sync(8)
    calls = [m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == "incidents"]
    assert set(reads) == set(calls)
    assert any(m["stream"] == "incident_attachments" for m in messages if m["type"] == "RECORD")
    assert "does not list every attachment" in caplog.text


def test_a_check_without_enough_attachments_shows_nothing_and_skips_nothing() -> None:
    gate = AttachmentGate(logging.getLogger("test"))
    for seq in range(CHECK_CALLS):
        gate.observe(seq, f"call-{seq}", 0, 0, skipped=False)
    assert gate.verdict.result() is False
    assert not gate.skip_now(CHECK_CALLS, 0)


def test_a_check_left_incomplete_counts_as_failed() -> None:
    """A checked call that could not be compared (its read failed) must not leave later calls waiting."""
    gate = AttachmentGate(logging.getLogger("test"))
    for seq in range(CHECK_CALLS - 1):
        gate.observe(seq, f"call-{seq}", 1, 1, skipped=False)
    assert not gate.verdict.done()
    gate.conclude(CHECK_CALLS)
    assert gate.verdict.result() is False and not gate.may_skip()


def test_a_check_that_matched_lets_a_call_without_entries_be_skipped_and_not_one_with() -> None:
    gate = AttachmentGate(logging.getLogger("test"))
    for seq in range(CHECK_CALLS):
        gate.observe(seq, f"call-{seq}", seq % 2, seq % 2, skipped=False)
    assert gate.verdict.result() is True
    assert gate.skip_now(CHECK_CALLS, 0)
    assert not gate.skip_now(CHECK_CALLS + 1, 2)
    assert not gate.skip_now(CHECK_CALLS + 2, None)  # its trail was not read
