"""Articles (what the field says) and their claims, each checked against primary sources (catalog facts)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.roles import TeamScopedQuerySet
from tracker.accounts.models import Team
from tracker.catalog.models import Fact, Model, SourceDocument
from tracker.runs.models import TrainingRun


class Article(models.Model):
    """The readable text of one article document; `line_map[i]` is the file line of text line i."""

    document = models.OneToOneField(SourceDocument, on_delete=models.CASCADE, related_name="article")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="articles")
    title = models.CharField(max_length=300)
    fmt = models.CharField(max_length=16, help_text="markdown, html or text")
    language = models.CharField(max_length=8, blank=True)
    text = models.TextField(blank=True)
    line_map = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title


class ClaimQuerySet(TeamScopedQuerySet["Claim"]):
    team_path = "article__team"


class Claim(models.Model):
    """One number an article states about a model, and how it stands against the primary facts."""

    class Status(models.TextChoices):
        CORROBORATED = "corroborated", "corroborated"
        CONFLICTING = "conflicting", "conflicting"
        UNCORROBORATED = "uncorroborated", "uncorroborated"
        UNKNOWN_SUBJECT = "unknown_subject", "unknown subject"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="claims")
    subject = models.CharField(max_length=300, blank=True, help_text="the model as the article names it")
    subject_key = models.CharField(
        max_length=300, blank=True, db_index=True, help_text="subjects.subject_key"
    )
    model = models.ForeignKey(Model, null=True, blank=True, on_delete=models.SET_NULL, related_name="claims")
    quantity = models.CharField(max_length=64, help_text="parameters, training_tokens, …")
    value = models.FloatField(null=True, blank=True)
    text_value = models.CharField(max_length=300, blank=True, help_text="as written; ISO date; benchmark")
    unit = models.CharField(max_length=32, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    is_lower_bound = models.BooleanField(default=False, help_text="'more than', '이상', '超过'")
    is_upper_bound = models.BooleanField(default=False, help_text="'up to', '최대', '不超过'")
    confidence = models.FloatField(default=1.0)
    line = models.PositiveIntegerField(null=True, blank=True)
    excerpt = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNCORROBORATED)
    checked_against = models.ForeignKey(
        Fact, null=True, blank=True, on_delete=models.SET_NULL, related_name="checked_claims"
    )
    checked_against_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="checked_claims"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    previous_status = models.CharField(
        max_length=20, choices=Status.choices, blank=True, help_text="the status before the last change"
    )
    status_changed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when a recheck last changed the status (the weekly digest lists these)",
    )

    objects = ClaimQuerySet.as_manager()

    class Meta:
        ordering = ["article", "line", "pk"]
        indexes = [
            models.Index(fields=["model", "quantity"], name="claim_model_quantity_idx"),
            models.Index(fields=["status"], name="claim_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lower__isnull=True) | Q(upper__isnull=True) | Q(lower__lte=models.F("upper")),
                name="claim_bounds_ordered",
            ),
        ]

    def __str__(self) -> str:
        shown = self.text_value or self.value
        return f"{self.subject or '?'} {self.quantity}={shown}"
