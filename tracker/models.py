"""The catalog: what is known about papers, models, runs and hardware, and where each number came from."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Team(models.Model):
    """A research team: runs, ingest jobs, studies and reports belong to one; papers and models are shared."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


class ApiToken(models.Model):
    """A bearer token acting as its user; only a SHA-256 of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return "isf_" + secrets.token_urlsafe(32)


class Integration(models.Model):
    """A webhook sender (a training cluster, a W&B/MLflow bridge) with its signing secrets."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WebhookSecret(models.Model):
    """Several active secrets per integration allow key rotation without dropped deliveries."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"secret #{self.pk} of {self.integration}"


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    url = models.URLField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceDocument(models.Model):
    """A file, webhook delivery or published table that numbers were read from."""

    class Kind(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        WEBHOOK = "webhook", "Webhook delivery"
        REFERENCE = "reference", "Published reference data"
        MANUAL = "manual", "Entered by hand"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=500, help_text="file name, delivery id or citation")
    sha256 = models.CharField(max_length=64, db_index=True, blank=True)
    media_type = models.CharField(max_length=100, blank=True)
    url = models.URLField(blank=True, max_length=1000)
    size_bytes = models.BigIntegerField(default=0)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="documents")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "sha256", "team"],
                condition=~Q(sha256="") & Q(team__isnull=False),
                name="sourcedocument_unique_team_content",
            ),
            models.UniqueConstraint(
                fields=["kind", "sha256"],
                condition=~Q(sha256="") & Q(team__isnull=True),
                name="sourcedocument_unique_shared_content",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Paper(models.Model):
    arxiv_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    doi = models.CharField(max_length=200, unique=True, null=True, blank=True)
    title = models.TextField()
    normalized_title = models.CharField(max_length=500, db_index=True)
    abstract = models.TextField(blank=True)
    authors = models.JSONField(default=list, blank=True)
    published = models.DateField(null=True, blank=True)
    venue = models.CharField(max_length=300, blank=True)
    url = models.URLField(blank=True, max_length=1000)
    full_text = models.TextField(blank=True)
    bibtex = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="papers")
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Weighted tsvector (title A, abstract B, full text C) kept by a PostgreSQL trigger (migration 0002) and
    # GIN-indexed there; whatever Django writes is replaced by the trigger. Unused (NULL) on SQLite.
    search = SearchVectorField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-published", "title"]
        indexes = [
            models.Index(fields=["-published", "title"], name="paper_published_title_idx"),
            models.Index(fields=["-created_at"], name="paper_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class Hardware(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="e.g. H100-SXM5-80GB")
    vendor = models.CharField(max_length=100, blank=True)
    tdp_watts = models.FloatField(null=True, blank=True)
    memory_gb = models.FloatField(null=True, blank=True)
    peak_bf16_tflops = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "hardware"

    def __str__(self) -> str:
        return self.name


class HardwarePrice(models.Model):
    """A dated price: the price in force on a day is the latest one with valid_from on or before it."""

    hardware = models.ForeignKey(Hardware, on_delete=models.CASCADE, related_name="prices")
    usd_per_gpu_hour = models.DecimalField(max_digits=10, decimal_places=4)
    valid_from = models.DateField()
    provider = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=300, blank=True)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["hardware", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["hardware", "valid_from", "provider"], name="hardwareprice_unique_day_provider"
            ),
            models.CheckConstraint(condition=Q(usd_per_gpu_hour__gte=0), name="hardwareprice_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.hardware} ${self.usd_per_gpu_hour}/h from {self.valid_from}"


class Model(models.Model):
    """A released (or internal) language model."""

    name = models.CharField(max_length=200, unique=True)
    family = models.CharField(max_length=100, db_index=True, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="models"
    )
    release_date = models.DateField(null=True, blank=True)
    parameters = models.FloatField(null=True, blank=True, help_text="N, total parameters")
    active_parameters = models.FloatField(
        null=True, blank=True, help_text="per token, for mixture-of-experts"
    )
    training_tokens = models.FloatField(null=True, blank=True, help_text="D")
    gpu_hours = models.FloatField(null=True, blank=True)
    hardware = models.ForeignKey(Hardware, null=True, blank=True, on_delete=models.SET_NULL)
    papers = models.ManyToManyField(Paper, blank=True, related_name="models")
    license = models.CharField(max_length=100, blank=True)
    card = models.TextField(blank=True, help_text="model card text (rendered sanitised)")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-release_date", "name"]
        indexes = [models.Index(fields=["-release_date", "name"], name="model_release_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def tokens_per_parameter(self) -> float | None:
        if self.parameters and self.training_tokens:
            return self.training_tokens / self.parameters
        return None

    @property
    def training_flops(self) -> float | None:
        """C ~= 6 N D, with active parameters for mixture-of-experts models."""
        n = self.active_parameters or self.parameters
        if n and self.training_tokens:
            return 6.0 * n * self.training_tokens
        return None


class Fact(models.Model):
    """One number with its provenance.

    Facts are never overwritten: disagreeing facts are all kept and flagged `conflicting`.
    """

    model = models.ForeignKey(Model, null=True, blank=True, on_delete=models.CASCADE, related_name="facts")
    paper = models.ForeignKey(Paper, null=True, blank=True, on_delete=models.CASCADE, related_name="facts")
    name = models.CharField(
        max_length=64, db_index=True, help_text="parameters, training_tokens, gpu_hours, …"
    )
    value = models.FloatField(null=True, blank=True)
    text_value = models.CharField(max_length=300, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(default=1.0)
    source = models.ForeignKey(SourceDocument, on_delete=models.PROTECT, related_name="facts")
    location = models.CharField(max_length=200, blank=True, help_text="line 12, table 3 row 2, …")
    line = models.PositiveIntegerField(null=True, blank=True)
    excerpt = models.CharField(max_length=500, blank=True)
    conflicting = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-confidence"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="fact_confidence_0_1"
            ),
            models.CheckConstraint(
                condition=Q(lower__isnull=True) | Q(upper__isnull=True) | Q(lower__lte=models.F("upper")),
                name="fact_bounds_ordered",
            ),
            models.UniqueConstraint(
                fields=["model", "name", "source", "location"],
                condition=Q(model__isnull=False),
                name="fact_unique_model_source_location",
            ),
            models.UniqueConstraint(
                fields=["paper", "name", "source", "location"],
                condition=Q(model__isnull=True, paper__isnull=False),
                name="fact_unique_paper_source_location",
            ),
            models.CheckConstraint(
                condition=Q(model__isnull=False) | Q(paper__isnull=False), name="fact_has_subject"
            ),
        ]
        indexes = [models.Index(fields=["model", "name"])]

    def __str__(self) -> str:
        shown = self.value if self.value is not None else self.text_value
        return f"{self.name}={shown}{self.unit}"


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
    config = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

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
