"""Model cards are untrusted markdown (with raw HTML): render, then sanitise to an allow-list with nh3."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

# Cards use HTML tables and headings; nothing may carry script, style, event handlers or foreign origins.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
MAX_CARD_CHARS = 500_000

_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")


def render_card_html(markdown_text: str) -> str:
    """Safe HTML for a model card: raw HTML in the card is kept only where the allow-list permits it."""
    html = _markdown.render(markdown_text[:MAX_CARD_CHARS])
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
