"""One report page, written once as a list of sections and rendered twice: as Markdown (``markdown``) and as one
self-contained HTML page (``render``: no scripts, no external files, so it opens from a mail attachment or a file
share; key figures, text, tables and simple charts as inline SVG). ``write`` puts both beside the report's JSON.
Used by the load's reconciliation report, the rollback, the preflight and every ``topdesk2intercom`` report, so the
``.md`` and ``.html`` of a report never say different things.

Every value is escaped, and the page's Content-Security-Policy forbids scripts and any fetch, so a record's text
(a ticket subject such as ``<script>``) can neither run nor call out, even opened from a browser."""

from __future__ import annotations

import html
import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Text:
    title: str
    body: str  # plain text; paragraphs separated by blank lines


@dataclass
class Figures:
    """Key numbers in boxes, e.g. at the top of a page: label -> value (numbers get thousands separators)."""

    title: str
    items: dict[str, t.Any]
    note: str = ""


@dataclass
class Table:
    """Numbers are right-aligned. A table longer than ``collapse_after`` rows is folded in a ``<details>`` (opened by
    a click, no script); ``footer`` rows (totals) are set apart in bold."""

    title: str
    columns: list[str]
    rows: list[list[t.Any]]
    note: str = ""
    footer: list[list[t.Any]] = field(default_factory=list)
    collapse_after: int = 25
    markdown_limit: int | None = None  # rows listed in the Markdown (a long list stays readable); None: all


@dataclass
class Bars:
    """A horizontal bar chart: one bar per label; several series side by side per label."""

    title: str
    series: dict[str, dict[str, float]]  # series name -> label -> value
    note: str = ""


@dataclass
class Timeline:
    """Counts over time (e.g. records written per minute of a run)."""

    title: str
    points: list[tuple[str, float]]  # (time label, value) per time bucket, in time order: one column each
    unit: str = ""
    note: str = ""


Section = Figures | Text | Table | Bars | Timeline


@dataclass
class Page:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)


def _e(value: t.Any) -> str:
    return html.escape("" if value is None else str(value))


def render(page: Page) -> str:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(page.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_e(page.title)}</h1>"
    ]
    if page.subtitle:
        parts.append(f"<p class='sub'>{_e(page.subtitle)}</p>")
    parts.extend(
        f"<section><h2>{_e(section.title)}</h2>{_RENDER[type(section)](section)}</section>" for section in page.sections
    )
    parts.append("</body></html>")
    return "".join(parts)


def write(directory: Path, stem: str, data: t.Any, page: Page, *, sort_keys: bool = False) -> list[Path]:
    """``<stem>.md``, ``<stem>.json`` and ``<stem>.html`` in ``directory`` (created); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.{ext}" for ext in ("md", "json", "html")]
    paths[0].write_text(markdown(page), encoding="utf-8")
    paths[1].write_text(json.dumps(data, indent=2, sort_keys=sort_keys, default=str) + "\n", encoding="utf-8")
    paths[2].write_text(render(page), encoding="utf-8")
    return paths


# ---------------------------------------------------------------- Markdown


def markdown(page: Page) -> str:
    """The page as Markdown: the same sections, charts as small tables."""
    head = [f"# {page.title}"] + ([page.subtitle] if page.subtitle else [])
    return "\n\n".join(head + [section_markdown(s) for s in page.sections]) + "\n"


def section_markdown(section: Section) -> str:
    """``## title``, the section's body (a table where the HTML draws a chart), then its note in italics."""
    parts = [f"## {section.title}", "", _MARKDOWN[type(section)](section)]
    note = getattr(section, "note", "")
    if note:
        parts += ["", f"_{note}_"]
    return "\n".join(parts)


def table_markdown(columns: list[str], rows: list[list[t.Any]]) -> str:
    """A pipe table; a column of numbers only is right-aligned, as in the HTML."""
    rule = "".join("---:|" if n else "---|" for n in _numeric_columns(columns, rows))
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + rule]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_cell(value: t.Any) -> str:
    text = (
        f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "" if value is None else str(value)
    )
    return text.replace("|", "\\|").replace("\n", " ")


def _text_md(section: Text) -> str:
    return section.body


def _figures_md(section: Figures) -> str:
    return table_markdown(["figure", "value"], [[k, _num(v) if _is_num(v) else v] for k, v in section.items.items()])


def _table_md(section: Table) -> str:
    if not section.rows and not section.footer:
        return "(none)"
    limit = len(section.rows) if section.markdown_limit is None else section.markdown_limit
    text = table_markdown(section.columns, section.rows[:limit] + section.footer)
    more = len(section.rows) - limit
    return text + (f"\n\n{more:,} more row(s): see the JSON report" if more > 0 else "")


def _bars_md(section: Bars) -> str:
    series = list(section.series)
    labels = list(dict.fromkeys(label for values in section.series.values() for label in values))
    return table_markdown(
        ["", *series], [[label, *(section.series[s].get(label, 0) for s in series)] for label in labels]
    )


def _timeline_md(section: Timeline) -> str:
    return table_markdown(["time", section.unit or "value"], [list(p) for p in section.points])


# ---------------------------------------------------------------- HTML


def _text(section: Text) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in section.body.split("\n\n") if p.strip())


def _figures(section: Figures) -> str:
    boxes = "".join(
        f"<div class='fig'><div class='v'>{_e(_num(v) if _is_num(v) else v)}</div><div class='k'>{_e(k)}</div></div>"
        for k, v in section.items.items()
    )
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return f"<div class='figs'>{boxes}</div>{note}"


