"""Ingest jobs, the files in them and webhook deliveries: the bookkeeping that makes ingestion idempotent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.roles import TeamScopedQuerySet
from tracker.models import Integration, Paper, SourceDocument, Team, TrainingRun
from tracker.models import Model as CatalogModel


class IngestJob(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload page"
        API = "api", "REST API"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partly done"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ingest_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    error_summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"ingest job #{self.pk} ({self.status})"


class IngestFile(models.Model):
    """One file of a job, stored under MEDIA_ROOT/ingest/<sha256> (never under the client's name)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        DUPLICATE = "duplicate", "Already ingested"

    TERMINAL = (Status.DONE, Status.FAILED, Status.DUPLICATE)

    job = models.ForeignKey(IngestJob, on_delete=models.CASCADE, related_name="files")
    # Denormalised from the job so that "one done file per content per team" is a database constraint.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="members", help_text="archive"
    )
    original_name = models.CharField(max_length=500)
    stored_path = models.CharField(max_length=500, blank=True, help_text="relative to MEDIA_ROOT")
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    detected_format = models.CharField(max_length=40, blank=True)
    kind = models.CharField(max_length=20, blank=True)
    rows_done = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{file, line, reason}]")
    document = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)
    # What storing this file wrote (created or updated), for links on the job page; set in its transaction.
    runs = models.ManyToManyField(TrainingRun, blank=True, related_name="+")
    papers = models.ManyToManyField(Paper, blank=True, related_name="+")
    catalog_models = models.ManyToManyField(CatalogModel, blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    # The row is the outbox: set when its task is published, cleared when publishing failed, so the
    # sweeper re-publishes files whose message never reached the broker (or was lost there).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["enqueued_at"], condition=Q(status="queued"), name="ingestfile_outbox_pending"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "sha256"],
                condition=Q(status="done") & ~Q(sha256=""),
                name="ingestfile_one_done_per_team_content",
            ),
            models.UniqueConstraint(
                fields=["parent", "original_name"],
                condition=Q(parent__isnull=False),
                name="ingestfile_unique_archive_member",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name


class IngestFileProgress(models.Model):
    """Live progress of one file, written by `ingestion.services.progress` on its own autocommit connection:
    the file's transaction locks its IngestFile row until commit, and the job page must see progress before.

    No database FK (the writer must not wait for that row lock); Django still deletes it with its file."""

    class Stage(models.TextChoices):
        READING = "reading", "Reading"
        PARSING = "parsing", "Parsing"
        STORING = "storing", "Storing"
        DONE = "done", "Done"

    file = models.OneToOneField(
        IngestFile, primary_key=True, on_delete=models.CASCADE, db_constraint=False, related_name="progress"
    )
    stage = models.CharField(max_length=10, choices=Stage.choices)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(null=True, blank=True)
    stage_started_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.file_id}: {self.stage} {self.rows_done}/{self.rows_total}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored (unknown event)"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    # GitHub signs only the body and lets the sender choose the delivery id: a captured body must not
    # replay under new ids, so GitHub-scheme deliveries are also unique per body digest.
    scheme = models.CharField(max_length=10, default="standard")
    body_sha256 = models.CharField(max_length=64, blank=True)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Outbox marker, as on IngestFile: null means "not (successfully) published yet".
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["enqueued_at"], condition=Q(status="received"), name="webhookdelivery_outbox_pending"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "delivery_id"], name="webhookdelivery_unique_per_integration"
            ),
            models.UniqueConstraint(
                fields=["integration", "body_sha256"],
                condition=Q(scheme="github") & ~Q(body_sha256=""),
                name="webhookdelivery_github_unique_body",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.delivery_id}"


class ApiMetricBatch(models.Model):
    """One metrics batch posted to `POST /api/runs/<id>/metrics/` under its Idempotency-Key: the key is
    stored in the same transaction as the points, so a retried batch (lost answer, SDK spool sync) is
    recognised and stored exactly once."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    n_points = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="apimetricbatch_unique_run_key")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.key}"
