"""Writes to the catalog: typed functions with keyword-only arguments."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from django.utils.text import slugify

from tracker.auth import has_role
from tracker.models import (
    ApiToken,
    Fact,
    Hardware,
    HardwarePrice,
    Membership,
    MetricPoint,
    MetricSeries,
    MetricSeriesRollup,
    Model,
    Organization,
    Paper,
    Role,
    SourceDocument,
    Team,
    TrainingRun,
)

# Two facts about the same quantity disagree when they differ by more than this relative amount.
CONFLICT_RELATIVE_TOLERANCE = 0.02


def normalize_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()[:500]


def team_create(*, name: str, owner: Any | None = None) -> Team:
    team = Team.objects.create(name=name, slug=slugify(name)[:100] or "team")
    if owner is not None:
        Membership.objects.create(user=owner, team=team, role=Role.ADMIN)
    return team


def membership_set(*, team: Team, user: Any, role: Role) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext key, which is shown once and never stored."""
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:12], key_hash=ApiToken.hash_key(key))
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def source_document_get_or_create(
    *,
    kind: str,
    name: str,
    sha256: str = "",
    team: Team | None = None,
    media_type: str = "",
    url: str = "",
    size_bytes: int = 0,
) -> SourceDocument:
    if sha256:
        doc, _ = SourceDocument.objects.get_or_create(
            kind=kind,
            sha256=sha256,
            team=team,
            defaults={"name": name, "media_type": media_type, "url": url, "size_bytes": size_bytes},
        )
        return doc
    return SourceDocument.objects.create(
        kind=kind, name=name, team=team, media_type=media_type, url=url, size_bytes=size_bytes
    )


def organization_get_or_create(*, name: str) -> Organization:
    org, _ = Organization.objects.get_or_create(name=name, defaults={"slug": slugify(name)[:100] or "org"})
    return org


def hardware_get_or_create(*, name: str, **defaults: Any) -> Hardware:
    hw, _ = Hardware.objects.get_or_create(name=name, defaults=defaults)
    return hw


def hardware_price_set(
    *, hardware: Hardware, usd_per_gpu_hour: float, valid_from: date, provider: str = "", note: str = ""
) -> HardwarePrice:
    price, _ = HardwarePrice.objects.update_or_create(
        hardware=hardware,
        valid_from=valid_from,
        provider=provider,
        defaults={"usd_per_gpu_hour": usd_per_gpu_hour, "note": note},
    )
    return price


def paper_upsert(
    *,
    title: str,
    arxiv_id: str | None = None,
    doi: str | None = None,
    source: SourceDocument | None = None,
    **fields: Any,
) -> tuple[Paper, bool]:
    """Dedup by arXiv id, then DOI, then normalized title. Returns (paper, created)."""
    normalized = normalize_title(title)
    existing = None
    if arxiv_id:
        existing = Paper.objects.filter(arxiv_id=arxiv_id).first()
    if existing is None and doi:
        existing = Paper.objects.filter(doi=doi).first()
    if existing is None and normalized:
        existing = Paper.objects.filter(normalized_title=normalized).first()
    if existing is not None:
        changed = []
        # Fill gaps only: a later source never erases what an earlier one said.
        for key, value in {"arxiv_id": arxiv_id, "doi": doi, **fields}.items():
            if value and not getattr(existing, key):
                setattr(existing, key, value)
                changed.append(key)
        if changed:
            existing.save(update_fields=changed)
        return existing, False
    paper = Paper.objects.create(
        title=title, normalized_title=normalized, arxiv_id=arxiv_id, doi=doi, source=source, **fields
    )
    return paper, True


def _values_disagree(a: float, b: float) -> bool:
    scale = max(abs(a), abs(b))
    return scale > 0 and abs(a - b) / scale > CONFLICT_RELATIVE_TOLERANCE


@transaction.atomic
def fact_record(
    *,
    source: SourceDocument,
    name: str,
    value: float | None,
    model: Model | None = None,
    paper: Paper | None = None,
    unit: str = "",
    text_value: str = "",
    lower: float | None = None,
    upper: float | None = None,
    confidence: float = 1.0,
    location: str = "",
    line: int | None = None,
    excerpt: str = "",
) -> Fact:
    """Store a fact. Same source+location again changes nothing; a disagreeing fact flags both sides."""
    if value is not None and not math.isfinite(value):
        raise ValueError(f"fact {name} has a non-finite value {value!r}")
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"fact {name} has confidence {confidence} outside 0..1")
    location = location or (f"line {line}" if line is not None else "")
    fact, created = Fact.objects.get_or_create(
        model=model,
        paper=paper,
        name=name,
        source=source,
        location=location,
        defaults={
            "value": value,
            "unit": unit,
            "text_value": text_value[:300],
            "lower": lower,
            "upper": upper,
            "confidence": confidence,
            "line": line,
            "excerpt": excerpt[:500],
        },
    )
    if created and value is not None:
        siblings = Fact.objects.filter(model=model, paper=paper, name=name, value__isnull=False).exclude(
            pk=fact.pk
        )
        disagreeing = [s.pk for s in siblings.only("pk", "value") if _values_disagree(s.value, value)]
        if disagreeing:
            Fact.objects.filter(pk__in=[*disagreeing, fact.pk]).update(conflicting=True)
            fact.conflicting = True
    return fact


def run_delete(*, actor: Any, run: TrainingRun) -> None:
    if not has_role(actor, run.team, Role.EDITOR):
        raise PermissionDenied("Deleting a run needs the editor role in its team.")
    run.delete()


def model_get_or_create(*, name: str, **defaults: Any) -> tuple[Model, bool]:
    return Model.objects.get_or_create(name=name, defaults=defaults)


