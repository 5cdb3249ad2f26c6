"""Ingestion writes: jobs and files, mapping parsed records onto the catalog, webhook deliveries.

Every stored file is parsed fully first (pure, no database), then written in one transaction that also
marks the IngestFile done: a crash or a bad file leaves nothing half-written, and a redelivered task either
finds the file done (and does nothing) or redoes it from scratch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, models, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ingestion.copy import SeriesPoints, points_insert_new, points_upsert
from ingestion.models import IngestFile, IngestJob, WebhookDelivery
from ingestion.parsers.records import (
    FactRecord,
    MetricSeriesRecord,
    ModelCardRecord,
    PaperRecord,
    ParsedDocument,
    ParseError,
    PowerSummary,
    RunLogRecord,
    RunManifestRecord,
)
from tracker import services as tracker_services
from tracker.models import (
    Integration,
    MetricPoint,
    MetricSeries,
    Model,
    SourceDocument,
    Tag,
    Team,
    TrainingRun,
)

logger = logging.getLogger(__name__)

KNOWN_EVENTS = frozenset({"run.started", "run.metrics", "run.finished", "paper.added", "model.card"})
MAX_ERRORS_PER_FILE = 200
INGEST_FILE_TIME_LIMIT = 26 * 60  # the hard time limit of the ingest_file_process task, in seconds
_CHUNK = 1 << 20


class UploadTooLarge(ValueError):
    pass


# ---------------------------------------------------------------------------------------------- storage


def _ingest_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "ingest"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store_stream(chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, str, int]:
    """Write chunks to MEDIA_ROOT/ingest/<sha256>, hashing as they pass; refuse past max_bytes.

    Returns (relative path, sha256, size). The client's file name never becomes a path.
    """
    directory = _ingest_dir()
    tmp = directory / f".part-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"file is larger than the {max_bytes} byte limit")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        os.replace(tmp, directory / sha)
    finally:
        tmp.unlink(missing_ok=True)
    return f"ingest/{sha}", sha, size


def _read_stored(file: IngestFile) -> bytes:
    return (Path(settings.MEDIA_ROOT) / file.stored_path).read_bytes()


def _error(file: str, line: int | None, reason: str) -> dict[str, Any]:
    return {"file": file, "line": line, "reason": reason}


# ------------------------------------------------------------------------------------------ job creation


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
    stored: list[tuple[str, str, str, int, str]] = []  # name, path, sha, size, error
    for upload in uploads:
        name = os.path.basename(upload.name or "unnamed")[:500] or "unnamed"
        try:
            path, sha, size = _store_stream(upload.chunks(_CHUNK), max_bytes=max_bytes)
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
                f.errors = [_error(name, None, err)]
                f.finished_at = timezone.now()
            elif _already_ingested(team=team, sha256=sha):
                f.status = IngestFile.Status.DUPLICATE
                f.finished_at = timezone.now()
            f.save()
            if f.status == IngestFile.Status.QUEUED:
                to_enqueue.append(f.pk)
        job.files_total = len(stored)
        job.bytes_total = sum(s[3] for s in stored)
        job.save(update_fields=["files_total", "bytes_total"])
        _job_refresh(job_id=job.pk)
        if enqueue:
            _enqueue_files(to_enqueue)
    job.refresh_from_db()
    return job


def _already_ingested(*, team: Team, sha256: str) -> bool:
    return IngestFile.objects.filter(team=team, sha256=sha256, status=IngestFile.Status.DONE).exists()


def _enqueue_files(file_ids: list[int]) -> None:
    from ingestion import tasks  # tasks import services; the cycle is broken at call time

    for file_id in file_ids:
        transaction.on_commit(
            lambda fid=file_id: _publish(IngestFile, fid, lambda: tasks.ingest_file_process.delay(fid))
        )


# ------------------------------------------------------------------------------------------- outbox

# After a failed publish, skip the broker for this long: during an outage every request would otherwise
# wait out the socket timeouts again. Rows stay in the outbox and the sweep publishes them later.
_BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0
_broker_suspect = False


def _publish(model: type[models.Model], pk: int, send: Callable[[], object]) -> bool:
    """Publish one row's task; on failure mark the row unpublished (enqueued_at = NULL) and return False.

    Runs after the row's transaction committed, so the row exists whatever the broker does.
    """
    global _broker_down_until, _broker_suspect
    now = time.monotonic()
    if now < _broker_down_until:
        model._default_manager.filter(pk=pk).update(enqueued_at=None)
        return False
    if _broker_suspect:
        # Half-open: this caller probes the broker; concurrent callers keep skipping until it reports.
        _broker_down_until = now + _BROKER_BACKOFF_SECONDS
    try:
        send()
    # Any broker failure (timeout, refused, paused, auth) is handled alike: the row waits in the outbox.
    except Exception as exc:
        _broker_suspect = True
        _broker_down_until = time.monotonic() + _BROKER_BACKOFF_SECONDS
        logger.warning(
            "publishing %s %s failed (%s: %s); left in the outbox",
            model.__name__,
            pk,
            type(exc).__name__,
            exc,
        )
        model._default_manager.filter(pk=pk).update(enqueued_at=None)
        return False
    if _broker_suspect:
        _broker_suspect, _broker_down_until = False, 0.0
    return True


@dataclass(slots=True)
class OutboxSweep:
    deliveries: int = 0
    files: int = 0
    failed: int = 0


def outbox_requeue(*, grace_seconds: float, limit: int = 1000) -> OutboxSweep:
    """Re-publish deliveries still `received` and files still `queued` whose message never went out or has
    not been picked up within the grace period, and files abandoned while `running`. A row processed twice
    is harmless (claimed in the DB)."""
    from ingestion import tasks

    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    stale = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff)
    result = OutboxSweep()
    pending: list[tuple[type[models.Model], int, Callable[[int], object]]] = []
    delivery_pks = list(
        WebhookDelivery.objects.filter(stale, status=WebhookDelivery.Status.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    pending += [(WebhookDelivery, pk, tasks.webhook_delivery_process.delay) for pk in delivery_pks]
    # A file still `running` long past its task's hard time limit has no live task: its message was acked
    # without finishing (e.g. the retry could not be published). The claim lets a new task take it over.
    abandoned = Q(
        status=IngestFile.Status.RUNNING,
        started_at__lt=timezone.now() - timedelta(seconds=INGEST_FILE_TIME_LIMIT + grace_seconds),
    )
    file_pks = list(
        IngestFile.objects.filter((stale & Q(status=IngestFile.Status.QUEUED)) | abandoned)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    pending += [(IngestFile, pk, tasks.ingest_file_process.delay) for pk in file_pks]
    now = timezone.now()
    WebhookDelivery.objects.filter(pk__in=delivery_pks).update(enqueued_at=now)
    IngestFile.objects.filter(pk__in=file_pks).update(enqueued_at=now)
    for model, pk, delay in pending:
        if _publish(model, pk, lambda d=delay, p=pk: d(p)):
            if model is WebhookDelivery:
                result.deliveries += 1
            else:
                result.files += 1
        else:
            result.failed += 1
    if pending:
        logger.info("outbox sweep: %s", result)
    return result


def _transient_fault(delivery_id: str) -> None:
    """Tests make chosen deliveries fail transiently on every attempt (a poison task); unset in production."""
    prefix = os.environ.get("ISOFLOP_TEST_TRANSIENT_FAULT", "")
    if prefix and delivery_id.startswith(prefix):
        raise OperationalError(f"simulated transient fault for delivery {delivery_id}")


def webhook_delivery_park(*, delivery_pk: int, reason: str) -> None:
    """A delivery that kept failing transiently stops being retried; the reason stays on the row."""
    WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        status=WebhookDelivery.Status.FAILED, error=reason[:2000]
    )


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
            errors=[_error(file.original_name, None, reason)],
            finished_at=timezone.now(),
        )
        _job_refresh(job_id=file.job_id)


def _job_refresh(*, job_id: int) -> None:
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


# ------------------------------------------------------------------------------------------ processing


def _test_delay() -> None:
    """Tests make a task slow on purpose (to kill its worker mid-write); unset in production."""
    delay = float(os.environ.get("ISOFLOP_TEST_INGEST_DELAY", "0") or 0)
    if delay > 0:
        time.sleep(delay)


def ingest_file_process(*, file_id: int) -> None:
    """Parse and store one IngestFile. Safe to call again for the same file at any point."""
    # Claim: only a queued file, or one left running by a killed worker, is (re)started, and only while it
    # has attempts left: a file that kills its worker every time would otherwise be redelivered forever.
    max_attempts = settings.ISOFLOP_INGEST_MAX_ATTEMPTS
    claimed = IngestFile.objects.filter(
        pk=file_id,
        status__in=[IngestFile.Status.QUEUED, IngestFile.Status.RUNNING],
        attempts__lt=max_attempts,
    ).update(status=IngestFile.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now())
    if not claimed:
        if IngestFile.objects.filter(
            pk=file_id, status__in=[IngestFile.Status.QUEUED, IngestFile.Status.RUNNING]
        ).exists():
            ingest_file_park(file_id=file_id, reason=f"gave up after {max_attempts} attempts")
        return
    file = IngestFile.objects.select_related("job", "team").get(pk=file_id)
    _job_refresh(job_id=file.job_id)
    try:
        data = _read_stored(file)
    except OSError as exc:
        _file_fail(file, [_error(file.original_name, None, f"stored copy is unreadable: {exc}")])
        return

    from ingestion.parsers import archive as archive_parser

    if archive_parser.is_archive(file.original_name, data):
        _archive_expand(file, data)
        return
    try:
        from ingestion.parsers.dispatch import parse_document

        parsed = parse_document(file.original_name, data, max_bytes=settings.ISOFLOP_MAX_UPLOAD_BYTES)
    except ParseError as exc:
        _file_fail(file, [_error(exc.filename or file.original_name, exc.line, exc.reason)])
        return
    if parsed.kind == "run_log" and parsed.run_log is not None and not _has_external_id(parsed):
        parsed.run_log.manifest = _sibling_manifest(file) or parsed.run_log.manifest
    try:
        for attempt in (1, 2):
            try:
                _file_store(file, parsed)
                break
            except IntegrityError:
                if _already_ingested(team=file.team, sha256=file.sha256):
                    # The same content finished in another job of this team meanwhile: that result stands.
                    with transaction.atomic():
                        IngestFile.objects.filter(pk=file_id).update(
                            status=IngestFile.Status.DUPLICATE, finished_at=timezone.now()
                        )
                        _job_refresh(job_id=file.job_id)
                    return
                # Another task created the same run (external id) concurrently; once more finds it.
                if attempt == 2:
                    raise
    except (ValueError, IntegrityError) as exc:
        # Raised by catalog writes on values the parser let through (e.g. non-finite); the rollback above
        # already removed anything this file wrote.
        _file_fail(file, [_error(file.original_name, None, str(exc))])
        return
    _after_runs_landed(team_id=file.team_id, kind=parsed.kind)


def _file_store(file: IngestFile, parsed: ParsedDocument) -> None:
    with transaction.atomic():
        # The lock makes a concurrent second worker on the same file wait, then see it done.
        locked = IngestFile.objects.select_for_update().get(pk=file.pk)
        if locked.status != IngestFile.Status.RUNNING:
            return
        doc = tracker_services.source_document_get_or_create(
            kind=SourceDocument.Kind.UPLOAD,
            name=file.original_name,
            sha256=file.sha256,
            team=file.team,
            size_bytes=file.size,
        )
        rows = document_store(parsed=parsed, team=file.team, user=file.job.created_by, document=doc)
        _test_delay()
        row_errors = list(parsed.row_errors) + (list(parsed.run_log.row_errors) if parsed.run_log else [])
        # The dispatcher may repeat the run log's row errors at document level: report each once.
        unique = dict.fromkeys((e.line, e.reason) for e in row_errors)
        errors = [_error(file.original_name, line, reason) for line, reason in unique]
        IngestFile.objects.filter(pk=file.pk).update(
            status=IngestFile.Status.DONE,
            detected_format=parsed.fmt[:40],
            kind=parsed.kind[:20],
            rows_done=rows,
            errors=errors[:MAX_ERRORS_PER_FILE],
            document=doc,
            finished_at=timezone.now(),
        )
        _job_refresh(job_id=file.job_id)


def _has_external_id(parsed: ParsedDocument) -> bool:
    manifest = (parsed.run_log.manifest if parsed.run_log else None) or parsed.manifest
    return bool(manifest and manifest.external_id)


_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_MANIFEST_MAX_BYTES = 1 << 20


def _sibling_manifest(file: IngestFile) -> RunManifestRecord | None:
    """A log uploaded together with one manifest (same job, same archive) belongs to the manifest's run.

    Both files converge on the run by its external id whichever task runs first.
    """
    from ingestion.parsers.dispatch import parse_document

    found: list[RunManifestRecord] = []
    siblings = IngestFile.objects.filter(
        job_id=file.job_id, parent_id=file.parent_id, size__lte=_MANIFEST_MAX_BYTES
    )
    for sib in siblings.exclude(pk=file.pk).exclude(stored_path=""):
        if not sib.original_name.lower().endswith(_MANIFEST_SUFFIXES):
            continue
        try:
            parsed = parse_document(sib.original_name, _read_stored(sib))
        except (ParseError, OSError):
            continue  # the sibling's own task reports its error
        if parsed.kind == "manifest" and parsed.manifest is not None and parsed.manifest.external_id:
            found.append(parsed.manifest)
    return found[0] if len(found) == 1 else None


def _file_fail(file: IngestFile, errors: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        IngestFile.objects.filter(pk=file.pk, status=IngestFile.Status.RUNNING).update(
            status=IngestFile.Status.FAILED, errors=errors[:MAX_ERRORS_PER_FILE], finished_at=timezone.now()
        )
        _job_refresh(job_id=file.job_id)


def _archive_expand(file: IngestFile, data: bytes) -> None:
    """Unpack an archive into member IngestFiles (each parsed on its own); the archive itself is done."""
    from ingestion.parsers.archive import iter_archive_members

    members: list[tuple[str, str, str, int]] = []
    try:
        for name, content in iter_archive_members(
            file.original_name, data, max_total_bytes=settings.ISOFLOP_MAX_UNPACKED_BYTES
        ):
            path, sha, size = _store_stream([content], max_bytes=settings.ISOFLOP_MAX_UPLOAD_BYTES)
            members.append((name[:500], path, sha, size))
    except ParseError as exc:
        _file_fail(file, [_error(exc.filename or file.original_name, exc.line, exc.reason)])
        return
    except UploadTooLarge as exc:
        _file_fail(file, [_error(file.original_name, None, f"archive member: {exc}")])
        return
    with transaction.atomic():
        locked = IngestFile.objects.select_for_update().get(pk=file.pk)
        if locked.status != IngestFile.Status.RUNNING:
            return
        to_enqueue = []
        for name, path, sha, size in members:
            status = (
                IngestFile.Status.DUPLICATE
                if _already_ingested(team=file.team, sha256=sha)
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
        _job_refresh(job_id=file.job_id)
        _enqueue_files(to_enqueue)


def _after_runs_landed(*, team_id: int, kind: str) -> None:
    """New runs are new evidence: analytics marks the team's fits stale and queues refits (after commit)."""
    if kind not in ("run_log", "manifest"):
        return
    from analytics import services as analytics_services  # ingestion may import analytics, not the reverse

    analytics_services.enqueue_refits_for_runs(team_id=team_id)


