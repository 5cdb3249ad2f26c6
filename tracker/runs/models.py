"""Training runs of a team and their metric series (points in compressed chunks, M4 rollup blocks)."""

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
    """One named metric of one run; its points live in compressed MetricChunk rows (tracker.runs.series)."""

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
    # Bumped by every write of the series' points (in the same transaction): rollups and cached curves
    # remember the version they were built from, so a replaced value that keeps the summary above is seen.
    data_version = models.BigIntegerField(default=0)
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


class MetricChunk(models.Model):
    """Up to `codec.CHUNK_POINTS` consecutive points of one series in one compressed blob, plus their M4
    summary in plain columns, so series summaries and chunk-level reads never decode a blob.

    Chunks of a series cover disjoint step ranges [first_step, last_step]; the blob format is in
    `tracker.runs.series.codec` (delta/zigzag steps, decimal-exponent values, optional wall times, zstd).
    """

    pk = models.CompositePrimaryKey("series_id", "first_step")
    # The primary key (series_id, first_step) already indexes series_id.
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, db_index=False, related_name="+")
    first_step = models.BigIntegerField()
    last_step = models.BigIntegerField()
    n_points = models.IntegerField()
    first_value = models.FloatField()
    last_value = models.FloatField()
    min_step = models.BigIntegerField()
    min_value = models.FloatField()
    max_step = models.BigIntegerField()
    max_value = models.FloatField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.series_id}@{self.first_step}..{self.last_step} ({self.n_points})"


class MetricRollupBlock(models.Model):
    """M4 summaries of up to 4096 consecutive aligned cells of 2**level steps of a series, compressed.

    Built by `tracker.runs.series.rollups.series_rollup_build`; a window of a long series is answered from
    the cells of one level plus the finest cells and a few raw points at its two ragged edges.
    """

    pk = models.CompositePrimaryKey("series_id", "level", "block")
    # The primary key (series_id, level, block) already indexes series_id; a second index only slows builds.
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="+", db_index=False)
    level = models.PositiveSmallIntegerField()
    block = models.BigIntegerField()  # cell >> rollups.ROLLUP_BLOCK_SHIFT, cell = step >> level
    n_cells = models.IntegerField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.series_id}/L{self.level}#{self.block}"
