"""Reads for ingestion pages, always scoped to the user's teams (another team's job is a 404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.roles import Role
from ingestion.models import IngestFile, IngestJob
from tracker.models import Team

JOB_LIST_LIMIT = 200


def job_list(*, user: Any) -> QuerySet[IngestJob]:
    return IngestJob.objects.visible_to(user).select_related("team", "created_by")[:JOB_LIST_LIMIT]


def job_get(*, user: Any, job_id: int) -> IngestJob:
    return IngestJob.objects.select_related("team", "created_by").get_visible_or_404(user, job_id)


def job_files(job: IngestJob) -> QuerySet[IngestFile]:
    return job.files.order_by("pk")


def job_progress(job: IngestJob) -> dict[str, Any]:
    """The JSON the jobs page polls: totals, status and per-file errors (file, line, reason)."""
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
