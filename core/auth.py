"""Role checks used by views and services; they follow the user's memberships, not any app's models."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

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
