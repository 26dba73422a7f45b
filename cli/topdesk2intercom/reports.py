"""Every CLI report as Markdown (people), JSON (machines) and one self-contained HTML page (people who would rather
look than read), side by side in the command's report folder."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from target_intercom.html_page import Page, Section, render


def write_report(
    directory: Path,
    stem: str,
    data: dict[str, t.Any],
    markdown: str,
    title: str,
    sections: list[Section],
    subtitle: str = "",
) -> list[Path]:
    """``<stem>.md``, ``<stem>.json`` and ``<stem>.html`` in ``directory``; returns their paths (to print)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.{ext}" for ext in ("md", "json", "html")]
    paths[0].write_text(markdown, encoding="utf-8")
    paths[1].write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    paths[2].write_text(render(Page(title=title, subtitle=subtitle, sections=sections)), encoding="utf-8")
    return paths