# ---------------------------------------------------------------------------------- catalog mapping


def document_store(*, parsed: ParsedDocument, team: Team, user: Any, document: SourceDocument) -> int:
    """Write one parsed document into the catalog (caller holds the transaction). Returns rows written."""
    if parsed.kind == "papers":
        for rec in parsed.papers:
            paper_store(record=rec, source=document)
        return len(parsed.papers)
    if parsed.kind == "model_card" and parsed.model_card is not None:
        return model_card_store(record=parsed.model_card, source=document)
    if parsed.kind == "run_log" and parsed.run_log is not None:
        log = parsed.run_log
        labels = sorted({s.run for s in log.series})
        if len(labels) <= 1:
            run = _run_for_document(
                team=team, user=user, document=document, manifest=log.manifest or parsed.manifest
            )
            return run_log_store(run=run, record=log, source=document)
        # A long-format file holding several runs: one run per label, each keyed by (document, label).
        rows = 0
        for label in labels:
            run = _run_for_document(team=team, user=user, document=document, manifest=None, label=label)
            rows += series_store(run=run, series=[s for s in log.series if s.run == label], source=document)
        return rows
    if parsed.kind == "manifest" and parsed.manifest is not None:
        _run_for_document(team=team, user=user, document=document, manifest=parsed.manifest)
        return 1
    raise ValueError(f"parsed document of kind {parsed.kind!r} carries no records")


