"""Articles: Markdown, HTML and plain text (UTF-8, any language) -> ``ArticleRecord`` with claims.

The readable text keeps a line map so that each claim carries its line in the original file. HTML is read
with the standard library's ``html.parser`` (scripts, styles, navigation and footers dropped; headings, list
items and table rows kept as Markdown-like lines); Markdown loses its inline markup (links, emphasis,
images, HTML tags, comments, code blocks) but never its line structure. Claims come from
``ingestion.parsers.claims.extract_claims``.

Title: the front matter's ``title``, else the first H1 (``#``, setext ``===``, or ``<h1>``), else the HTML
``<title>``, else the first non-empty line (at most 300 characters). The title is also the root context for
subjects: a claim that no sentence, bullet or heading ties to a model is about the model the title names.
Language: "ko", "ja", "zh" by script, "en" by common English words, else "".

``looks_like_article`` tells a Hugging Face model card (front matter with license / model-index / pipeline
tags, or the card template's headings) from an article, for the dispatcher.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from ingestion.parsers.claims import extract_claims
from ingestion.parsers.records import ArticleRecord, ParseError
from ingestion.parsers.text import decode_utf8

MAX_CHARS = 5_000_000
HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")

_CARD_KEYS = frozenset(
    {
        "license",
        "license_name",
        "license_link",
        "model-index",
        "model_index",
        "pipeline_tag",
        "library_name",
        "base_model",
        "base_model_relation",
        "datasets",
        "inference",
        "widget",
        "model_name",
        "co2_eq_emissions",
        "extra_gated_prompt",
        "extra_gated_fields",
        "new_version",
        "quantized_by",
    }
)
_STRONG_CARD_HEADING_RE = re.compile(
    r"model (?:details|description|information|summary|architecture|sources?|overview|files|downloads"
    r"|card(?: contact| authors)?)|intended uses?|how to (?:get started|use)"
    r"|bias, risks,? (?:and|&) limitations|out-of-scope use|direct use"
    r"|downstream use|environmental impact|technical specifications|framework versions|training procedure"
    r"|training hyperparameters|uses$",
    re.IGNORECASE,
)
_WEAK_CARD_HEADING_RE = re.compile(
    r"training (?:details|data)|evaluation(?: results)?|testing data|usage|citation|limitations"
    r"|ethical considerations|license|quickstart|hardware and software|responsibility|benchmarks?|results",
    re.IGNORECASE,
)
_ATX_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_CARD_YAML_RE = re.compile(r"(?m)^---\s*\n(?:.*\n){0,50}?(?:license|model-index|pipeline_tag|library_name):")
_FRONT_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)


def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def _front_matter(lines: list[str]) -> tuple[int, dict[str, str]] | None:
    """(closing line index, simple top-level scalar keys) of a leading ``---`` YAML block, else None."""
    if not lines or lines[0].strip() != "---":
        return None
    for end in range(1, min(len(lines), 500)):
        if lines[end].strip() in ("---", "..."):
            meta: dict[str, str] = {}
            for raw in lines[1:end]:
                m = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$", raw)
                if m:
                    meta[m.group(1).lower()] = m.group(2).strip().strip("'\"")[:500]
            return end, meta
    return None


def looks_like_article(filename: str, text: str) -> bool:
    """True for prose that is not a model card: HTML pages, and Markdown/text without a card's front matter
    keys (license, model-index, pipeline_tag, ...) or the card template's headings."""
    if _extension(filename) in HTML_EXTENSIONS:
        return True
    head = text[:50_000]
    lines = head.split("\n", 600)[:600]
    front = _front_matter(lines)
    if front is not None:
        keys = set(_FRONT_KEY_RE.findall("\n".join(lines[1 : front[0]])))
        if keys & _CARD_KEYS:
            return False
    if re.search(r"(?im)^\s*#+\s*model card\b|\bthis model card\b|\bmodel card for\b", head[:5000]):
        return False
    # A mirrored card: "## README([From Huggingface](...))" or the card's YAML block after a mirror header.
    if re.search(r"(?im)^\s*#+\s*readme\b", head[:5000]) or _CARD_YAML_RE.search("\n".join(lines[:200])):
        return False
    headings = [h.strip().strip("*").strip() for h in _ATX_RE.findall(head)]
    strong = {h.lower() for h in headings if _STRONG_CARD_HEADING_RE.fullmatch(h)}
    weak = {h.lower() for h in headings if _WEAK_CARD_HEADING_RE.fullmatch(h)}
    if len(strong) >= 2 or (strong and len(strong) + len(weak) >= 3):
        return False
    return _has_prose(head)


def _has_prose(text: str) -> bool:
    for line in text.split("\n")[:2000]:
        words = re.findall(r"[^\W\d_]{2,}", line)
        cjk = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", line))
        if len(words) >= 6 or cjk >= 15:
            return True
    return False