def _is_num(value: t.Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_columns(columns: list[str], rows: list[list[t.Any]]) -> list[bool]:
    return [bool(rows) and all(_is_num(row[i]) for row in rows if i < len(row)) for i in range(len(columns))]


def _cells(row: list[t.Any], tag: str = "td") -> str:
    return "".join(f"<{tag} class='n'>{_e(v)}</{tag}>" if _is_num(v) else f"<{tag}>{_e(v)}</{tag}>" for v in row)


def _table(section: Table) -> str:
    numeric = _numeric_columns(section.columns, section.rows)
    head = "".join(
        f"<th class='n'>{_e(c)}</th>" if n else f"<th>{_e(c)}</th>"
        for c, n in zip(section.columns, numeric, strict=True)
    )
    body = "".join(f"<tr>{_cells(row)}</tr>" for row in section.rows)
    foot = "".join(f"<tr>{_cells(row, 'th')}</tr>" for row in section.footer)
    table = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        + (f"<tfoot>{foot}</tfoot>" if foot else "")
        + "</table>"
    )
    if len(section.rows) > section.collapse_after:
        table = f"<details><summary>{len(section.rows):,} rows (click to show)</summary>{table}</details>"
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return table + note


def _bars(section: Bars) -> str:
    labels = list(dict.fromkeys(label for values in section.series.values() for label in values))
    top = max((v for values in section.series.values() for v in values.values()), default=0) or 1
    n = max(len(section.series), 1)
    row_h, bar_h, left, width = 6 + 14 * n, 12, 190, 420
    rows = []
    for i, label in enumerate(labels):
        y = i * row_h
        rows.append(f"<text x='{left - 6}' y='{y + row_h / 2 + 4}' text-anchor='end'>{_e(label)}</text>")
        for j, (name, values) in enumerate(section.series.items()):
            value = values.get(label, 0)
            w = width * value / top
            by = y + 3 + j * 14
            rows.append(
                f"<rect class='s{j % 4}' x='{left}' y='{by}' width='{w:.1f}' height='{bar_h}'>"
                f"<title>{_e(name)}: {_e(value)}</title></rect>"
                f"<text x='{left + w + 4:.1f}' y='{by + 10}'>{_e(_num(value))}</text>"
            )
    legend = "".join(f"<span class='key s{j % 4}'></span>{_e(name)} " for j, name in enumerate(section.series))
    svg = f"<svg role='img' width='{left + width + 80}' height='{len(labels) * row_h + 4}'>{''.join(rows)}</svg>"
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return f"<p class='legend'>{legend}</p>{svg}{note}"


def _timeline(section: Timeline) -> str:
    """One column per point (a count per time bucket), the top value and the first/last labels on the axes."""
    points = section.points
    if not points:
        return "<p class='note'>no data</p>"
    top = max(v for _, v in points) or 1
    width, height, pad = 640, 160, 30
    step = width / len(points)
    gap = min(step * 0.2, 4) if step > 3 else 0
    bar = min(step - gap, 48)  # a short run (a few buckets) gets columns, not slabs
    columns = "".join(
        f"<rect class='s0' x='{pad + i * step + (step - bar) / 2:.1f}' y='{pad + height - height * v / top:.1f}' "
        f"width='{bar:.1f}' height='{height * v / top:.1f}'><title>{_e(label)}: {_e(_num(v))}</title></rect>"
        for i, (label, v) in enumerate(points)
    )
    axis = (
        f"<text x='{pad}' y='{pad + height + 16}'>{_e(points[0][0])}</text>"
        f"<text x='{pad + width}' y='{pad + height + 16}' text-anchor='end'>{_e(points[-1][0])}</text>"
        f"<text x='{pad}' y='{pad - 8}'>{_e(_num(top))} {_e(section.unit)}</text>"
    )
    svg = (
        f"<svg role='img' width='{width + 2 * pad}' height='{height + 2 * pad}'>"
        f"<line x1='{pad}' y1='{pad}' x2='{pad + width}' y2='{pad}' class='grid'/>"
        f"<line x1='{pad}' y1='{pad + height / 2}' x2='{pad + width}' y2='{pad + height / 2}' class='grid'/>"
        f"{columns}<line x1='{pad}' y1='{pad + height}' x2='{pad + width}' y2='{pad + height}' class='axis'/>"
        f"{axis}</svg>"
    )
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return svg + note


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


_RENDER: dict[type, t.Callable[[t.Any], str]] = {
    Figures: _figures,
    Text: _text,
    Table: _table,
    Bars: _bars,
    Timeline: _timeline,
}

_MARKDOWN: dict[type, t.Callable[[t.Any], str]] = {
    Figures: _figures_md,
    Text: _text_md,
    Table: _table_md,
    Bars: _bars_md,
    Timeline: _timeline_md,
}

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"

_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d2330;padding:0 1em}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:1.8em;border-bottom:1px solid #dde}"
    ".sub,.note{color:#5a6270}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f1f3f7}.n{text-align:right;font-variant-numeric:tabular-nums}tfoot th{background:#e6e9f0}"
    "details summary{cursor:pointer;color:#3b6fd8;margin:.3em 0}"
    ".figs{display:flex;flex-wrap:wrap;gap:10px}.fig{border:1px solid #d5d9e0;border-radius:6px;padding:8px 14px;"
    "min-width:110px;background:#f8f9fb}.fig .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}"
    ".fig .k{color:#5a6270;font-size:12px}"
    "svg text{font-size:11px;fill:#1d2330}.s0{fill:#3b6fd8}.s1{fill:#e08a2e}.s2{fill:#3aa676}.s3{fill:#b54fc1}"
    ".axis{stroke:#99a}.grid{stroke:#e4e7ee;stroke-dasharray:3 3}"
    ".key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}"
    "span.s0{background:#3b6fd8}span.s1{background:#e08a2e}span.s2{background:#3aa676}span.s3{background:#b54fc1}"
)
