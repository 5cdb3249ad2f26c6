"""Role checks used by views and services; they follow the user's memberships, not any app's models."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse

from core.roles import ROLE_RANK, Role, is_authenticated


def role_in(user: Any, team: Any) -> Role | None:
    """The user's role in `team` (superusers are admins everywhere), None when not a member."""
    if not is_authenticated(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    role = team.memberships.filter(user=user).values_list("role", flat=True).first()
    return Role(role) if role else None


def has_role(user: Any, team: Any, min_role: str) -> bool:
    role = role_in(user, team)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[Role(min_role)]


def highest_role(user: Any) -> Role | None:
    """The best role a user holds anywhere: shared catalog writes (papers, models, prices) need editor."""
    if not is_authenticated(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = [Role(r) for r in user.memberships.values_list("role", flat=True)]
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


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_F = TypeVar("_F", bound=Callable[..., Any])


def token_scope(scope: str, *, read: str | None = "read") -> Callable[[_F], _F]:
    """Declare the API-token scope a view's writes need (its reads need `read`, or nothing if None)."""

    def decorator(view: _F) -> _F:
        view.token_scope = scope  # type: ignore[attr-defined]
        view.token_read_scope = read  # type: ignore[attr-defined]
        return view

    return decorator


def required_token_scope(view: Callable[..., Any], method: str) -> str | None:
    """The scope an API token needs for this view and method; None when tokens may not call it at all."""
    if method in SAFE_METHODS:
        return getattr(view, "token_read_scope", "read")
    return getattr(view, "token_scope", None)
