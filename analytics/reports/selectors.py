"""Reads for reports, scoped by the user's teams: lists, progress JSON, files."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from analytics.models import Report, ReportFile

REPORT_LIST_LIMIT = 200


def report_list(*, user: Any) -> QuerySet[Report]:
    return (
        Report.objects.visible_to(user).select_related("team").prefetch_related("files")[:REPORT_LIST_LIMIT]
    )


def report_get(*, user: Any, report_id: int) -> Report:
    return Report.objects.select_related("team").get_visible_or_404(user, report_id)


def report_file(*, report: Report, fmt: str) -> ReportFile:
    found = report.files.filter(format=fmt).first() if report.status == Report.Status.DONE else None
    if found is None:
        raise Http404(f"report {report.pk} has no {fmt} file")
    return found


def report_progress(report: Report, *, download_route: str = "reports:download") -> dict[str, Any]:
    """Status and files of a report; API callers get download URLs under /api/ (tokens work only there)."""
    files = (
        {
            f.format: {
                "url": reverse(download_route, args=[report.pk, f.format]),
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in report.files.all()
        }
        if report.status == Report.Status.DONE
        else {}
    )
    return {
        "id": report.pk,
        "team": report.team.slug,
        "scope": report.scope,
        "params": report.params,
        "formats": report.formats,
        "status": report.status,
        "status_label": report.get_status_display(),
        "progress": report.progress,
        "stage": report.stage,
        "error": report.error,
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "files": files,
    }
