from __future__ import annotations

from datetime import date

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.papers import parse_arxiv_atom, parse_bibtex, parse_pdf
from ingestion.parsers.records import ParseError, RowError


def test_arxiv_atom_feed(fixture_bytes):
    doc = parse_document("arxiv.xml", fixture_bytes("papers/arxiv.xml"))
    assert (doc.kind, doc.fmt, doc.row_errors) == ("papers", "arxiv_atom", [])
    first, second = doc.papers
    assert first.arxiv_id == "2203.15556"
    assert first.title == "Training Compute-Optimal Large Language Models"
    assert first.abstract == (
        "We investigate the optimal model size and number of tokens for training a "
        "transformer language model under a given compute budget."
    )
    assert first.authors == ["Jordan Hoffmann", "Sebastian Borgeaud"]
    assert first.published == date(2022, 3, 29)
    assert first.tags == ["cs.CL", "cs.LG"]
    assert first.url == "http://arxiv.org/abs/2203.15556v1"
    assert first.doi is None
    assert first.line == 8
    assert second.arxiv_id == "2001.08361"
    assert second.doi == "10.48550/arXiv.2001.08361"
    assert second.line == 29


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol3;</title></entry></feed>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title></entry></feed>"""


@pytest.mark.parametrize(
    "payload", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"]
)
def test_atom_rejects_entities_and_dtds(payload):
    with pytest.raises(ParseError, match="unsafe XML rejected") as info:
        parse_document("feed.xml", payload)
    assert info.value.filename == "feed.xml"


def test_atom_bad_xml_names_line():
    with pytest.raises(ParseError) as info:
        parse_arxiv_atom(b'<feed xmlns="http://www.w3.org/2005/Atom">\n<entry>\n</feed>', filename="f.xml")
    assert info.value.line == 3


def test_bibtex_keeps_good_entries_and_reports_bad(fixture_bytes):
    doc = parse_document("refs.bib", fixture_bytes("papers/refs.bib"))
    assert doc.fmt == "bibtex"
    assert [p.line for p in doc.papers] == [2, 13, 25]
    hoffmann, muennighoff, kaplan = doc.papers
    assert hoffmann.title == "Training Compute-Optimal Large Language Models"
    assert hoffmann.authors == ["Hoffmann, Jordan", "Borgeaud, Sebastian", "Mensch, Arthur"]
    assert hoffmann.arxiv_id == "2203.15556"
    assert hoffmann.published == date(2022, 3, 1)
    assert hoffmann.url == "https://arxiv.org/abs/2203.15556"
    assert hoffmann.bibtex.startswith("@article{hoffmann2022training,") and hoffmann.bibtex.endswith("}")
    assert muennighoff.doi == "10.48550/arXiv.2305.16264"
    assert muennighoff.venue == "Advances in Neural Information Processing Systems"
    assert muennighoff.arxiv_id is None
    assert kaplan.arxiv_id == "2001.08361"
    assert len(doc.row_errors) == 1
    assert doc.row_errors[0].line == 21
    assert doc.row_errors[0].reason.startswith("malformed BibTeX entry: Unexpected block start")


def test_bibtex_without_entries_is_rejected():
    with pytest.raises(ParseError, match="no usable BibTeX entries"):
        parse_bibtex(b"@article{x, title={never closed\n", filename="x.bib")


def test_pdf_title_abstract_arxiv(fixture_bytes):
    doc = parse_document("chinchilla.pdf", fixture_bytes("papers/chinchilla.pdf"))
    (paper,) = doc.papers
    assert paper.title == "Training Compute-Optimal Large Language Models"
    assert paper.abstract == (
        "We investigate the optimal model size and number of tokens for training a "
        "transformer language model under a given compute budget."
    )
    assert paper.arxiv_id == "2203.15556"
    assert "Recently a series of Large Language Models" in paper.full_text


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", b"%PDF-1.7\n" + b"\x00" * 100, b"%PDF-" + b"1 0 R " * 1000],
    ids=["truncated", "garbage", "references"],
)
def test_broken_pdf_is_parse_error(data):
    with pytest.raises(ParseError):
        parse_pdf(data, filename="broken.pdf")


def test_encrypted_pdf_is_rejected(fixture_bytes):
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(fixture_bytes("papers/chinchilla.pdf"))))
    writer.encrypt("secret")
    out = BytesIO()
    writer.write(out)
    with pytest.raises(ParseError, match="encrypted"):
        parse_pdf(out.getvalue(), filename="locked.pdf")


def test_row_error_type():
    assert RowError(3, "x") == RowError(3, "x")


def _pdf_builder_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "fixtures" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pdf_builder():
    return _pdf_builder_module()._pdf


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
LOOPING_PDFS = {
    "kids-self": [CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>", b"<< >>"],
    "kids-loop": [
        CATALOG,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Pages /Kids [2 0 R] /Parent 2 0 R /Count 1 >>",
        b"<< >>",
    ],
    "form-xobject-loop": [
        CATALOG,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /XObject << /X 5 0 R >> >> >>",
        b"<< /Length 8 >>\nstream\n/X Do   \nendstream",
        b"<< /Type /XObject /Subtype /Form /Length 8 /Resources << /XObject << /X 5 0 R >> >> >>\n"
        b"stream\n/X Do   \nendstream",
        b"<< >>",
    ],
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(LOOPING_PDFS))
def test_looping_pdfs_fail_fast(name):
    data = _pdf_builder()(LOOPING_PDFS[name])
    with pytest.raises(ParseError):
        parse_pdf(data, filename=f"{name}.pdf")


def test_pdf_abstract_heading_beats_the_word_in_a_sentence():
    data = _pdf_builder_module().pdf_with_lines(
        [
            "Abstractive Summaries at Scale",
            "We study abstract reasoning in a preprint.",
            "ABSTRACT",
            "Summaries get better with scale.",
            "1. INTRODUCTION",
            "Body text.",
        ]
    )
    paper = parse_pdf(data, filename="p.pdf")
    assert paper.title == "Abstractive Summaries at Scale"  # no /Title: the first text line
    assert paper.abstract == "Summaries get better with scale."
    assert paper.arxiv_id is None
