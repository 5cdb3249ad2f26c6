"""Runs and their series: list (the runs page's filters), detail, create/log/finish from code, edits."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils.text import slugify
from ninja import Field, Query, Router, Schema, Status

from config.api import auth
from config.api.common import finite, iso, paginate, team_visible
from config.api.errors import ERRORS, ApiError
from core.roles import Role
from ingestion.services import api_runs
from tracker.runs import selectors, services
from tracker.runs.curves import MAX_POINTS
from tracker.runs.models import MetricSeries, Precision, TrainingRun
from tracker.runs.series import reads
from tracker.runs.tables import COLUMNS

router = Router(tags=["runs"])


class SeriesInfo(Schema):
    name: str
    n_points: int
    min_step: int | None
    max_step: int | None
    last_value: float | None


class RunOut(Schema):
    id: int
    team: str
    name: str
    external_id: str
    status: str
    url: str
    parameters: float | None
    tokens: float | None
    final_loss: float | None
    final_loss_provenance: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    tags: list[str]
    notes: str
    config: dict[str, Any]
    series: list[SeriesInfo] | None = None


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None


def run_out(run: TrainingRun, *, series: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.pk,
        "team": run.team.slug,
        "name": run.name,
        "external_id": run.external_id,
        "status": run.status,
        "url": reverse("runs:detail", args=[run.pk]),
        "parameters": finite(run.parameters),
        "tokens": finite(run.tokens),
        "final_loss": finite(run.final_loss),
        "final_loss_provenance": run.final_loss_provenance,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "tags": [t.name for t in run.tags.all()],
        "notes": run.notes,
        "config": run.config if isinstance(run.config, dict) else {},
    }
    if series:
        out["series"] = [
            {
                "name": s.name,
                "n_points": s.n_points,
                "min_step": s.min_step,
                "max_step": s.max_step,
                "last_value": finite(s.last_value),
            }
            for s in MetricSeries.objects.filter(run=run).order_by("name")
        ]
    return out


# A number with an optional K/M/B/T suffix (tracker.runs.numbers); a sortable column, "-" for descending.
QUANTITY = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*[kKmMbBgGtTpPeE]?\s*$"
SORT = "^-?(" + "|".join(k for k, c in COLUMNS.items() if c.sort) + ")$"


class RunQuery(Schema):
    """The runs page's filters (README "Runs pages"), plus cursor pagination."""

    q: str | None = None
    name: str | None = None
    tag: list[str] = Field(default_factory=list)
    status: list[Literal["running", "finished", "failed", "imported"]] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    hardware: list[str] = Field(default_factory=list)
    team: list[str] = Field(default_factory=list)
    n_min: str | None = Field(None, pattern=QUANTITY)
    n_max: str | None = Field(None, pattern=QUANTITY)
    d_min: str | None = Field(None, pattern=QUANTITY)
    d_max: str | None = Field(None, pattern=QUANTITY)
    c_min: str | None = Field(None, pattern=QUANTITY)
    c_max: str | None = Field(None, pattern=QUANTITY)
    loss_min: str | None = Field(None, pattern=QUANTITY)
    loss_max: str | None = Field(None, pattern=QUANTITY)
    after: date | None = None
    before: date | None = None
    sort: str | None = Field(None, pattern=SORT)
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.get("/runs/", response={200: RunPage, **ERRORS}, auth=auth.READ, url_name="runs")
def runs_list(request: HttpRequest, query: Query[RunQuery]) -> Any:
    params = QueryDict(mutable=True)
    for key, value in query.dict().items():
        if key in ("cursor", "limit") or value in (None, [], ""):
            continue
        for v in value if isinstance(value, list) else [value]:
            params.appendlist(key, str(v))
    try:
        run_filter = selectors.RunFilter.from_query(params)
    except selectors.RunFilterError as exc:
        raise ApiError(
            422, "; ".join(f"{k}: {v}" for k, v in exc.errors.items()), detail=exc.errors
        ) from None
    runs = (
        selectors.runs_filtered(user=request.user, run_filter=run_filter)
        .select_related("team")
        .prefetch_related("tags")
    )
    return paginate(runs, cursor=query.cursor, limit=query.limit, render=run_out)


class RunIn(Schema):
    team: str = Field(..., max_length=100)
    name: str = Field(..., min_length=1, max_length=300)
    external_id: str | None = Field(None, max_length=200)
    parameters: float | None = Field(None, ge=0, allow_inf_nan=False)
    tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    unique_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    hardware: str | None = Field(None, max_length=100)
    gpu_count: int | None = Field(None, ge=0, le=10_000_000)
    precision: str | None = Field(None, max_length=8)
    model: str | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=20_000)
    config: dict[str, Any] | None = None
    tags: list[str] | None = Field(None, max_length=50)


