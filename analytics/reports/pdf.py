"""HTML -> PDF with headless Chromium (Playwright), with every outgoing request refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Only the document itself may load: the initial blank page and inline data: URIs.
ALLOWED_PREFIXES = ("about:blank", "data:")


# Chromium fills the spans; the footer sits in the bottom page margin (which must leave room for it).
FOOTER_TEMPLATE = (
    '<div style="font-size:8px;color:#666;width:100%;padding:0 12mm;display:flex;'
    'justify-content:space-between;font-family:sans-serif">'
    '<span class="title"></span><span>page <span class="pageNumber"></span> of '
    '<span class="totalPages"></span></span></div>'
)
PAGE_MARGIN = ("14mm", "16mm", "12mm", "12mm")  # top, bottom, left, right


class PdfRenderError(RuntimeError):
    pass


@dataclass
class RenderedPdf:
    pdf: bytes
    blocked: list[str] = field(default_factory=list)  # aborted by our route handler
    refused: list[str] = field(default_factory=list)  # failed before routing (e.g. Chromium refuses file://)


def render_pdf_audited(
    html: str, *, timeout_ms: int = 30_000, executable_path: str = CHROMIUM
) -> RenderedPdf:
    """Render and also say which requests were stopped (for audit logs and tests)."""
    # Imported here so that modules importing this package do not pay for Playwright unless they render.
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Route, sync_playwright

    if not Path(executable_path).exists():
        raise PdfRenderError(f"Chromium not found at {executable_path}")
    result = RenderedPdf(pdf=b"")

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(ALLOWED_PREFIXES):
            route.continue_()
        else:
            result.blocked.append(url)
            route.abort("blockedbyclient")

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable_path, headless=True, args=CHROMIUM_ARGS)
            try:
                # offline=True is a second wall behind the route guard; service workers could bypass routing.
                context = browser.new_context(offline=True, service_workers="block", java_script_enabled=True)
                page = context.new_page()
                page.on(
                    "requestfailed",
                    lambda req: None if req.url in result.blocked else result.refused.append(req.url),
                )
                page.route("**/*", guard)
                page.set_content(html, wait_until="load", timeout=timeout_ms)
                page.wait_for_function("window.__isoflopReady !== false", timeout=timeout_ms)
                state = page.evaluate("window.__isoflopReady")
                if isinstance(state, str):
                    raise PdfRenderError(f"plot rendering failed: {state}")
                result.pdf = page.pdf(
                    format="A4",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=FOOTER_TEMPLATE,
                    margin={
                        "top": PAGE_MARGIN[0],
                        "bottom": PAGE_MARGIN[1],
                        "left": PAGE_MARGIN[2],
                        "right": PAGE_MARGIN[3],
                    },
                )
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise PdfRenderError(f"PDF rendering failed: {exc}") from exc
    return result


def render_pdf(html: str, *, timeout_ms: int = 30_000) -> bytes:
    return render_pdf_audited(html, timeout_ms=timeout_ms).pdf
