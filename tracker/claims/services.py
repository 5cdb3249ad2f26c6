"""Writes: store an article with its claims, and (re)check claims against primary facts."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from core.outbox import publish_on_commit
from tracker.accounts.models import Team
from tracker.catalog.models import Fact, SourceDocument
from tracker.claims import checks
from tracker.claims.models import Article, Claim
from tracker.claims.subjects import catalog_index, family_name, model_for_subject, subject_key
from tracker.runs.models import TrainingRun

CLAIMS_RECHECK_TASK = "tracker.claims_recheck"


@dataclass(frozen=True, slots=True)
class ClaimInput:
    """One claim as the parser read it (mapped from a FactRecord by ingestion)."""

    subject: str
    quantity: str
    value: float | None
    line: int | None
    text_value: str = ""
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    confidence: float = 1.0
    excerpt: str = ""


def _finite(value: float | None, what: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"claim {what} must be finite, got {value!r}")
    return value


def article_store(
    *,
    document: SourceDocument,
    team: Team,
    title: str,
    fmt: str,
    text: str,
    line_map: Sequence[int],
    claims: Iterable[ClaimInput],
    language: str = "",
    metadata: dict[str, str] | None = None,
) -> Article:
    """Create (or rewrite, for the same document) an article and its claims, each checked at once."""
    article, _ = Article.objects.update_or_create(
        document=document,
        defaults={
            "team": team,
            "title": (title or document.name)[:300],
            "fmt": fmt[:16],
            "language": language[:8],
            "text": text,
            "line_map": list(line_map),
            "metadata": dict(metadata or {}),
        },
    )
    article.claims.all().delete()
    index = catalog_index()
    rows = []
    for c in claims:
        rows.append(
            Claim(
                article=article,
                subject=c.subject[:300],
                subject_key=subject_key(c.subject),
                model_id=model_for_subject(c.subject, index),
                quantity=c.quantity[:64],
                value=_finite(c.value, "value"),
                text_value=c.text_value[:300],
                unit=c.unit[:32],
                lower=_finite(c.lower, "lower bound"),
                upper=_finite(c.upper, "upper bound"),
                is_lower_bound=c.lower is not None and c.upper is None,
                is_upper_bound=c.upper is not None and c.lower is None,
                confidence=min(1.0, max(0.0, c.confidence)),
                line=c.line if c.line and c.line > 0 else None,
                excerpt=c.excerpt[:500],
            )
        )
    Claim.objects.bulk_create(rows)
    claims_check(claims=article.claims.all())
    return article


def primary_facts(*, model_ids: Iterable[int], quantities: Iterable[str]) -> QuerySet[Fact]:
    """Facts from primary sources (model cards, papers, manifests, reference tables): never an article's."""
    return Fact.objects.filter(model_id__in=list(model_ids), name__in=list(quantities)).exclude(
        source__article__isnull=False
    )