@transaction.atomic
def series_summary_refresh(*, series_id: int) -> None:
    """Recompute a series' summary (count, step range, value range, last value) and its rollups."""
    points = MetricPoint.objects.filter(series_id=series_id)
    agg = points.aggregate(
        n=Count("step"),
        min_step=Min("step"),
        max_step=Max("step"),
        min_value=Min("value"),
        max_value=Max("value"),
    )
    last = points.order_by("-step").values_list("value", flat=True).first()
    MetricSeries.objects.filter(pk=series_id).update(
        n_points=agg["n"],
        min_step=agg["min_step"],
        max_step=agg["max_step"],
        min_value=agg["min_value"],
        max_value=agg["max_value"],
        last_value=last,
    )
    # Always rebuilt here: an upsert may change values without changing the summary the signature sees.
    series_rollup_build(series_id=series_id, force=True)


# A series this long gets precomputed M4 cells; a shorter one is scanned raw in a few milliseconds.
ROLLUP_MIN_POINTS = 50_000
# The finest level has 16k-32k cells, so a window of >= 1/16 of the series still spans >= 1,000 of them
# (enough for 2,000 points at 2 cells per bucket); levels stop before one would have < 128 cells.
ROLLUP_FINEST_CELLS = 16_384
ROLLUP_COARSEST_CELLS = 128


def rollup_levels_for_range(*, min_step: int, max_step: int) -> tuple[int, int]:
    """(finest, coarsest) level for a step range: level k has cells of 2**k steps, cell = step >> k."""
    span = max_step - min_step + 1
    finest = max(0, (span // ROLLUP_FINEST_CELLS).bit_length() - 1)
    coarsest = (span // ROLLUP_COARSEST_CELLS).bit_length() - 1
    return finest, max(finest, coarsest)


def series_rollup_signature(series: MetricSeries) -> str:
    """The summary a rollup is valid for; appended or replaced points change it."""
    parts = (
        series.n_points,
        series.min_step,
        series.max_step,
        series.min_value,
        series.max_value,
        series.last_value,
    )
    return "v1:" + ":".join(repr(p) for p in parts)


# Per cell: count, first/last point, and the point of the lowest and highest value with ties to the
# smallest step. NaN sorts above every number in PostgreSQL, so a NaN spike is kept as a maximum, as in
# `analytics.downsample.m4_downsample`.
_ROLLUP_FROM_POINTS_SQL = """
INSERT INTO tracker_metricseriesrollup (
    series_id, level, bucket, n_points, first_step, first_value, last_step, last_value,
    min_step, min_value, max_step, max_value
)
SELECT %(sid)s, %(level)s, cell, n, first_step, f[2], last_step, l[2], lo[2]::bigint, lo[1],
       (-hi[2])::bigint, hi[1]
FROM (
    SELECT step >> %(level)s AS cell,
           count(*) AS n,
           min(step) AS first_step,
           min(ARRAY[step::float8, value]) AS f,
           max(step) AS last_step,
           max(ARRAY[step::float8, value]) AS l,
           min(ARRAY[value, step::float8]) AS lo,
           max(ARRAY[value, -step::float8]) AS hi
    FROM tracker_metricpoint
    WHERE series_id = %(sid)s
    GROUP BY 1
) AS cells
"""
_ROLLUP_FROM_FINER_SQL = """
INSERT INTO tracker_metricseriesrollup (
    series_id, level, bucket, n_points, first_step, first_value, last_step, last_value,
    min_step, min_value, max_step, max_value
)
SELECT %(sid)s, %(level)s, cell, n, first_step, f[2], last_step, l[2], lo[2]::bigint, lo[1],
       (-hi[2])::bigint, hi[1]
FROM (
    SELECT bucket >> 1 AS cell,
           sum(n_points)::bigint AS n,
           min(first_step) AS first_step,
           min(ARRAY[first_step::float8, first_value]) AS f,
           max(last_step) AS last_step,
           max(ARRAY[last_step::float8, last_value]) AS l,
           min(ARRAY[min_value, min_step::float8]) AS lo,
           max(ARRAY[max_value, -max_step::float8]) AS hi
    FROM tracker_metricseriesrollup
    WHERE series_id = %(sid)s AND level = %(finer)s
    GROUP BY 1
) AS cells
"""


@transaction.atomic
def series_rollup_build(*, series_id: int, force: bool = False) -> MetricSeries:
    """(Re)build the rollup levels of a series: one INSERT ... SELECT per level, each from the finer one.

    Without `force` nothing is done when the stored signature already matches the summary, so concurrent
    lazy builders wait on the row lock and the second one finds the work done.
    """
    series = MetricSeries.objects.select_for_update().get(pk=series_id)
    signature = series_rollup_signature(series)
    if not force and series.rollup_signature == signature:
        return series
    MetricSeriesRollup.objects.filter(series_id=series_id).delete()
    levels: tuple[int, int] | None = None
    if (
        connection.vendor == "postgresql"
        and series.n_points >= ROLLUP_MIN_POINTS
        and series.min_step is not None
        and series.max_step is not None
    ):
        levels = rollup_levels_for_range(min_step=series.min_step, max_step=series.max_step)
        with connection.cursor() as cursor:
            # JIT compilation costs more than the aggregation itself for this query shape.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(_ROLLUP_FROM_POINTS_SQL, {"sid": series_id, "level": levels[0]})
            for level in range(levels[0] + 1, levels[1] + 1):
                cursor.execute(_ROLLUP_FROM_FINER_SQL, {"sid": series_id, "level": level, "finer": level - 1})
    series.rollup_signature = signature
    series.rollup_min_level = levels[0] if levels else None
    series.rollup_max_level = levels[1] if levels else None
    series.save(update_fields=["rollup_signature", "rollup_min_level", "rollup_max_level"])
    return series