@router.post("/runs/", response={200: RunOut, 201: RunOut, **ERRORS}, auth=auth.INGEST, url_name="run-create")
def run_create(request: HttpRequest, body: RunIn) -> Any:
    """Idempotent on (team, external_id): the same external id again returns the existing run (200)."""
    team = team_visible(request.user, body.team, Role.EDITOR)
    if "\x00" in body.name + (body.external_id or ""):
        raise ApiError(422, "NUL characters are not allowed")
    if body.precision and body.precision not in Precision.values:
        raise ApiError(422, f"precision: one of {', '.join(p for p in Precision.values if p)}")
    data = api_runs.RunCreate(
        name=body.name,
        external_id=body.external_id or "",
        parameters=body.parameters,
        tokens=body.tokens,
        unique_tokens=body.unique_tokens,
        hardware=body.hardware or "",
        gpu_count=body.gpu_count,
        precision=body.precision or "",
        model=body.model or "",
        notes=body.notes or "",
        config=body.config or {},
        tags=body.tags or (),
    )
    if not data.external_id:
        raise ApiError(422, "external_id: give the run a stable id (the SDK makes one up)", code="invalid")
    try:
        run, created = api_runs.run_create(user=request.user, team=team, data=data)
    except api_runs.RunInputError as exc:
        raise ApiError(422, str(exc), detail={exc.field: str(exc)}) from None
    return Status((201 if created else 200), run_out(run))


def _run(request: HttpRequest, run_id: int, role: str = Role.VIEWER) -> TrainingRun:
    runs = TrainingRun.objects.select_related("team")
    run = runs.visible_to(request.user, Role.VIEWER).filter(pk=run_id).first()
    if run is None:
        raise ApiError(404, f"no run {run_id}")
    if role != Role.VIEWER and not selectors.user_can_edit(user=request.user, run=run):
        raise ApiError(403, "this needs the editor role in the run's team")
    return run


@router.get("/runs/{run_id}/", response={200: RunOut, **ERRORS}, auth=auth.READ, url_name="run")
def run_detail(request: HttpRequest, run_id: int) -> Any:
    return run_out(_run(request, run_id), series=True)


class RunPatch(Schema):
    """Editor changes: tags to add/remove, notes, final loss (a number enters it; `clear_final_loss` drops
    the entered value and the run goes back to the computed one)."""

    add_tags: list[str] = Field(default_factory=list, max_length=50)
    remove_tags: list[str] = Field(default_factory=list, max_length=50)
    notes: str | None = Field(None, max_length=20_000)
    final_loss: float | None = Field(None, ge=0, allow_inf_nan=False)
    final_loss_note: str = Field("", max_length=300)
    clear_final_loss: bool = False


@router.patch("/runs/{run_id}/", response={200: RunOut, **ERRORS}, auth=auth.WRITE, url_name="run-update")
def run_update(request: HttpRequest, run_id: int, body: RunPatch) -> Any:
    run = _run(request, run_id, Role.EDITOR)
    try:
        for tag in body.add_tags:
            services.run_tag_add(actor=request.user, run=run, name=tag)
        for tag in body.remove_tags:
            services.run_tag_remove(actor=request.user, run=run, name=tag)
        if body.notes is not None:
            services.run_notes_set(actor=request.user, run=run, notes=body.notes.replace("\x00", ""))
        if body.clear_final_loss:
            run = services.run_final_loss_clear(actor=request.user, run=run)
        elif body.final_loss is not None:
            note = body.final_loss_note.replace("\x00", "")
            run = services.run_final_loss_enter(actor=request.user, run=run, value=body.final_loss, note=note)
    except services.RunEditError as exc:
        raise ApiError(422, str(exc)) from None
    return run_out(_run(request, run_id), series=True)


@router.delete("/runs/{run_id}/", response={204: None, **ERRORS}, auth=auth.WRITE, url_name="run-delete")
def run_delete(request: HttpRequest, run_id: int) -> Any:
    services.run_delete(actor=request.user, run=_run(request, run_id, Role.EDITOR))
    return Status(204, None)


class MetricsAccepted(Schema):
    accepted: int
    duplicate: bool


