"""Puts the kits this suite reuses on ``sys.path``: pytest's default import mode only adds each test file's own
folder, and the kits live in other packages' test folders (``tests/``, ``target-intercom/tests``, ``cli/tests``,
``tap-topdesk/tests``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for folder in ("tests", "target-intercom/tests", "cli/tests", "tap-topdesk/tests", "tests/reliability"):
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
