"""What other packages (the ``topdesk2intercom`` CLI's audit and check) may use of the tap: everything else is
internal."""

from __future__ import annotations

from tap_topdesk.probe import FORBIDDEN, HIDDEN, Prober, run_probe
from tap_topdesk.request_check import RequestCheck, run_request_check
from tap_topdesk.tap import TapTopdesk

__all__ = ["FORBIDDEN", "HIDDEN", "Prober", "RequestCheck", "TapTopdesk", "run_probe", "run_request_check"]
