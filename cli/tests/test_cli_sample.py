"""``topdesk2intercom sample``: a few calls end to end, then a full load that duplicates nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from topdesk2intercom_testing.cli import Migration


def _export(m: Migration) -> dict:
    return m.intercom("GET", "/__sandbox/export").json()


def test_sample_loads_three_calls_and_the_full_load_does_not_duplicate_them(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        result = m.cli("sample", "--calls", "3", "--seed", "5")
        assert "Sampled 3 calls" in result.output, result.output
        report = json.loads(m.reports("sample-*/sample.json")[-1].read_text())
        reconciliation = report["reconciliation_report"]
        assert reconciliation and Path(reconciliation).exists() and reconciliation in result.output
        numbers = sorted(report["calls"].values())

        contents = _export(m)
        tickets = contents["tickets"]
        assert sorted(t["attributes"]["Call number"] for t in tickets) == numbers
        assert all(t["contact_ids"] for t in tickets)
        contacts = {c["id"] for c in contents["contacts"]}
        assert {cid for t in tickets for cid in t["contact_ids"]} <= contacts
        assert 1 <= len(contacts) < 10, "the sample loaded more contacts than its calls need"
        parts = m.intercom("GET", "/__sandbox/stats").json()["objects"]["ticket_parts"]
        assert parts >= report["selected"]["progress-trail entries"] > 0

        again = m.cli("sample", "--calls", "3", "--seed", "5")  # the same draw: same calls
        assert json.loads(m.reports("sample-*/sample.json")[-1].read_text())["calls"] == report["calls"], again.output

        m.migrate()
        full = _export(m)
        by_number = Counter(t["attributes"]["Call number"] for t in full["tickets"])
        assert len(by_number) == 15 and set(by_number.values()) == {1}, by_number
        external = Counter(c.get("external_id") for c in full["contacts"] if c.get("external_id"))
        assert set(external.values()) == {1}, "a contact was created twice"
        parts_after = m.intercom("GET", "/__sandbox/stats").json()["objects"]["ticket_parts"]
        sampled = [t for t in full["tickets"] if t["attributes"]["Call number"] in numbers]
        assert len(sampled) == 3 and parts_after > parts


def test_sample_by_numbers(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        tickets_before = m.intercom("GET", "/__sandbox/stats").json()["objects"]["tickets"]
        assert tickets_before == 0
        bad = m.cli("sample", "--numbers", "I9999-999", expect=2)
        assert "I9999-999" in bad.output
        m.cli("sample", "--calls", "1")
        number = json.loads(m.reports("sample-*/sample.json")[-1].read_text())["calls"].popitem()[1]
        compact = number.replace(" ", "")
        m.cli("sample", "--numbers", f"{compact[:5]}-{compact[5:]}")
        assert json.loads(m.reports("sample-*/sample.json")[-1].read_text())["calls"].popitem()[1] == number
        assert m.intercom("GET", "/__sandbox/stats").json()["objects"]["tickets"] == 1
