"""Writes to the shared catalog: typed functions with keyword-only arguments."""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from datetime import date
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from tracker.accounts.models import Team
from tracker.catalog.linking import is_specific_key, paper_refs, text_ngrams
from tracker.catalog.models import (
    HTTP_URL,
    Fact,
    Hardware,
    HardwarePrice,
    Model,
    ModelAlias,
    ModelMerge,
    ModelPaperLink,
    Organization,
    Paper,
    SourceDocument,
    Tag,
)
from tracker.catalog.names import is_row_label, model_key

logger = logging.getLogger(__name__)

# Two facts about the same quantity disagree when they differ by more than this relative amount.
CONFLICT_RELATIVE_TOLERANCE = 0.02


def clean_http_url(url: str | None, *, what: str = "URL") -> str:
    """The URL when it is an absolute http(s) URL, else "" (logged): a `javascript:` link is never stored."""
    if not url:
        return ""
    candidate = url.strip()
    try:
        HTTP_URL(candidate)
    except ValidationError:
        logger.warning("dropped a %s that is not an http(s) URL: %r", what, candidate[:200])
        return ""
    return candidate


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
    url = clean_http_url(url, what="source URL")
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
    if "url" in fields:
        fields["url"] = clean_http_url(fields["url"], what="paper URL")
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
        if existing.title in _stub_titles(existing) and title not in _stub_titles(existing):
            # A paper first known only by the id a model card cited gets its real title.
            existing.title, existing.normalized_title = title, normalized
            changed += ["title", "normalized_title"]
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


def _stub_titles(paper: Paper) -> set[str]:
    return {f"arXiv:{paper.arxiv_id}", f"doi:{paper.doi}"}


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


# ---- model identity: aliases, resolution, merges ---------------------------------------------------------


class NotAModelName(ValueError):
    """A name that cannot name a model: empty, a table-row label ("Total") or only the upload's file name."""


def model_resolve(*, name: str, team: Team | None = None) -> Model | None:
    """The model this spelling names: the team's private reference first (when a team is given), then the
    shared catalog; None when no alias has its key."""
    key = model_key(name)
    if not key:
        return None
    aliases = ModelAlias.objects.filter(key=key).select_related("model")
    if team is not None:
        private = aliases.filter(team=team).first()
        if private is not None:
            return private.model
    shared = aliases.filter(team__isnull=True).first()
    return shared.model if shared is not None else None


def model_alias_add(
    *,
    model: Model,
    alias: str,
    source: str,
    document: SourceDocument | None = None,
    note: str = "",
) -> ModelAlias | None:
    """Record another name of `model`. The alias already naming this model is returned as is; a spelling
    that names another model is not taken (logged; an editor merges the two) and None is returned."""
    alias = " ".join(alias.split())[:300]
    key = model_key(alias)
    if not key:
        return None
    owner = (
        ModelAlias.objects.filter(key=key, team=model.team).exclude(model=model).values("model_id").first()
    )
    if owner is not None:
        logger.info("alias %r names model %s, not %s: not added", alias, owner["model_id"], model.pk)
        return None
    existing = ModelAlias.objects.filter(key=key, team=model.team, alias=alias).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            created = ModelAlias.objects.create(
                model=model,
                team=model.team,
                alias=alias,
                key=key,
                source=source,
                document=document,
                note=note,
            )
    except IntegrityError:  # another worker recorded the same spelling meanwhile
        return ModelAlias.objects.filter(key=key, team=model.team, alias=alias, model=model).first()
    alias_papers_suggest(alias=created)
    return created


