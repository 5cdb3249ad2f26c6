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
    assert muennighoff.arxiv_id == "2305.16264"  # arXiv's own DOI names the arXiv paper
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


# --- arXiv API error feed, URLs ------------------------------------------------------------------------

ERROR_FEED = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/</id><title>arXiv Search Results</title>
  <entry>
    <id>https://arxiv.org/api/errors#incorrect_id_format_for_abc</id>
    <title>Error</title>
    <summary>incorrect id format for abc</summary>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>"""


def test_arxiv_error_feed_is_refused_with_the_api_message():
    with pytest.raises(ParseError, match="arXiv API error: incorrect id format for abc") as info:
        parse_document("query.xml", ERROR_FEED)
    assert info.value.filename == "query.xml"


def test_a_paper_titled_error_is_still_a_paper():
    feed = ERROR_FEED.replace(
        b"https://arxiv.org/api/errors#incorrect_id_format_for_abc", b"http://arxiv.org/abs/2101.00001v1"
    )
    (paper,) = parse_arxiv_atom(feed, filename="f.xml")[0]
    assert (paper.title, paper.arxiv_id) == ("Error", "2101.00001")


def test_empty_feed_is_refused():
    feed = b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:o="http://a9.com/-/spec/opensearch/1.1/"><o:totalResults>0</o:totalResults></feed>'
    with pytest.raises(ParseError, match=r"no entries \(totalResults 0\)"):
        parse_arxiv_atom(feed, filename="f.xml")


def test_atom_link_that_is_not_http_is_dropped_and_reported():
    feed = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2101.00001v2</id>'
        b'<title>T</title><link rel="alternate" href="javascript:alert(document.cookie)"/></entry></feed>'
    )
    papers, errors = parse_arxiv_atom(feed, filename="f.xml")
    assert papers[0].url == "https://arxiv.org/abs/2101.00001"  # rebuilt from the id, never the script
    assert [e.reason[:42] for e in errors] == ["dropped a link that is not http(s): 'javas"]


def test_atom_mojibake_names_are_repaired():
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2101.00001</id>'
        "<title>T</title><author><name>Dirk WÃ¼bben</name></author></entry></feed>"
    ).encode()
    assert parse_arxiv_atom(feed, filename="f.xml")[0][0].authors == ["Dirk Wübben"]


# --- BibTeX: arXiv ids in any style, LaTeX, dates, URLs ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "arxiv_id"),
    [
        ("journal = {Ar{X}iv:2302.13971}", "2302.13971"),
        ("journal = {arXiv preprint arXiv:2203.15556}", "2203.15556"),
        ("journal = {arXiv:1605.07146 [cs.CV]}", "1605.07146"),
        ("journal = {arxiv.org/abs/2205.11916}", "2205.11916"),
        ("eprint = {2001.08361}, archivePrefix = {arXiv}", "2001.08361"),
        ("eprint = {math/0307200v3}, eprinttype = {arxiv}", "math/0307200"),
        ("journal = {CoRR}, volume = {abs/2006.08242}", "2006.08242"),
        ("url = {http://arxiv.org/abs/1705.10762}", "1705.10762"),
        ("note = {arXiv: 1705.10762}", "1705.10762"),
        ("doi = {10.48550/arXiv.2305.16264}", "2305.16264"),
        ("journal = {ArXiv}", None),
        ("eprint = {4HIWAAAAYAAJ}, eprinttype = {googlebooks}", None),
        ("volume = {abs/2006.08242}, journal = {Nature}", None),
        ("pages = {2302.13971}", None),
    ],
)
def test_bibtex_arxiv_ids_in_any_brace_style(fields, arxiv_id):
    (paper,), _ = parse_bibtex(f"@article{{k, title={{T}}, {fields}}}".encode(), filename="r.bib")
    assert paper.arxiv_id == arxiv_id


def test_bibtex_latex_becomes_unicode():
    data = (
        rb"@article{k, title = {Les {N}ouvelles {I}d{\'e}es chez les {V}ert{\'e}br{\'e}s},"
        rb" author = {Abadi, Mart{\'\i}n and Aks{\i}n, {\"O}zge and Bronis{\l}aw Malinowski and {Barnes and Noble}},"
        rb" journal = {J.~Organomet. Chem.}}"
    )
    (paper,), _ = parse_bibtex(data, filename="r.bib")
    assert paper.title == "Les Nouvelles Idées chez les Vertébrés"
    assert paper.authors == ["Abadi, Martín", "Aks\u0131n, Özge", "Bronisław Malinowski", "Barnes and Noble"]
    assert paper.venue == "J. Organomet. Chem."


@pytest.mark.parametrize(
    ("fields", "published"),
    [
        ("year = {2023a}", date(2023, 1, 1)),
        ("year = 2011, month = nov", date(2011, 11, 1)),
        ("year = {2018}, month = {November}", date(2018, 11, 1)),
        ("date = {2010-08-17}", date(2010, 8, 17)),
        ("date = {1991-03}", date(1991, 3, 1)),
        ("date = {1984/1986}", date(1984, 1, 1)),
        ("year = {since 2012}", None),
        ("year = {n.d.}", None),
    ],
)
def test_bibtex_dates(fields, published):
    (paper,), _ = parse_bibtex(f"@misc{{k, title={{T}}, {fields}}}".encode(), filename="r.bib")
    assert paper.published == published


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (r"\url{https://example.org/a\_b}", "https://example.org/a_b"),
        ("http://leon.bottou.org/papers/bottou-lecun-88", "http://leon.bottou.org/papers/bottou-lecun-88"),
        ("javascript:alert(1)", ""),
        ("data:text/html;base64,PHNjcmlwdD4=", ""),
        ("//evil.example/x", ""),
        ('https://x.org/"onmouseover="alert(1)', ""),
    ],
)
def test_bibtex_urls_only_http(url, kept):
    (paper,), errors = parse_bibtex(f"@misc{{k, title={{T}}, url={{{url}}}}}".encode(), filename="r.bib")
    assert paper.url == kept
    assert bool(errors) is (kept == "")
    if errors:
        assert errors[0].reason.startswith("dropped a url that is not http(s)")


def test_bibtex_arxiv_url_is_built_when_the_entry_has_none():
    (paper,), _ = parse_bibtex(b"@article{k, title={T}, journal={Ar{X}iv:2302.13971}}", filename="r.bib")
    assert paper.url == "https://arxiv.org/abs/2302.13971"


# --- PDF: page-1 layout --------------------------------------------------------------------------------


def _pdf_with_sized_lines(lines: list[tuple[int, int, str]], *, title: str | None = None) -> bytes:
    """(font size, y, text) per line; a one-page PDF built like the committed fixtures."""
    module = _pdf_builder_module()
    ops = ["BT"]
    for size, y, text in lines:
        ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({module._escape(text)}) Tj")
    ops.append("ET")
    stream = "\n".join(ops).encode()
    info = f"<< /Title ({module._escape(title)}) >>" if title is not None else "<< /Producer (t) >>"
    return module._pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            info.encode(),
        ]
    )


RUNNING_HEADER_PAGE = [
    (8, 760, "Proceedings of Machine Learning for Healthcare 2017 JMLR W&C Track Volume 68"),
    (16, 700, "Scaling Laws for Tiny"),
    (16, 680, "Language Models"),
    (10, 640, "Ada Lovelace"),
    (12, 600, "Abstract"),
    (10, 580, "We fit power laws to small models."),
    (12, 540, "1. Introduction"),
    (10, 520, "Body text."),
]


def test_pdf_title_from_layout_skips_running_header_and_joins_lines():
    paper = parse_pdf(_pdf_with_sized_lines(RUNNING_HEADER_PAGE), filename="p.pdf")
    assert paper.title == "Scaling Laws for Tiny Language Models"
    assert paper.abstract == "We fit power laws to small models."


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ("Scaling Laws for Tiny Language Models", "Scaling Laws for Tiny Language Models"),
        ("Microsoft Word - draft3.docx", "Scaling Laws for Tiny Language Models"),
        ("main.tex", "Scaling Laws for Tiny Language Models"),
        ("A Different Paper Entirely", "Scaling Laws for Tiny Language Models"),
    ],
)
def test_pdf_metadata_title_only_when_it_agrees_with_the_layout(meta, expected):
    paper = parse_pdf(_pdf_with_sized_lines(RUNNING_HEADER_PAGE, title=meta), filename="p.pdf")
    assert paper.title == expected


def test_pdf_summary_heading_is_the_abstract_and_no_heading_means_no_abstract():
    joss = [
        (16, 700, "Melodie: Agent-based Modeling"),
        (12, 660, "Summary"),
        (10, 640, "Agents interact."),
        (12, 600, "Statement of need"),
        (10, 580, "More."),
    ]
    assert parse_pdf(_pdf_with_sized_lines(joss), filename="j.pdf").abstract == "Agents interact."
    bare = [
        (16, 700, "Melodie: Agent-based Modeling"),
        (12, 660, "Introduction"),
        (10, 640, "Agents interact."),
    ]
    assert parse_pdf(_pdf_with_sized_lines(bare), filename="j.pdf").abstract == ""


def test_pdf_without_header_bytes_is_refused_before_any_child_starts():
    with pytest.raises(ParseError, match="not a PDF"):
        parse_pdf(b"hello", filename="x.pdf")
