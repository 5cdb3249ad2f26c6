"""The shared catalog: papers (full-text search, tags), models (with aliases where recorded), facts."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema

from config.api import auth
from config.api.common import finite, iso, paginate
from config.api.errors import ERRORS, ApiError
from tracker.catalog import selectors
from tracker.catalog.models import Fact, Model, Paper

router = Router(tags=["catalog"])


class PaperOut(Schema):
    id: int
    title: str
    arxiv_id: str | None
    doi: str | None
    authors: list[Any]
    published: str | None
    venue: str
    url: str
    tags: list[str]


class PaperDetail(PaperOut):
    abstract: str


class PaperPage(Schema):
    items: list[PaperOut]
    next_cursor: str | None


def paper_out(p: Paper, *, detail: bool = False) -> dict[str, Any]:
    out = {
        "id": p.pk,
        "title": p.title,
        "arxiv_id": p.arxiv_id,
        "doi": p.doi,
        "authors": p.authors if isinstance(p.authors, list) else [],
        "published": iso(p.published),
        "venue": p.venue,
        "url": p.url,
        "tags": [t.name for t in p.tags.all()],
    }
    if detail:
        out["abstract"] = p.abstract
    return out


@router.get("/papers/", response={200: PaperPage, **ERRORS}, auth=auth.READ, url_name="papers")
def papers(
    request: HttpRequest,
    q: str = Query("", max_length=500),
    tag: str = Query("", max_length=64),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    try:
        found = selectors.paper_search(q=q.replace("\x00", ""), tag=tag.replace("\x00", ""))
    except selectors.BadQuery as exc:
        raise ApiError(422, str(exc)) from None
    return paginate(found, cursor=cursor, limit=limit, render=paper_out)


@router.get("/papers/{paper_id}/", response={200: PaperDetail, **ERRORS}, auth=auth.READ, url_name="paper")
def paper(request: HttpRequest, paper_id: int) -> Any:
    try:
        return paper_out(selectors.paper_detail(paper_id), detail=True)
    except (Http404, Paper.DoesNotExist):
        raise ApiError(404, f"no paper {paper_id}") from None


class ModelOut(Schema):
    id: int
    name: str
    family: str
    organization: str | None
    release_date: str | None
    parameters: float | None
    active_parameters: float | None
    training_tokens: float | None
    gpu_hours: float | None
    license: str
    aliases: list[str]


class FactOut(Schema):
    id: int
    name: str
    model: int | None
    paper: int | None
    value: float | None
    text_value: str
    unit: str
    lower: float | None
    upper: float | None
    confidence: float
    conflicting: bool
    source: str
    source_kind: str
    location: str
    line: int | None
    excerpt: str


class ModelDetail(ModelOut):
    facts: list[FactOut]
    papers: list[int]


class ModelPage(Schema):
    items: list[ModelOut]
    next_cursor: str | None


def model_out(m: Model) -> dict[str, Any]:
    return {
        "id": m.pk,
        "name": m.name,
        "family": m.family,
        "organization": m.organization.name if m.organization is not None else None,
        "release_date": iso(m.release_date),
        "parameters": finite(m.parameters),
        "active_parameters": finite(m.active_parameters),
        "training_tokens": finite(m.training_tokens),
        "gpu_hours": finite(m.gpu_hours),
        "license": m.license,
        "aliases": [a.alias for a in selectors.model_aliases(m)],
    }


def fact_out(f: Fact) -> dict[str, Any]:
    return {
        "id": f.pk,
        "name": f.name,
        "model": f.model_id,
        "paper": f.paper_id,
        "value": finite(f.value),
        "text_value": f.text_value,
        "unit": f.unit,
        "lower": finite(f.lower),
        "upper": finite(f.upper),
        "confidence": f.confidence,
        "conflicting": f.conflicting,
        "source": f.source.name,
        "source_kind": f.source.kind,
        "location": f.location,
        "line": f.line,
        "excerpt": f.excerpt,
    }


@router.get("/models/", response={200: ModelPage, **ERRORS}, auth=auth.READ, url_name="models")
def models(
    request: HttpRequest,
    sort: str = Query("release", max_length=20),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    try:
        found = selectors.model_list(user=request.user, sort=sort)
    except selectors.BadQuery as exc:
        raise ApiError(422, str(exc)) from None
    return paginate(found, cursor=cursor, limit=limit, render=model_out)


@router.get("/models/{model_id}/", response={200: ModelDetail, **ERRORS}, auth=auth.READ, url_name="model")
def model(request: HttpRequest, model_id: int) -> Any:
    try:
        row, facts, papers = selectors.model_detail(model_id, request.user)
    except Http404:
        raise ApiError(404, f"no model {model_id}") from None
    return {**model_out(row.model), "facts": [fact_out(f) for f in facts], "papers": [p.pk for p in papers]}


class FactPage(Schema):
    items: list[FactOut]
    next_cursor: str | None


@router.get("/facts/", response={200: FactPage, **ERRORS}, auth=auth.READ, url_name="facts")
def facts(
    request: HttpRequest,
    name: str = Query("", max_length=64),
    model: int | None = Query(None, ge=1, le=2**62),
    paper: int | None = Query(None, ge=1, le=2**62),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    found = selectors.fact_list(
        user=request.user, name=name.replace("\x00", ""), model_id=model, paper_id=paper
    )
    return paginate(found, cursor=cursor, limit=limit, render=fact_out)
