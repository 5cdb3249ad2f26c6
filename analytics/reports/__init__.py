"""Report rendering: self-contained HTML, PDF via headless Chromium, CSV/JSON/BibTeX exports.

The builders here are pure (no Django); views and tasks hand them data loaded through selectors.
"""

from analytics.reports.exports import export_bibtex, export_csv, export_json
from analytics.reports.html import ReportFigure, ReportTable, Section, build_html_report
from analytics.reports.pdf import PdfRenderError, RenderedPdf, render_pdf, render_pdf_audited

__all__ = [
    "PdfRenderError",
    "RenderedPdf",
    "ReportFigure",
    "ReportTable",
    "Section",
    "build_html_report",
    "export_bibtex",
    "export_csv",
    "export_json",
    "render_pdf",
    "render_pdf_audited",
]
