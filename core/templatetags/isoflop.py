"""Template helpers shared by every page."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from core.figure_json import to_script_json

register = template.Library()


@register.filter
def figure_json(value: Any, element_id: str) -> SafeString:
    """`{{ fig|figure_json:"fig-costs" }}`: like json_script, for figures (fast, NumPy- and NaN-safe)."""
    return format_html(
        '<script id="{}" type="application/json">{}</script>',
        element_id,
        mark_safe(to_script_json(value)),
    )


_HTTP_URL = URLValidator(schemes=["http", "https"])


@register.filter
def http_url(value: Any) -> str:
    """The value if it is an absolute http(s) URL, else "": a stored `javascript:` URL is never a link."""
    text = str(value or "").strip()
    try:
        _HTTP_URL(text)
    except ValidationError:
        return ""
    return text