def paper_store(*, record: PaperRecord, source: SourceDocument) -> Any:
    paper, _ = tracker_services.paper_upsert(
        title=record.title,
        arxiv_id=record.arxiv_id or None,
        doi=record.doi or None,
        source=source,
        abstract=record.abstract,
        authors=list(record.authors),
        published=record.published,
        venue=record.venue,
        url=record.url,
        full_text=record.full_text,
        bibtex=record.bibtex,
    )
    for tag in record.tags:
        obj, _ = Tag.objects.get_or_create(name=tag[:64])
        paper.tags.add(obj)
    return paper


# Model fields a card may fill when they are still empty (facts themselves are always kept).
_MODEL_FACT_FIELDS = ("parameters", "active_parameters", "training_tokens", "gpu_hours")
_GPU_COUNT_PREFIX = re.compile(r"^\s*\d+\s*[x\u00d7]\s*", re.I)


def model_card_store(*, record: ModelCardRecord, source: SourceDocument) -> int:
    model, _ = tracker_services.model_get_or_create(name=record.name[:200])
    changed = []
    if not model.license and record.license:
        model.license = record.license[:100]
        changed.append("license")
    if not model.card and record.body:
        model.card = record.body
        changed.append("card")
    extra = {
        "base_model": record.base_model,
        "datasets": record.datasets,
        "tags": record.tags,
        "results": record.results,
        **record.metadata,
    }
    merged = {**{k: v for k, v in extra.items() if v}, **model.metadata}
    if merged != model.metadata:
        model.metadata = merged
        changed.append("metadata")
    for fact in record.facts:
        if fact.subject and fact.subject != model.name:
            # A card covering several sizes: the fact belongs to the named sibling, not the card's model.
            subject, _ = tracker_services.model_get_or_create(name=fact.subject[:200])
            _fact_store(fact, subject, source)
            continue
        _fact_store(fact, model, source)
        if fact.name in _MODEL_FACT_FIELDS and fact.value is not None and getattr(model, fact.name) is None:
            setattr(model, fact.name, fact.value)
            changed.append(fact.name)
        if fact.name == "hardware" and fact.text_value and model.hardware_id is None:
            # "8 x A100-40GB" names the accelerator after the count.
            hw_name = _GPU_COUNT_PREFIX.sub("", fact.text_value).strip()[:100]
            if hw_name:
                model.hardware = tracker_services.hardware_get_or_create(name=hw_name)
                changed.append("hardware")
        if fact.name == "release_date" and fact.text_value and model.release_date is None:
            released = _iso_date(fact.text_value)
            if released is not None:  # a partial date ("2024") stays a fact only
                model.release_date = released
                changed.append("release_date")
    if changed:
        model.save(update_fields=sorted(set(changed)))
    return 1 + len(record.facts)


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _fact_store(fact: FactRecord, model: Model, source: SourceDocument) -> None:
    tracker_services.fact_record(
        source=source,
        model=model,
        name=fact.name,
        value=fact.value,
        unit=fact.unit,
        text_value=fact.text_value,
        lower=fact.lower,
        upper=fact.upper,
        confidence=fact.confidence,
        location=fact.location,
        line=fact.line,
        excerpt=fact.excerpt,
    )


