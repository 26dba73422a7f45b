"""The benchmark's moving parts on small inputs (``bench/run`` itself is not part of the default test run):
the generic tap's TOPdesk configuration reads what the dataset holds, the process-tree RSS sampler attributes memory
to the right role, and the 2M projection separates start-up from per-record cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pipeline
import rest_tap
import tap_extract


def test_generic_tap_reads_the_list_endpoints_completely(tmp_path: Path) -> None:
    rest_tap.ensure_installed()  # .venv-bench with the pinned generic tap, from PyPI on first use (as bench/run)
    data = tmp_path / "dataset"
    # > 100 operational activities and persons: an endpoint in the wrong paging configuration would loop forever
    meta = tap_extract.ensure_dataset(data, 2100, 7)
    with tap_extract.topdesk_sandbox(data, meta["counts"]) as url:
        run = rest_tap.run(url, tmp_path)  # a paging loop shows as a test timeout
    got = {name: s.records for name, s in run.streams.items()}
    counts = meta["counts"]
    assert run.returncode == 0
    assert got["incidents"] == counts["incidents"]
    assert got["persons"] == counts["persons"]
    assert got["changes"] == counts["changes"]
    # /assets lists the asset category only unless resourceCategory says otherwise: stock and bulk items (NOT_READ)
    rows = [json.loads(line) for line in (data / "asset_templates.jsonl").read_text().splitlines() if line.strip()]
    stock_or_bulk = {t["id"] for t in rows if t.get("_resourceCategory", "asset") != "asset"}
    items = [json.loads(line) for line in (data / "assets.jsonl").read_text().splitlines() if line.strip()]
    assert got["assets"] == sum(a["type_id"] not in stock_or_bulk for a in items) < counts["assets"]
    assert got["operators"] == counts["operators"]
    assert got["operational_activities"] == counts["operational_activities"] > 100
    assert not set(got) & set(rest_tap.NOT_READ) - {"asset_templates", "knowledge_items"}


def test_peak_rss_is_attributed_by_role(tmp_path: Path) -> None:
    """A fake ``tap-topdesk`` (python under that name) holding ~60 MB, started by a parent that is the root."""
    fake = tmp_path / "tap-topdesk"
    fake.write_text(f"#!{sys.executable}\nimport time\nblock = bytearray(60 * 1024 * 1024)\ntime.sleep(1.5)\n")
    fake.chmod(0o755)
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess; subprocess.run([{str(fake)!r}])"])
    sampler = pipeline.PeakRss(parent.pid)
    parent.wait(timeout=30)
    time.sleep(0.1)
    peak = sampler.stop()
    assert peak["tap"] >= 60, peak
    assert 0 < peak["meltano"] < 60 and peak["target"] == 0, peak


def test_projection_separates_start_up_from_per_record_cost() -> None:
    runs = [
        {"dataset": "10k", "source_records": 10_000, "wall_s": 100.0},
        {"dataset": "100k", "source_records": 100_000, "wall_s": 820.0},
    ]
    proj = pipeline.projection(runs)
    assert proj["hours"] == round((20 + 0.008 * 2_000_000) / 3600, 1)
    assert "20 s" in proj["basis"]
    assert pipeline.projection(runs[:1])["hours"] == round(100 / 10_000 * 2_000_000 / 3600, 1)


def test_hwm_of_this_process_is_read() -> None:
    assert pipeline._hwm_kb(os.getpid()) > 0
    assert json.dumps(pipeline.base_env(Path("/x")))  # no secrets needed, only the sys dir
