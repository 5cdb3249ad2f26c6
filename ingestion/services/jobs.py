"""Ingest jobs and their files: creation, per-file outcome, job totals and status."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from core.outbox import OutboxRow, publish_on_commit
from ingestion.models import IngestFile, IngestJob
from ingestion.services.storage import CHUNK, UploadTooLarge, file_error, store_stream
from tracker.models import Team

INGEST_FILE_TASK = "ingestion.ingest_file_process"
MAX_ERRORS_PER_FILE = 200


@dataclass(slots=True)
class RejectedUpload:
    """A file refused while it was streaming in (too large), reported on the job without being stored."""

    name: str
    reason: str
    size: int = 0


def ingest_job_create(
    *,
    team: Team,
    user: Any,
    source: str,
    uploads: Iterable[UploadedFile] = (),
    rejected: Iterable[RejectedUpload] = (),
    enqueue: bool = True,
) -> IngestJob:
    """Store uploaded files by content hash and create a job with one IngestFile each; tasks go on commit."""
    max_bytes = settings.ISOFLOP_MAX_UPLOAD_BYTES
    quota = settings.ISOFLOP_TEAM_QUOTA_BYTES
    used = team_storage_bytes(team=team)
    stored: list[tuple[str, str, str, int, str]] = []  # name, path, sha, size, error
    for upload in uploads:
        name = os.path.basename(upload.name or "unnamed")[:500] or "unnamed"
        size = upload.size or 0
        if used + size > quota:
            reason = f"team {team.slug} would exceed its storage quota of {quota} bytes ({used} used)"
            stored.append((name, "", "", size, reason))
            continue
        used += size
        try:
            path, sha, size = store_stream(upload.chunks(CHUNK), max_bytes=max_bytes)
            stored.append((name, path, sha, size, ""))
        except UploadTooLarge as exc:
            stored.append((name, "", "", upload.size or 0, str(exc)))
    for item in rejected:
        stored.append((item.name[:500], "", "", item.size, item.reason))

    with transaction.atomic():
        job = IngestJob.objects.create(team=team, created_by=user, source=source)
        to_enqueue: list[int] = []
        for name, path, sha, size, err in stored:
            f = IngestFile(
                job=job,
                team=team,
                original_name=name,
                stored_path=path,
                sha256=sha,
                size=size,
                enqueued_at=timezone.now() if enqueue else None,
            )
            if err:
                f.status = IngestFile.Status.FAILED
                f.errors = [file_error(name, None, err)]
                f.finished_at = timezone.now()
            elif already_ingested(team=team, sha256=sha):
                f.status = IngestFile.Status.DUPLICATE
                f.finished_at = timezone.now()
            f.save()
            if f.status == IngestFile.Status.QUEUED:
                to_enqueue.append(f.pk)
        job.files_total = len(stored)
        job.bytes_total = sum(s[3] for s in stored)
        job.save(update_fields=["files_total", "bytes_total"])
        job_refresh(job_id=job.pk)
        if enqueue:
            enqueue_files(to_enqueue)
    job.refresh_from_db()
    return job


def article_paste_job_create(*, team: Team, user: Any, title: str, text: str) -> IngestJob:
    """An editor's pasted article as a one-file upload job ("<title>.md"), parsed by the same worker path."""
    title = " ".join(title.split())[:300]
    if not title or not text.strip():
        raise ValueError("an article needs a title and its text")
    body = f"# {title}\n\n{text.replace(chr(13) + chr(10), chr(10))}\n".encode()
    name = (slugify(title)[:80] or "article") + ".md"
    return ingest_job_create(
        team=team, user=user, source=IngestJob.Source.UPLOAD, uploads=[SimpleUploadedFile(name, body)]
    )


def team_storage_bytes(*, team: Team) -> int:
    """Bytes of uploads the team keeps stored (top-level files; archive members are inside their archive)."""
    total = (
        IngestFile.objects.filter(team=team, parent__isnull=True)
        .exclude(stored_path="")
        .aggregate(n=Sum("size"))["n"]
    )
    return int(total or 0)