def _manifest_fields(manifest: RunManifestRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in (
        "parameters",
        "tokens",
        "unique_tokens",
        "gpu_count",
        "gpu_hours",
        "synthetic_share",
        "synthetic_epochs",
    ):
        value = getattr(manifest, key)
        if value is not None:
            fields[key] = value
    if manifest.precision:
        fields["precision"] = manifest.precision
    if manifest.data_sources:
        fields["data_sources"] = dict(manifest.data_sources)
    if manifest.config:
        fields["config"] = dict(manifest.config)
    if manifest.hardware:
        fields["hardware"] = tracker_services.hardware_get_or_create(name=manifest.hardware[:100])
    if manifest.model:
        fields["model"], _ = tracker_services.model_get_or_create(name=manifest.model[:200])
    if manifest.name:
        fields["name"] = manifest.name[:300]
    return fields


def run_upsert(
    *,
    team: Team,
    external_id: str,
    user: Any = None,
    source: SourceDocument | None = None,
    manifest: RunManifestRecord | None = None,
    **extra: Any,
) -> TrainingRun:
    """Create or update the team's run with this sender id; given fields overwrite, missing ones stay."""
    fields = {**(_manifest_fields(manifest) if manifest else {}), **extra}
    run = TrainingRun.objects.select_for_update().filter(team=team, external_id=external_id).first()
    if run is None:
        fields.setdefault("name", external_id)
        return TrainingRun.objects.create(
            team=team, external_id=external_id, created_by=user, source=source, **fields
        )
    for key, value in fields.items():
        setattr(run, key, value)
    if fields:
        run.save(update_fields=list(fields))
    return run


def _run_for_document(
    *,
    team: Team,
    user: Any,
    document: SourceDocument,
    manifest: RunManifestRecord | None,
    label: str = "",
) -> TrainingRun:
    if manifest is not None and manifest.external_id:
        return run_upsert(
            team=team, external_id=manifest.external_id[:200], user=user, source=document, manifest=manifest
        )
    fields = _manifest_fields(manifest) if manifest else {}
    name = label[:300] if label else fields.get("name", document.name[:300])
    fields["name"] = name
    # Keyed by the source document: storing the same document again rewrites its run instead of adding one.
    runs = TrainingRun.objects.filter(team=team, source=document)
    run = runs.filter(name=name).first() if label else runs.first()
    if run is not None:
        run.series.all().delete()
        for key, value in fields.items():
            setattr(run, key, value)
        run.save()
        return run
    return TrainingRun.objects.create(team=team, created_by=user, source=document, **fields)


def _power_store(run: TrainingRun, power: PowerSummary) -> None:
    run.energy_kwh = power.energy_kwh
    run.gpu_hours = power.gpu_hours
    if power.gpu_count and not run.gpu_count:
        run.gpu_count = power.gpu_count
    if power.gpu_name and run.hardware_id is None:
        run.hardware = tracker_services.hardware_get_or_create(name=power.gpu_name[:100])
    if power.start is not None and run.started_at is None:
        run.started_at = datetime.fromtimestamp(power.start, tz=UTC)
    if power.end is not None and run.finished_at is None:
        run.finished_at = datetime.fromtimestamp(power.end, tz=UTC)
    run.save(update_fields=["energy_kwh", "gpu_hours", "gpu_count", "hardware", "started_at", "finished_at"])


def run_log_store(*, run: TrainingRun, record: RunLogRecord, source: SourceDocument | None) -> int:
    """Series and points of one run log. New series take the COPY fast path; existing ones are upserted."""
    if record.power is not None:
        _power_store(run, record.power)
    return series_store(run=run, series=record.series, source=source)


def series_store(
    *, run: TrainingRun, series: Iterable[MetricSeriesRecord], source: SourceDocument | None
) -> int:
    fresh: list[SeriesPoints] = []
    overlapping: list[SeriesPoints] = []
    for rec in series:
        obj, created = MetricSeries.objects.get_or_create(
            run=run,
            name=rec.name[:200],
            defaults={"source": source, "first_line": rec.first_line, "last_line": rec.last_line},
        )
        pts = SeriesPoints.from_lists(
            series_id=obj.pk, steps=rec.steps, values=rec.values, wall_times=rec.wall_times
        )
        has_points = not created and MetricPoint.objects.filter(series_id=obj.pk).exists()
        (overlapping if has_points else fresh).append(pts)
    rows = 0
    if fresh:
        rows += points_insert_new(batches=fresh)
    if overlapping:
        rows += points_upsert(batches=overlapping)
    return rows


# ------------------------------------------------------------------------------------------- webhooks


@dataclass(slots=True)
class WebhookOutcome:
    status: int
    body: dict[str, Any]


def webhook_receive(
    *, integration: Integration, delivery_id: str, event_type: str, payload: dict[str, Any]
) -> WebhookOutcome:
    """Record a verified delivery (dedup on its id) and queue its processing after commit."""
    with transaction.atomic():
        delivery, created = WebhookDelivery.objects.select_for_update().get_or_create(
            integration=integration,
            delivery_id=delivery_id[:200],
            defaults={"event_type": event_type[:100], "payload": payload, "enqueued_at": timezone.now()},
        )
        if not created:
            if delivery.status in (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED):
                return WebhookOutcome(200, {"status": "duplicate", "delivery": delivery.delivery_id})
            if delivery.status == WebhookDelivery.Status.RECEIVED:
                return WebhookOutcome(202, {"status": "in progress", "delivery": delivery.delivery_id})
            # A failed delivery may be retried by the sender: take the new payload and run it again.
            delivery.status = WebhookDelivery.Status.RECEIVED
            delivery.payload = payload
            delivery.event_type = event_type[:100]
            delivery.error = ""
            delivery.enqueued_at = timezone.now()
            delivery.save(update_fields=["status", "payload", "event_type", "error", "enqueued_at"])
        if event_type not in KNOWN_EVENTS:
            logger.warning(
                "webhook %s from integration %s: unknown event type %r ignored",
                delivery_id,
                integration.slug,
                event_type,
            )
            delivery.status = WebhookDelivery.Status.IGNORED
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["status", "processed_at"])
            return WebhookOutcome(202, {"status": "ignored", "reason": f"unknown event type {event_type!r}"})
        from ingestion import tasks

        pk = delivery.pk
        transaction.on_commit(
            lambda: _publish(WebhookDelivery, pk, lambda: tasks.webhook_delivery_process.delay(pk))
        )
    return WebhookOutcome(202, {"status": "accepted", "delivery": delivery.delivery_id})


