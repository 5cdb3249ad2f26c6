"""Team roles and team-scoped querysets: every team-owned read goes through `visible_to(user, role)`."""

from __future__ import annotations

from typing import Any, Self, TypeVar

from django.db import models
from django.http import Http404


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_RANK: dict[str, int] = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def roles_at_least(role: str) -> list[str]:
    """The roles that rank at least as high as `role` (viewer -> all three, admin -> admin)."""
    floor = ROLE_RANK[Role(role)]
    return [r for r, rank in ROLE_RANK.items() if rank >= floor]


def is_authenticated(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False))


_M = TypeVar("_M", bound=models.Model)


class TeamScopedQuerySet(models.QuerySet[_M]):
    """Rows owned by a team. `team_path` is the lookup from the row to its team ("" for Team itself)."""

    team_path = "team"

    def _membership(self, suffix: str) -> str:
        return f"{self.team_path}__memberships__{suffix}" if self.team_path else f"memberships__{suffix}"

    def visible_to(self, user: Any, role: str = Role.VIEWER) -> Self:
        """Rows of teams where `user` holds at least `role`; superusers see every team, anonymous none.

        One membership per (user, team) makes the join produce no duplicates.
        """
        if not is_authenticated(user):
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(
            **{self._membership("user"): user, self._membership("role__in"): roles_at_least(role)}
        )

    def get_visible_or_404(self, user: Any, pk: int, role: str = Role.VIEWER) -> _M:
        """The row if the user may see it (or act on it with `role`); anything else is a 404, never a hint."""
        found = self.visible_to(user, role).filter(pk=pk).first()
        if found is None:
            raise Http404(f"No such {self.model._meta.verbose_name}")
        return found


class TeamQuerySet(TeamScopedQuerySet[Any]):
    """Teams themselves: `Team.objects.visible_to(user, role)` are the teams where the user holds `role`."""

    team_path = ""
