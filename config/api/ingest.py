"""Uploads for ingestion (multipart) and ingest jobs with their progress (the JSON the pages poll)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from config.api import auth
from config.api.common import paginate
from config.api.errors import ERRORS
from ingestion import selectors, views

router = Router(tags=["ingest"])


class IngestAccepted(Schema):
    job: int
    status: str
    progress_url: str


class IngestFileOut(Schema):
    id: int
    name: str
    archive: int | None
    status: str
    format: str
    kind: str
    size: int
    rows_done: int
    sha256: str
    errors: list[Any]
    progress: dict[str, Any] | None
    outputs: list[dict[str, Any]]


class IngestJobOut(Schema):
    id: int
    team: str
    source: str
    status: str
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    rows_done: int
    error_summary: str
    created_at: str
    finished_at: str | None
    files: list[IngestFileOut]


class IngestJobPage(Schema):
    items: list[IngestJobOut]
    next_cursor: str | None


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["team", "files"],
                    "properties": {
                        "team": {"type": "string", "description": "team slug (editor role)"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    }
}


@router.post(
    "/ingest/",
    response={201: IngestAccepted, 413: ERRORS[400], **ERRORS},
    auth=auth.INGEST,
    url_name="ingest",
    openapi_extra=UPLOAD_BODY,
)
def ingest(request: HttpRequest) -> Any:
    """Files, folders' files and .zip/.tar.gz archives in one multipart request; returns the job (201).
    The body is read by the upload view's size-limited handlers (nothing is parsed before they are set)."""
    return views.api_upload_handle(request)


@router.get("/ingest/jobs/", response={200: IngestJobPage, **ERRORS}, auth=auth.READ, url_name="ingest-jobs")
def ingest_jobs(request: HttpRequest, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)) -> Any:
    jobs = selectors.job_list(user=request.user)
    return paginate(jobs, cursor=cursor, limit=limit, render=selectors.job_progress)


@router.get(
    "/ingest/jobs/{job_id}/", response={200: IngestJobOut, **ERRORS}, auth=auth.READ, url_name="ingest-job"
)
def ingest_job(request: HttpRequest, job_id: int) -> Any:
    return views.api_job(request, job_id)
