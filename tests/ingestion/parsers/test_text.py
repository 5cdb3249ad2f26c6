"""Shared text helpers: http(s)-only URLs, dates in the ways cards write them, LaTeX to Unicode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.parsers.papers import latex_to_text, tagged_arxiv_id
from ingestion.parsers.text import find_date, safe_http_url


@pytest.mark.parametrize(
    "url",
    ["https://arxiv.org/abs/2302.13971", "http://x.org/a?b=c#d", "HTTPS://X.ORG/", "https://x.org:8443/p"],
)
def test_safe_http_url_keeps_http(url):
    assert safe_http_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>",
        "vbscript:msgbox",
        "//evil.example/x",
        "/relative/path",
        "ftp://x.org/f",
        "https://",
        "https://x.org/a b",
        'https://x.org/"><script>',
        "https://x.org:99999/",
        "https://x.org/\x00",
        "",
        None,
        "https://" + "a" * 3000 + ".org",
    ],
)
def test_safe_http_url_refuses_everything_else(url):
    assert safe_http_url(url) is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Model Release Date: July 23, 2024.", "2024-07-23"),
        ("released Oct 24, 2024", "2024-10-24"),
        ("Release: 2025.04.29", "2025-04-29"),
        ("11.July.2022", "2022-07-11"),
        ("23 July 2024", "2024-07-23"),
        ("Sept. 5, 2023", "2023-09-05"),
        ("2024-07-23", "2024-07-23"),
    ],
)
def test_find_date(text, iso):
    found = find_date(text)
    assert found is not None and found[0] == iso


@pytest.mark.parametrize(
    "text", ["2024-13-45", "v1.2.3.4", "version 2.0.2024", "July 2024", "Feb 30, 2024", "3T tokens"]
)
def test_find_date_refuses_non_dates(text):
    assert find_date(text) is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_text_helpers_never_raise(text):
    url = safe_http_url(text)
    assert url is None or url.lower().startswith(("http://", "https://"))
    find_date(text)
    latex_to_text(text)
    tagged_arxiv_id(text)
