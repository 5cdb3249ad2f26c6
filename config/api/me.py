"""Who am I (user, teams with roles, the token's scopes) and the user's own API tokens."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from config.api import auth
from config.api.common import iso
from config.api.errors import ERRORS, ApiError
from core.auth import highest_role, role_in
from tracker.accounts.models import ApiToken, Team
from tracker.accounts.services import ALL_SCOPES, api_token_revoke

router = Router(tags=["me"])


class TeamOut(Schema):
    slug: str
    name: str
    role: str


class MeOut(Schema):
    username: str
    role: str | None
    teams: list[TeamOut]
    scopes: list[str]


@router.get("/me/", response={200: MeOut, **ERRORS}, auth=auth.READ, url_name="me")
def me(request: HttpRequest) -> Any:
    token = getattr(request, "api_token", None)
    teams = []
    for team in Team.objects.visible_to(request.user).order_by("slug"):
        role = role_in(request.user, team)
        teams.append({"slug": team.slug, "name": team.name, "role": str(role.value) if role else "viewer"})
    top = highest_role(request.user)
    return {
        "username": request.user.get_username(),
        "role": str(top.value) if top else None,
        "teams": teams,
        "scopes": list(token.scopes) if token is not None else list(ALL_SCOPES),
    }


def _user_id(request: HttpRequest) -> int:
    return int(request.user.pk or 0)  # authenticated: ApiAuth let the request through


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


def token_out(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "prefix": t.prefix,
        "scopes": list(t.scopes or []),
        "created_at": iso(t.created_at),
        "expires_at": iso(t.expires_at),
        "last_used_at": iso(t.last_used_at),
        "revoked_at": iso(t.revoked_at),
    }


@router.get("/tokens/", response={200: list[TokenOut], **ERRORS}, auth=auth.READ, url_name="tokens")
def tokens(request: HttpRequest) -> Any:
    """The user's API tokens (never their secrets)."""
    mine = ApiToken.objects.filter(user_id=_user_id(request)).order_by("-created_at", "-pk")
    return [token_out(t) for t in mine]


@router.delete(
    "/tokens/{token_id}/", response={204: None, **ERRORS}, auth=auth.WRITE, url_name="token-revoke"
)
def token_revoke(request: HttpRequest, token_id: int) -> Any:
    token = ApiToken.objects.filter(user_id=_user_id(request), pk=token_id).first()
    if token is None:
        raise ApiError(404, f"no token {token_id}")
    api_token_revoke(token=token)
    return Status(204, None)
