"""Writes to the shared catalog: typed functions with keyword-only arguments."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from tracker.accounts.models import Team
from tracker.catalog.models import (
    Fact,
    Hardware,
    HardwarePrice,
    Model,
    Organization,
    Paper,
    SourceDocument,
    Tag,
)

# Two facts about the same quantity disagree when they differ by more than this relative amount.
CONFLICT_RELATIVE_TOLERANCE = 0.02


def normalize_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()[:500]


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


def tag_get_or_create(*, name: str) -> Tag:
    tag, _ = Tag.objects.get_or_create(name=name.strip()[:64])
    return tag


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
        disagreeing = [
            s.pk
            for s in siblings.only("pk", "value")
            if s.value is not None and _values_disagree(s.value, value)
        ]
        if disagreeing:
            Fact.objects.filter(pk__in=[*disagreeing, fact.pk]).update(conflicting=True)
            fact.conflicting = True
    return fact


def model_get_or_create(*, name: str, **defaults: Any) -> tuple[Model, bool]:
    return Model.objects.get_or_create(name=name, defaults=defaults)
