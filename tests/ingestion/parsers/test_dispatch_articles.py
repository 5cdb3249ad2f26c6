"""parse_document tells articles from model cards: every real card stays a card, every article is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import ParseError

TESTS = Path(__file__).resolve().parents[2]
CORPUS_CARDS = sorted(
    p for p in (TESTS / "corpus" / "cards").rglob("*.md") if p.parent.name != "cards"
) + sorted((TESTS / "fixtures" / "cards").glob("*.md"))
ARTICLES = sorted(
    p
    for p in (TESTS / "fixtures" / "articles").rglob("*")
    if p.is_file() and p.suffix in (".md", ".html", ".txt") and p.name != "README.md"
)


def test_the_corpus_is_there():
    assert len(CORPUS_CARDS) >= 30
    assert len(ARTICLES) >= 25


@pytest.mark.parametrize("path", CORPUS_CARDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_cards_stay_model_cards(path):
    # Mirrored cards are named index.md, not README.md: the decision must come from the content.
    doc = parse_document(f"{path.parent.name}.md", path.read_bytes())
    assert (doc.kind, doc.article) == ("model_card", None)
    assert doc.model_card is not None


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_articles_are_articles_with_claims(path):
    doc = parse_document(path.name, path.read_bytes())
    assert (doc.kind, doc.fmt, doc.model_card) == ("article", "article", None)
    assert doc.article is not None
    assert doc.article.claims, "every fixture article makes at least one claim"
    assert all(c.line and c.line >= 1 for c in doc.article.claims)
    # The subject is set wherever the extractor could tie the number to a model.
    assert any(c.subject for c in doc.article.claims)


def test_misstated_llama_article_claims_450b():
    doc = parse_document("news.html", (TESTS / "fixtures/articles/en_llama_misstated.html").read_bytes())
    params = [(c.subject, c.value) for c in doc.article.claims if c.name == "parameters"]
    assert ("Llama 3.1 405B", 450e9) in params


def test_html_without_extension_is_an_article():
    page = (
        b"<!doctype html><html><body><p>Zephyr-9 has 9 billion parameters and was trained on 2T tokens.</p>"
    )
    doc = parse_document("download", page)
    assert doc.kind == "article"
    assert [(c.name, c.value) for c in doc.article.claims] == [("parameters", 9e9), ("training_tokens", 2e12)]


def test_readme_md_is_always_a_card():
    text = b"# Foo-7B\n\nFoo-7B is a seven billion parameter model that the team trained for a long time.\n"
    assert parse_document("README.md", text).kind == "model_card"
    assert parse_document("post.md", text).kind == "article"


def test_html_named_csv_is_refused():
    with pytest.raises(ParseError, match=r"extension \.csv does not match content \(article\)"):
        parse_document("x.csv", b"<!doctype html><html><body><p>hello there</p></body></html>")
