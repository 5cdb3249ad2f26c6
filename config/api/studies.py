"""Studies (create, update, delete, refit) with their current fit, and fits (every version)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from analytics.fitting.errors import FitError
from analytics.models import Fit, Study
from analytics.studies import selectors, services
from analytics.studies.authoring import SpecError
from analytics.studies.registry import spec_from_data
from config.api import auth
from config.api.common import iso, paginate, team_visible
from config.api.errors import ERRORS, ApiError
from core.auth import has_role
from core.roles import Role

router = Router(tags=["studies"])


class FitOut(Schema):
    id: int
    study: int
    version: int
    status: str
    method: str
    params: dict[str, Any]
    ci: dict[str, Any]
    goodness: dict[str, Any]
    intervals: dict[str, Any] = Field(description="per name: estimate, low, high (null = open side)")
    derived: list[dict[str, Any]] = Field(description="quantities at budgets: N_opt, D_opt, tokens/param, r*")
    warnings: list[dict[str, Any]] = Field(description="plausibility warnings: code, message, severity")
    notes: list[str]
    error: str
    created_at: str


class StudyOut(Schema):
    id: int
    team: str
    name: str
    kind: str
    target_metric: str
    selection: dict[str, Any]
    options: dict[str, Any]
    refit: str
    fit: FitOut | None


class StudyPage(Schema):
    items: list[StudyOut]
    next_cursor: str | None


def fit_out(fit: Fit) -> dict[str, Any]:
    summary = selectors.fit_summary(fit)
    return {
        "id": fit.pk,
        "study": fit.study_id,
        "version": fit.version,
        "status": fit.status,
        "method": fit.method,
        "params": fit.params if isinstance(fit.params, dict) else {},
        "ci": fit.ci if isinstance(fit.ci, dict) else {},
        "goodness": fit.goodness if isinstance(fit.goodness, dict) else {},
        "intervals": summary["intervals"] if isinstance(summary["intervals"], dict) else {},
        "derived": [d for d in summary["derived"] if isinstance(d, dict)],
        "warnings": [w for w in summary["warnings"] if isinstance(w, dict)],
        "notes": summary["notes"],
        "error": fit.error_message,
        "created_at": iso(fit.created_at),
    }


def study_out(study: Study) -> dict[str, Any]:
    spec = selectors.study_spec(study)
    fit = selectors.fit_current(study) or selectors.fit_latest(study)
    return {
        "id": study.pk,
        "team": study.team.slug,
        "name": study.name,
        "kind": study.kind,
        "target_metric": study.target_metric,
        "selection": spec.as_data()["selection"],
        "options": dict(study.options) if isinstance(study.options, dict) else {},
        "refit": selectors.study_status(study)["state"],
        "fit": fit_out(fit) if fit is not None else None,
    }


def _study(request: HttpRequest, study_id: int) -> Study:
    try:
        return selectors.study_get(user=request.user, study_id=study_id)
    except Http404:
        raise ApiError(404, f"no study {study_id}") from None


class StudyIn(Schema):
    """A study spec (see analytics.studies.authoring): name, kind, selection ({"run_ids": [...]} or
    {"filter": [{"field", "op", "value"}]}), target_metric, options; plus the team on create."""

    team: str | None = Field(None, max_length=100)
    name: Any = None
    kind: Any = None
    selection: Any = None
    target_metric: Any = None
    options: Any = None


def _spec(body: StudyIn) -> Any:
    data = {k: v for k, v in body.dict().items() if k != "team" and v is not None}
    try:
        return spec_from_data(data)
    except SpecError as exc:
        raise ApiError(422, str(exc), detail=exc.errors) from None


def _spec_errors(exc: Exception) -> ApiError:
    if isinstance(exc, PermissionDenied):
        return ApiError(403, str(exc))
    if isinstance(exc, SpecError):
        return ApiError(422, str(exc), detail=exc.errors)
    return ApiError(422, str(exc))


@router.get("/studies/", response={200: StudyPage, **ERRORS}, auth=auth.READ, url_name="studies")
def studies(request: HttpRequest, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)) -> Any:
    return paginate(selectors.study_list(user=request.user), cursor=cursor, limit=limit, render=study_out)


@router.post("/studies/", response={201: StudyOut, **ERRORS}, auth=auth.WRITE, url_name="study-create")
def study_create(request: HttpRequest, body: StudyIn) -> Any:
    team = team_visible(request.user, body.team or "", Role.EDITOR)
    spec = _spec(body)
    try:
        study = services.study_author(user=request.user, team=team, spec=spec)
    except (PermissionDenied, SpecError, FitError) as exc:
        raise _spec_errors(exc) from None
    return Status(201, study_out(study))


@router.get("/studies/{study_id}/", response={200: StudyOut, **ERRORS}, auth=auth.READ, url_name="study")
def study(request: HttpRequest, study_id: int) -> Any:
    return study_out(_study(request, study_id))


@router.put(
    "/studies/{study_id}/", response={200: StudyOut, **ERRORS}, auth=auth.WRITE, url_name="study-update"
)
def study_update(request: HttpRequest, study_id: int, body: StudyIn) -> Any:
    found = _study(request, study_id)
    spec = _spec(body)
    try:
        updated = services.study_update(user=request.user, study=found, spec=spec)
    except (PermissionDenied, SpecError, FitError) as exc:
        raise _spec_errors(exc) from None
    return study_out(updated)


@router.delete(
    "/studies/{study_id}/", response={204: None, **ERRORS}, auth=auth.WRITE, url_name="study-delete"
)
def study_delete(request: HttpRequest, study_id: int) -> Any:
    try:
        services.study_delete(user=request.user, study=_study(request, study_id))
    except PermissionDenied as exc:
        raise ApiError(403, str(exc)) from None
    return Status(204, None)


@router.post(
    "/studies/{study_id}/refit/", response={202: StudyOut, **ERRORS}, auth=auth.WRITE, url_name="study-refit"
)
def study_refit(request: HttpRequest, study_id: int) -> Any:
    """Queue a refit (the worker fits; poll the study until `refit` is idle and `fit` is the new version)."""
    found = _study(request, study_id)
    if not has_role(request.user, found.team, Role.EDITOR):
        raise ApiError(403, "refitting needs the editor role in the study's team")
    services.study_refit_enqueue(study=found)
    found.refresh_from_db()
    return Status(202, study_out(found))


class FitPage(Schema):
    items: list[FitOut]
    next_cursor: str | None


@router.get("/studies/{study_id}/fits/", response={200: FitPage, **ERRORS}, auth=auth.READ, url_name="fits")
def fits(
    request: HttpRequest, study_id: int, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)
) -> Any:
    found = _study(request, study_id)
    return paginate(selectors.fits_for_study(found), cursor=cursor, limit=limit, render=fit_out)


@router.get("/fits/{fit_id}/", response={200: FitOut, **ERRORS}, auth=auth.READ, url_name="fit")
def fit(request: HttpRequest, fit_id: int) -> Any:
    visible = Fit.objects.filter(study__in=Study.objects.visible_to(request.user)).filter(pk=fit_id).first()
    if visible is None:
        raise ApiError(404, f"no fit {fit_id}")
    return fit_out(visible)
