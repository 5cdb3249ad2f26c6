"""Training runs of a team and their metric series (points in a narrow table, M4 rollups)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.roles import TeamScopedQuerySet
from tracker.accounts.models import Team
from tracker.catalog.models import Hardware, Model, SourceDocument


class Precision(models.TextChoices):
    FP32 = "fp32", "FP32"
    TF32 = "tf32", "TF32"
    BF16 = "bf16", "BF16"
    FP16 = "fp16", "FP16"
    FP8 = "fp8", "FP8"
    FP4 = "fp4", "FP4"
    INT8 = "int8", "INT8"
    INT4 = "int4", "INT4"
    UNKNOWN = "", "Unknown"


class FinalLossSource(models.TextChoices):
    COMPUTED = "computed", "computed from the curves"
    ENTERED = "entered", "entered by an editor"
    REPORTED = "reported", "reported with the run"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        IMPORTED = "imported", "Imported"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=300)
    external_id = models.CharField(max_length=200, blank=True, help_text="id at the sender (W&B, cluster)")
    model = models.ForeignKey(Model, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IMPORTED)
    parameters = models.FloatField(null=True, blank=True, help_text="N")
    tokens = models.FloatField(null=True, blank=True, help_text="D, tokens seen")
    unique_tokens = models.FloatField(null=True, blank=True, help_text="U, unique tokens (data-constrained)")
    hardware = models.ForeignKey(Hardware, null=True, blank=True, on_delete=models.SET_NULL)
    gpu_count = models.PositiveIntegerField(null=True, blank=True)
    gpu_hours = models.FloatField(null=True, blank=True)
    energy_kwh = models.FloatField(null=True, blank=True)
    precision = models.CharField(max_length=8, choices=Precision.choices, blank=True)
    synthetic_share = models.FloatField(null=True, blank=True, help_text="r, share of synthetic tokens 0..1")
    synthetic_epochs = models.FloatField(null=True, blank=True)
    data_sources = models.JSONField(default=dict, blank=True, help_text="mixture: source label -> share")
    final_loss = models.FloatField(null=True, blank=True)
    # Provenance of final_loss (see `final_loss_provenance`): the rule's value is kept on its own, so a value
    # written by anyone else (a sender's run.finished, a reference table) is never mistaken for it.
    final_loss_source = models.CharField(max_length=10, choices=FinalLossSource.choices, blank=True)
    final_loss_computed = models.FloatField(null=True, blank=True, help_text="tracker.runs.metrics rule")
    final_loss_rule = models.CharField(max_length=300, blank=True, help_text="how: rule, or editor's note")
    final_loss_entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    final_loss_entered_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    notes_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes_updated_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "external_id"], condition=~Q(external_id=""), name="run_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(synthetic_share__isnull=True)
                | (Q(synthetic_share__gte=0) & Q(synthetic_share__lte=1)),
                name="run_synthetic_share_0_1",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def training_flops(self) -> float | None:
        if self.parameters and self.tokens:
            return 6.0 * self.parameters * self.tokens
        return None

    @property
    def final_loss_provenance(self) -> str:
        """Where final_loss came from: entered, computed (still the rule's value), reported, or "" (none)."""
        if self.final_loss is None:
            return ""
        if self.final_loss_source == FinalLossSource.ENTERED:
            return FinalLossSource.ENTERED
        if self.final_loss_source == FinalLossSource.COMPUTED and self.final_loss == self.final_loss_computed:
            return FinalLossSource.COMPUTED
        return FinalLossSource.REPORTED


class RunTag(models.Model):
    """A label on a run ("baseline", "lr-sweep-3"); lower case, unique per run."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="runtag_unique_run_name")]
        indexes = [models.Index(fields=["name"], name="runtag_name")]

    def __str__(self) -> str:
        return self.name


class MetricSeries(models.Model):
    """One named metric of one run; its points live in the narrow MetricPoint table."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="series")
    name = models.CharField(max_length=200)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)
    first_line = models.PositiveIntegerField(null=True, blank=True)
    last_line = models.PositiveIntegerField(null=True, blank=True)
    n_points = models.BigIntegerField(default=0)
    min_step = models.BigIntegerField(null=True, blank=True)
    max_step = models.BigIntegerField(null=True, blank=True)
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    # The summary the rollup rows were built from; when it differs from the columns above they are stale.
    rollup_signature = models.CharField(max_length=255, blank=True, default="")
    # Rollup levels present (cells of 2**level steps); null when the series is short enough to read raw.
    rollup_min_level = models.PositiveSmallIntegerField(null=True, blank=True)
    rollup_max_level = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="series_unique_run_name")]
        verbose_name_plural = "metric series"

    def __str__(self) -> str:
        return f"{self.run}:{self.name}"


class MetricPoint(models.Model):
    """Narrow table designed for COPY: (series, step) is the key, no surrogate id, no per-row provenance."""

    pk = models.CompositePrimaryKey("series_id", "step")
    # No database FK and no separate index: the composite key (series_id, step) already indexes series_id,
    # and a per-row FK trigger at commit was most of the cost of a 1M-point COPY. Points are only written by
    # ingestion.copy for a series created in the same transaction, and Django's cascade deletes them with
    # their series (one DELETE ... WHERE series_id IN ...).
    series = models.ForeignKey(
        MetricSeries, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    step = models.BigIntegerField()
    value = models.FloatField()
    wall_time = models.FloatField(null=True, blank=True)

    class Meta:
        managed = True

    def __str__(self) -> str:
        return f"{self.series_id}@{self.step}={self.value}"


class MetricSeriesRollup(models.Model):
    """M4 summary of one aligned cell of 2**level steps of a series: what long-curve requests read.

    Built by `tracker.services.series_rollup_build`, one INSERT ... SELECT per level; a window of a long
    series is answered from these rows plus a few raw points at its ragged edges.
    """

    pk = models.CompositePrimaryKey("series_id", "level", "bucket")
    # The primary key (series_id, level, bucket) already indexes series_id; a second index only slows builds.
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="+", db_index=False)
    level = models.PositiveSmallIntegerField()
    bucket = models.BigIntegerField()  # step >> level
    n_points = models.BigIntegerField()
    first_step = models.BigIntegerField()
    first_value = models.FloatField()
    last_step = models.BigIntegerField()
    last_value = models.FloatField()
    min_step = models.BigIntegerField()
    min_value = models.FloatField()
    max_step = models.BigIntegerField()
    max_value = models.FloatField()

    def __str__(self) -> str:
        return f"{self.series_id}/L{self.level}#{self.bucket}"
