"""The load's reconciliation.html as a browser shows it: a real load, then headless Chromium takes a screenshot
(a plausible, non-blank image) and dumps the DOM it built (the tables, the kinds as row labels, the SVG charts).
Skipped where no Chromium is installed; CI installs it (.ci/run)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from topdesk2intercom_testing.cli import Migration

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
WIDTH, HEIGHT = 1200, 2000

pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason=f"no headless browser on PATH (tried {', '.join(BROWSERS)}): install the Debian package chromium",
)


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file:// URL, with its own profile folder (never the user's)."""
    command = [
        str(BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows (unfiltered RGB/RGBA bytes) of an 8-bit, non-interlaced PNG, with the stdlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


class Tables(HTMLParser):
    """Tag counts and the first cell of every table row."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.labels: list[str] = []
        self._cell, self._first = 0, False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._cell = 0 if tag == "tr" else self._cell + (tag in ("td", "th"))
        self._first = tag in ("td", "th") and self._cell == 1

    def handle_endtag(self, tag: str) -> None:
        self._first = self._first and tag not in ("td", "th")

    def handle_data(self, data: str) -> None:
        if self._first:
            self.labels.append(data.strip())


def test_reconciliation_page_renders_in_chromium(tmp_path: Path) -> None:
    with Migration.started(tmp_path, scale=15) as m:
        m.migrate()
    page = m.reports("*/reconciliation.html")[-1]
    summary = json.loads(page.with_suffix(".json").read_text())
    kinds = [kind for kind, row in summary["entities"].items() if row["received"]]
    assert {"contacts", "tickets"} <= set(kinds)

    shot = tmp_path / "reconciliation.png"
    browse(page, tmp_path / "profile", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert len(data) > 20_000, f"a {len(data)}-byte screenshot is too small for a page of tables and charts"
    width, height, rows = png_pixels(data)
    assert (width, height) == (WIDTH, HEIGHT)
    bpp = len(rows[0]) // width
    colours = {row[i : i + 3] for row in rows[::10] for i in range(0, len(row), bpp * 10)}
    assert len(colours) > 20, "the screenshot is (nearly) one colour: nothing rendered"
    inked = sum(1 for row in rows if len({row[i : i + 3] for i in range(0, len(row), bpp * 4)}) > 1)
    assert inked > height // 4, f"only {inked} of {height} pixel rows show anything"
    # the bar chart's series colours (created: #3b6fd8, updated: #e08a2e) are drawn
    pixels = {row[i : i + 3] for row in rows for i in range(0, len(row), bpp)}
    assert bytes.fromhex("3b6fd8") in pixels

    dom = Tables(browse(page, tmp_path / "profile", "--dump-dom").stdout)
    lists = ("issues_by_reason", "manual_review", "issues", "rebuild_inventory")
    expected = 1 + sum(bool(summary[name]) for name in lists) + bool((summary["completeness"] or {}).get("mismatches"))
    assert dom.tags.get("table", 0) == expected  # per object, then one per list that has entries
    assert set(kinds) | {"total"} <= set(dom.labels)
    assert dom.tags.get("svg", 0) == 3  # counts per object, records written and API requests over time
    # one bar per kind and series, one column per time bucket in each of the two timelines
    series = 1 + bool(summary["totals"]["updated"]) + bool(summary["totals"]["unchanged"])
    assert dom.tags.get("rect", 0) == len(summary["entities"]) * series + 2 * len(summary["timeline"])
    assert "script" not in dom.tags
