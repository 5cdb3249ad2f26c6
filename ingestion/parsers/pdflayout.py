"""Title of a paper from the layout of its first page (font size and position), through pdfplumber.

The first text line is often not the title: a running header ("Proceedings of Machine Learning for Healthcare
2017 ... Volume 68"), an arXiv stamp, a draft watermark or line numbers come first, and titles break over
two lines. The title is the largest-font text in the upper part of page 1, with its continuation lines of
the same size. Pure and CPU-heavy on hostile input: call it inside ``ingestion.parsers.sandbox``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

# Lines that sit above a title and are never one.
RUNNING_HEADER_RE = re.compile(
    r"\b(?:proceedings|journal of|transactions on|volume\s+\d+|vol\.\s*\d+|issn|doi:|arxiv:|preprint|"
    r"under review|submitted to|accepted (?:at|to|for)|published (?:in|as)|workshop track|conference paper|"
    r"copyright|all rights reserved)\b|©",
    re.IGNORECASE,
)
MAX_LINES = 400


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    size: float
    top: float
    bottom: float
    x0: float


def page_lines(page: Any) -> list[Line]:
    """Upright text lines of a pdfplumber page, watermark-sized and rotated characters dropped."""
    sizes = [
        round(float(c.get("size", 0.0)), 1)
        for c in page.chars[:20_000]
        if c.get("upright", True) and str(c.get("text", "")).strip()
    ]
    if not sizes:
        return []
    body = Counter(sizes).most_common(1)[0][0]
    ceiling = max(body * 3.5, 30.0)

    def keep(obj: dict[str, Any]) -> bool:
        if obj.get("object_type") != "char":
            return True
        size = float(obj.get("size", 0.0))
        return bool(obj.get("upright", True)) and 0.0 < size <= ceiling

    lines: list[Line] = []
    for raw in page.filter(keep).extract_text_lines(x_tolerance=1.5, return_chars=True)[:MAX_LINES]:
        chars = [c for c in raw.get("chars", []) if str(c.get("text", "")).strip()]
        if not chars:
            continue
        size = Counter(round(float(c["size"]), 1) for c in chars).most_common(1)[0][0]
        text = " ".join(str(raw.get("text", "")).split())
        lines.append(Line(text, size, float(raw["top"]), float(raw["bottom"]), float(raw["x0"])))
    lines.sort(key=lambda line: (round(line.top), line.x0))
    return lines


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def title_from_lines(lines: list[Line], page_height: float) -> str:
    """The largest-font lines in the upper 60% of the page (running headers skipped), joined."""
    if not lines:
        return ""
    weights: Counter[float] = Counter()
    for line in lines:
        weights[line.size] += len(line.text)
    body = weights.most_common(1)[0][0]
    upper = [
        line
        for line in lines
        if line.top < 0.6 * page_height
        and _letters(line.text) >= 3
        and line.size >= 0.6 * body
        and not RUNNING_HEADER_RE.search(line.text)
    ]
    if not upper:
        return ""
    biggest = max(line.size for line in upper)
    if biggest < body * 1.1:
        return upper[0].text  # one font size everywhere: the first line that is not a header
    start = next(i for i, line in enumerate(upper) if abs(line.size - biggest) < 0.6)
    parts = [upper[start]]
    for line in upper[start + 1 :]:
        gap = line.top - parts[-1].bottom
        if abs(line.size - biggest) < 0.6 and gap < 1.6 * biggest:
            parts.append(line)
        elif gap >= 0:
            break
    title = " ".join(part.text for part in parts)
    return re.sub(r"\s+([:;,.!?])", r"\1", title).strip()[:500]


def first_page_title(pdf_bytes: bytes) -> str:
    """Layout title of page 1 ("" when the page has no text); exceptions propagate to the caller."""
    import io
    import logging

    import pdfplumber

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    with pdfplumber.open(io.BytesIO(pdf_bytes)) as pdf:
        if not pdf.pages:
            return ""
        page = pdf.pages[0]
        return title_from_lines(page_lines(page), float(page.height))
