"""Teams, memberships with roles, API tokens and webhook integrations."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from core.roles import Role, TeamQuerySet


class Team(models.Model):
    """A research team: runs, ingest jobs, studies and reports belong to one; papers and models are shared."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

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


class TokenScope(models.TextChoices):
    READ = "read", "Read (GET anything the user may see)"
    INGEST = "ingest", "Ingest (upload files, log runs and metrics)"
    REPORTS = "reports", "Reports (request reports)"
    WRITE = "write", "Write (edit runs and studies through the API)"


def default_token_scopes() -> list[str]:
    return [TokenScope.READ]


class ApiToken(models.Model):
    """A bearer token acting as its user on /api/ only, within its scopes; only a SHA-256 of the secret is
    stored (the secret is shown once, when the token is created)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=default_token_scopes, help_text="read, ingest, reports")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: never expires")
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

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or [])


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