def webhook_delivery_process(*, delivery_pk: int) -> None:
    """Apply one delivery. It counts as processed only when its writes commit in the same transaction."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        attempts=F("attempts") + 1
    )
    if not claimed:
        return
    delivery = WebhookDelivery.objects.select_related("integration__team", "integration__created_by").get(
        pk=delivery_pk
    )
    label = f"webhook {delivery.delivery_id}"
    try:
        for attempt in (1, 2):
            try:
                with transaction.atomic():
                    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery_pk)
                    if locked.status != WebhookDelivery.Status.RECEIVED:
                        return
                    _transient_fault(delivery.delivery_id)
                    _webhook_apply(delivery)
                    WebhookDelivery.objects.filter(pk=delivery_pk).update(
                        status=WebhookDelivery.Status.PROCESSED, processed_at=timezone.now(), error=""
                    )
                break
            except IntegrityError:
                # run.started and run.metrics for a new run raced to create it; once more finds it.
                if attempt == 2:
                    raise
    except IntegrityError as exc:
        _delivery_fail(delivery_pk, f"{label}: conflicting write: {exc}")
        return
    except ParseError as exc:
        _delivery_fail(delivery_pk, str(exc.with_filename(label) if not exc.filename else exc))
        return
    except (ValueError, TypeError, KeyError) as exc:
        _delivery_fail(delivery_pk, f"{label}: {exc}")
        return
    if delivery.event_type in ("run.started", "run.metrics", "run.finished"):
        _after_runs_landed(team_id=delivery.integration.team_id, kind="run_log")


def _delivery_fail(delivery_pk: int, reason: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        status=WebhookDelivery.Status.FAILED, error=reason[:2000]
    )


def _payload_data(payload: dict[str, Any]) -> dict[str, Any]:
    # Standard Webhooks convention: {"type": ..., "timestamp": ..., "data": {...}}; bare objects also work.
    data = payload.get("data", payload)
    if not isinstance(data, dict):
        raise ValueError("payload 'data' must be a JSON object")
    return data


def _external_id(data: dict[str, Any]) -> str:
    value = data.get("external_id") or data.get("run_id")
    if not isinstance(value, str | int) or not str(value).strip():
        raise ValueError("payload needs the run's external_id")
    return str(value).strip()[:200]


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"{field} must be an ISO 8601 time or unix seconds")


def _finite_or_none(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return number


def _webhook_apply(delivery: WebhookDelivery) -> None:
    from ingestion.parsers.manifest import manifest_from_mapping
    from ingestion.parsers.runlogs import parse_metric_points

    integration = delivery.integration
    team = integration.team
    data = _payload_data(delivery.payload)
    label = f"webhook {delivery.delivery_id}"
    body = repr(sorted(delivery.payload.items())).encode()
    doc = tracker_services.source_document_get_or_create(
        kind=SourceDocument.Kind.WEBHOOK,
        name=label[:500],
        sha256=hashlib.sha256(f"{integration.pk}:{delivery.delivery_id}".encode() + body).hexdigest(),
        team=team,
        media_type="application/json",
    )
    event = delivery.event_type
    if event == "run.started":
        manifest = manifest_from_mapping(data, filename=label)
        external_id = manifest.external_id or _external_id(data)
        run_upsert(
            team=team,
            external_id=external_id,
            user=integration.created_by,
            source=doc,
            manifest=manifest,
            status=TrainingRun.Status.RUNNING,
            started_at=_parse_time(data.get("started_at"), "started_at") or delivery.received_at,
        )
    elif event == "run.metrics":
        external_id = _external_id(data)
        points = data.get("points")
        if not isinstance(points, list):
            raise ValueError("run.metrics needs a 'points' list")
        series = parse_metric_points(points, filename=label)
        run = run_upsert(team=team, external_id=external_id, user=integration.created_by, source=doc)
        series_store(run=run, series=series, source=doc)
    elif event == "run.finished":
        external_id = _external_id(data)
        status = data.get("status", TrainingRun.Status.FINISHED)
        if status not in (TrainingRun.Status.FINISHED, TrainingRun.Status.FAILED):
            raise ValueError(f"run.finished status must be 'finished' or 'failed', got {status!r}")
        fields: dict[str, Any] = {
            "status": status,
            "finished_at": _parse_time(data.get("finished_at"), "finished_at") or delivery.received_at,
        }
        for key in ("final_loss", "gpu_hours", "energy_kwh", "tokens"):
            value = _finite_or_none(data.get(key), key)
            if value is not None:
                fields[key] = value
        run_upsert(team=team, external_id=external_id, user=integration.created_by, source=doc, **fields)
    elif event == "paper.added":
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("paper.added needs a title")
        published = data.get("published")
        record = PaperRecord(
            title=title.strip(),
            abstract=str(data.get("abstract", "")),
            authors=[str(a) for a in data.get("authors", []) if isinstance(a, str)],
            arxiv_id=data.get("arxiv_id") or None,
            doi=data.get("doi") or None,
            published=datetime.fromisoformat(published).date() if isinstance(published, str) else None,
            venue=str(data.get("venue", "")),
            url=str(data.get("url", "")),
            tags=[str(t) for t in data.get("tags", []) if isinstance(t, str)],
        )
        paper_store(record=record, source=doc)
    elif event == "model.card":
        from ingestion.parsers.dispatch import parse_document

        text = data.get("markdown") or data.get("card")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("model.card needs the card's markdown text in 'markdown'")
        parsed = parse_document("README.md", text.encode())
        if parsed.model_card is None:
            raise ValueError("model.card text was not recognised as a model card")
        if isinstance(data.get("name"), str) and data["name"].strip():
            parsed.model_card.name = data["name"].strip()
        model_card_store(record=parsed.model_card, source=doc)