def model_get_or_create(
    *,
    name: str,
    team: Team | None = None,
    aliases: dict[str, str] | None = None,
    document: SourceDocument | None = None,
    alias_source: str = ModelAlias.Source.NAME,
    **defaults: Any,
) -> tuple[Model, bool]:
    """The model `name` (or any of `aliases`: spelling -> alias source) resolves to, else a new one named
    `name`. `team` given: the team's private reference when neither the team nor the shared catalog knows the
    name. Every spelling given becomes an alias of the model (provenance: source and document)."""
    name = " ".join(name.split())[:200]
    if not model_key(name):
        raise NotAModelName(f"{name!r} has no letters or digits: not a model name")
    if is_row_label(name):
        raise NotAModelName(f"{name!r} is a table-row label, not a model")
    spellings = {name: alias_source, **(aliases or {})}
    found = next(
        (m for m in (model_resolve(name=s, team=team) for s in spellings) if m is not None),
        None,
    )
    created = False
    if found is None:
        found = Model.objects.filter(name=name, team=team).first()
    if found is None:
        try:
            with transaction.atomic():
                found = Model.objects.create(name=name, team=team, **defaults)
                created = True
        except IntegrityError:  # created by another worker meanwhile
            found = Model.objects.get(name=name, team=team)
    if found.team_id == (team.pk if team is not None else None):
        # A team's spellings of a shared model stay the team's: they never become shared-catalog names.
        for spelling, source in spellings.items():
            model_alias_add(model=found, alias=spelling, source=source, document=document)
    return found, created


# Model fields a merge fills on the survivor when the survivor has none.
_MERGE_FILL = (
    "family",
    "organization",
    "release_date",
    "parameters",
    "active_parameters",
    "training_tokens",
    "gpu_hours",
    "hardware",
    "license",
    "card",
)


def _facts_move(survivor: Model, loser: Model) -> int:
    """Facts move; a fact the survivor already holds (same name, source and location) is the same fact."""
    same = Fact.objects.filter(
        model=survivor,
        name=models.OuterRef("name"),
        source=models.OuterRef("source"),
        location=models.OuterRef("location"),
    )
    Fact.objects.filter(model=loser).filter(models.Exists(same)).delete()
    moved = Fact.objects.filter(model=loser).update(model=survivor)
    # Disagreements across the two sets are flagged as they would have been had they arrived on one model.
    by_name: dict[str, list[Fact]] = {}
    for fact in Fact.objects.filter(model=survivor, value__isnull=False).only("pk", "name", "value"):
        by_name.setdefault(fact.name, []).append(fact)
    flagged = [
        f.pk
        for facts in by_name.values()
        for f in facts
        if f.value is not None
        and any(o.value is not None and o.pk != f.pk and _values_disagree(o.value, f.value) for o in facts)
    ]
    if flagged:
        Fact.objects.filter(pk__in=flagged).update(conflicting=True)
    return moved


def _references_move(survivor: Model, loser: Model) -> dict[str, int]:
    """Every other row pointing at the loser (runs, ingest files, anything added later) points at the
    survivor, found through the model's relations so no app is imported here."""
    moved: dict[str, int] = {}
    handled = {Fact, ModelAlias, ModelPaperLink}
    for rel in Model._meta.get_fields(include_hidden=True):
        if not rel.auto_created or rel.concrete or rel.related_model in handled:
            continue
        related = rel.related_model
        if rel.many_to_many:
            through = rel.through  # type: ignore[union-attr]
            own = next(f for f in through._meta.fields if f.related_model is Model)
            other = next(f for f in through._meta.fields if f.is_relation and f is not own)
            rows = through._default_manager.filter(**{own.name: loser})
            existing = set(
                through._default_manager.filter(**{own.name: survivor}).values_list(other.attname, flat=True)
            )
            rows.filter(**{f"{other.attname}__in": existing}).delete()
            n = rows.update(**{own.name: survivor})
        elif rel.one_to_many and isinstance(related, type) and not related._meta.auto_created:
            # (an auto-created many-to-many table moves in the branch above, or as Model's own `papers`)
            field_name = rel.field.name  # type: ignore[union-attr]
            n = related._default_manager.filter(**{field_name: loser}).update(**{field_name: survivor})
        else:
            continue
        if n:
            moved[str(related._meta.verbose_name_plural) if isinstance(related, type) else str(related)] = n
    return moved


