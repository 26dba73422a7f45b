"""Every CLI report as Markdown (people), JSON (machines) and one self-contained HTML page (people who would rather
look than read), side by side in the command's report folder: the sections are written once and rendered by
target_intercom.html_page, as the load's own reports are."""

from __future__ import annotations

import typing as t
from pathlib import Path

from target_intercom.api import Page, Section, write


def write_report(
    directory: Path,
    stem: str,
    data: dict[str, t.Any],
    title: str,
    sections: list[Section],
    subtitle: str = "",
) -> list[Path]:
    """``<stem>.md``, ``<stem>.json`` (keys sorted) and ``<stem>.html`` in ``directory``; returns their paths."""
    return write(directory, stem, data, Page(title=title, subtitle=subtitle, sections=sections), sort_keys=True)
