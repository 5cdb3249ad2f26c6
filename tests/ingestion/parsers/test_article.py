"""parse_article and looks_like_article: formats, titles, line maps, refusals, and arbitrary bytes."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.parsers.article import looks_like_article, parse_article
from ingestion.parsers.records import ParseError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ARTICLES = FIXTURES / "articles"
ARTICLE_FILES = sorted(
    p for p in ARTICLES.rglob("*") if p.is_file() and p.suffix != ".json" and p.name != "README.md"
)


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.name)
def test_fixture_titles_formats_and_languages(path: Path) -> None:
    labels = json.loads(Path(f"{path}.claims.json").read_text(encoding="utf-8"))
    record = parse_article(path.name, path.read_bytes())
    assert record.title == labels["title"]
    assert record.language == labels["language"]
    expected_fmt = {".md": "markdown", ".html": "html", ".txt": "text"}[path.suffix]
    assert record.fmt == expected_fmt
    assert len(record.line_map) == len(record.text.split("\n"))


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.name)
def test_every_claim_points_at_the_line_that_holds_it(path: Path) -> None:
    original = path.read_text(encoding="utf-8").split("\n")
    for claim in parse_article(path.name, path.read_bytes()).claims:
        assert claim.line is not None
        line = html.unescape(original[claim.line - 1]).translate({0xFF08: "(", 0xFF09: ")"})
        if claim.name not in ("release_date", "benchmark_score") and claim.location.startswith(
            ("paragraph", "bullet")
        ):
            assert claim.text_value.split()[0].rstrip(",") in line, (claim, line)


def test_html_keeps_structure_and_drops_scripts_styles_navigation_and_footers() -> None:
    record = parse_article("review.html", (ARTICLES / "en_llama_misstated.html").read_bytes())
    lines = record.text.split("\n")
    assert "# Meta's Llama 3.1 405B, explained" in lines
    assert "## How it compares" in lines
    assert "- GPT-4: reportedly 1.8 trillion parameters" in lines
    assert "  - trained on about 15 trillion tokens" in lines
    assert "| Model | Parameters | Release |" in lines
    assert "| Llama 3.1 405B | 450B | 2024-07-24 |" in lines
    for gone in ("1200000", "font-family", "Archive", "12,000 subscribers"):
        assert gone not in record.text
    assert record.line_map[lines.index("## How it compares")] == 19
    assert (
        record.line_map[
            lines.index("450 billion parameters and was trained on more than 20 trillion tokens.")
        ]
        == 16
    )
    assert record.metadata["description"] == "Everything about Meta's biggest open model."
    assert "&middot;" not in record.text and "·" in record.text


def test_markdown_loses_inline_markup_front_matter_and_code_but_not_lines() -> None:
    data = (
        b"---\ntitle: A post about Llama\ndate: 2025-01-02\n---\n"
        b"Intro with a [link](https://example.com/llama-405b) and **bold** text.\n"
        b"<!-- a comment\nover two lines -->\n"
        b"```python\nmodel = load('llama-405b')  # 405B parameters\n```\n"
        b"![chart](chart.png) Llama 3.1 405B has `405B` parameters.\n"
    )
    record = parse_article("post.md", data)
    assert record.title == "A post about Llama"
    assert record.metadata == {"title": "A post about Llama", "date": "2025-01-02"}
    lines = record.text.split("\n")
    assert lines[:4] == ["", "", "", ""]
    assert lines[4] == "Intro with a link and bold text."
    assert lines[5:10] == ["", "", "", "", ""]
    assert lines[10] == " Llama 3.1 405B has 405B parameters."
    assert [(c.line, c.subject, c.value) for c in record.claims] == [(11, "Llama 3.1 405B", 405e9)]


def test_plain_text_title_is_the_first_line_and_the_root_subject() -> None:
    record = parse_article("notes.txt", b"\n\nAurora-X field notes\n\nTraining used 22T tokens.\n")
    assert (record.title, record.fmt) == ("Aurora-X field notes", "text")
    assert [(c.line, c.subject, c.name, c.value) for c in record.claims] == [
        (5, "Aurora-X", "training_tokens", 22e12)
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty article"),
        (b"  \n\t\n", "empty article"),
        (b"caf\xe9 Llama 3.1", "not valid UTF-8"),
        (b"Llama\x00 3.1", "NUL byte"),
        (bytes(range(1, 9)) * 100, "binary content"),
        (b"<html><script>var x = '405B parameters';</script></html>", "no readable text"),
    ],
)
def test_unusable_input_is_a_parse_error_naming_the_file(data: bytes, reason: str) -> None:
    name = "review.html" if data.startswith(b"<html") else "review.md"
    with pytest.raises(ParseError) as info:
        parse_article(name, data)
    assert info.value.filename == name
    assert reason in info.value.reason


def test_looks_like_article_tells_cards_from_articles() -> None:
    cards = FIXTURES / "cards"
    assert not looks_like_article("README.md", (cards / "llama31_README.md").read_text(encoding="utf-8"))
    assert not looks_like_article("README.md", (cards / "tinystories_card.md").read_text(encoding="utf-8"))
    template = (
        "# Foo-7B\n\n## Model Details\n\nA model.\n\n## Uses\n\nChat.\n\n## Training Details\n\n15T tokens.\n"
    )
    assert not looks_like_article("README.md", template)
    assert not looks_like_article("x.md", "---\nlicense: mit\npipeline_tag: text-generation\n---\n# Foo\n")
    for path in ARTICLE_FILES:
        assert looks_like_article(path.name, path.read_text(encoding="utf-8")), path.name
    blog = "---\ntitle: Why Llama matters\ndate: 2024-08-01\ntags: [llm]\n---\n\nMeta released a big open model today, and it changes a lot.\n"
    assert looks_like_article("post.md", blog)
    assert not looks_like_article("data.txt", "step,loss\n1,2.3\n2,2.1\n")


SEEDS = [p.read_bytes() for p in ARTICLE_FILES]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    st.sampled_from(["a.md", "a.html", "a.txt", "noext", "a.htm"]),
    st.one_of(st.binary(max_size=600), _mutated(), st.text(max_size=600).map(str.encode)),
)
def test_parse_article_raises_only_parse_error(name: str, data: bytes) -> None:
    try:
        record = parse_article(name, data)
    except ParseError as exc:
        assert exc.filename == name
        return
    assert len(record.line_map) == len(record.text.split("\n"))
    lines = data.count(b"\n") + data.count(b"\r") + 1
    assert all(c.line is not None and 1 <= c.line <= lines for c in record.claims)
