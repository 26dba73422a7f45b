"""singer-sdk's standard tap tests against a small TOPdesk sandbox (scale 200)."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.tap import config, shared_sandbox

SAMPLE_CONFIG = config(shared_sandbox(scale=200, seed=3))

TestTapTopdesk = get_tap_test_class(
    tap_class=TapTopdesk,
    config=SAMPLE_CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
)