@transaction.atomic
def model_merge(*, survivor: Model, duplicate: Model, user: Any = None) -> ModelMerge:
    """Merge `duplicate` into `survivor`: facts, papers, runs and every other reference move; the survivor's
    empty fields take the duplicate's values; the duplicate's names become the survivor's aliases; a
    `ModelMerge` row keeps the provenance; the duplicate is deleted."""
    if survivor.pk == duplicate.pk:
        raise ValueError("a model cannot be merged into itself")
    if survivor.team_id != duplicate.team_id:
        raise ValueError(
            f"{duplicate.name!r} and {survivor.name!r} are not in the same catalog "
            "(a team's private model is merged only with another of the same team)"
        )
    locked = {m.pk: m for m in Model.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk])}
    if len(locked) != 2:
        raise ValueError("one of the models no longer exists (merged or deleted meanwhile)")
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    moved: dict[str, int] = {"facts": _facts_move(survivor, duplicate)}
    papers = list(duplicate.papers.all())
    survivor.papers.add(*papers)
    moved["papers"] = len(papers)
    ModelPaperLink.objects.filter(
        model=duplicate, paper__in=ModelPaperLink.objects.filter(model=survivor).values("paper")
    ).delete()
    ModelPaperLink.objects.filter(model=duplicate).update(model=survivor)
    changed = []
    for field in _MERGE_FILL:
        attname = f"{field}_id" if field in ("organization", "hardware") else field
        if not getattr(survivor, attname) and getattr(duplicate, attname):
            setattr(survivor, attname, getattr(duplicate, attname))
            changed.append(field)
    metadata = {**duplicate.metadata, **survivor.metadata}
    if metadata != survivor.metadata:
        survivor.metadata = metadata
        changed.append("metadata")
    if changed:
        survivor.save(update_fields=changed)
    note = f"merged from #{duplicate.pk} {duplicate.name}"[:300]
    moved["aliases"] = ModelAlias.objects.filter(model=duplicate).update(model=survivor)
    ModelAlias.objects.filter(model=survivor, alias=duplicate.name).update(note=note)
    moved |= _references_move(survivor, duplicate)
    merge = ModelMerge.objects.create(
        survivor=survivor, merged_name=duplicate.name, merged_id=duplicate.pk, moved=moved, merged_by=user
    )
    duplicate.papers.clear()
    duplicate.delete()
    model_alias_add(model=survivor, alias=duplicate.name, source=ModelAlias.Source.MERGE, note=note)
    logger.info("merged model %s into %s: %s", merge.merged_id, survivor.pk, moved)
    return merge


# ---- links between models and papers --------------------------------------------------------------------

# A link found with at least this confidence (a citation block, "our paper") stands without an editor.
CONFIRM_WITHOUT_EDITOR = 0.9


def paper_link_record(
    *,
    model: Model,
    paper: Paper,
    found_in: str,
    confidence: float,
    source: SourceDocument | None = None,
    line: int | None = None,
    evidence: str = "",
    confirmed: bool = False,
) -> ModelPaperLink:
    """Record a model <-> paper link (once per pair). A rejected link stays rejected; a later, surer finding
    raises the confidence and may confirm a suggestion. A confirmed link is also in `Model.papers`."""
    link, created = ModelPaperLink.objects.get_or_create(
        model=model,
        paper=paper,
        defaults={
            "found_in": found_in,
            "confidence": confidence,
            "source": source,
            "line": line,
            "evidence": evidence[:300],
            "status": ModelPaperLink.Status.CONFIRMED if confirmed else ModelPaperLink.Status.SUGGESTED,
        },
    )
    if not created and link.status != ModelPaperLink.Status.REJECTED and confidence > link.confidence:
        link.confidence, link.found_in, link.source, link.line = confidence, found_in, source, line
        link.evidence = evidence[:300]
        if confirmed:
            link.status = ModelPaperLink.Status.CONFIRMED
        link.save()
    if link.status == ModelPaperLink.Status.CONFIRMED:
        model.papers.add(paper)
    return link


def paper_link_decide(*, link: ModelPaperLink, confirm: bool, user: Any) -> ModelPaperLink:
    """An editor confirms (the paper joins the model's papers) or rejects (it leaves them) a link."""
    link.status = ModelPaperLink.Status.CONFIRMED if confirm else ModelPaperLink.Status.REJECTED
    link.decided_by, link.decided_at = user, timezone.now()
    link.save(update_fields=["status", "decided_by", "decided_at"])
    if confirm:
        link.model.papers.add(link.paper)
    else:
        link.model.papers.remove(link.paper)
    return link


