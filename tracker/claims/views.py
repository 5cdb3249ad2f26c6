"""Thin views: the articles list, one article with its claims marked, and claims without a source."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker.claims import selectors


@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "tracker/article_list.html",
        {
            "articles": selectors.articles_list(user=request.user)[:200],
            "counts": selectors.claim_status_counts(user=request.user),
        },
    )


@require_GET
def article_detail(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_get(user=request.user, article_id=article_id)
    claims = list(selectors.claims_for_article(article=article))
    return render(
        request,
        "tracker/article_detail.html",
        {
            "article": article,
            "claims": claims,
            "lines": selectors.article_lines(article=article, claims=claims),
            "counts": selectors.claim_status_counts(article=article),
        },
    )


@require_GET
def unsourced(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    context = {"status": status, "statuses": selectors.UNSOURCED}
    if status and status not in selectors.UNSOURCED:
        error = f"status: {status!r} is not one of {', '.join(selectors.UNSOURCED)}"
        return render(request, "tracker/claims_unsourced.html", {**context, "error": error}, status=400)
    claims = selectors.claims_unsourced(user=request.user, status=status)
    return render(request, "tracker/claims_unsourced.html", {**context, "claims": claims[:500]})
