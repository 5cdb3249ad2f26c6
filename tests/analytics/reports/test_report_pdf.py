"""PDF rendering in headless Chromium: plots visible on the page, and nothing can be fetched."""

from __future__ import annotations

import http.server
import io
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from analytics.reports.html import ReportFigure, ReportTable, Section, build_html_report
from analytics.reports.pdf import CHROMIUM, render_pdf, render_pdf_audited

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM}"),
]

TRACE_RGB = (0, 114, 178)  # the house style's first trace colour (core.plotstyle.PALETTE[0], #0072B2)
FIG = {
    "data": [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            "y": [3.0, 2.5, 2.2, 2.3, 2.6, 3.1],
            "line": {"width": 6},
        }
    ],
    "layout": {"title": {"text": "validation loss vs synthetic share"}},
}


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what pdftoppm writes) into rows of RGB bytes; stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        rows.append(bytes(v for j, v in enumerate(line) if j % bpp < 3))
    return width, height, rows


def page_one_png(pdf: bytes, tmp_path: Path) -> tuple[int, int, list[bytes]]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(tmp_path / "r.pdf"), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    (png,) = tmp_path.glob("p*.png")
    return read_png(png.read_bytes())


def pages_png(pdf: bytes, tmp_path: Path) -> list[list[bytes]]:
    """Every page at 50 dpi, as rows of RGB bytes."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    (tmp_path / "all.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", str(tmp_path / "all.pdf"), str(tmp_path / "page")],
        check=True,
        timeout=120,
    )
    return [read_png(p.read_bytes())[2] for p in sorted(tmp_path.glob("page-*.png"))]


def count_near(rows: list[bytes], rgb: tuple[int, int, int], tol: int = 40) -> int:
    n = 0
    for row in rows:
        for x in range(0, len(row), 3):
            if all(abs(row[x + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return n


def test_pdf_shows_the_plot(tmp_path: Path) -> None:
    doc = build_html_report(
        "Synthetic-share study",
        [Section("Summary", "r* = 0.4 [0.35, 0.45]")],
        [ReportFigure("Fit", FIG)],
        [ReportTable("Runs", ["N", "r", "loss"], [[1e9, 0.4, 2.2]])],
    )
    rendered = render_pdf_audited(doc)
    assert rendered.pdf.startswith(b"%PDF")
    assert rendered.blocked == [] and rendered.refused == []
    text = PdfReader(io.BytesIO(rendered.pdf)).pages[0].extract_text()
    assert "Synthetic-share study" in text and "r* = 0.4 [0.35, 0.45]" in text
    width, height, rows = page_one_png(rendered.pdf, tmp_path)
    assert (width, height) == (414, 586)  # A4 (210 x 297 mm) at 50 dpi, rounded up by pdftoppm
    trace_pixels = count_near(rows, TRACE_RGB)
    # Measured ~1000 trace-coloured pixels for this figure; an empty plot area has none.
    assert trace_pixels > 300
    # Control: the same heading and table without the figure has no trace-coloured pixels at all.
    no_plot = "<html><body><h1>Synthetic-share study</h1><table><tr><td>1e9</td></tr></table></body></html>"
    (tmp_path / "blank").mkdir()
    _, _, blank_rows = page_one_png(render_pdf(no_plot), tmp_path / "blank")
    assert count_near(blank_rows, TRACE_RGB) == 0


@pytest.fixture
def canary_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request: the renderer must never reach it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def test_renderer_blocks_every_fetch_even_without_csp(canary_server: tuple[str, list[str]]) -> None:
    base, hits = canary_server
    # Raw HTML (no CSP, nothing escaped) as if the builder were bypassed: the route guard is the last wall.
    raw = (
        f'<html><body><p>x</p><img src="{base}/img.png"><script src="{base}/evil.js"></script>'
        f'<link rel="stylesheet" href="{base}/s.css"><img src="file:///etc/passwd">'
        f'<iframe src="file:///etc/hostname"></iframe></body></html>'
    )
    rendered = render_pdf_audited(raw)
    assert rendered.pdf.startswith(b"%PDF")
    assert sorted(rendered.blocked) == sorted([f"{base}/img.png", f"{base}/evil.js", f"{base}/s.css"])
    assert "file:///etc/passwd" in rendered.refused  # Chromium refuses file:// from this page before routing
    assert hits == []
    text = PdfReader(io.BytesIO(rendered.pdf)).pages[0].extract_text()
    assert "root:" not in text


def test_injected_markup_in_report_is_text_and_fetches_nothing(canary_server: tuple[str, list[str]]) -> None:
    base, hits = canary_server
    evil = f'<img src="file:///etc/passwd"><script src="{base}/x.js"></script>'
    doc = build_html_report("Injected", [Section("Notes", evil)], [], [ReportTable("T", ["cell"], [[evil]])])
    rendered = render_pdf_audited(doc)
    assert rendered.blocked == [] and rendered.refused == [] and hits == []
    text = PdfReader(io.BytesIO(rendered.pdf)).pages[0].extract_text().replace("\n", "")
    assert '<img src="file:///etc/passwd">' in text  # shown literally, not loaded
    assert "root:" not in text
