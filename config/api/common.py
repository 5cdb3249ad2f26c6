"""Helpers shared by the API's routers: cursor pagination and the team an operation writes to."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import QuerySet

from config.api.errors import ApiError
from core.roles import Role
from tracker.models import Team

MAX_LIMIT = 200


def _cursor_decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii")
        kind, _, number = text.partition(":")
        offset = int(number)
    except (ValueError, UnicodeError):
        offset, kind = -1, ""
    if kind != "o" or offset < 0 or offset > 10**9:
        raise ApiError(400, "cursor: not a cursor this API gave out", code="bad_cursor")
    return offset


def _cursor_encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def paginate[T](
    items: QuerySet[Any] | Sequence[Any],
    *,
    cursor: str | None,
    limit: int,
    render: Callable[[Any], T],
) -> dict[str, Any]:
    """One page of a totally ordered list: `{"items": [...], "next_cursor": str | None}`.

    The cursor is opaque to clients (a position in the ordered list)."""
    start = _cursor_decode(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    rows = list(items[start : start + limit + 1])
    more = len(rows) > limit
    return {
        "items": [render(r) for r in rows[:limit]],
        "next_cursor": _cursor_encode(start + limit) if more else None,
    }


def team_visible(user: Any, slug: str, role: str = Role.VIEWER) -> Team:
    """The team by slug among the user's teams; 404 when it is not one of them."""
    if not slug or "\x00" in slug or len(slug) > 100:
        raise ApiError(404, "no such team")
    team = Team.objects.visible_to(user, Role.VIEWER).filter(slug=slug).first()
    if team is None:
        raise ApiError(404, "no such team")
    if role != Role.VIEWER and not Team.objects.visible_to(user, role).filter(pk=team.pk).exists():
        raise ApiError(403, f"this needs the {role} role in team {team.slug}")
    return team


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def finite(value: float | None) -> float | None:
    """A number as JSON can carry it: NaN and infinities become null."""
    return value if value is None or (value == value and abs(value) != float("inf")) else None
