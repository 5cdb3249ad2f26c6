"""Finding links in text (pure: strings in, records out; no Django).

- `paper_refs(text)`: the papers a model card points to: arXiv ids (arxiv.org/abs|pdf, huggingface.co/papers,
  "arXiv:2407.21783"), DOIs (doi.org links, "doi: 10.x/y"), each with its line, excerpt and a confidence from
  its context (a citation block or "paper"/"report" next to it is surer than a passing link).
- `text_ngrams(text)`: every run of up to 8 name tokens in a text, keyed like `names.model_key`, so that the
  aliases a title or abstract mentions are found with one lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracker.catalog.names import name_tokens

ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_RES = (
    re.compile(rf"arxiv\.org/(?:abs|pdf|html)/(?P<id>{ARXIV_NEW})(?:v\d+)?", re.I),
    re.compile(rf"huggingface\.co/papers/(?P<id>{ARXIV_NEW})", re.I),
    re.compile(rf"\barxiv\s*[:=]?\s*\{{?\s*(?P<id>{ARXIV_NEW})(?:v\d+)?", re.I),
    re.compile(rf"\beprint\s*=\s*[{{\"]\s*(?P<id>{ARXIV_NEW})", re.I),
)
_DOI_RE = re.compile(r"(?:doi\.org/|\bdoi\s*[:=]\s*\{?\s*)(?P<id>10\.\d{4,9}/[^\s\"'<>{}\])]+)", re.I)
_CITATION_CONTEXT = re.compile(r"@(?:article|misc|inproceedings|techreport)\b|citation|cite|bibtex", re.I)
_PAPER_CONTEXT = re.compile(r"\b(?:paper|technical report|tech report|report|preprint|publication)\b", re.I)

MAX_NGRAM = 8


@dataclass(frozen=True)
class PaperRef:
    kind: str  # "arxiv" or "doi"
    id: str
    line: int  # 1-based line of the text
    excerpt: str
    confidence: float


def _confidence(lines: list[str], index: int) -> float:
    window = "\n".join(lines[max(0, index - 6) : index + 1])
    if _CITATION_CONTEXT.search(window):
        return 0.95
    if _PAPER_CONTEXT.search(lines[index]):
        return 0.8
    return 0.5


def paper_refs(text: str, *, first_line: int = 1) -> list[PaperRef]:
    """Every distinct paper the text points to, in order of first mention (the surest mention kept)."""
    lines = text.splitlines()
    found: dict[tuple[str, str], PaperRef] = {}
    for i, line in enumerate(lines):
        hits = [("arxiv", m["id"]) for regex in _ARXIV_RES for m in regex.finditer(line)]
        hits += [("doi", m["id"].rstrip(".,;").lower()) for m in _DOI_RE.finditer(line)]
        for kind, ident in hits:
            ref = PaperRef(kind, ident, first_line + i, line.strip()[:300], _confidence(lines, i))
            kept = found.get((kind, ident))
            if kept is None or ref.confidence > kept.confidence:
                found[(kind, ident)] = (
                    ref if kept is None else PaperRef(kind, ident, kept.line, kept.excerpt, ref.confidence)
                )
    return list(found.values())


def text_ngrams(text: str) -> set[str]:
    """Keys of every run of 1..MAX_NGRAM tokens of the text (per line; name keys never span lines)."""
    grams: set[str] = set()
    for line in text.splitlines():
        for word_run in re.split(r"[,;:()\[\]]|\.\s", line):
            tokens = name_tokens(word_run.replace("/", " "))
            for start in range(len(tokens)):
                for end in range(start + 1, min(len(tokens), start + MAX_NGRAM) + 1):
                    grams.add(" ".join(tokens[start:end]))
    return grams


def is_specific_key(key: str) -> bool:
    """A key specific enough to suggest a link from prose: a size or version (a digit) and a name word.

    "llama" alone or "gpt" would match every paper that mentions the family; "llama 3 1 405 b" does not.
    """
    tokens = key.split()
    return (
        len(tokens) >= 2
        and any(t.isdigit() for t in tokens)
        and any(t.isalpha() and len(t) > 1 for t in tokens)
    )