def claims_check(*, claims: QuerySet[Claim]) -> int:
    """Recompute the status of these claims against the primary facts; returns how many changed."""
    claims_list = list(claims.select_related("article"))
    facts: dict[tuple[int, str], list[checks.PrimaryFact]] = defaultdict(list)
    model_ids = {c.model_id for c in claims_list if c.model_id is not None}
    quantities = {c.quantity for c in claims_list}
    # A size's claim on a family-level quantity falls back to the family model's facts.
    family_of: dict[int, int] = {}
    needs_family = [c for c in claims_list if c.model_id and c.quantity in checks.FAMILY_QUANTITIES]
    if needs_family:
        index = catalog_index()
        for c in needs_family:
            family = model_for_subject(family_name(c.subject), index)
            if family is not None and family != c.model_id:
                family_of[c.pk] = family
        model_ids |= set(family_of.values())
    for f in primary_facts(model_ids=model_ids, quantities=quantities).values(
        "pk", "model_id", "name", "value", "text_value", "lower", "upper", "confidence"
    ):
        facts[(f["model_id"], f["name"])].append(
            checks.PrimaryFact(
                id=f["pk"],
                value=f["value"],
                text_value=f["text_value"],
                lower=f["lower"],
                upper=f["upper"],
                confidence=f["confidence"],
            )
        )
    runs = _run_facts(claims_list, model_ids)
    now = timezone.now()
    changed: list[Claim] = []
    for claim in claims_list:
        value = checks.ClaimValue(
            quantity=claim.quantity,
            value=claim.value,
            text_value=claim.text_value,
            lower=claim.lower,
            upper=claim.upper,
            is_lower_bound=claim.is_lower_bound,
            is_upper_bound=claim.is_upper_bound,
        )
        relevant = facts.get((claim.model_id, claim.quantity), []) if claim.model_id else []
        if not relevant and claim.pk in family_of:
            relevant = facts.get((family_of[claim.pk], claim.quantity), [])
        relevant = relevant + runs.get((claim.article.team_id, claim.model_id, claim.quantity), [])
        status, fact = checks.verdict(value, relevant, subject_known=bool(claim.subject_key))
        fact_id = fact.id if fact is not None and not fact.from_run else None
        run_id = fact.id if fact is not None and fact.from_run else None
        if (status, fact_id, run_id) != (
            claim.status,
            claim.checked_against_id,
            claim.checked_against_run_id,
        ) or (claim.checked_at is None):
            if claim.checked_at is not None and status != claim.status:
                claim.previous_status, claim.status_changed_at = claim.status, now
            claim.status, claim.checked_at = status, now
            claim.checked_against_id, claim.checked_against_run_id = fact_id, run_id
            changed.append(claim)
    Claim.objects.bulk_update(
        changed,
        [
            "status",
            "checked_against",
            "checked_against_run",
            "checked_at",
            "previous_status",
            "status_changed_at",
        ],
    )
    return len(changed)


# A run manifest names its model's size: a team's own run of a model is primary evidence of its parameters
# (not of its training tokens or GPU hours, which are that run's, e.g. a fine-tune's).
RUN_QUANTITIES = {"parameters": "parameters"}


def _run_facts(
    claims: list[Claim], model_ids: set[int]
) -> dict[tuple[int, int | None, str], list[checks.PrimaryFact]]:
    """(team, model, quantity) -> the team's runs of that model as primary facts (teams see only theirs)."""
    wanted = {c.quantity for c in claims} & set(RUN_QUANTITIES)
    teams = {c.article.team_id for c in claims}
    out: dict[tuple[int, int | None, str], list[checks.PrimaryFact]] = defaultdict(list)
    if not wanted or not model_ids:
        return out
    runs = TrainingRun.objects.filter(team_id__in=teams, model_id__in=list(model_ids))
    for run in runs.values("pk", "team_id", "model_id", *[RUN_QUANTITIES[q] for q in wanted]):
        for quantity in wanted:
            number = run[RUN_QUANTITIES[quantity]]
            if number is not None:
                out[(run["team_id"], run["model_id"], quantity)].append(
                    checks.PrimaryFact(id=run["pk"], value=number, from_run=True)
                )
    return out


def claims_recheck(*, model_ids: Sequence[int]) -> int:
    """New primary evidence about these models: link claims that name them but had no catalog model yet,
    then recheck every claim about them. Returns how many claims changed status."""
    index = catalog_index(model_ids)
    if not index:
        return 0
    unlinked = Claim.objects.filter(model__isnull=True, subject_key__in=list(index))
    for key, model_id in index.items():
        unlinked.filter(subject_key=key).update(model_id=model_id)
    return claims_check(claims=Claim.objects.filter(model_id__in=list(model_ids)))


def claims_recheck_enqueue(*, model_ids: Iterable[int]) -> None:
    """Called where primary facts are stored: the worker rechecks after this transaction commits."""
    ids = sorted({int(i) for i in model_ids})
    if ids:
        publish_on_commit(CLAIMS_RECHECK_TASK, ids)


def claims_relink_all() -> int:
    """Re-match every claim's subject against the whole catalog (e.g. after models are renamed or merged)."""
    index = catalog_index()
    moved = 0
    for claim in Claim.objects.exclude(subject_key="").only("pk", "subject_key", "model_id"):
        model_id = index.get(claim.subject_key)
        if model_id != claim.model_id:
            Claim.objects.filter(pk=claim.pk).update(model_id=model_id)
            moved += 1
    claims_check(claims=Claim.objects.all())
    return moved
