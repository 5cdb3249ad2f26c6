"""Processing one stored file: claim it, parse it (pure), store it in one transaction, or fail it cleanly."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from analytics.studies.services import enqueue_refits_for_runs
from core import faults
from core.leases import LeaseBusy, fresh_lease_ids, lease_held
from ingestion.models import IngestFile, IngestFileProgress
from ingestion.parsers import archive as archive_parser
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import ParsedDocument, ParseError, RunManifestRecord
from ingestion.parsers.sandbox import Limits
from ingestion.services import progress
from ingestion.services.catalog import document_store
from ingestion.services.jobs import (
    MAX_ERRORS_PER_FILE,
    already_ingested,
    enqueue_files,
    file_fail,
    ingest_file_park,
    job_refresh,
)
from ingestion.services.storage import UploadTooLarge, file_error, read_stored, store_stream
from tracker.catalog import services as catalog_services
from tracker.models import SourceDocument

INGEST_FILE_TIME_LIMIT = 26 * 60  # the hard time limit of the ingest_file_process task, in seconds


def pdf_limits() -> Limits:
    """A PDF is parsed in a child process with these budgets (a crafted PDF can spin a parser for hours)."""
    return Limits(
        cpu_seconds=settings.ISOFLOP_PDF_CPU_SECONDS,
        memory_bytes=settings.ISOFLOP_PDF_MEMORY_BYTES,
        wall_seconds=float(settings.ISOFLOP_PDF_WALL_SECONDS),
    )


def ingest_file_process(*, file_id: int) -> None:
    """Parse and store one IngestFile. Safe to call again for the same file at any point.

    Raises LeaseBusy when another worker holds a fresh lease on the file (the caller retries later).
    """
    # Claim: only a queued file, or one left running by a worker whose lease expired (it died), is
    # (re)started, and only while it has attempts left: a file that kills its worker every time would
    # otherwise be redelivered forever.
    max_attempts = settings.ISOFLOP_INGEST_MAX_ATTEMPTS
    claimable = Q(status=IngestFile.Status.QUEUED) | (
        Q(status=IngestFile.Status.RUNNING) & ~Q(pk__in=fresh_lease_ids(IngestFile))
    )
    claimed = IngestFile.objects.filter(claimable, pk=file_id, attempts__lt=max_attempts).update(
        status=IngestFile.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not claimed:
        live = IngestFile.objects.filter(
            pk=file_id, status__in=[IngestFile.Status.QUEUED, IngestFile.Status.RUNNING]
        )
        if live.filter(status=IngestFile.Status.RUNNING, pk__in=fresh_lease_ids(IngestFile)).exists():
            raise LeaseBusy(f"ingest file {file_id} is being processed by another worker")
        if live.exists():
            ingest_file_park(file_id=file_id, reason=f"gave up after {max_attempts} attempts")
        return
    with lease_held(IngestFile, file_id):
        _process_claimed(file_id)


def _process_claimed(file_id: int) -> None:
    file = IngestFile.objects.select_related("job", "team").get(pk=file_id)
    job_refresh(job_id=file.job_id)
    with progress.tracking(file_id=file_id) as tracker:
        _file_process(file, tracker)


def _file_process(file: IngestFile, tracker: progress.FileTracker) -> None:
    file_id = file.pk
    tracker.stage(IngestFileProgress.Stage.READING)
    try:
        data = read_stored(file)
    except OSError as exc:
        file_fail(file, [file_error(file.original_name, None, f"stored copy is unreadable: {exc}")])
        return

    if archive_parser.is_archive(file.original_name, data):
        _archive_expand(file, data)
        return
    tracker.stage(IngestFileProgress.Stage.PARSING)
    try:
        parsed = parse_document(
            file.original_name, data, max_bytes=settings.ISOFLOP_MAX_UPLOAD_BYTES, pdf_limits=pdf_limits()
        )
    except ParseError as exc:
        file_fail(file, [file_error(exc.filename or file.original_name, exc.line, exc.reason)])
        return
    if parsed.kind == "run_log" and parsed.run_log is not None and not _has_external_id(parsed):
        parsed.run_log.manifest = _sibling_manifest(file) or parsed.run_log.manifest
    try:
        for attempt in (1, 2):
            try:
                tracker.outputs_clear()  # what a rolled-back attempt wrote is gone
                tracker.stage(IngestFileProgress.Stage.STORING, rows_total=_rows_total(parsed))
                _file_store(file, parsed, tracker)
                break
            except IntegrityError:
                if already_ingested(team=file.team, sha256=file.sha256):
                    # The same content finished in another job of this team meanwhile: that result stands.
                    with transaction.atomic():
                        IngestFile.objects.filter(pk=file_id).update(
                            status=IngestFile.Status.DUPLICATE, finished_at=timezone.now()
                        )
                        job_refresh(job_id=file.job_id)
                    return
                # Another task created the same run (external id) concurrently; once more finds it.
                if attempt == 2:
                    raise
    except (ValueError, IntegrityError) as exc:
        # Raised by catalog writes on values the parser let through (e.g. non-finite); the rollback above
        # already removed anything this file wrote.
        file_fail(file, [file_error(file.original_name, None, str(exc))])
        return
    tracker.rows_done = tracker.rows_total or tracker.rows_done
    tracker.stage(IngestFileProgress.Stage.DONE)
    after_runs_landed(team_id=file.team_id, kind=parsed.kind)


def _rows_total(parsed: ParsedDocument) -> int | None:
    """Rows the store will write, known once the parse is done (None when the kind has no row count)."""
    if parsed.kind == "run_log" and parsed.run_log is not None:
        return sum(len(s.steps) for s in parsed.run_log.series)
    if parsed.kind == "papers":
        return len(parsed.papers)
    if parsed.kind == "model_card" and parsed.model_card is not None:
        return 1 + len(parsed.model_card.facts)
    if parsed.kind == "article" and parsed.article is not None:
        return 1 + len(parsed.article.claims)
    return None


def _file_store(file: IngestFile, parsed: ParsedDocument, tracker: progress.FileTracker) -> None:
    with transaction.atomic():
        # The lock makes a concurrent second worker on the same file wait, then see it done.
        locked = IngestFile.objects.select_for_update().get(pk=file.pk)
        if locked.status != IngestFile.Status.RUNNING:
            return
        doc = catalog_services.source_document_get_or_create(
            kind=SourceDocument.Kind.UPLOAD,
            name=file.original_name,
            sha256=file.sha256,
            team=file.team,
            size_bytes=file.size,
        )
        rows = document_store(parsed=parsed, team=file.team, user=file.job.created_by, document=doc)
        faults.ingest_delay()
        row_errors = list(parsed.row_errors) + (list(parsed.run_log.row_errors) if parsed.run_log else [])
        # The dispatcher may repeat the run log's row errors at document level: report each once.
        unique = dict.fromkeys((e.line, e.reason) for e in row_errors)
        errors = [file_error(file.original_name, line, reason) for line, reason in unique]
        # Links to what the file wrote, in the same transaction as the writes.
        locked.runs.set(list(tracker.runs))
        locked.papers.set(list(tracker.papers))
        locked.catalog_models.set(list(tracker.models))
        IngestFile.objects.filter(pk=file.pk).update(
            status=IngestFile.Status.DONE,
            detected_format=parsed.fmt[:40],
            kind=parsed.kind[:20],
            rows_done=rows,
            errors=errors[:MAX_ERRORS_PER_FILE],
            document=doc,
            finished_at=timezone.now(),
        )
        job_refresh(job_id=file.job_id)


def _has_external_id(parsed: ParsedDocument) -> bool:
    manifest = (parsed.run_log.manifest if parsed.run_log else None) or parsed.manifest
    return bool(manifest and manifest.external_id)


_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_MANIFEST_MAX_BYTES = 1 << 20


def _sibling_manifest(file: IngestFile) -> RunManifestRecord | None:
    """A log uploaded together with one manifest (same job, same archive) belongs to the manifest's run.

    Both files converge on the run by its external id whichever task runs first.
    """
    found: list[RunManifestRecord] = []
    siblings = IngestFile.objects.filter(
        job_id=file.job_id, parent_id=file.parent_id, size__lte=_MANIFEST_MAX_BYTES
    )
    for sib in siblings.exclude(pk=file.pk).exclude(stored_path=""):
        if not sib.original_name.lower().endswith(_MANIFEST_SUFFIXES):
            continue
        try:
            parsed = parse_document(sib.original_name, read_stored(sib))
        except (ParseError, OSError):
            continue  # the sibling's own task reports its error
        if parsed.kind == "manifest" and parsed.manifest is not None and parsed.manifest.external_id:
            found.append(parsed.manifest)
    return found[0] if len(found) == 1 else None


def _archive_expand(file: IngestFile, data: bytes) -> None:
    """Unpack an archive into member IngestFiles (each parsed on its own); the archive itself is done."""
    members: list[tuple[str, str, str, int]] = []
    try:
        for name, content in archive_parser.iter_archive_members(
            file.original_name, data, max_total_bytes=settings.ISOFLOP_MAX_UNPACKED_BYTES
        ):
            path, sha, size = store_stream([content], max_bytes=settings.ISOFLOP_MAX_UPLOAD_BYTES)
            members.append((name[:500], path, sha, size))
    except ParseError as exc:
        file_fail(file, [file_error(exc.filename or file.original_name, exc.line, exc.reason)])
        return
    except UploadTooLarge as exc:
        file_fail(file, [file_error(file.original_name, None, f"archive member: {exc}")])
        return
    with transaction.atomic():
        locked = IngestFile.objects.select_for_update().get(pk=file.pk)
        if locked.status != IngestFile.Status.RUNNING:
            return
        to_enqueue = []
        for name, path, sha, size in members:
            status = (
                IngestFile.Status.DUPLICATE
                if already_ingested(team=file.team, sha256=sha)
                else IngestFile.Status.QUEUED
            )
            member, created = IngestFile.objects.get_or_create(
                parent=file,
                original_name=name,
                defaults={
                    "job_id": file.job_id,
                    "team_id": file.team_id,
                    "stored_path": path,
                    "sha256": sha,
                    "size": size,
                    "status": status,
                    "enqueued_at": timezone.now() if status == IngestFile.Status.QUEUED else None,
                },
            )
            if created and status == IngestFile.Status.QUEUED:
                to_enqueue.append(member.pk)
        IngestFile.objects.filter(pk=file.pk).update(
            status=IngestFile.Status.DONE,
            detected_format="archive",
            kind="archive",
            finished_at=timezone.now(),
        )
        job_refresh(job_id=file.job_id)
        enqueue_files(to_enqueue)


def after_runs_landed(*, team_id: int, kind: str) -> None:
    """New runs are new evidence: analytics marks the team's fits stale and queues refits (after commit)."""
    if kind not in ("run_log", "manifest"):
        return
    enqueue_refits_for_runs(team_id=team_id)
