"""Reads of a team's runs; every read is scoped by `TrainingRun.objects.visible_to(user, role)`."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.roles import Role
from tracker.runs.models import TrainingRun

RUN_LIST_LIMIT = 500


def run_list(*, user: Any) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.visible_to(user).select_related("team", "hardware")[:RUN_LIST_LIMIT]


def run_get(*, user: Any, run_id: int, min_role: str = Role.VIEWER) -> TrainingRun:
    """A run the user may see (or change, with min_role=EDITOR); anything else is a 404, never a hint."""
    runs = TrainingRun.objects.select_related("team", "hardware", "model", "source")
    return runs.get_visible_or_404(user, run_id, min_role)
