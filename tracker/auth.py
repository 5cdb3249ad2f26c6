"""Authentication by API token and authorisation by team role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from tracker.models import ROLE_RANK, ApiToken, Membership, Role, Team

User = AbstractBaseUser | AnonymousUser


class ApiTokenMiddleware:
    """`Authorization: Bearer isf_...` authenticates API requests as the token's user (no CSRF)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer "):
            key = header.removeprefix("Bearer ").strip()
            token = (
                ApiToken.objects.select_related("user")
                .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
                .first()
            )
            if token is None or not token.user.is_active:
                return JsonResponse({"error": "invalid or revoked API token"}, status=401)
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
            request.user = token.user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            request.api_token = token  # type: ignore[attr-defined]
        return self.get_response(request)


def teams_for(user: Any, min_role: Role = Role.VIEWER) -> QuerySet[Team]:
    """Teams where the user holds at least `min_role`; superusers see every team."""
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    allowed = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(min_role)]]
    return Team.objects.filter(memberships__user=user, memberships__role__in=allowed).distinct()


def role_in(user: Any, team: Team) -> Role | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = Membership.objects.filter(user=user, team=team).only("role").first()
    return Role(membership.role) if membership else None


def has_role(user: Any, team: Team, min_role: Role) -> bool:
    role = role_in(user, team)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[Role(min_role)]


def highest_role(user: Any) -> Role | None:
    """The best role a user holds anywhere: shared catalog writes (papers, models, prices) need editor."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = [Role(r) for r in Membership.objects.filter(user=user).values_list("role", flat=True)]
    return max(roles, key=ROLE_RANK.__getitem__, default=None)


def can_edit_catalog(user: Any) -> bool:
    role = highest_role(user)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[Role.EDITOR]


def catalog_editor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_edit_catalog(request.user):
            return HttpResponse("Your role does not allow changes.", status=403)
        return view(request, *args, **kwargs)

    return wrapped


class IsoflopLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Pages redirect to the login form; API paths answer 401 JSON instead of a redirect."""

    def handle_no_permission(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse]
    ) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "authentication required (session or Bearer token)"}, status=401)
        return super().handle_no_permission(request, view_func)
