"""The Markdown twin of an HTML report page: the same sections (text, tables, bars as tables), so the ``.md`` and
``.html`` of a report never say different things."""

from __future__ import annotations

import typing as t

from target_intercom.html_page import Bars, Section, Table, Text, Timeline


def _cell(value: t.Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(columns: list[str], rows: list[list[t.Any]]) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def section_markdown(section: Section) -> str:
    parts = [f"## {section.title}", ""]
    if isinstance(section, Text):
        parts.append(section.body)
    elif isinstance(section, Table):
        parts.append(table_markdown(section.columns, section.rows) if section.rows else "(none)")
    elif isinstance(section, Bars):
        series = list(section.series)
        labels = list(dict.fromkeys(label for values in section.series.values() for label in values))
        rows = [[label, *(section.series[s].get(label, 0) for s in series)] for label in labels]
        parts.append(table_markdown(["", *series], rows))
    elif isinstance(section, Timeline):
        parts.append(table_markdown(["time", section.unit or "value"], [list(p) for p in section.points]))
    note = getattr(section, "note", "")
    if note:
        parts += ["", f"_{note}_"]
    return "\n".join(parts)


def page_markdown(title: str, subtitle: str, sections: list[Section]) -> str:
    head = [f"# {title}", ""] + ([subtitle, ""] if subtitle else [])
    return "\n".join(head) + "\n\n".join(section_markdown(s) for s in sections) + "\n"
