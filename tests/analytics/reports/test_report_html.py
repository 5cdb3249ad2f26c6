"""The offline HTML report: self-contained, strict CSP, user text escaped, figures embedded as JSON."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources

import pytest

from analytics.reports.html import CSP, ReportFigure, ReportTable, Section, build_html_report

FIG = {
    "data": [{"type": "scatter", "x": [0.0, 0.5, 1.0], "y": [2.9, 2.31, float("nan")], "name": "val loss"}],
    "layout": {"title": {"text": "loss vs synthetic share"}},
}
EVIL = '<img src="file:///etc/passwd"><script src="http://evil.example/x.js"></script>'


@pytest.fixture(scope="module")
def report() -> str:
    return build_html_report(
        f"Study {EVIL}",
        [Section("Summary", text=f"r* = 0.4\n\n{EVIL}", html=f"<p><strong>bold</strong> {EVIL}</p>")],
        [ReportFigure("Fit </script><script>alert(1)</script>", FIG)],
        [ReportTable("Runs", ["N", "r", EVIL], [[1e9, 0.4, EVIL], [3e9, float("nan"), "=1+1"]])],
        generated_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
    )


def _without_plotly(doc: str) -> str:
    bundle = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    assert doc.count(bundle) == 1  # the library is inlined verbatim, exactly once
    return doc.replace(bundle, "")


def test_report_is_self_contained(report: str) -> None:
    clean = build_html_report(
        "Clean", [Section("S", "text")], [ReportFigure("F", FIG)], [ReportTable("T", ["a"], [[1]])]
    )
    assert "http://" not in _without_plotly(clean) and "https://" not in _without_plotly(clean)
    own = _without_plotly(report)
    # The plotly.js bundle itself holds URL strings (map tiles, attribution links) for features we never use;
    # the CSP makes them inert. Everything we generate must have none.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|file:|//)""", own, re.IGNORECASE)
    assert 'src="file:' not in report
    # no <script src>, <link>, <img>, <iframe> elements outside escaped text
    assert not re.search(r"<(script|img|iframe|link|object|embed)\b[^>]*\bsrc=", own, re.IGNORECASE)
    assert "<link" not in own


def test_report_has_strict_csp(report: str) -> None:
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in report
    assert CSP == "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
    assert report.index("Content-Security-Policy") < report.index("<script")


def test_user_text_is_escaped_everywhere(report: str) -> None:
    own = _without_plotly(report)
    escaped = "&lt;img src=&quot;file:///etc/passwd&quot;&gt;&lt;script src=&quot;http://evil.example/x.js&quot;&gt;"
    assert f"<title>Study {escaped}" in own
    assert f"<p>{escaped}&lt;/script&gt;</p>" in own  # section text
    assert f"<td>{escaped}&lt;/script&gt;</td>" in own  # table cell
    assert f"<th>{escaped}&lt;/script&gt;</th>" in own  # table header
    assert "<h2>Fit &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h2>" in own
    # nh3 keeps the allowed markup and drops the img/script elements entirely.
    assert "<p><strong>bold</strong> </p>" in own
    assert "evil.example" not in own.replace(escaped, "").replace("http://evil.example/x.js&quot;", "")
    # Only our own scripts: inlined plotly, the figure JSON, the config JSON and the boot script.
    assert len(re.findall(r"<script\b", own)) == 4


def test_figure_json_is_embedded(report: str) -> None:
    blob = re.search(
        r'<script type="application/json" data-figure="isoflop-fig-0">(.*?)</script>', report, re.S
    )
    assert blob is not None
    fig = json.loads(blob.group(1))
    assert fig["data"][0]["x"] == [0.0, 0.5, 1.0]
    assert fig["data"][0]["y"] == [2.9, 2.31, None]  # NaN -> null, which Plotly draws as a gap
    assert fig["layout"]["title"]["text"] == "loss vs synthetic share"
    assert (fig["layout"]["width"], fig["layout"]["height"]) == (720, 420)
    assert '<div id="isoflop-fig-0"></div>' in report
    assert "Generated 2026-01-02 03:04 UTC" in report


def test_figure_json_cannot_close_its_script() -> None:
    fig = {"data": [{"type": "scatter", "x": [1], "y": [2], "name": "</script><script>alert(1)//"}]}
    doc = build_html_report("t", [], [ReportFigure("f", fig)], [])
    blob = re.search(r'data-figure="isoflop-fig-0">(.*?)</script>', doc, re.S)
    assert blob is not None
    assert json.loads(blob.group(1))["data"][0]["name"] == "</script><script>alert(1)//"
    assert "alert(1)" not in _without_plotly(doc).replace(blob.group(1), "")


def test_naive_generated_at_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_html_report("t", [], [], [], generated_at=dt.datetime(2026, 1, 1))