def _language(text: str) -> str:
    sample = text[:50_000]
    hangul = len(re.findall(r"[\uac00-\ud7af]", sample))
    kana = len(re.findall(r"[\u3040-\u30ff]", sample))
    han = len(re.findall(r"[\u4e00-\u9fff]", sample))
    latin = len(re.findall(r"[A-Za-z]", sample))
    total = hangul + kana + han + latin
    if total == 0:
        return ""
    if hangul >= 0.1 * total:
        return "ko"
    if kana >= 0.02 * total and kana + han >= 0.1 * total:
        return "ja"
    if han >= 0.1 * total:
        return "zh"
    words = re.findall(r"[a-z]+", sample.lower())
    common = sum(1 for w in words if w in {"the", "and", "of", "to", "in", "is", "was", "with", "on", "for"})
    return "en" if words and common >= 0.05 * len(words) else ""


# --------------------------------------------------------------------------------------------------- HTML

_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "aside", "form", "button"}
    | {"select", "iframe", "object", "canvas", "math", "textarea"}
)
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "blockquote", "pre", "dl", "dt", "dd", "figure"}
    | {"figcaption", "address", "details", "summary", "hr", "body", "html", "center"}
)
_VOID_TAGS = frozenset(
    {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
)
_META_NAMES = {
    "description": "description",
    "author": "author",
    "article:published_time": "date",
    "date": "date",
    "og:title": "og_title",
}


class _HtmlText(HTMLParser):
    """Readable lines of an HTML page, each with the source line it starts on."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line_map: list[int] = []
        self.title = ""
        self.first_h1 = ""
        self.metadata: dict[str, str] = {}
        self._skip: list[str] = []
        self._cur: list[str] = []
        self._cur_line = 0
        self._prefix = ""
        self._list_depth = 0
        self._in_li = 0
        self._heading = 0
        self._heading_text: list[str] = []
        self._in_title = False
        self._title_parts: list[str] = []
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._row_line = 0
        self._rows = 0

    # --- output

    def _newline(self) -> None:
        text = " ".join("".join(self._cur).split())
        if text:
            self.lines.append(self._prefix + text)
            self.line_map.append(self._cur_line)
            self._prefix = ""
        self._cur = []

    def _paragraph(self) -> None:
        self._newline()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")
            self.line_map.append(self.line_map[-1])

    # --- parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        if tag == "title":
            self._in_title = True
            return
        if tag == "meta":
            values = {k.lower(): (v or "") for k, v in attrs}
            key = _META_NAMES.get((values.get("name") or values.get("property") or "").lower())
            if key and values.get("content") and key not in self.metadata:
                self.metadata[key] = values["content"][:500]
            return
        if self._skip or (tag in _VOID_TAGS and tag != "br"):
            return
        if tag in _SKIP_TAGS:
            self._skip.append(tag)
            return
        if tag == "br":
            if self._cell is not None:
                self._cell.append(" ")
            elif not self._heading:
                self._newline()
            return
        if tag in ("td", "th") and self._cells is not None:
            self._cell = []
            return
        if tag == "tr":
            self._cells = []
            self._row_line = line
            return
        if tag == "table":
            self._paragraph()
            self._rows = 0
            return
        if self._cell is not None:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._paragraph()
            self._heading = int(tag[1])
            self._heading_text = []
            self._prefix = "#" * self._heading + " "
            self._cur_line = line
        elif tag in ("ul", "ol"):
            self._newline()
            self._list_depth += 1
        elif tag == "li":
            self._newline()
            self._in_li += 1
            self._prefix = "  " * max(0, self._list_depth - 1) + "- "
            self._cur_line = line
        elif tag in _BLOCK_TAGS:
            if self._in_li:
                self._newline()
            else:
                self._paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            if not self.title:
                self.title = " ".join("".join(self._title_parts).split())[:300]
            return
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).split()).replace("|", "/"))
            self._cell = None
            return
        if tag == "tr" and self._cells is not None:
            cells = self._cells
            self._cells = None
            if any(cells):
                self._newline()
                self.lines.append("| " + " | ".join(cells) + " |")
                self.line_map.append(self._row_line)
                if self._rows == 0:
                    self.lines.append("|" + "---|" * len(cells))
                    self.line_map.append(self._row_line)
                self._rows += 1
            return
        if tag == "table":
            self._paragraph()
            return
        if self._cell is not None:
            return
        if re.fullmatch(r"h[1-6]", tag) and self._heading:
            if int(tag[1]) == 1 and not self.first_h1:
                self.first_h1 = " ".join("".join(self._heading_text).split())[:300]
            self._newline()
            self._paragraph()
            self._heading = 0
        elif tag in ("ul", "ol"):
            self._newline()
            self._list_depth = max(0, self._list_depth - 1)
            if self._list_depth == 0:
                self._paragraph()
        elif tag == "li":
            self._newline()
            self._in_li = max(0, self._in_li - 1)
        elif tag in _BLOCK_TAGS:
            if self._in_li:
                self._newline()
            else:
                self._paragraph()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
            return
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
            return
        if self._cells is not None:
            return  # text between cells
        if self._heading:
            self._heading_text.append(data)
        line = self.getpos()[0]
        pieces = data.split("\n")
        for k, piece in enumerate(pieces):
            if k > 0 and not self._heading:
                self._newline()
            if piece.strip() and not "".join(self._cur).strip():
                self._cur_line = line + k
            self._cur.append(piece)
            if self._heading and k < len(pieces) - 1:
                self._cur.append(" ")

    def finish(self) -> None:
        self.close()
        self._newline()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
            self.line_map.pop()


def _html_text(filename: str, text: str) -> tuple[list[str], list[int], str, dict[str, str]]:
    parser = _HtmlText()
    try:
        parser.feed(text)
        parser.finish()
    except (AssertionError, ValueError, IndexError) as exc:
        raise ParseError(f"unreadable HTML ({exc.__class__.__name__})", filename=filename) from None
    title = parser.first_h1 or parser.title or parser.metadata.get("og_title", "")
    return parser.lines, parser.line_map, title, parser.metadata


# ----------------------------------------------------------------------------------------------- Markdown

_INLINE_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[[^\]]{0,500}\]\([^)]{0,2000}\)"), ""),
    (re.compile(r"\[([^\]]{0,500})\]\((?:[^()\s]|\([^)]{0,500}\)){0,2000}(?:\s+\"[^\"]{0,200}\")?\)"), r"\1"),
    (re.compile(r"\[([^\]]{1,500})\]\[[^\]]{0,100}\]"), r"\1"),
    (re.compile(r"<https?://[^>]{0,2000}>"), ""),
    (re.compile(r"\[\^[^\]]{1,50}\]"), ""),
    (re.compile(r"</?[A-Za-z][^<>]{0,1000}>"), " "),
    (re.compile(r"\*\*|__|`+"), ""),
    (re.compile(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])"), ""),
    (re.compile(r"(?<![\w])_(?=\S)|(?<=\S)_(?![\w])"), ""),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])"), r"\1"),
]
_LINK_DEF_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")


def _markdown_text(text: str) -> tuple[list[str], str, dict[str, str]]:
    """Lines with inline markup removed (1:1 with the file's lines), the title and front matter fields."""
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    lines = text.split("\n")
    metadata: dict[str, str] = {}
    front = _front_matter(lines)
    if front is not None:
        end, metadata = front
        for i in range(end + 1):
            lines[i] = ""
    in_fence = False
    out: list[str] = []
    for raw in lines:
        if _FENCE_RE.match(raw):
            in_fence = not in_fence
            out.append("")
            continue
        if in_fence or _LINK_DEF_RE.match(raw):
            out.append("")
            continue
        line = raw
        for pattern, repl in _INLINE_SUBS:
            line = pattern.sub(repl, line)
        out.append(html.unescape(line).rstrip())
    title = metadata.get("title", "")
    if not title:
        for i, line in enumerate(out):
            m = re.match(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", line)
            if m:
                title = m.group(1)
                break
            if line.strip() and i + 1 < len(out) and re.fullmatch(r"\s*=+\s*", out[i + 1]):
                title = line.strip()
                break
    if not title:
        title = next((re.sub(r"^[#>*\-\s]+", "", line).strip() for line in out if line.strip()), "")
    return out, title[:300], metadata


_MARKDOWN_SIGNAL_RE = re.compile(r"(?m)^\s{0,3}#{1,6}\s+\S|\*\*\S|\]\(https?://|^```")


def parse_article(filename: str, data: bytes) -> ArticleRecord:
    """Readable text, title, language and claims of an article; ParseError for unusable input."""
    text = decode_utf8(data, filename=filename)
    if len(text) > MAX_CHARS:
        raise ParseError(f"article longer than {MAX_CHARS} characters", filename=filename)
    if not text.strip():
        raise ParseError("empty article", filename=filename)
    sample = text[:65_536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > max(2, len(sample) // 100):
        raise ParseError(
            f"binary content ({controls} control characters in the first 64 KiB)", filename=filename
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    ext = _extension(filename)
    stripped = text.lstrip()[:200].lower()
    metadata: dict[str, str]
    if ext in HTML_EXTENSIONS or (
        ext not in MARKDOWN_EXTENSIONS and stripped.startswith(("<!doctype html", "<html"))
    ):
        fmt = "html"
        lines, line_map, title, metadata = _html_text(filename, text)
        if not "".join(lines).strip():
            raise ParseError("no readable text in the HTML page", filename=filename)
    else:
        markdown = ext in MARKDOWN_EXTENSIONS or bool(_MARKDOWN_SIGNAL_RE.search(text[:100_000]))
        fmt = "markdown" if markdown else "text"
        if markdown:
            lines, title, metadata = _markdown_text(text)
        else:
            lines, metadata = text.split("\n"), {}
            title = next((line.strip() for line in lines if line.strip()), "")[:300]
        line_map = list(range(1, len(lines) + 1))
    body = "\n".join(lines)
    # The title is the root context: a claim no sentence, bullet or heading ties to a model is about the
    # model the title names (if it names exactly one).
    claims = extract_claims(body, line_map=line_map, title=title)
    return ArticleRecord(
        title=title,
        fmt=fmt,
        text=body,
        line_map=line_map,
        claims=claims,
        language=_language(body),
        metadata=metadata,
    )
