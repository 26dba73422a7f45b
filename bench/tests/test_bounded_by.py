"""The pipeline bench's rule for which side bounds a run (``pipeline.bounded_by``) and the rate-budget evidence it
reads (``pipeline.budget_use``), as pure functions."""

from __future__ import annotations

import pipeline


def test_bounded_by_load_when_at_the_rate_limit_or_the_tap_is_done_early() -> None:
    # at Intercom's limit while records still arrived: the tap (back-pressured) ran to the end, yet the load bounds
    assert pipeline.bounded_by(0.99, 0.97)[0] == "load"
    # the tap was gone at 40 % of the run: the target worked through a backlog alone for the rest
    assert pipeline.bounded_by(0.4, 0.5)[0] == "load"
    # the tap took most of the run and the target had budget to spare meanwhile: it waited on records (what it wrote
    # after the tap ended, e.g. the SDK's last batch, is the smaller part)
    side, why = pipeline.bounded_by(0.86, 0.03)
    assert side == "extraction" and "3%" in why
    assert pipeline.bounded_by(0.98, None)[0] == "extraction"  # no full window while the tap ran
    assert pipeline.bounded_by(None, 0.95)[0] == "load"


def test_budget_use_splits_full_windows_at_the_tap_end() -> None:
    # windows end at 1010 ... 1060 (budget 100); the first and last are partial; 1030 had no request at all
    windows = {1010: 5, 1020: 100, 1040: 90, 1050: 100, 1060: 7}
    use = pipeline.budget_use(windows, 100, tap_end=1035.0)
    assert use["full_windows"] == 4  # 1020, 1030, 1040, 1050
    assert use["budget_used"] == round((100 + 0 + 90 + 100) / 400, 3)
    assert (use["full_windows_while_tap_ran"], use["budget_used_while_tap_ran"]) == (2, 0.5)  # 1020, 1030
    assert (use["full_windows_after_tap"], use["budget_used_after_tap"]) == (1, 1.0)  # 1050 (1040 straddles it)
    assert use["first_window_start"] == 1000
    assert pipeline.budget_use({1010: 3, 1020: 4}, 100, None)["budget_used"] is None
    assert pipeline.budget_use({}, 0, 1.0)["full_windows"] == 0
