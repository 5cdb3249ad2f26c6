"""One self-contained, offline HTML report: plotly.js inlined, figures as JSON, strict CSP."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import nh3
from plotly.utils import PlotlyJSONEncoder

from core import plotstyle

# Nothing may be fetched: no network, no files. Inline scripts/styles are needed for the inlined plotly.js.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
ALLOWED_TAGS = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "br", "h3", "h4", "blockquote"}
PLOT_CONFIG = {"displaylogo": False, "displayModeBar": False, "responsive": False, "topojsonURL": ""}


@dataclass(frozen=True)
class Section:
    heading: str
    text: str = ""  # plain text, escaped; blank lines separate paragraphs
    html: str = (
        ""  # rich text (e.g. rendered markdown), sanitised by nh3 to a tag allow-list without attributes
    )


@dataclass(frozen=True)
class TitlePage:
    """The first page: what the report covers in words, who asked, when and with which app version."""

    scope: str  # e.g. "2 runs of team Demo Lab: chinchilla-70m (#316), chinchilla-160m (#341)"
    facts: Sequence[tuple[str, str]] = ()  # (label, value) lines under the scope: team, requested by, ...
    app_version: str = ""


@dataclass(frozen=True)
class ReportFigure:
    title: str
    figure: Mapping[str, Any] | Any  # a Plotly figure dict or a plotly.graph_objects.Figure
    caption: str = ""


@dataclass(frozen=True)
class ReportTable:
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    notes: str = ""


@cache
def plotly_js() -> str:
    text = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise RuntimeError("plotly.min.js contains '</script' and cannot be inlined safely")
    return text


def _script_json(obj: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' can end the element."""
    text = json.dumps(obj, cls=PlotlyJSONEncoder, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _figure_dict(fig: Any, heading: str = "") -> dict[str, Any]:
    raw = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    # Round-trip through the Plotly encoder so numpy arrays and NaN are handled; NaN must become null.
    data = plotstyle.styled(json.loads(json.dumps(raw, cls=PlotlyJSONEncoder)))
    layout = dict(data.get("layout") or {})
    title = layout.get("title")
    if heading and isinstance(title, dict) and title.get("text") == heading:
        layout.pop("title")  # the section heading already says it
        layout["margin"] = {**(layout.get("margin") or {}), "t": 30}
    # Fixed size: "responsive" sizing measures the window, which differs between browser and print.
    layout.setdefault("width", 720)
    layout.setdefault("height", 420)
    return {"data": data.get("data") or [], "layout": layout}


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dt.datetime):  # to the minute, in UTC (the JSON export keeps every digit)
        stamp = value.astimezone(dt.UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo else "")
    return html.escape(str(value))


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in parts)


def _td(value: Any) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="num">{_cell(value)}</td>' if numeric else f"<td>{_cell(value)}</td>"


def _table(t: ReportTable) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in t.rows)
    notes = f'<p class="notes">{html.escape(t.notes)}</p>' if t.notes else ""
    return (
        f'<section class="table"><h2>{html.escape(t.title)}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</section>"
    )


STYLE = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:960px;
font-variant-ligatures:none}
h1{font-size:24px}h2{font-size:17px;margin-top:26px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:11px;margin:6px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr{page-break-inside:avoid}
.figure{page-break-inside:avoid;margin:12px 0}.meta,.notes{color:#666;font-size:12px}
.title-page{page-break-after:always;padding-top:120px}
.title-page h1{font-size:30px;margin-bottom:8px}.title-page .scope{font-size:16px;margin:0 0 28px}
.title-page dl{display:grid;grid-template-columns:max-content auto;gap:6px 18px;font-size:13px}
.title-page dt{color:#666}.title-page dd{margin:0}
.title-page ol{font-size:13px;color:#444}
.warning{background:#fff4e5;border-left:4px solid #e69f00;padding:6px 10px;font-size:12px}
@media print{body{margin:0;max-width:none}}
"""

# Renders every figure, then flags completion so the PDF renderer knows when the page is final.
BOOT = """
window.__isoflopReady = false;
(function () {
  var nodes = document.querySelectorAll('script[type="application/json"][data-figure]');
  var config = JSON.parse(document.getElementById('isoflop-plot-config').textContent);
  var jobs = [];
  nodes.forEach(function (node) {
    var fig = JSON.parse(node.textContent);
    var div = document.getElementById(node.getAttribute('data-figure'));
    jobs.push(Plotly.newPlot(div, fig.data, fig.layout, config));
  });
  Promise.all(jobs).then(function () { window.__isoflopReady = true; },
                         function (err) { window.__isoflopReady = 'error: ' + err; });
})();
"""


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _title_page(
    title: str,
    page: TitlePage,
    generated_at: dt.datetime | None,
    figures: Sequence[ReportFigure],
    tables: Sequence[ReportTable],
    lead_tables: Sequence[ReportTable],
) -> str:
    facts = list(page.facts)
    if generated_at is not None:
        facts.append(("Generated", _when(generated_at)))
    if page.app_version:
        facts.append(("Isoflop version", page.app_version))
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    contents = [t.title for t in lead_tables] + [f.title for f in figures] + [t.title for t in tables]
    toc = "".join(f"<li>{html.escape(c)}</li>" for c in contents)
    return (
        f'<section class="title-page"><h1>{html.escape(title)}</h1>'
        f'<p class="scope">{html.escape(page.scope)}</p><dl>{rows}</dl>'
        + (f"<h2>Contents</h2><ol>{toc}</ol>" if toc else "")
        + "</section>"
    )


def build_html_report(
    title: str,
    sections: Sequence[Section],
    figures: Sequence[ReportFigure],
    tables: Sequence[ReportTable],
    *,
    generated_at: dt.datetime | None = None,
    title_page: TitlePage | None = None,
    lead_tables: Sequence[ReportTable] = (),
) -> str:
    """Title page (optional), sections, lead tables (e.g. a run summary), figures, then the other tables."""
    if generated_at is not None and generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    parts: list[str] = []
    if title_page is not None:
        parts.append(_title_page(title, title_page, generated_at, figures, tables, lead_tables))
    for s in sections:
        rich = nh3.clean(s.html, tags=ALLOWED_TAGS, attributes={}, url_schemes=set()) if s.html else ""
        parts.append(f"<section><h2>{html.escape(s.heading)}</h2>{_paragraphs(s.text)}{rich}</section>")
    parts.extend(_table(t) for t in lead_tables)
    for i, f in enumerate(figures):
        div_id = f"isoflop-fig-{i}"
        fig_json = _script_json(_figure_dict(f.figure, f.title))
        parts.append(
            f'<section class="figure"><h2>{html.escape(f.title)}</h2><div id="{div_id}"></div>'
            + (f'<p class="notes">{html.escape(f.caption)}</p>' if f.caption else "")
            + f'<script type="application/json" data-figure="{div_id}">{fig_json}'
            + "</script></section>"
        )
    parts.extend(_table(t) for t in tables)
    meta = (
        f'<p class="meta">Generated {html.escape(_when(generated_at))}</p>'
        if generated_at and title_page is None
        else ""
    )
    heading = "" if title_page is not None else f"<h1>{html.escape(title)}</h1>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f'<script id="isoflop-plotly">{plotly_js()}</script></head>'
        f"<body>{heading}{meta}{''.join(parts)}"
        f'<script type="application/json" id="isoflop-plot-config">{_script_json(PLOT_CONFIG)}</script>'
        f"<script>{BOOT}</script></body></html>\n"
    )