METRICS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["series"],
                    "properties": {
                        "series": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["steps", "values"],
                                "properties": {
                                    "steps": {"type": "array", "items": {"type": "integer"}},
                                    "values": {"type": "array", "items": {"type": ["number", "null"]}},
                                    "wall_times": {"type": "array", "items": {"type": ["number", "null"]}},
                                },
                            },
                        }
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "the same key again stores nothing and answers duplicate: true",
        }
    ],
}


@router.post(
    "/runs/{run_id}/metrics/",
    response={200: MetricsAccepted, 413: ERRORS[400], **ERRORS},
    auth=auth.INGEST,
    url_name="run-metrics",
    openapi_extra=METRICS_BODY,
)
def run_metrics(request: HttpRequest, run_id: int) -> Any:
    """One columnar batch: `{"series": {name: {steps, values, wall_times?}}}`, at most 100,000 points.
    Stored exactly once per Idempotency-Key (the key commits with the points)."""
    run = _run(request, run_id, Role.EDITOR)
    try:
        body = json.loads(request.body or b"null")
    except RequestDataTooBig:
        raise ApiError(413, "the body is too large; send at most 100,000 points per request") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"body is not JSON: {exc}", code="invalid_json") from None
    key = request.headers.get("Idempotency-Key", "")
    try:
        outcome = api_runs.run_metrics_log(user=request.user, run=run, key=key, body=body)
    except api_runs.TooManyPoints as exc:
        raise ApiError(413, str(exc), code="too_many_points") from None
    except api_runs.RunInputError as exc:
        raise ApiError(422, str(exc), detail={exc.field: str(exc)}) from None
    return {"accepted": outcome.accepted, "duplicate": outcome.duplicate}


class FinishIn(Schema):
    status: str = "finished"
    final_loss: float | None = Field(None, ge=0, allow_inf_nan=False)
    summary: dict[str, Any] = Field(default_factory=dict)


@router.post(
    "/runs/{run_id}/finish/", response={200: RunOut, **ERRORS}, auth=auth.INGEST, url_name="run-finish"
)
def run_finish(request: HttpRequest, run_id: int, body: FinishIn) -> Any:
    run = _run(request, run_id, Role.EDITOR)
    try:
        run = api_runs.run_finish(
            user=request.user, run=run, status=body.status, final_loss=body.final_loss, summary=body.summary
        )
    except api_runs.RunInputError as exc:
        raise ApiError(422, str(exc), detail={exc.field: str(exc)}) from None
    return run_out(_run(request, run_id), series=True)


# -- series ------------------------------------------------------------------------------------------------


def _series(request: HttpRequest, run_id: int, name: str) -> tuple[TrainingRun, MetricSeries]:
    run = _run(request, run_id)
    series = MetricSeries.objects.filter(run=run, name=name[:200]).first() if "\x00" not in name else None
    if series is None:
        raise ApiError(404, f"run {run_id} has no series {name[:200]!r}")
    return run, series


class WindowOut(Schema):
    name: str
    steps: list[int]
    values: list[float | None]
    shown: int
    total: int
    x0: int | None
    x1: int | None


@router.get(
    "/runs/{run_id}/series/{path:name}/window",
    response={200: WindowOut, **ERRORS},
    auth=auth.READ,
    url_name="series-window",
)
def series_window(
    request: HttpRequest,
    run_id: int,
    name: str,
    x0: int | None = Query(None, ge=-(2**62), le=2**62),
    x1: int | None = Query(None, ge=-(2**62), le=2**62),
    points: int = Query(1000, ge=1, le=MAX_POINTS),
) -> Any:
    """At most ~`points` points of [x0, x1], M4-downsampled on the server (spikes kept)."""
    if x0 is not None and x1 is not None and x1 < x0:
        raise ApiError(422, "x1 must be >= x0")
    _run_obj, series = _series(request, run_id, name)
    window = reads.series_window(series=series, x0=x0, x1=x1, points=points)
    return {"name": series.name, **window.as_dict()}


CSV_RESPONSE = {
    "responses": {
        "200": {
            "description": "step,value,wall_time",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


@router.get(
    "/runs/{run_id}/series/{path:name}/csv",
    response={**ERRORS},
    auth=auth.READ,
    url_name="series-csv",
    openapi_extra=CSV_RESPONSE,
)
def series_csv(request: HttpRequest, run_id: int, name: str) -> Any:
    """Every point, exact, streamed as CSV (`step,value,wall_time`)."""
    run, series = _series(request, run_id, name)
    response = StreamingHttpResponse(
        reads.series_csv_chunks(series=series), content_type="text/csv; charset=utf-8"
    )
    filename = f"{slugify(run.name) or 'run'}-{slugify(series.name) or 'series'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
