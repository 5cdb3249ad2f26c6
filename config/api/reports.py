"""Reports: request (built by a worker), status with progress, list, download."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema

from analytics.reports import selectors, views
from config.api import auth
from config.api.common import paginate
from config.api.errors import ERRORS, ApiError, ErrorOut

router = Router(tags=["reports"])


class ReportFileOut(Schema):
    url: str
    size: int
    sha256: str


class ReportOut(Schema):
    id: int
    team: str
    scope: str
    params: dict[str, Any]
    formats: list[str]
    status: str
    status_label: str
    progress: int
    stage: str
    error: str
    created_at: str
    finished_at: str | None
    files: dict[str, ReportFileOut]


class ReportPage(Schema):
    items: list[ReportOut]
    next_cursor: str | None


REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["team", "scope"],
                    "properties": {
                        "team": {"type": "string"},
                        "scope": {"type": "string", "enum": ["study", "model_family", "run_set", "catalog"]},
                        "params": {"type": "object"},
                        "formats": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["pdf", "html", "csv", "json", "bib"]},
                        },
                    },
                }
            }
        },
    }
}

FILE_RESPONSE = {
    "responses": {
        "200": {
            "description": "the report file",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def _render(report: Any) -> dict[str, Any]:
    return selectors.report_progress(report, download_route=views.API_DOWNLOAD)


@router.get("/reports/", response={200: ReportPage, **ERRORS}, auth=auth.READ, url_name="report-list")
def reports(request: HttpRequest, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)) -> Any:
    return paginate(selectors.report_list(user=request.user), cursor=cursor, limit=limit, render=_render)


@router.post(
    "/reports/",
    response={202: ReportOut, **ERRORS},
    auth=auth.REPORTS,
    url_name="reports",
    openapi_extra=REQUEST_BODY,
)
def report_request(request: HttpRequest) -> Any:
    """Request a report; a worker builds it. Poll `GET /api/reports/<id>/` until status is done or failed."""
    return views.api_reports(request)


@router.get("/reports/{report_id}/", response={200: ReportOut, **ERRORS}, auth=auth.READ, url_name="report")
def report(request: HttpRequest, report_id: int) -> Any:
    return views.api_report(request, report_id)


@router.api_operation(
    ["POST", "PUT", "PATCH", "DELETE"],
    "/reports/{report_id}/",
    response={405: ErrorOut, **ERRORS},
    auth=auth.READ,
    url_name="report-read-only",
)
def report_read_only(request: HttpRequest, report_id: int) -> Any:
    """Reports are read-only: 405 for a report you can see, 404 (never a hint) for one you cannot."""
    return views.api_report(request, report_id)


def _download(request: HttpRequest, report_id: int, fmt: str) -> Any:
    try:
        return views.report_download(request, report_id, fmt)
    except Http404 as exc:
        raise ApiError(404, str(exc) or f"report {report_id} has no {fmt} file") from None


@router.get(
    "/reports/{report_id}/download/{fmt}/",
    response={**ERRORS},
    auth=auth.READ,
    url_name="report-download",
    openapi_extra=FILE_RESPONSE,
)
def report_download(request: HttpRequest, report_id: int, fmt: str) -> Any:
    return _download(request, report_id, fmt)


@router.get(
    "/reports/{report_id}/files/{fmt}",
    response={**ERRORS},
    auth=auth.READ,
    url_name="report-file",
    openapi_extra=FILE_RESPONSE,
)
def report_file(request: HttpRequest, report_id: int, fmt: str) -> Any:
    """The same file as `download/<fmt>/` (the SDK's path)."""
    return _download(request, report_id, fmt)
