"""Writes for teams, memberships and API tokens (typed, keyword-only)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.roles import Role
from tracker.accounts.models import ApiToken, Membership, Team

logger = logging.getLogger(__name__)


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


# A token's last use is recorded at most this often: polling clients must not write on every request.
TOKEN_TOUCH_SECONDS = 60
_TOUCH_SQL = """
UPDATE tracker_apitoken SET last_used_at = %(now)s
WHERE id = (
    SELECT id FROM tracker_apitoken
    WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(stale)s)
    FOR UPDATE SKIP LOCKED
)
"""


def api_token_touch(*, token: ApiToken) -> bool:
    """Record that the token was used, at most once a minute; never blocks or fails the request.

    SKIP LOCKED: when another request is recording the same token right now, this one simply skips it.
    """
    now = timezone.now()
    last = token.last_used_at
    if last is not None and (now - last).total_seconds() < TOKEN_TOUCH_SECONDS:
        return False
    try:
        stale = now - timedelta(seconds=TOKEN_TOUCH_SECONDS)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_TOUCH_SQL, {"now": now, "id": token.pk, "stale": stale})
            return cursor.rowcount == 1
    except DatabaseError:
        logger.warning("could not record the use of API token %s", token.pk, exc_info=True)
        return False
