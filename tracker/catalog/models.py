"""The shared catalog: papers, models, facts with provenance, hardware and dated prices."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q

from tracker.accounts.models import Team

# Stored URLs end up in href attributes: only absolute http(s) URLs (never javascript:, data:, file:).
HTTP_URL = URLValidator(schemes=["http", "https"])


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    url = models.URLField(blank=True, validators=[HTTP_URL])

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
    url = models.URLField(blank=True, max_length=1000, validators=[HTTP_URL])
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
    url = models.URLField(blank=True, max_length=1000, validators=[HTTP_URL])
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
    """A released (or internal) language model.

    `team` empty: a shared catalog entry, one per model (its other spellings are `ModelAlias` rows). `team`
    set: a team-private model reference (a name from the team's run manifests), visible to that team only.
    """

    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="private_models",
        help_text="empty: shared catalog; set: a private model reference of this team",
    )
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
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(team__isnull=True), name="model_unique_shared_name"
            ),
            models.UniqueConstraint(
                fields=["team", "name"], condition=Q(team__isnull=False), name="model_unique_team_name"
            ),
        ]

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


class ModelAlias(models.Model):
    """A name of a model, with where it came from. `key` (`tracker.catalog.names.model_key`) resolves any
    spelling to the one model: the services give a key to one model only, in the shared catalog and within
    each team's private references (several spellings of one key are kept, each with its provenance).
    """

    class Source(models.TextChoices):
        NAME = "name", "canonical name"
        HF_REPO = "hf_repo", "Hugging Face repository id"
        CARD_NAME = "card_name", "name on a model card"
        CARD_TITLE = "card_title", "model card title"
        DISPLAY = "display", "display name"
        MANIFEST = "manifest", "run manifest"
        MERGE = "merge", "merged duplicate"
        EDITOR = "editor", "added by an editor"
        IMPORTED = "imported", "existing name (migration)"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="aliases")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="= model.team"
    )
    alias = models.CharField(max_length=300)
    key = models.CharField(max_length=300, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    document = models.ForeignKey(
        SourceDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_aliases"
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "alias"]
        verbose_name_plural = "model aliases"
        constraints = [
            models.UniqueConstraint(
                fields=["key", "alias"], condition=Q(team__isnull=True), name="modelalias_unique_shared"
            ),
            models.UniqueConstraint(
                fields=["team", "key", "alias"],
                condition=Q(team__isnull=False),
                name="modelalias_unique_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alias} -> {self.model_id}"


class ModelMerge(models.Model):
    """Provenance of a merge: the duplicate (gone) and what moved to the survivor."""

    survivor = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="merges")
    merged_name = models.CharField(max_length=200)
    merged_id = models.PositiveIntegerField()
    moved = models.JSONField(default=dict, blank=True, help_text="counts: facts, runs, papers, aliases")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"{self.merged_name} (#{self.merged_id}) -> {self.survivor_id}"


class ModelPaperLink(models.Model):
    """A model <-> paper link with its provenance and confidence.

    Found in a model card (arXiv ids, DOIs, arxiv.org / huggingface.co/papers links) or in a paper's title or
    abstract (a model's name or alias); an editor confirms or rejects suggestions. A confirmed link is also in
    `Model.papers`; a rejected one is kept so the same finding is never suggested again.
    """

    class Found(models.TextChoices):
        CARD = "card", "cited by the model card"
        PAPER = "paper", "model named in the paper"
        EDITOR = "editor", "linked by an editor"

    class Status(models.TextChoices):
        SUGGESTED = "suggested", "suggested"
        CONFIRMED = "confirmed", "confirmed"
        REJECTED = "rejected", "rejected"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="paper_links")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="model_links")
    found_in = models.CharField(max_length=8, choices=Found.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUGGESTED)
    confidence = models.FloatField(default=0.5)
    source = models.ForeignKey(
        SourceDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_paper_links"
    )
    line = models.PositiveIntegerField(null=True, blank=True)
    evidence = models.CharField(max_length=300, blank=True, help_text="the text the link was found in")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-confidence", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["model", "paper"], name="modelpaperlink_unique_pair"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="modelpaperlink_confidence_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} <-> {self.paper_id} ({self.status})"
