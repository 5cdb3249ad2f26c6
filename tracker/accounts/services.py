"""Writes for teams, memberships and API tokens (typed, keyword-only)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.text import slugify

from core.roles import Role
from tracker.accounts.models import ApiToken, Membership, Team


def team_create(*, name: str, owner: Any | None = None) -> Team:
    team = Team.objects.create(name=name, slug=slugify(name)[:100] or "team")
    if owner is not None:
        Membership.objects.create(user=owner, team=team, role=Role.ADMIN)
    return team


def membership_set(*, team: Team, user: Any, role: Role) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext key, which is shown once and never stored."""
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:12], key_hash=ApiToken.hash_key(key))
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
