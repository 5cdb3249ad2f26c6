"""Reads for articles and claims: pages, model pages, reports and the API use these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from tracker.catalog.models import Model
from tracker.claims.models import Article, Claim

STATUSES: tuple[str, ...] = tuple(Claim.Status.values)
# "Claims without a source": nothing primary backs them (no fact yet, or no model named at all).
UNSOURCED: tuple[str, ...] = (Claim.Status.UNCORROBORATED, Claim.Status.UNKNOWN_SUBJECT)


def _claims(user: Any) -> QuerySet[Claim]:
    return Claim.objects.visible_to(user).select_related(
        "article",
        "model",
        "checked_against",
        "checked_against__source",
        "checked_against__model",
        "checked_against_run",
    )


def claims_visible(*, user: Any) -> QuerySet[Claim]:
    """Every claim in articles the user may read, newest article first."""
    return _claims(user).order_by("-article__created_at", "article", "line", "pk")


def claims_for_model(*, user: Any, model: Model | int) -> QuerySet[Claim]:
    """Claims about one catalog model in articles the user may read, newest article first."""
    model_id = model if isinstance(model, int) else model.pk
    return _claims(user).filter(model_id=model_id).order_by("quantity", "-article__created_at", "line", "pk")


def claims_for_article(*, article: Article) -> QuerySet[Claim]:
    """Every claim of an article in reading order (the article was already checked for visibility)."""
    return (
        Claim.objects.filter(article=article)
        .select_related(
            "model",
            "checked_against",
            "checked_against__source",
            "checked_against__model",
            "checked_against_run",
        )
        .order_by("line", "pk")
    )


def claims_unsourced(*, user: Any, status: str = "") -> QuerySet[Claim]:
    """Claims no primary source backs: uncorroborated, or about a model the article never names."""
    statuses = (status,) if status in UNSOURCED else UNSOURCED
    return _claims(user).filter(status__in=statuses).order_by("-article__created_at", "article", "line", "pk")


def claim_status_counts(
    *, user: Any = None, model: Model | int | None = None, article: Article | int | None = None
) -> dict[str, int]:
    """{status: count} with every status present (0 when none), for claims the user may read."""
    qs = Claim.objects.all() if user is None else Claim.objects.visible_to(user)
    if model is not None:
        qs = qs.filter(model_id=model if isinstance(model, int) else model.pk)
    if article is not None:
        qs = qs.filter(article_id=article if isinstance(article, int) else article.pk)
    counts = dict.fromkeys(STATUSES, 0)
    for row in qs.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def articles_list(*, user: Any) -> QuerySet[Article]:
    """Articles the user may read, each with its claim count per status."""
    per_status = {f"n_{s}": Count("claims", filter=Q(claims__status=s)) for s in STATUSES}
    return (
        Article.objects.visible_to(user)
        .select_related("document")
        .annotate(n_claims=Count("claims"), **per_status)
        .order_by("-created_at", "-pk")
    )


def article_get(*, user: Any, article_id: int) -> Article:
    """The article if the user may read it; 404 otherwise."""
    return Article.objects.select_related("document").get_visible_or_404(user, article_id)


@dataclass(slots=True)
class Segment:
    text: str
    claim: Claim | None = None


@dataclass(slots=True)
class ArticleLine:
    number: int  # the line in the original file
    segments: list[Segment] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)  # claims on this line not found in its text


def _ends_subject(text: str, end: int, subject: str) -> bool:
    """The "70B" of "Llama 3.1 70B" names the model; the claim's own "70B" comes after it."""
    return bool(subject) and text[max(0, end - len(subject)) : end].casefold() == subject.casefold()


def claim_display(claim: Claim) -> str:
    """The claim as a reader would say it: "≥ 20 trillion", "91.2 MMLU", "2024-07-23"."""
    if claim.quantity == "benchmark_score":
        shown = f"{claim.value:g}{claim.unit} {claim.text_value}".strip() if claim.value is not None else ""
    else:
        shown = claim.text_value or (f"{claim.value:g}" if claim.value is not None else "")
    if claim.is_lower_bound:
        return f"≥ {shown}"
    if claim.is_upper_bound:
        return f"≤ {shown}"
    return shown


def article_lines(*, article: Article, claims: list[Claim]) -> list[ArticleLine]:
    """The article's readable lines with each claim's number marked where it is written; a claim whose
    number is not found verbatim (dates as ISO, restated values) is listed against its line instead."""
    by_line: dict[int, list[Claim]] = {}
    for claim in claims:
        if claim.line is not None:
            by_line.setdefault(claim.line, []).append(claim)
    line_map = list(article.line_map)
    out: list[ArticleLine] = []
    placed: set[int] = set()
    for i, text in enumerate(article.text.split("\n")):
        number = line_map[i] if i < len(line_map) else i + 1
        row = ArticleLine(number=number)
        marks: list[tuple[int, int, Claim]] = []
        for claim in by_line.get(number, []):
            if claim.pk in placed:
                continue
            needle = (
                claim.text_value.strip() if claim.quantity not in ("release_date", "benchmark_score") else ""
            )
            if claim.quantity == "benchmark_score" and claim.value is not None:
                needle = f"{claim.value:g}"
            start = text.find(needle) if needle else -1
            while start >= 0 and (
                any(s < start + len(needle) and start < e for s, e, _ in marks)
                or _ends_subject(text, start + len(needle), claim.subject)
            ):
                start = text.find(needle, start + 1)
            if start >= 0:
                marks.append((start, start + len(needle), claim))
                placed.add(claim.pk)
        pos = 0
        for start, end, claim in sorted(marks, key=lambda m: m[0]):
            if start > pos:
                row.segments.append(Segment(text[pos:start]))
            row.segments.append(Segment(text[start:end], claim))
            pos = end
        row.segments.append(Segment(text[pos:]))
        out.append(row)
    # Claims not marked in the text are listed under the last text line that maps to their file line.
    last_row_of: dict[int, ArticleLine] = {row.number: row for row in out}
    for claim in claims:
        if claim.pk not in placed and claim.line is not None and claim.line in last_row_of:
            last_row_of[claim.line].claims.append(claim)
            placed.add(claim.pk)
    return out
