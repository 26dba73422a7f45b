"""``bench/bulk_preview.py``'s figure from a trace (no sandbox run): requests the contacts and contact_companies
writers sent (bulk, polls and searches included) per contact written, and its line in the load's table."""

from __future__ import annotations

import bulk_preview
from test_load_figures import analysed, bench_run


def test_requests_per_contact_counts_only_the_contact_writers() -> None:
    trace = [
        (0.0, 0.1, "preflight", "POST", "/contacts/bulk", "ok", 1),  # the live check's, before the load
        (1.0, 1.1, "contacts", "POST", "/contacts/bulk", "ok", 2),
        (1.1, 1.2, "contacts", "POST", "/contacts/bulk", "ok", 2),
        (1.2, 1.3, "contacts", "GET", "/contacts/bulk/job_v2_1", "ok", 2),
        (1.3, 1.4, "contacts", "POST", "/contacts/search", "ok", 2),
        (1.4, 1.5, "contact_companies", "POST", "/contacts/{id}/companies", "ok", 3),
        (1.5, 1.6, "tickets", "POST", "/tickets", "ok", 4),
    ]
    summary = {"entities": {"contacts": {"created": 190, "merged": 10}, "contact_companies": {"created": 199}}}
    got = bulk_preview.figures(trace, summary, 600)
    assert got["contacts"] == 200 and got["contact_companies"] == 199
    assert got["contacts_requests"] == 5 and got["contacts_requests_per_contact"] == 0.025
    assert got["requests_by_route"]["POST /contacts/bulk"] == 2


def test_the_load_table_shows_the_figure_and_both_loads_keep_the_same_keys() -> None:
    run = bench_run()
    one, three = run.load_result(analysed(1), 600, 1), run.load_result(analysed(3), 2000, 3)
    assert set(one) == set(three) and one["bulk_preview"] is None  # the keys of load, in load_3_tokens too
    assert not any("bulk_preview" in line for line in run.load_markdown(one))
    one["bulk_preview"] = {
        "contacts_requests_per_contact": 0.025,
        "contacts_requests": 5,
        "contacts": 200,
        "calls": 600,
    }
    lines = [line for line in run.load_markdown(one) if "bulk_preview" in line]
    assert len(lines) == 1 and lines[0].startswith("| with bulk_preview | 0.025 requests per contact"), lines
