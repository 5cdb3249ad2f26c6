"""Reads for ingestion pages, always scoped to the user's teams (another team's job is a 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils import timezone

from core.roles import Role
from ingestion.models import IngestFile, IngestFileProgress, IngestJob
from tracker.models import Model as CatalogModel
from tracker.models import Paper, Team, TrainingRun

JOB_LIST_LIMIT = 200


def job_list(*, user: Any) -> QuerySet[IngestJob]:
    return IngestJob.objects.visible_to(user).select_related("team", "created_by")[:JOB_LIST_LIMIT]


def job_get(*, user: Any, job_id: int) -> IngestJob:
    return IngestJob.objects.select_related("team", "created_by").get_visible_or_404(user, job_id)


def job_files(job: IngestJob) -> QuerySet[IngestFile]:
    """The job's files with their live progress and what they wrote (4 queries whatever the count)."""
    return (
        job.files.order_by("pk")
        .select_related("progress")
        .prefetch_related(
            Prefetch("runs", queryset=TrainingRun.objects.only("pk", "name").order_by("pk")),
            Prefetch("papers", queryset=Paper.objects.only("pk", "title").order_by("pk")),
            Prefetch("catalog_models", queryset=CatalogModel.objects.only("pk", "name").order_by("pk")),
        )
    )


def file_outputs(file: IngestFile) -> list[dict[str, Any]]:
    """Links to the runs, papers and models a file wrote (prefetched by `job_files`)."""
    links = [
        {"kind": "run", "id": r.pk, "name": r.name, "url": reverse("runs:detail", args=[r.pk])}
        for r in file.runs.all()
    ]
    links += [
        {"kind": "paper", "id": p.pk, "name": p.title, "url": reverse("catalog:paper-detail", args=[p.pk])}
        for p in file.papers.all()
    ]
    links += [
        {"kind": "model", "id": m.pk, "name": m.name, "url": reverse("catalog:model-detail", args=[m.pk])}
        for m in file.catalog_models.all()
    ]
    return links


def file_progress(file: IngestFile, now: datetime | None = None) -> dict[str, Any] | None:
    """A running file's stage, rows stored of rows parsed, and seconds in its stage (None when idle)."""
    try:
        progress = file.progress
    except IngestFileProgress.DoesNotExist:
        return None
    now = now or timezone.now()
    return {
        "stage": progress.stage,
        "rows_done": progress.rows_done,
        "rows_total": progress.rows_total,
        "seconds": round(max((now - progress.stage_started_at).total_seconds(), 0.0), 1),
    }


def job_progress(job: IngestJob) -> dict[str, Any]:
    """The JSON the jobs page polls: totals, status, per-file errors (file, line, reason), live progress
    within a file and links to what each file wrote."""
    now = timezone.now()
    return {
        "id": job.pk,
        "team": job.team.slug,
        "source": job.source,
        "status": job.status,
        "files_total": job.files_total,
        "files_done": job.files_done,
        "bytes_total": job.bytes_total,
        "bytes_done": job.bytes_done,
        "rows_done": job.rows_done,
        "error_summary": job.error_summary,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "files": [
            {
                "id": f.pk,
                "name": f.original_name,
                "archive": f.parent_id,
                "status": f.status,
                "format": f.detected_format,
                "kind": f.kind,
                "size": f.size,
                "rows_done": f.rows_done,
                "sha256": f.sha256,
                "errors": f.errors,
                "progress": file_progress(f, now) if f.status == IngestFile.Status.RUNNING else None,
                "outputs": file_outputs(f),
            }
            for f in job_files(job)
        ],
    }


def team_for_upload(*, user: Any, team_ref: str) -> tuple[Team | None, bool]:
    """(team, may_write): a team the user cannot see at all is (None, False) so callers answer 404."""
    if not team_ref or "\x00" in team_ref or len(team_ref) > 100:
        return None, False  # no such slug can exist (and PostgreSQL cannot compare text holding NUL)
    visible = Team.objects.visible_to(user, Role.VIEWER)
    team = visible.filter(slug=team_ref).first()
    if team is None and team_ref.isdigit():
        team = visible.filter(pk=int(team_ref)).first()
    if team is None:
        return None, False
    return team, Team.objects.visible_to(user, Role.EDITOR).filter(pk=team.pk).exists()
