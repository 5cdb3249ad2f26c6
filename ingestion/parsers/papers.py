"""Papers: arXiv Atom feeds, BibTeX files and PDFs.

Error policy: Atom -- whole file rejected on any XML problem (including DTDs, entity declarations and
external references, which defusedxml forbids); entries without a title are skipped as RowError.
BibTeX -- malformed entries are skipped as RowError(line, reason), good ones kept; no entry at all is a
ParseError. PDF -- one paper per file; unreadable, encrypted or image-only PDFs are rejected.
"""

from __future__ import annotations

import io
import re
from datetime import date

from ingestion.parsers.records import PaperRecord, ParseError, RowError
from ingestion.parsers.text import decode_utf8

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
ARXIV_ID_RE = re.compile(
    r"(?:arXiv:\s*|arxiv\.org/(?:abs|pdf)/)?(?P<id>\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?",
    re.I,
)
ARXIV_TAGGED_RE = re.compile(r"arXiv:\s*(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?", re.I)
MAX_PDF_PAGES = 300
MAX_TEXT_CHARS = 2_000_000
MAX_ABSTRACT_CHARS = 5000


def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


def arxiv_id_from(text: str) -> str | None:
    m = ARXIV_ID_RE.search(text or "")
    return m["id"] if m else None


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


# --- arXiv Atom ----------------------------------------------------------------------------------------


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
    entry_lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<(?:\w+:)?entry[\s>]", text)]
    papers: list[PaperRecord] = []
    errors: list[RowError] = []
    for i, entry in enumerate(root.findall(f"{ATOM}entry")):
        line = entry_lines[i] if i < len(entry_lines) else None
        title = _ws(entry.findtext(f"{ATOM}title"))
        if not title:
            errors.append(RowError(line or 0, "entry has no title"))
            continue
        id_url = _ws(entry.findtext(f"{ATOM}id"))
        arxiv_id = arxiv_id_from(id_url.split("/abs/")[-1]) if id_url else None
        abs_url = ""
        for link in entry.findall(f"{ATOM}link"):
            if link.get("rel") == "alternate" and link.get("href"):
                abs_url = link.get("href", "")
        if not abs_url and arxiv_id:
            abs_url = f"https://arxiv.org/abs/{arxiv_id}"
        authors = [_ws(a.findtext(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")]
        tags = [c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")]
        papers.append(
            PaperRecord(
                title=title,
                abstract=_ws(entry.findtext(f"{ATOM}summary")),
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

_MONTH_ABBR = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_ABBR, start=1)}


def _unbrace(text: str) -> str:
    return _ws(text.replace("{", "").replace("}", "").replace("\\&", "&"))


def _bib_date(fields: dict[str, str]) -> date | None:
    year_text = fields.get("year", "").strip("{} ")
    if not year_text.isdigit() or not 1000 <= int(year_text) <= 9999:
        return None
    month_text = fields.get("month", "").strip("{} ").lower()
    month = _MONTHS.get(month_text[:3]) or (
        int(month_text) if month_text.isdigit() and 1 <= int(month_text) <= 12 else 1
    )
    return date(int(year_text), month, 1)


def _block_error(block: object) -> str:
    error = getattr(block, "error", None)
    reason = getattr(error, "abort_reason", None) or (str(error) if error else "") or type(error).__name__
    return "malformed BibTeX entry: " + _ws(reason)[:300]


def parse_bibtex(data: bytes, *, filename: str) -> tuple[list[PaperRecord], list[RowError]]:
    import logging

    import bibtexparser

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)
    text = decode_utf8(data, filename=filename)
    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # bibtexparser raises assorted internal errors on hostile input
        raise ParseError(f"cannot parse BibTeX: {type(exc).__name__}", filename=filename) from None
    errors = [RowError(block.start_line + 1, _block_error(block)) for block in library.failed_blocks]
    papers: list[PaperRecord] = []
    for entry in library.entries:
        line = entry.start_line + 1
        fields = {f.key.lower(): str(f.value) for f in entry.fields}
        title = _unbrace(fields.get("title", ""))
        if not title:
            errors.append(RowError(line, f"entry {entry.key!r} has no title"))
            continue
        authors = [_unbrace(a) for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()]
        arxiv_id = None
        eprint = fields.get("eprint", "").strip("{} ")
        if eprint and fields.get("archiveprefix", "").strip("{} ").lower() == "arxiv":
            arxiv_id = arxiv_id_from(eprint)
        if arxiv_id is None:
            for key in ("journal", "url", "note"):
                m = ARXIV_TAGGED_RE.search(fields.get(key, "")) or (
                    re.search(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", fields.get(key, ""))
                )
                if m:
                    arxiv_id = m.group(1)
                    break
        venue = _unbrace(fields.get("journal") or fields.get("booktitle") or fields.get("publisher") or "")
        papers.append(
            PaperRecord(
                title=title,
                abstract=_unbrace(fields.get("abstract", "")),
                authors=authors,
                arxiv_id=arxiv_id,
                doi=fields.get("doi", "").strip("{} ") or None,
                published=_bib_date(fields),
                venue=venue,
                url=fields.get("url", "").strip("{} "),
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

# A line that starts with the word (the heading) beats the word inside a sentence.
_ABSTRACT_HEADING_RE = re.compile(r"^[ \t]*(?:A\s?BSTRACT|Abstract)\b[ \t]*[:.\u2014-]?", re.M)
_ABSTRACT_RE = re.compile(r"\bA\s?BSTRACT\b|\bAbstract\b", re.I)
_INTRO_RE = re.compile(
    r"(?:^|\n)\s*(?:1\.?|I\.?)?\s*I\s?NTRODUCTION\b|(?:^|\n)\s*(?:1\.?\s*)?Introduction\b", re.I
)


def parse_pdf(data: bytes, *, filename: str) -> PaperRecord:
    import logging

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
        except Exception:  # broken /Info dictionaries are common; the title then comes from the text
            meta_title = ""
        chunks: list[str] = []
        size = 0
        for i in range(min(count, MAX_PDF_PAGES)):
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
    full_text = "\n".join(chunks)[:MAX_TEXT_CHARS]
    first_line = next((_ws(line) for line in full_text.splitlines() if _ws(line)), "")
    if meta_title.lower() in {"", "untitled", "microsoft word - document1"}:
        meta_title = ""
    title = (meta_title or first_line)[:500]
    if not title:
        raise ParseError("PDF has no extractable text (scanned image?) and no title", filename=filename)
    abstract = ""
    m = _ABSTRACT_HEADING_RE.search(full_text[:50_000]) or _ABSTRACT_RE.search(full_text[:50_000])
    if m:
        rest = full_text[m.end() : m.end() + 20_000]
        end = _INTRO_RE.search(rest)
        abstract = _ws(rest[: end.start()] if end else rest[:MAX_ABSTRACT_CHARS]).lstrip(":.—- ")
        abstract = abstract[:MAX_ABSTRACT_CHARS]
    tagged = ARXIV_TAGGED_RE.search(full_text[:100_000])
    return PaperRecord(
        title=title,
        abstract=abstract,
        arxiv_id=tagged.group(1) if tagged else None,
        full_text=full_text,
        url=f"https://arxiv.org/abs/{tagged.group(1)}" if tagged else "",
        line=1,
    )
