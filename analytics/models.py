"""Scaling-law studies and their fits. A fit is a versioned, immutable result; new evidence makes it stale."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.roles import TeamScopedQuerySet
from tracker.models import Team, TrainingRun


class Study(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="studies")
    name = models.CharField(max_length=200)
    # One of analytics.studies.registry.KINDS (validated by the services, which own the table of kinds).
    kind = models.CharField(max_length=32, help_text="a key of analytics.studies.registry.KINDS")
    runs = models.ManyToManyField(
        TrainingRun,
        blank=True,
        related_name="studies",
        help_text="explicit selection; empty = use run_filter",
    )
    # Conditions over whitelisted fields (analytics.studies.authoring.FIELDS), never ORM lookups.
    run_filter = models.JSONField(
        default=list,
        blank=True,
        help_text='conditions, all met: [{"field": "name", "op": "startswith", "value": "iso-"}, '
        '{"field": "status", "op": "is", "value": ["finished"]}]',
    )
    target_metric = models.CharField(
        max_length=200,
        default="final_loss",
        help_text="final_loss, or the name of a metric series (last value)",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='kind-specific: {"variable": "N"}, {"n_bootstrap": 100}, {"window": 2}, {"base": {...}}',
    )
    # Set when a refit is asked for (new runs, the Refit button), cleared when a fit lands: a refit whose
    # message was lost or whose worker died is published again by the sweep.
    refit_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["team", "name"]
        verbose_name_plural = "studies"
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="study_unique_team_name")]

    def __str__(self) -> str:
        return self.name


class Fit(models.Model):
    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        STALE = "stale", "Stale (newer evidence exists)"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="fits")
    version = models.PositiveIntegerField()
    inputs_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the fitted points, method and options"
    )
    method = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    ci = models.JSONField(
        default=dict, blank=True, help_text="level, per-parameter bounds, bootstrap samples"
    )
    residuals = models.JSONField(default=list, blank=True, help_text="[{run_id, x..., observed, residual}]")
    goodness = models.JSONField(default=dict, blank=True, help_text="r2, rmse_log, n_points")
    # Stored with the fit so pages, reports and the API read them without refitting (non-finite bounds are
    # stored as null: the data do not bound that side).
    intervals = models.JSONField(
        default=dict, blank=True, help_text="{name: {estimate, low, high, level, method, bounded}}"
    )
    derived = models.JSONField(
        default=list,
        blank=True,
        help_text="[{compute, label, values: {n_opt: interval, d_opt: ..., tokens_per_parameter: ...}}]",
    )
    warnings = models.JSONField(
        default=list, blank=True, help_text="plausibility warnings [{code, message, severity}]"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CURRENT)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "inputs_hash", "method"], name="fit_unique_inputs"),
            models.UniqueConstraint(fields=["study", "version"], name="fit_unique_version"),
            models.UniqueConstraint(
                fields=["study"], condition=Q(status="current"), name="fit_one_current_per_study"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study} v{self.version} ({self.status})"


class Report(models.Model):
    """A requested report; files are built in the worker and listed as ReportFile rows once all succeed."""

    class Scope(models.TextChoices):
        STUDY = "study", "Study"
        MODEL_FAMILY = "model_family", "Model family"
        RUN_SET = "run_set", "Run set"
        CATALOG = "catalog", "Whole catalog"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        PDF = "pdf", "PDF"
        HTML = "html", "HTML (offline, interactive)"
        CSV = "csv", "CSV"
        JSON = "json", "JSON"
        BIB = "bib", "BibTeX"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="reports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="empty for reports built by the weekly digest",
    )
    scope = models.CharField(max_length=20, choices=Scope.choices)
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"study_id": 3} | {"family": "llama"} | {"run_ids": [1, 2]} | {"since": iso, "until": ..}',
    )
    formats = models.JSONField(default=list, help_text='e.g. ["pdf", "html", "csv", "json", "bib"]')
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    digest_key = models.CharField(
        max_length=16, blank=True, help_text="ISO week (e.g. 2025-W03) for weekly digests; one per team"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "digest_key"], condition=~Q(digest_key=""), name="report_one_digest_per_week"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_le_100"),
        ]

    def __str__(self) -> str:
        return f"report {self.pk} ({self.scope}, {self.status})"


class ReportFile(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="files")
    format = models.CharField(max_length=5, choices=Report.Format.choices)
    path = models.CharField(max_length=300, help_text="relative to MEDIA_ROOT: reports/<id>/report.<ext>")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["report", "format"]
        constraints = [models.UniqueConstraint(fields=["report", "format"], name="reportfile_one_per_format")]

    def __str__(self) -> str:
        return self.path
