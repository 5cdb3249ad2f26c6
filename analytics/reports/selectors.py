"""Reads for reports, scoped by the user's teams: lists, progress JSON, files."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from analytics.models import Report, ReportFile, Study
from analytics.reports.scopes import ReportData, ReportScopeError, report_data
from tracker.models import TrainingRun

REPORT_LIST_LIMIT = 200


def report_list(*, user: Any) -> QuerySet[Report]:
    return (
        Report.objects.visible_to(user).select_related("team").prefetch_related("files")[:REPORT_LIST_LIMIT]
    )


SCOPE_RUN_NAMES = 6


def _run_words(ids: list[int], names: dict[int, str]) -> str:
    shown = ", ".join(f"{names.get(i, 'deleted run')} (#{i})" for i in ids[:SCOPE_RUN_NAMES])
    more = f" and {len(ids) - SCOPE_RUN_NAMES} more" if len(ids) > SCOPE_RUN_NAMES else ""
    return f"{len(ids)} run{'s' if len(ids) != 1 else ''}: {shown}{more}"


def report_scope_words(reports: list[Report]) -> dict[int, str]:
    """Each report's scope in words ("2 runs: a (#3), b (#4)", "study “Pythia power law”"), two queries."""
    run_ids = {
        int(i)
        for r in reports
        if r.scope == Report.Scope.RUN_SET
        for i in (r.params.get("run_ids") or [])[:SCOPE_RUN_NAMES]
    }
    study_ids = {r.params.get("study_id") for r in reports if r.scope == Report.Scope.STUDY}
    runs = dict(TrainingRun.objects.filter(pk__in=run_ids).values_list("pk", "name")) if run_ids else {}
    studies = dict(Study.objects.filter(pk__in=study_ids).values_list("pk", "name")) if study_ids else {}
    words: dict[int, str] = {}
    for r in reports:
        p = r.params
        if r.scope == Report.Scope.RUN_SET:
            words[r.pk] = _run_words([int(i) for i in p.get("run_ids") or []], runs)
        elif r.scope == Report.Scope.STUDY:
            words[r.pk] = f"study \u201c{studies.get(p.get('study_id'), 'deleted')}\u201d"
        elif r.scope == Report.Scope.MODEL_FAMILY:
            words[r.pk] = f"model family \u201c{p.get('family', '')}\u201d"
        else:
            since, until = str(p.get("since", ""))[:10], str(p.get("until", ""))[:10]
            words[r.pk] = f"changes {since} to {until}" if since and until else "changes in the last 7 days"
    return words


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
        "scope_text": report_scope_words([report])[report.pk],
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


DIGEST_LIST_LIMIT = 104  # two years of weeks per team


def digest_list(*, user: Any) -> QuerySet[Report]:
    """The weekly digests of the user's teams, newest week first."""
    return (
        Report.objects.visible_to(user)
        .exclude(digest_key="")
        .select_related("team")
        .prefetch_related("files")
        .order_by("-digest_key", "team__name")[:DIGEST_LIST_LIMIT]
    )


def digest_get(*, user: Any, report_id: int) -> tuple[Report, ReportData]:
    """One digest and what it says (read from its window again: stored rows only, no curves)."""
    report = report_get(user=user, report_id=report_id)
    if not report.digest_key:
        raise Http404(f"report {report_id} is not a weekly digest")
    try:
        return report, report_data(report, full=False)
    except ReportScopeError as exc:
        raise Http404(str(exc)) from exc
