"""Template context every page can use, computed only when a template reads it."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from core.liveness import worker_notice


def liveness(request: HttpRequest) -> dict[str, object]:
    # Lazy: only pages that show queued work (jobs, reports, studies) pay for the query.
    return {"worker_notice": SimpleLazyObject(worker_notice)}
