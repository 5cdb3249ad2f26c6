"""Papers: arXiv Atom feeds, BibTeX files and PDFs.

Error policy: Atom -- whole file rejected on any XML problem (including DTDs, entity declarations and
external references, which defusedxml forbids) and when the feed is the API's error feed (an entry whose id
is ``.../api/errors#...``) or has no entries; entries without a title are skipped as RowError.
BibTeX -- malformed entries are skipped as RowError(line, reason), good ones kept; no entry at all is a
ParseError. LaTeX (accents, braces, ``\\url``) becomes Unicode through pylatexenc. PDF -- one paper per file,
parsed in a child process under CPU/memory limits (``ingestion.parsers.sandbox``); unreadable, encrypted or
image-only PDFs are rejected. URLs are kept only when they are http(s) (``text.safe_http_url``); a dropped
URL is reported as a RowError where the format has rows.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
from datetime import date
from typing import Any

from ingestion.parsers.pdflayout import first_page_title
from ingestion.parsers.records import PaperRecord, ParseError, RowError
from ingestion.parsers.sandbox import Limits, run_in_child
from ingestion.parsers.text import decode_utf8, month_number, safe_http_url

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_ID = r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
ARXIV_ID_RE = re.compile(rf"(?:arXiv:\s*|arxiv\.org/(?:abs|pdf)/)?{_ID}", re.I)
# An id that says it is one: "arXiv:2302.13971", "Ar{X}iv: 1705.10762", "arxiv.org/abs/...", "abs/2006.08242"
# (DBLP's CoRR volume), "10.48550/arXiv.2305.16264" (arXiv's DOI).
ARXIV_TAGGED_RE = re.compile(
    rf"(?:\barxiv\s*(?:preprint)?\s*(?:arxiv)?\s*[:.]\s*|arxiv\.org/(?:abs|pdf)/|^abs/|10\.48550/arxiv\.){_ID}",
    re.I,
)
MAX_PDF_PAGES = 300
MAX_TEXT_CHARS = 2_000_000
MAX_ABSTRACT_CHARS = 5000
PDF_LIMITS = Limits(cpu_seconds=20, memory_bytes=768 * 1024 * 1024, wall_seconds=60.0)


def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


def arxiv_id_from(text: str) -> str | None:
    m = ARXIV_ID_RE.search(text or "")
    return m["id"] if m else None


def tagged_arxiv_id(text: str) -> str | None:
    """An arXiv id the text marks as one, in any brace style ("Ar{X}iv:2302.13971"); else None."""
    m = ARXIV_TAGGED_RE.search((text or "").replace("{", "").replace("}", ""))
    return m["id"] if m else None


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


_MOJIBAKE_RE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]")


def _fix_mojibake(text: str) -> str:
    """UTF-8 read as Latin-1 ("WÃ¼bben" -> "Wübben"), as the arXiv API serves some names; else unchanged."""
    if not _MOJIBAKE_RE.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


# --- arXiv Atom ----------------------------------------------------------------------------------------


def _api_error(entry: Any) -> str | None:
    """The arXiv API reports a bad query as a feed whose one entry is an error: its message, else None."""
    entry_id = _ws(entry.findtext(f"{ATOM}id"))
    if "/api/errors" in entry_id:
        return _ws(entry.findtext(f"{ATOM}summary")) or entry_id.rpartition("#")[2].replace("_", " ")
    return None


def parse_arxiv_atom(data: bytes, *, filename: str) -> tuple[list[PaperRecord], list[RowError]]:
    import xml.etree.ElementTree as StdET

    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeET

    text = decode_utf8(data, filename=filename)
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError(f"unsafe XML rejected ({type(exc).__name__}: {exc})", filename=filename) from None
    except StdET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise ParseError(f"bad XML: {exc}", filename=filename, line=line) from None
    if root.tag != f"{ATOM}feed":
        raise ParseError(f"not an Atom feed (root element {root.tag!r})", filename=filename)
    entries = root.findall(f"{ATOM}entry")
    errors_reported = [msg for msg in map(_api_error, entries) if msg]
    if errors_reported:
        raise ParseError(f"arXiv API error: {errors_reported[0][:300]}", filename=filename)
    if not entries:
        total = _ws(root.findtext(f"{OPENSEARCH}totalResults"))
        detail = f" (totalResults {total})" if total else ""
        raise ParseError(f"Atom feed has no entries{detail}: nothing to import", filename=filename)
    entry_lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<(?:\w+:)?entry[\s>]", text)]
    papers: list[PaperRecord] = []
    errors: list[RowError] = []
    for i, entry in enumerate(entries):
        line = entry_lines[i] if i < len(entry_lines) else None
        title = _fix_mojibake(_ws(entry.findtext(f"{ATOM}title")))
        if not title:
            errors.append(RowError(line or 0, "entry has no title"))
            continue
        id_url = _ws(entry.findtext(f"{ATOM}id"))
        arxiv_id = arxiv_id_from(id_url.split("/abs/")[-1]) if id_url else None
        abs_url = ""
        for link in entry.findall(f"{ATOM}link"):
            href = link.get("href") or ""
            if link.get("rel") == "alternate" and href:
                abs_url = safe_http_url(href) or ""
                if not abs_url:
                    errors.append(RowError(line or 0, f"dropped a link that is not http(s): {href[:80]!r}"))
        if not abs_url and arxiv_id:
            abs_url = f"https://arxiv.org/abs/{arxiv_id}"
        authors = [_fix_mojibake(_ws(a.findtext(f"{ATOM}name"))) for a in entry.findall(f"{ATOM}author")]
        tags = [c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")]
        papers.append(
            PaperRecord(
                title=title,
                abstract=_fix_mojibake(_ws(entry.findtext(f"{ATOM}summary"))),
                authors=[a for a in authors if a],
                arxiv_id=arxiv_id,
                doi=_ws(entry.findtext(f"{ARXIV}doi")) or None,
                published=_iso_date(entry.findtext(f"{ATOM}published") or ""),
                venue=_ws(entry.findtext(f"{ARXIV}journal_ref")),
                url=abs_url,
                tags=tags,
                line=line,
            )
        )
    if not papers:
        raise ParseError("Atom feed has no usable entries", filename=filename)
    return papers, errors


# --- BibTeX --------------------------------------------------------------------------------------------

MAX_LATEX_CHARS = 20_000
_LATEX_URL_RE = re.compile(r"^\s*\\url\s*\{(.*)\}\s*$", re.S)
_DOI_RE = re.compile(r"\b(10\.\d{4,9}/\S+)", re.I)
_YEAR_RE = re.compile(r"^\s*(\d{4})[a-z]?\s*$")
_DATE_FIELD_RE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:\s*/.*)?\s*$")
_AND_RE = re.compile(r"\s+and\s+", re.I)


def latex_to_text(text: str) -> str:
    """LaTeX markup (accents, braces, ``~``, ``\\&``) as plain Unicode; falls back to dropping braces."""
    if not text:
        return ""
    raw = text[:MAX_LATEX_CHARS]
    if "\\" in raw or "{" in raw or "~" in raw or "$" in raw:
        try:
            from pylatexenc.latex2text import LatexNodes2Text

            raw = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True).latex_to_text(raw)
        except Exception:  # pylatexenc raises assorted errors on hostile markup; plain text is good enough
            raw = raw.replace("{", "").replace("}", "")
    return _ws(raw.replace("\u00a0", " "))


def _split_authors(value: str) -> list[str]:
    """BibTeX "A and B" at brace depth 0 ("{Barnes and Noble} and C" is two authors)."""
    parts: list[str] = []
    depth, start = 0, 0
    for m in re.finditer(r"[{}]|\s+and\s+", value, re.I):
        brace = m.group(0)
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(value[start : m.start()])
            start = m.end()
    parts.append(value[start:])
    return [name for name in (latex_to_text(p).strip(" ,;") for p in parts) if name]


def _bib_date(fields: dict[str, str]) -> date | None:
    """``year`` ("2023", "2023a") with ``month``, or biblatex ``date`` ("2010-08-17", "1984/1986")."""
    raw_date = fields.get("date", "").strip("{} ")
    m = _DATE_FIELD_RE.match(raw_date) if raw_date else None
    if m:
        month, day = int(m[2] or 1), int(m[3] or 1)
        try:
            return date(int(m[1]), month, day)
        except ValueError:
            return None
    m = _YEAR_RE.match(fields.get("year", "").strip("{} "))
    if not m:
        return None
    year = int(m[1])
    month = month_number(fields.get("month", "").strip("{} ")[:12]) or 1
    if not 1000 <= year <= 9999:
        return None
    return date(year, month, 1)


def _bib_arxiv_id(fields: dict[str, str]) -> str | None:
    eprint = fields.get("eprint", "").strip("{} ")
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip("{} ").lower()
    if eprint and prefix in ("arxiv", ""):
        found = arxiv_id_from(eprint)
        if found and (prefix == "arxiv" or ARXIV_ID_RE.fullmatch(eprint.strip())):
            return found
    for key in (
        "journal",
        "journaltitle",
        "volume",
        "note",
        "url",
        "howpublished",
        "doi",
        "eprint",
        "booktitle",
    ):
        value = fields.get(key, "")
        if key == "volume" and "corr" not in fields.get("journal", "").lower():
            continue
        found = tagged_arxiv_id(value)
        if found:
            return found
    return None


def _bib_url(fields: dict[str, str], line: int, errors: list[RowError]) -> str:
    raw = fields.get("url", "").strip()
    if not raw:
        return ""
    m = _LATEX_URL_RE.match(raw)
    candidate = (m[1] if m else raw).strip("{} ")
    candidate = re.sub(r"\\([_%#&~$])", r"\1", candidate).replace("{", "").replace("}", "")
    url = safe_http_url(candidate)
    if url is None:
        errors.append(RowError(line, f"dropped a url that is not http(s): {raw[:80]!r}"))
        return ""
    return url


def _bib_doi(value: str) -> str | None:
    m = _DOI_RE.search(value.replace("{", "").replace("}", ""))
    return m[1].rstrip(".,;") if m else None


def _block_error(block: object) -> str:
    error = getattr(block, "error", None)
    reason = getattr(error, "abort_reason", None) or (str(error) if error else "") or type(error).__name__
    return "malformed BibTeX entry: " + _ws(reason)[:300]


def parse_bibtex(data: bytes, *, filename: str) -> tuple[list[PaperRecord], list[RowError]]:
    import logging

    from bibtexparser.entrypoint import parse_string

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)
    text = decode_utf8(data, filename=filename)
    try:
        library = parse_string(text)
    except Exception as exc:  # bibtexparser raises assorted internal errors on hostile input
        raise ParseError(f"cannot parse BibTeX: {type(exc).__name__}", filename=filename) from None
    errors = [RowError((block.start_line or 0) + 1, _block_error(block)) for block in library.failed_blocks]
    papers: list[PaperRecord] = []
    for entry in library.entries:
        line = (entry.start_line or 0) + 1
        fields = {f.key.lower(): str(f.value) for f in entry.fields}
        title = latex_to_text(fields.get("title", ""))
        if not title:
            errors.append(RowError(line, f"entry {entry.key!r} has no title"))
            continue
        arxiv_id = _bib_arxiv_id(fields)
        url = _bib_url(fields, line, errors) or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else "")
        venue = latex_to_text(
            fields.get("journal")
            or fields.get("journaltitle")
            or fields.get("booktitle")
            or fields.get("publisher")
            or ""
        )
        papers.append(
            PaperRecord(
                title=title[:1000],
                abstract=latex_to_text(fields.get("abstract", ""))[:MAX_ABSTRACT_CHARS],
                authors=_split_authors(fields.get("author", ""))[:500],
                arxiv_id=arxiv_id,
                doi=_bib_doi(fields.get("doi", "")),
                published=_bib_date(fields),
                venue=venue[:500],
                url=url,
                bibtex=entry.raw if entry.raw else "",
                line=line,
            )
        )
    errors.sort(key=lambda e: e.line)
    if not papers:
        detail = f"; first problem: line {errors[0].line}: {errors[0].reason}" if errors else ""
        raise ParseError(f"no usable BibTeX entries{detail}", filename=filename)
    return papers, errors


# --- PDF -----------------------------------------------------------------------------------------------

# A line that starts with the word (the heading) beats the word inside a sentence. JOSS papers head their
# abstract "Summary"; IEEE and Springer run it in ("Abstract—", "Abstract.").
_ABSTRACT_HEADING_RE = re.compile(
    r"^[ \t]*(?:A\s?BSTRACT|Abstract|S\s?UMMARY|Summary)\b[ \t]*[:.\u2014-]?", re.M
)
_ABSTRACT_RE = re.compile(r"\bA\s?BSTRACT\b|\bAbstract\b", re.I)
_INTRO_RE = re.compile(
    r"(?:^|\n)\s*(?:1\.?|I\.?)?\s*I\s?NTRODUCTION\b|(?:^|\n)\s*(?:1\.?\s*)?Introduction\b"
    r"|(?:^|\n)\s*(?:Keywords|Key\s?words|Index Terms|CCS Concepts|Statement of need)\b",
    re.I,
)
_JUNK_META_TITLE_RE = re.compile(
    r"^(?:untitled|title|document\d*|microsoft word\b.*|.*\.(?:docx?|pdf|tex|dvi|ps)|arxiv:\S+|\W*)$", re.I
)
_LINE_NUMBER_TAIL_RE = re.compile(r"(?<=\S)(\d{1,4})$")


def _strip_line_numbers(text: str) -> str:
    """Drafts print line numbers in the margin; text extraction glues them to line ends ("growth,6")."""
    lines = text.split("\n")
    tails = [m for m in (_LINE_NUMBER_TAIL_RE.search(line) for line in lines) if m]
    if len(lines) < 8 or len(tails) < 0.5 * len(lines):
        return text
    numbers = [int(m[1]) for m in tails]
    increasing = sum(1 for a, b in itertools.pairwise(numbers) if b == a + 1)
    if increasing < 0.6 * len(numbers):
        return text
    return "\n".join(_LINE_NUMBER_TAIL_RE.sub("", line) for line in lines)


def _similar(a: str, b: str) -> bool:
    na, nb = re.sub(r"\W+", "", a).lower(), re.sub(r"\W+", "", b).lower()
    return bool(na and nb) and (na in nb or nb in na)


def _pick_title(meta_title: str, layout_title: str, first_line: str) -> str:
    meta_ok = bool(meta_title) and not _JUNK_META_TITLE_RE.match(meta_title) and len(meta_title) >= 4
    if layout_title and meta_ok and _similar(meta_title, layout_title):
        return meta_title
    return layout_title or (meta_title if meta_ok else "") or first_line


def pdf_fields(data: bytes, *, filename: str, max_pages: int = MAX_PDF_PAGES) -> dict[str, Any]:
    """Title, abstract, arXiv id and text of a PDF. CPU-heavy on hostile input: runs in the sandbox child."""
    # pypdf is imported here, in the sandbox child only: the parent never parses a PDF itself.
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ParseError("PDF is encrypted", filename=filename)
        pages = reader.pages
        count = len(pages)
        meta_title = ""
        try:
            meta = reader.metadata
            meta_title = _ws(str(meta.title)) if meta and meta.title else ""
        except Exception:  # broken /Info dictionaries are common; the title then comes from the layout
            meta_title = ""
        chunks: list[str] = []
        size = 0
        for i in range(min(count, max_pages)):
            page_text = pages[i].extract_text() or ""
            chunks.append(page_text)
            size += len(page_text)
            if size >= MAX_TEXT_CHARS:
                break
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("PDF structure is too deeply nested or cyclic", filename=filename) from None
    except Exception as exc:  # pypdf raises many error types (PdfReadError, KeyError, struct.error, ...)
        raise ParseError(
            f"cannot read PDF: {type(exc).__name__}: {str(exc)[:200]}", filename=filename
        ) from None
    try:
        layout_title = first_page_title(data)
    except Exception:  # the layout is a refinement: pypdf's text still gives a title
        layout_title = ""
    full_text = "\n".join(chunks)[:MAX_TEXT_CHARS]
    first_line = next((_ws(line) for line in full_text.splitlines() if _ws(line)), "")
    title = _pick_title(meta_title, layout_title, first_line)[:500]
    if not title:
        raise ParseError("PDF has no extractable text (scanned image?) and no title", filename=filename)
    head = _strip_line_numbers("\n".join(chunks[:2]))[:50_000]
    abstract = ""
    m = _ABSTRACT_HEADING_RE.search(head) or _ABSTRACT_RE.search(head)
    if m:
        rest = head[m.end() : m.end() + 20_000]
        end = _INTRO_RE.search(rest)
        abstract = _ws(rest[: end.start()] if end else rest[:MAX_ABSTRACT_CHARS]).lstrip(":.\u2014- ")
        abstract = re.sub(r"(\w)- (\w)", r"\1\2", abstract)[:MAX_ABSTRACT_CHARS]
    # The paper's own id is stamped on page 1; later pages cite other papers' ids.
    tagged = tagged_arxiv_id(chunks[0][:20_000]) if chunks else None
    return {
        "title": title,
        "abstract": abstract,
        "arxiv_id": tagged,
        "full_text": full_text,
        "url": f"https://arxiv.org/abs/{tagged}" if tagged else "",
    }


def parse_pdf(data: bytes, *, filename: str, limits: Limits | None = None) -> PaperRecord:
    """One paper from a PDF, parsed in a child process under ``limits`` (CPU, memory, wall clock)."""
    if b"%PDF-" not in data[:1024]:
        raise ParseError("not a PDF (no %PDF- header)", filename=filename)
    fields = run_in_child(
        "ingestion.parsers.papers:pdf_fields",
        data,
        filename=filename,
        limits=limits or PDF_LIMITS,
        options={"max_pages": MAX_PDF_PAGES},
        what="PDF parsing",
    )
    if not isinstance(fields, dict) or not isinstance(fields.get("title"), str) or not fields["title"]:
        raise ParseError("PDF parsing returned no title", filename=filename)
    arxiv_id = fields.get("arxiv_id") if isinstance(fields.get("arxiv_id"), str) else None
    return PaperRecord(
        title=fields["title"][:500],
        abstract=str(fields.get("abstract") or "")[:MAX_ABSTRACT_CHARS],
        arxiv_id=arxiv_id,
        full_text=str(fields.get("full_text") or "")[:MAX_TEXT_CHARS],
        url=safe_http_url(str(fields.get("url") or "")) or "",
        line=1,
    )