def card_papers_link(*, model: Model, text: str, source: SourceDocument | None) -> list[ModelPaperLink]:
    """Links from a model card's text to the papers it cites (a paper known only by its id is added with
    the id as its title, filled in when the paper itself arrives)."""
    links = []
    for ref in paper_refs(text):
        if ref.kind == "arxiv":
            paper, _ = paper_upsert(
                title=f"arXiv:{ref.id}", arxiv_id=ref.id, url=f"https://arxiv.org/abs/{ref.id}", source=source
            )
        else:
            paper = (
                Paper.objects.filter(doi__iexact=ref.id).first()
                or paper_upsert(
                    title=f"doi:{ref.id}", doi=ref.id, url=f"https://doi.org/{ref.id}", source=source
                )[0]
            )
        links.append(
            paper_link_record(
                model=model,
                paper=paper,
                found_in=ModelPaperLink.Found.CARD,
                confidence=ref.confidence,
                source=source,
                line=ref.line,
                evidence=ref.excerpt,
                confirmed=ref.confidence >= CONFIRM_WITHOUT_EDITOR,
            )
        )
    return links


def paper_models_suggest(*, paper: Paper) -> list[ModelPaperLink]:
    """Suggestions (for an editor to confirm or reject) of the shared catalog's models a paper's title or
    abstract names by any alias specific enough ("Llama 3.1 405B", not "Llama")."""
    title_grams = text_ngrams(paper.title)
    grams = {g for g in title_grams | text_ngrams(paper.abstract) if is_specific_key(g)}
    if not grams:
        return []
    found: dict[int, ModelAlias] = {}
    for alias in ModelAlias.objects.filter(team__isnull=True, key__in=grams).select_related("model"):
        kept = found.get(alias.model_id)
        if kept is None or len(alias.key) > len(kept.key):
            found[alias.model_id] = alias
    return [_paper_suggestion(paper, alias, title_grams) for alias in found.values()]


# Papers a new alias is checked against at most (newest first): the prefilter is one indexed word.
ALIAS_PAPERS_MAX = 2_000


def alias_papers_suggest(*, alias: ModelAlias) -> list[ModelPaperLink]:
    """The other direction of `paper_models_suggest`: a specific name the shared catalog learns after papers
    naming it were stored (a model card arriving after its paper) suggests those papers, by the same rule.

    Candidates come from the papers' full-text index by the alias's longest word, then each is checked
    with the same name keys as `paper_models_suggest` (title or abstract, never the bare family name)."""
    if alias.team_id is not None or not is_specific_key(alias.key):
        return []
    words = sorted(re.findall(r"[^\W\d_]{3,}", alias.alias), key=len, reverse=True)
    if not words:
        return []
    query = SearchQuery(words[0], config="english", search_type="plain")
    candidates = Paper.objects.filter(search=query).order_by("-pk").only("pk", "title", "abstract", "source")
    links = []
    for paper in candidates[:ALIAS_PAPERS_MAX]:
        title_grams = text_ngrams(paper.title)
        if alias.key not in title_grams and alias.key not in text_ngrams(paper.abstract):
            continue
        links.append(_paper_suggestion(paper, alias, title_grams))
    return links


def _paper_suggestion(paper: Paper, alias: ModelAlias, title_grams: set[str]) -> ModelPaperLink:
    """The suggested link of a paper that names `alias` in its title (surer) or its abstract."""
    return paper_link_record(
        model=alias.model,
        paper=paper,
        found_in=ModelPaperLink.Found.PAPER,
        confidence=0.7 if alias.key in title_grams else 0.5,
        source=paper.source,
        evidence=_evidence(paper, alias, title_grams),
    )


def _evidence(paper: Paper, alias: ModelAlias, title_grams: set[str]) -> str:
    """Where the paper names the model: the title, or the abstract's sentence that does (as it spells it)."""
    if alias.key in title_grams:
        return f"title: {paper.title}"[:300]
    sentences = re.split(r"(?<=[.!?])\s+", paper.abstract)
    sentence = next((s for s in sentences if alias.key in text_ngrams(s)), alias.alias)
    return f"abstract: {sentence}"[:300]
