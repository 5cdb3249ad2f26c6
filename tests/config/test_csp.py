"""Every page sends a strict Content-Security-Policy, and no template needs inline script to work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if INLINE_SCRIPT.search(text) or HANDLER.search(text) or "javascript:" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["home", "catalog:paper-list", "runs:list", "studies:list", "login", "admin:index"]
)
def test_pages_send_a_strict_csp(name, make_user, team_a):
    client = Client()
    client.force_login(make_user(role="admin", team=team_a))
    response = client.get(reverse(name), follow=True)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert (
        "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    )
    assert re.fullmatch(r"'self'( 'nonce-[\w+/=-]+')?", directives["script-src"])
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