def already_ingested(*, team: Team, sha256: str) -> bool:
    return IngestFile.objects.filter(team=team, sha256=sha256, status=IngestFile.Status.DONE).exists()


def enqueue_files(file_ids: list[int]) -> None:
    """Publish each file's task after commit; a failed publish leaves the file for the outbox sweep."""
    for file_id in file_ids:
        publish_on_commit(INGEST_FILE_TASK, file_id, row=OutboxRow(IngestFile, file_id))


def ingest_file_park(*, file_id: int, reason: str) -> None:
    """A file that kept failing transiently (or killing its worker) is parked as failed with the reason."""
    with transaction.atomic():
        file = (
            IngestFile.objects.select_for_update()
            .filter(pk=file_id, status__in=[IngestFile.Status.QUEUED, IngestFile.Status.RUNNING])
            .first()
        )
        if file is None:
            return
        IngestFile.objects.filter(pk=file_id).update(
            status=IngestFile.Status.FAILED,
            errors=[file_error(file.original_name, None, reason)],
            finished_at=timezone.now(),
        )
        job_refresh(job_id=file.job_id)


def job_refresh(*, job_id: int) -> None:
    """Recompute a job's totals and status from its files (one aggregate, one update)."""
    with transaction.atomic():
        # Lock the job first: the aggregate below then sees every file that committed before us, so
        # two files finishing together cannot leave the job counting one of them as unfinished.
        IngestJob.objects.select_for_update().filter(pk=job_id).values_list("pk", flat=True).first()
        _job_refresh_locked(job_id)


def _job_refresh_locked(job_id: int) -> None:
    terminal = list(IngestFile.TERMINAL)
    members = IngestFile.objects.filter(job_id=job_id)
    agg = members.aggregate(
        total=Count("pk"),
        finished=Count("pk", filter=Q(status__in=terminal)),
        failed=Count("pk", filter=Q(status=IngestFile.Status.FAILED)),
        running=Count("pk", filter=Q(status=IngestFile.Status.RUNNING)),
        with_errors=Count("pk", filter=Q(status=IngestFile.Status.DONE) & ~Q(errors=[])),
        # Archive members are counted inside their archive's bytes, so only top-level files add bytes.
        bytes_done=Sum("size", filter=Q(status__in=terminal, parent__isnull=True)),
        rows_done=Sum("rows_done"),
    )
    if agg["finished"] < agg["total"]:
        status = IngestJob.Status.RUNNING if agg["running"] or agg["finished"] else IngestJob.Status.QUEUED
    elif agg["total"] and agg["failed"] == agg["total"]:
        status = IngestJob.Status.FAILED
    elif agg["failed"] or agg["with_errors"]:
        status = IngestJob.Status.PARTIAL
    else:
        status = IngestJob.Status.DONE
    failed_names = list(
        members.filter(status=IngestFile.Status.FAILED).values_list("original_name", flat=True)[:10]
    )
    summary = f"{agg['failed']} file(s) failed: {', '.join(failed_names)}" if agg["failed"] else ""
    now = timezone.now()
    finished = status in (IngestJob.Status.DONE, IngestJob.Status.FAILED, IngestJob.Status.PARTIAL)
    IngestJob.objects.filter(pk=job_id).update(
        files_total=agg["total"],
        files_done=agg["finished"],
        bytes_done=agg["bytes_done"] or 0,
        rows_done=agg["rows_done"] or 0,
        status=status,
        error_summary=summary,
        started_at=Coalesce(F("started_at"), Value(now)) if status != IngestJob.Status.QUEUED else None,
        finished_at=now if finished else None,
    )


def file_fail(file: IngestFile, errors: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        IngestFile.objects.filter(pk=file.pk, status=IngestFile.Status.RUNNING).update(
            status=IngestFile.Status.FAILED, errors=errors[:MAX_ERRORS_PER_FILE], finished_at=timezone.now()
        )
        job_refresh(job_id=file.job_id)
