"""One self-contained HTML page (no scripts, no external files: it opens from a mail attachment or a file share)
for a report: text, tables and simple charts as inline SVG. Used by the load's reconciliation report and by every
``topdesk2intercom`` report."""

from __future__ import annotations

import html
import typing as t
from dataclasses import dataclass, field


@dataclass
class Text:
    title: str
    body: str  # plain text; paragraphs separated by blank lines


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[t.Any]]
    note: str = ""


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
    points: list[tuple[str, float]]  # (ISO timestamp or label, value), in time order
    unit: str = ""
    note: str = ""


Section = Text | Table | Bars | Timeline


@dataclass
class Page:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)


def _e(value: t.Any) -> str:
    return html.escape("" if value is None else str(value))


def render(page: Page) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(page.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{_e(page.title)}</h1>"]
    if page.subtitle:
        parts.append(f"<p class='sub'>{_e(page.subtitle)}</p>")
    for section in page.sections:
        parts.append(f"<section><h2>{_e(section.title)}</h2>{_RENDER[type(section)](section)}</section>")
    parts.append("</body></html>")
    return "".join(parts)


def _text(section: Text) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in section.body.split("\n\n") if p.strip())


def _table(section: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in section.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in section.rows)
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


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
            rows.append(f"<rect class='s{j % 4}' x='{left}' y='{by}' width='{w:.1f}' height='{bar_h}'>"
                        f"<title>{_e(name)}: {_e(value)}</title></rect>"
                        f"<text x='{left + w + 4:.1f}' y='{by + 10}'>{_e(_num(value))}</text>")
    legend = "".join(f"<span class='key s{j % 4}'></span>{_e(name)} " for j, name in enumerate(section.series))
    svg = (f"<svg role='img' width='{left + width + 80}' height='{len(labels) * row_h + 4}'>{''.join(rows)}</svg>")
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return f"<p class='legend'>{legend}</p>{svg}{note}"


def _timeline(section: Timeline) -> str:
    points = section.points
    if not points:
        return "<p class='note'>no data</p>"
    top = max(v for _, v in points) or 1
    width, height, pad = 640, 160, 30
    step = width / max(len(points) - 1, 1)
    coords = [(pad + i * step, pad + height - height * v / top) for i, (_, v) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    marks = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3'><title>{_e(label)}: {_e(v)}</title></circle>"
                    for (x, y), (label, v) in zip(coords, points, strict=True))
    axis = (f"<text x='{pad}' y='{pad + height + 18}'>{_e(points[0][0])}</text>"
            f"<text x='{pad + width}' y='{pad + height + 18}' text-anchor='end'>{_e(points[-1][0])}</text>"
            f"<text x='2' y='{pad - 8}'>{_e(_num(top))} {_e(section.unit)}</text>")
    svg = (f"<svg role='img' width='{width + 2 * pad}' height='{height + 2 * pad + 10}'>"
           f"<line x1='{pad}' y1='{pad + height}' x2='{pad + width}' y2='{pad + height}' class='axis'/>"
           f"<polyline points='{line}' class='line'/>{marks}{axis}</svg>")
    note = f"<p class='note'>{_e(section.note)}</p>" if section.note else ""
    return svg + note


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


_RENDER: dict[type, t.Callable[[t.Any], str]] = {Text: _text, Table: _table, Bars: _bars, Timeline: _timeline}

_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d2330;padding:0 1em}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:1.8em;border-bottom:1px solid #dde}"
    ".sub,.note{color:#5a6270}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f1f3f7}td:not(:first-child){font-variant-numeric:tabular-nums}"
    "svg text{font-size:11px;fill:#1d2330}.s0{fill:#3b6fd8}.s1{fill:#e08a2e}.s2{fill:#3aa676}.s3{fill:#b54fc1}"
    ".line{fill:none;stroke:#3b6fd8;stroke-width:2}circle{fill:#3b6fd8}.axis{stroke:#99a}"
    ".key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}"
    "span.s0{background:#3b6fd8}span.s1{background:#e08a2e}span.s2{background:#3aa676}span.s3{background:#b54fc1}"
)
