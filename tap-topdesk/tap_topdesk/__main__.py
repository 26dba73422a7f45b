"""``python -m tap_topdesk``."""

from tap_topdesk.tap import TapTopdesk

TapTopdesk.cli()
