"""Articles and their claims, each with its status against primary sources (tracker.claims)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema

from config.api import auth
from config.api.common import finite, iso, paginate
from config.api.errors import ERRORS, ApiError
from tracker.claims import selectors
from tracker.claims.models import Article, Claim

router = Router(tags=["claims"])


class ClaimOut(Schema):
    id: int
    article: int
    subject: str
    model: int | None
    quantity: str
    value: float | None
    text_value: str
    unit: str
    lower: float | None
    upper: float | None
    is_lower_bound: bool
    is_upper_bound: bool
    line: int | None
    excerpt: str
    status: str
    checked_against_fact: int | None
    checked_against_run: int | None
    checked_at: str | None


class ClaimPage(Schema):
    items: list[ClaimOut]
    next_cursor: str | None


class ArticleOut(Schema):
    id: int
    team: str
    title: str
    format: str
    language: str
    created_at: str | None
    status_counts: dict[str, int]


class ArticleDetail(ArticleOut):
    claims: list[ClaimOut]


class ArticlePage(Schema):
    items: list[ArticleOut]
    next_cursor: str | None


def claim_out(c: Claim) -> dict[str, Any]:
    return {
        "id": c.pk,
        "article": c.article_id,
        "subject": c.subject,
        "model": c.model_id,
        "quantity": c.quantity,
        "value": finite(c.value),
        "text_value": c.text_value,
        "unit": c.unit,
        "lower": finite(c.lower),
        "upper": finite(c.upper),
        "is_lower_bound": c.is_lower_bound,
        "is_upper_bound": c.is_upper_bound,
        "line": c.line,
        "excerpt": c.excerpt,
        "status": c.status,
        "checked_against_fact": c.checked_against_id,
        "checked_against_run": c.checked_against_run_id,
        "checked_at": iso(c.checked_at),
    }


def article_out(a: Article, counts: dict[str, int] | None = None) -> dict[str, Any]:
    if counts is None:
        counts = {s: int(getattr(a, f"n_{s}", 0) or 0) for s in selectors.STATUSES}
    return {
        "id": a.pk,
        "team": a.team.slug,
        "title": a.title,
        "format": a.fmt,
        "language": a.language,
        "created_at": iso(a.created_at),
        "status_counts": counts,
    }


@router.get("/claims/", response={200: ClaimPage, **ERRORS}, auth=auth.READ, url_name="claims")
def claims(
    request: HttpRequest,
    model: int | None = Query(None, ge=1, le=2**62),
    status: str = Query("", max_length=20, description="corroborated, conflicting, uncorroborated, ..."),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    if status and status not in selectors.STATUSES:
        raise ApiError(422, f"status: one of {', '.join(selectors.STATUSES)}")
    if model is not None:
        found = selectors.claims_for_model(user=request.user, model=model)
    elif status in selectors.UNSOURCED:
        found = selectors.claims_unsourced(user=request.user, status=status)
    else:
        found = selectors.claims_visible(user=request.user)
    if status:
        found = found.filter(status=status)
    return paginate(found, cursor=cursor, limit=limit, render=claim_out)


@router.get("/articles/", response={200: ArticlePage, **ERRORS}, auth=auth.READ, url_name="articles")
def articles(request: HttpRequest, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)) -> Any:
    found = selectors.articles_list(user=request.user).select_related("team")
    return paginate(found, cursor=cursor, limit=limit, render=article_out)


@router.get(
    "/articles/{article_id}/", response={200: ArticleDetail, **ERRORS}, auth=auth.READ, url_name="article"
)
def article(request: HttpRequest, article_id: int) -> Any:
    try:
        found = selectors.article_get(user=request.user, article_id=article_id)
    except Http404:
        raise ApiError(404, f"no article {article_id}") from None
    items = list(selectors.claims_for_article(article=found))
    counts = selectors.claim_status_counts(article=found)
    return {**article_out(found, counts), "claims": [claim_out(c) for c in items]}
